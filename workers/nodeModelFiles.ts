/**
 * Loads a model.json and its weight files from disk inside the Node worker (tfjs has no file
 * loader without tfjs-node). Node only: reached from `node.worker.ts`, never from a browser.
 * The files are checked before tfjs sees them: a missing or unreadable file, a model.json that
 * is not JSON or lacks `modelTopology` / `weightsManifest` is an InvalidModelError naming the
 * file, with the original error as `cause`; so is a weight path outside the model.json's folder
 * (absolute, or with `..`: see `modelPaths.ts`), named, before any weight file is read.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';
import { InvalidModelError } from '../src/errors.js';
import { checkWeightPath } from './modelPaths.js';

async function read(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new InvalidModelError(`Could not read the ${what} '${file}': ${(err as Error).message}.`, { cause: err });
  }
}

/** The model.json's content, its structure checked. */
function parseModelJson(text: string, file: string): tf.io.ModelJSON {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidModelError(`The model file '${file}' is not JSON (${(err as Error).message}); is it a complete model.json?`, { cause: err });
  }
  const bad = (detail: string): never => {
    throw new InvalidModelError(`The model file '${file}' is not a tfjs model.json: ${detail}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return bad('its content is not an object.');
  const m = json as { modelTopology?: unknown; weightsManifest?: unknown };
  if (m.modelTopology === null || typeof m.modelTopology !== 'object') return bad('it has no modelTopology object.');
  if (!Array.isArray(m.weightsManifest)) return bad('it has no weightsManifest array.');
  m.weightsManifest.forEach((group: unknown, g) => {
    const { paths, weights } = (group ?? {}) as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.length > 0)) bad(`weightsManifest[${g}].paths must be an array of file names.`);
    // Relative to the model.json's folder, inside it: no absolute path, URL or '..'.
    for (const p of paths as string[]) checkWeightPath(p, `'${file}'`);
    if (!Array.isArray(weights)) bad(`weightsManifest[${g}].weights must be an array of weight specs.`);
  });
  return json as tf.io.ModelJSON;
}

/** An IOHandler reading a model.json file path or file:// URL and the weights beside it. */
export function fileHandler(url: string): tf.io.IOHandler {
  return {
    load: async () => {
      const file = url.startsWith('file:') ? fileURLToPath(url) : url;
      const json = parseModelJson((await read(file, 'model file')).toString('utf8'), file);
      const dir = dirname(file);
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) {
          const target = join(dir, p);
          // Checked above; and the file it resolves to is inside the folder (a second line of defence).
          if (!resolve(target).startsWith(resolve(dir) + sep)) {
            throw new InvalidModelError(`The model file '${file}' lists the weight path ${JSON.stringify(p)}, which resolves outside the model.json's folder.`);
          }
          const b = await read(target, `weight file of '${file}'`);
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        }
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: tf.io.concatenateArrayBuffers(buffers),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
      };
    },
  };
}
