/**
 * A model.json's weight paths name files inside its folder: `../` (also `%2e%2e/`, which URLs
 * read as `..`), an absolute path or a URL is refused with an InvalidModelError naming the path,
 * before any weight file is read, for a model.json on disk (the Node worker's file loader) and
 * for one fetched over HTTP (tfjs would fetch `<folder>/../weights.bin`). Before, the worker read
 * the file outside the folder and loaded the model from it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidModelError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { checkWeightPath } from '../../workers/modelPaths.js';
import { smallResNet } from '../helpers/models.js';
import { rejection, savedModel, serveFiles } from '../helpers/workerModels.js';

const SHAPE: [number, number, number] = [8, 8, 1];

describe("weight paths outside the model's folder", () => {
  let root: string;
  let modelDir: string;
  let topology: object;
  let specs: tf.io.WeightsManifestEntry[];
  let close: () => Promise<void>;
  let base: string;
  const served: string[] = [];

  /** Writes model/<name>.json listing `paths`. */
  const writeModel = (name: string, paths: string[]): string => {
    const file = path.join(modelDir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ modelTopology: topology, weightsManifest: [{ paths, weights: specs }] }));
    return file;
  };

  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    const art = await savedModel(smallResNet(SHAPE, 3));
    topology = art.modelTopology;
    specs = art.weightSpecs;
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-model-paths-'));
    modelDir = path.join(root, 'model');
    fs.mkdirSync(modelDir);
    const bytes = Buffer.from(art.weights);
    // Real weights both inside the folder and next to it (outside): only the first may be read.
    fs.writeFileSync(path.join(modelDir, 'weights.bin'), bytes);
    fs.writeFileSync(path.join(root, 'secret.bin'), bytes);
    ({ base, close } = await serveFiles(root, served));
  });
  afterAll(async () => {
    await close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a model.json on disk: a path inside the folder loads; ../, absolute and URL paths are an InvalidModelError naming the path', async () => {
    const ok = await createWorkerAdapter({ model: writeModel('ok', ['weights.bin']), strategy: 'source' });
    await ok.terminate();
    const bad = ['../secret.bin', 'sub/../../secret.bin', '..\\secret.bin', path.join(root, 'secret.bin'), `file://${path.join(root, 'secret.bin')}`, '%2e%2e/secret.bin'];
    for (const [i, p] of bad.entries()) {
      const err = await rejection(createWorkerAdapter({ model: writeModel(`bad${i}`, [p]), strategy: 'source' }));
      expect(err, `${p} was loaded`).toBeInstanceOf(InvalidModelError);
      expect(err!.message).toContain(JSON.stringify(p));
      expect(err!.message).toMatch(/inside the model\.json's folder/);
    }
  });

  it('a model.json over HTTP: ../ is refused before any weight is fetched; a path inside the folder loads', async () => {
    writeModel('http-ok', ['weights.bin']);
    const ok = await createWorkerAdapter({ model: `${base}/model/http-ok.json?v=1`, strategy: 'source' });
    await ok.terminate();
    expect(served).toContain('/model/weights.bin');
    for (const p of ['../secret.bin', '%2e%2e/secret.bin']) {
      writeModel('http-bad', [p]);
      served.length = 0;
      const err = await rejection(createWorkerAdapter({ model: `${base}/model/http-bad.json`, strategy: 'source' }));
      expect(err, `${p} was loaded`).toBeInstanceOf(InvalidModelError);
      expect(err!.message).toContain(JSON.stringify(p));
      expect(served).toEqual(['/model/http-bad.json']);
    }
  });

  it('checkWeightPath keeps plain relative names, subfolders and dots inside names', () => {
    for (const p of ['weights.bin', 'group1-shard1of2.bin', 'shards/a.bin', './w.bin', 'a..b.bin', '..bin']) expect(checkWeightPath(p, 'm')).toBe(p);
    for (const p of ['', '..', 'a/..', '/w.bin', '\\\\server\\w.bin', 'C:\\w.bin', 'c:w.bin', 'https://evil.example/w.bin', 'data:,x', 'a/%2E%2e/../w', 'w\u0000.bin', 7]) {
      expect(() => checkWeightPath(p, 'm'), String(p)).toThrow(InvalidModelError);
    }
  });
});
