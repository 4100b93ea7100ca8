/**
 * Loads a model.json and its weight files from disk inside the Node worker (tfjs has no file
 * loader without tfjs-node). Node only: reached from `node.worker.ts`, never from a browser.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';

/** An IOHandler reading a model.json file path or file:// URL and the weights beside it. */
export function fileHandler(url: string): tf.io.IOHandler {
  return {
    load: async () => {
      const file = url.startsWith('file:') ? fileURLToPath(url) : url;
      const json = JSON.parse(await readFile(file, 'utf8')) as tf.io.ModelJSON;
      const dir = dirname(file);
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) {
          const b = await readFile(join(dir, p));
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
