// Model artifacts and start failures for the worker adapter's model-loading tests.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
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

/**
 * A local HTTP server of the files under `root` (404 for anything else), for loading models over
 * HTTP; each request's path is pushed to `served`. Returns its base URL and a `close`.
 */
export async function serveFiles(root: string, served: string[] = []): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    served.push(url.pathname);
    const file = path.join(root, url.pathname);
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
