/**
 * Loads a model.json and its weight files from disk inside the Node worker (tfjs has no file
 * loader without tfjs-node). Node only: reached from `node.worker.ts`, never from a browser.
 * The files are checked before tfjs sees them: a missing or unreadable file, a model.json that
 * is not JSON or breaks the rules of `modelJson.ts` (structure, weight specs, a weight path
 * outside the model.json's folder: absolute, or with `..`, see `modelPaths.ts`) is an
 * InvalidModelError naming the file, with the original error as `cause`, before any weight file
 * is read; so are weight files of a group that do not hold exactly the group's weights, and a
 * model.json over 64 MiB (`MAX_MODEL_JSON_BYTES`, checked on its size before it is read).
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '../src/tf.js';
import { InvalidModelError } from '../src/errors.js';
import { checkModelJson, checkModelJsonSize, checkWeightBytes, checkWeightSize, concatBytes, type CheckedModelJson } from './modelJson.js';

async function sizeOf(file: string, what: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    throw new InvalidModelError(`Could not read the ${what} '${file}': ${(err as Error).message}.`, { cause: err });
  }
}

async function read(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new InvalidModelError(`Could not read the ${what} '${file}': ${(err as Error).message}.`, { cause: err });
  }
}

/** The model.json's content, its structure checked (the check `{ modelJson, weights }` gets too). */
function parseModelJson(text: string, file: string): CheckedModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidModelError(`The model file '${file}' is not JSON (${(err as Error).message}); is it a complete model.json?`, { cause: err });
  }
  return checkModelJson(json, `The model file '${file}'`);
}

/** An IOHandler reading a model.json file path or file:// URL and the weights beside it. */
export function fileHandler(url: string): tf.io.IOHandler {
  return {
    load: async () => {
      const file = url.startsWith('file:') ? fileURLToPath(url) : url;
      // Its size first: a file of gigabytes given as the model is refused without being read.
      checkModelJsonSize(await sizeOf(file, 'model file'), `The model file '${file}'`);
      const { json, specs } = parseModelJson((await read(file, 'model file')).toString('utf8'), file);
      const dir = dirname(file);
      const groups: Uint8Array[] = [];
      for (const [g, group] of json.weightsManifest.entries()) {
        const targets = group.paths.map((p) => {
          const target = join(dir, p);
          // Checked above; and the file it resolves to is inside the folder (a second line of defence).
          if (!resolve(target).startsWith(resolve(dir) + sep)) {
            throw new InvalidModelError(`The model file '${file}' lists the weight path ${JSON.stringify(p)}, which resolves outside the model.json's folder.`);
          }
          return target;
        });
        // Each group's files hold exactly its weights: tfjs reads the groups' files as one
        // stream, so one file too long and the next too short would shift every later weight.
        // Their sizes are checked before they are read (a weight file of gigabytes next to a
        // manifest of kilobytes is never read), their bytes after (a string weight's size).
        const what = `the weight files of weightsManifest[${g}] (${group.paths.join(', ')})`;
        let size = 0;
        for (const target of targets) size += await sizeOf(target, `weight file of '${file}'`);
        checkWeightSize(group.weights, size, `The model file '${file}'`, what);
        const files: Uint8Array[] = [];
        for (const target of targets) files.push(await read(target, `weight file of '${file}'`));
        const bytes = files.length === 1 ? files[0]! : concatBytes(files);
        checkWeightBytes(group.weights, bytes, `The model file '${file}'`, what);
        groups.push(bytes);
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: concatBytes(groups).buffer as ArrayBuffer,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
      };
    },
  };
}
