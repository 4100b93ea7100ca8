/**
 * Model files are hostile until loaded and checked. A model the worker cannot load (truncated
 * weights, a model.json that is not JSON or lacks weightsManifest, a missing model or weight
 * file) used to reject createWorkerAdapter with whatever tfjs or node:fs threw (Error,
 * TypeError, SyntaxError, ENOENT); a model with NaN weights was accepted and every step
 * answered 'nonfinite'. Now each is an InvalidModelError (the original as `cause`, across the
 * worker boundary too), and createAdapter refuses non-finite weights in-thread as in the worker.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidModelError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { smallResNet } from '../helpers/models.js';
import { rejection, savedModel, type SavedModel } from '../helpers/workerModels.js';

const SHAPE: [number, number, number] = [8, 8, 1];

describe('worker model loading: typed errors for bad model files', () => {
  let good: SavedModel;
  let dir: string;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    good = await savedModel(smallResNet(SHAPE, 3));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-model-load-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const manifest = (): tf.io.WeightsManifestConfig => [{ paths: ['weights.bin'], weights: good.weightSpecs }];

  it('truncated weights sent as { modelJson, weights }: InvalidModelError naming the first weight cut short, before a worker starts', async () => {
    const err = await rejection(createWorkerAdapter({ model: { modelJson: { modelTopology: good.modelTopology, weightsManifest: manifest() }, weights: good.weights.slice(0, 100) }, strategy: 'source' }));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.name).toBe('InvalidModelError');
    expect(err.message).toBe(
      "createWorkerAdapter: { modelJson, weights }: weights hold 100 bytes, too few for the weightsManifest: the weight 'stem_conv/kernel' (shape [3, 3, 1, 8], float32) needs bytes 0 to 288. The weight files do not belong to this model.json, or are cut short.",
    );
  });

  it('a load failure tfjs finds itself (not the manifest\'s sizes) is an InvalidModelError from the worker, tfjs error as cause', async () => {
    // Sizes right, but the topology names a weight the manifest does not have.
    const specs = good.weightSpecs.map((s, i) => (i === 0 ? { ...s, name: 'renamed/kernel' } : s));
    const err = await rejection(createWorkerAdapter({ model: { modelJson: { modelTopology: good.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] }, weights: good.weights }, strategy: 'source' }));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toMatch(/^The worker could not load the model \(model\.json and weights sent by createWorkerAdapter\): Error: /);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('malformed { modelJson, weights }: InvalidModelError naming the field, before a worker starts', async () => {
    const cases: [unknown, string][] = [
      [{ modelJson: { modelTopology: good.modelTopology }, weights: good.weights }, 'modelJson is not a tfjs model.json: weightsManifest must be an array'],
      [{ modelJson: null, weights: good.weights }, 'modelJson is not a tfjs model.json: its content is null, not an object'],
      [{ modelJson: { weightsManifest: manifest() }, weights: good.weights }, 'modelJson is not a tfjs model.json: modelTopology must be an object'],
      [{ modelJson: { modelTopology: good.modelTopology, weightsManifest: [{ paths: [] }] }, weights: good.weights }, 'weightsManifest[0].weights must be an array'],
      [{ modelJson: { modelTopology: good.modelTopology, weightsManifest: [{ paths: [], weights: [null] }] }, weights: good.weights }, 'weightsManifest[0].weights[0] must be a weight spec { name, shape, dtype }'],
      [{ modelJson: { modelTopology: good.modelTopology, weightsManifest: manifest() }, weights: 'bytes' }, 'weights must be an ArrayBuffer'],
      [{ modelJson: { modelTopology: good.modelTopology, weightsManifest: manifest() }, weights: [good.weights, 7] }, 'weights[1] must be an ArrayBuffer'],
    ];
    for (const [model, message] of cases) {
      const err = await rejection(createWorkerAdapter({ model: model as never, strategy: 'source' }));
      expect(err, message).toBeInstanceOf(InvalidModelError);
      expect(err.message).toContain(message);
    }
  });

  it('model files on disk: not JSON, no weightsManifest, missing model.json, missing or short weight file', async () => {
    const write = (name: string, content: string | Uint8Array): string => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      return file;
    };
    write('weights.bin', new Uint8Array(good.weights));
    write('short.bin', new Uint8Array(good.weights.slice(0, 100)));
    const cases: [string, RegExp, string | null][] = [
      [write('cut.json', '{"modelTopology": '), /^The model file '.*cut\.json' is not JSON \(.+\); is it a complete model\.json\?$/, 'SyntaxError'],
      [write('nomanifest.json', JSON.stringify({ modelTopology: good.modelTopology })), /^The model file '.*nomanifest\.json' is not a tfjs model\.json: weightsManifest must be an array of \{ paths, weights \} groups; got undefined\.$/, null],
      [path.join(dir, 'absent.json'), /^Could not read the model file '.*absent\.json': ENOENT/, 'Error'],
      [write('noweights.json', JSON.stringify({ modelTopology: good.modelTopology, weightsManifest: [{ paths: ['gone.bin'], weights: good.weightSpecs }] })), /^Could not read the weight file of '.*noweights\.json' '.*gone\.bin': ENOENT/, 'Error'],
      [write('short.json', JSON.stringify({ modelTopology: good.modelTopology, weightsManifest: [{ paths: ['short.bin'], weights: good.weightSpecs }] })), /the weight files of weightsManifest\[0\] \(short\.bin\) hold 100 bytes, too few for the weightsManifest: the weight 'stem_conv\/kernel'/, null],
    ];
    for (const [file, message, causeName] of cases) {
      const err = await rejection(createWorkerAdapter({ model: file, strategy: 'source' }));
      expect(err, file).toBeInstanceOf(InvalidModelError);
      expect(err.message).toMatch(message);
      if (causeName === null) expect(err.cause).toBeUndefined();
      else expect((err.cause as Error).name, file).toBe(causeName);
    }
    // The intact files load.
    const ok = await createWorkerAdapter({ model: write('model.json', JSON.stringify({ modelTopology: good.modelTopology, weightsManifest: manifest() })), strategy: 'source' });
    expect((await ok.step({ data: new Float32Array(64).fill(0.5), shape: SHAPE })).labels).toHaveLength(1);
    await ok.terminate();
  });

  for (const bad of [NaN, Infinity, -Infinity]) {
    it(`a model with a ${bad} weight is refused with InvalidModelError, in the worker and in-thread alike`, async () => {
      const poisoned = good.weights.slice(0);
      new Float32Array(poisoned)[5] = bad; // the stem conv's kernel
      const err = await rejection(createWorkerAdapter({ model: { modelJson: { modelTopology: good.modelTopology, weightsManifest: manifest() }, weights: poisoned }, strategy: 'tent' }));
      expect(err).toBeInstanceOf(InvalidModelError);
      expect(err.message).toMatch(new RegExp(`^createAdapter: the model's weight '.*kernel' has 1 of 72 values that are not finite \\(the first, at index 5, is ${String(bad)}\\)`));

      // In-thread: the same refusal, nothing kept (no tensor, no lease on the model).
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: good.modelTopology, weightSpecs: good.weightSpecs, weightData: poisoned }));
      const before = tf.memory().numTensors;
      const local = await createAdapter(model, { strategy: 'tent' }).catch((e: unknown) => e as Error);
      expect(local).toBeInstanceOf(InvalidModelError);
      expect((local as Error).message).toBe(err.message);
      expect(tf.memory().numTensors).toBe(before);
      // Repaired, the same model gets an adapter (it was not leased by the refused one).
      for (const layer of model.layers) layer.setWeights(layer.getWeights().map((t) => tf.tidy(() => tf.where(tf.isFinite(t), t, tf.zerosLike(t)))));
      const adapter = await createAdapter(model, { strategy: 'tent' });
      adapter.dispose();
      model.dispose();
    });
  }

  it('a finite model steps with finite outputs (the check refuses only non-finite weights); the caller\'s weight buffer stays intact', async () => {
    const weights = good.weights.slice(0);
    const w = await createWorkerAdapter({ model: { modelJson: { modelTopology: good.modelTopology, weightsManifest: manifest() }, weights }, strategy: 'tent' });
    // The caller's buffer was copied, not transferred (detached).
    expect(weights.byteLength).toBe(good.weights.byteLength);
    const out = await w.step({ data: new Float32Array(2 * 64).fill(0.5), shape: [2, ...SHAPE] });
    expect(Array.from(out.probs).every(Number.isFinite)).toBe(true);
    expect(out.update.reason).not.toBe('non-finite');
    await w.terminate();
  });
});
