// Model artifacts and start failures for the worker adapter's model-loading tests.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/** A model's saved artifacts: its topology, weight specs and weight bytes (one buffer of its own). */
export interface SavedModel {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: ArrayBuffer;
}

/** Saves `model` in memory (tf.io.withSaveHandler). */
export async function savedModel(model: tf.LayersModel): Promise<SavedModel> {
  let art!: tf.io.ModelArtifacts;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      art = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return { modelTopology: art.modelTopology as object, weightSpecs: art.weightSpecs!, weights: tf.io.concatenateArrayBuffers(art.weightData as ArrayBuffer).slice(0) };
}

/** The rejection of `p`, failing the test if it resolves (and terminating what it made). */
export async function rejection(p: Promise<{ terminate(): Promise<void> }>): Promise<Error> {
  const r = await p.then(
    async (w) => {
      await w.terminate();
      return null;
    },
    (e: unknown) => e as Error,
  );
  expect(r, 'expected a rejection').not.toBeNull();
  return r!;
}
