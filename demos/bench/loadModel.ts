/**
 * Loads the shipped source model (`demos/bench/model/`) in Node without
 * tfjs-node: reads model.json + weights.bin and hands them to tfjs through an
 * in-memory IOHandler.
 *
 * @example
 * const model = await loadSourceModel();          // tf.LayersModel, input [n,28,28,1] in [0,1]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { checkWeightPath } from '../../workers/modelPaths.js';

/** Folder of the shipped model files. */
export const DEFAULT_MODEL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'model');

/** Loads a tfjs LayersModel saved as `model.json` + weight files in `dir`. */
export async function loadSourceModel(dir: string = DEFAULT_MODEL_DIR): Promise<tf.LayersModel> {
  const jsonPath = path.join(dir, 'model.json');
  if (!fs.existsSync(jsonPath)) {
    throw new Error(`No model at ${jsonPath}. Train it with \`npm run train:source\`, or pass --model <folder with model.json>.`);
  }
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    format?: string;
    generatedBy?: string;
    convertedBy?: string | null;
  };
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) =>
    g.paths.map((p) => {
      // Only files inside `dir`: a '../' or absolute path is an InvalidModelError naming it.
      const b = fs.readFileSync(path.join(dir, checkWeightPath(p, `'${jsonPath}'`)));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    }),
  );
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData: tf.io.concatenateArrayBuffers(buffers),
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
  };
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}
