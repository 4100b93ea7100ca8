/**
 * Issue 14, reproductions 9 and 10: arguments that used to be accepted silently (a seed of
 * 'abc' acting as 0, labels of NaN or out of range) or to fail with a TypeError / tfjs error
 * (graphNodes with wrong keys or node names, options null, a disposed model) get typed errors
 * naming the value; and one adapter per model at a time (ModelInUseError), so a second adapter
 * can no longer take the first one's adapted weights as its "source".
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createAdapter,
  DisposedError,
  initBackend,
  InvalidInputError,
  InvalidOptionError,
  ModelInUseError,
} from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/createWorkerAdapter.js';
import { mlpGraphArtifacts, randomMlpWeights } from '../helpers/graphModel.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

function weights(model: tf.LayersModel): number[][] {
  return model.weights.map((w) => Array.from(w.read().dataSync()));
}

async function graphModel(): Promise<tf.GraphModel> {
  const { modelJson, weights } = mlpGraphArtifacts(randomMlpWeights(3));
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights), weightData: weights, format: modelJson.format }),
  );
}

describe('typed errors for rejected arguments (reproduction 9)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('seed must be an integer in [0, 2^32 - 1]', async () => {
    const model = smallResNet([8, 8, 1], 3);
    for (const seed of ['abc', NaN, 2 ** 40, -1, 1.5, Infinity, null, '1']) {
      const err = await createAdapter(model, { strategy: 'cotta', seed } as never).catch((e: unknown) => e);
      expect(err, String(seed)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(/'seed'.*\[0, 4294967295\]/);
    }
    // The range's ends are accepted, and different seeds give different streams (cotta's restore mask).
    const x = randomBatch([4, 8, 8, 1], 1);
    const restored: number[] = [];
    for (const seed of [0, 2 ** 32 - 1]) {
      const a = await createAdapter(model, { strategy: 'cotta', seed, augmentations: 1, restoreProb: 0.5, guard: false }); // 4 frames: under minBatch
      restored.push((await a.step(x)).stats.restored!);
      a.dispose();
    }
    expect(restored[0]).not.toBe(restored[1]);
    x.dispose();
  });

  it('labels must be integer class indices in [0, classes), one per frame; state unchanged when rejected', async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const adapter = await createAdapter(model, { strategy: 'tent' });
    const x = randomBatch([2, 8, 8, 1], 4);
    await adapter.step(x, [0, 2]);
    const snap = await adapter.snapshot();
    const p = await adapter.predict(x);
    const mem = tf.memory().numTensors;
    const cases: Array<[unknown, RegExp]> = [
      ['ab', /array of class indices; got string/],
      [[NaN, 0], /Label 0 is NaN/],
      [[0, 3], /Label 1 is 3.*\[0, 3\)/],
      [[0, -1], /Label 1 is -1/],
      [[0.5, 1], /Label 0 is 0.5/],
      [['1', 0], /Label 0 is "1"/],
      [[0], /1 labels for a batch of 2/],
      [null, /got null/],
      [{ length: 2, 0: 1, 1: 1 }, /array of class indices/],
    ];
    for (const [labels, message] of cases) {
      const err = await adapter.step(x, labels as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(labels)).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(message);
    }
    expect(tf.memory().numTensors).toBe(mem);
    expect(await adapter.snapshot()).toEqual(snap);
    expect((await adapter.predict(x)).probs).toEqual(p.probs);
    // Typed arrays are fine.
    await adapter.step(x, Int32Array.from([1, 2]));
    adapter.dispose();
    x.dispose();
  });

  it('options null or not an object', async () => {
    const model = smallResNet([8, 8, 1], 3);
    for (const options of [null, undefined, 'tent', [], 5]) {
      const err = await createAdapter(model, options as never).catch((e: unknown) => e);
      expect(err, String(options)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(/options must be an object/);
    }
    model.dispose();
  });

  it('options that are a model or another class instance name what was passed and where it goes (before: "got object")', async () => {
    const model = smallResNet([8, 8, 1], 3);
    const graph = await graphModel();
    const message = async (p: Promise<unknown>): Promise<string> => {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      return (err as Error).message;
    };
    // A JavaScript caller passing the model where createWorkerAdapter takes its one options object.
    expect(await message(createWorkerAdapter(model as never))).toBe(
      "createWorkerAdapter: options must be an object such as { strategy: 'tent' }; got a tf.LayersModel; pass { model, strategy } instead, e.g. createWorkerAdapter({ model, strategy: 'tent' }).",
    );
    expect(await message(createWorkerAdapter(graph as never))).toMatch(/got a tf\.GraphModel; pass \{ model, strategy \} instead/);
    expect(await message(createAdapter(model, model as never))).toBe(
      "createAdapter: options must be an object such as { strategy: 'tent' }; got a tf.LayersModel; the model is the first argument and the options the second, e.g. createAdapter(model, { strategy: 'tent' }).",
    );
    expect(await message(createAdapter(model, 'tent' as never))).toMatch(/got the string "tent"; pass \{ strategy \}/);
    const x = tf.zeros([1, 8, 8, 1]);
    expect(await message(createAdapter(model, x as never))).toMatch(/got a tf\.Tensor; pass a plain object/);
    x.dispose();
    expect(await message(createAdapter(model, new Map([['strategy', 'tent']]) as never))).toMatch(/got an instance of Map; pass a plain object/);
    expect(await message(createAdapter(model, 5 as never))).toMatch(/got number 5;/);
    // The model was not taken: an adapter can still be made on it.
    (await createAdapter(model, { strategy: 'source' })).dispose();
    model.dispose();
    graph.dispose();
  });

  it('graphNodes with wrong keys, types or node names', async () => {
    const model = smallResNet([8, 8, 1], 3);
    // graphNodes on a LayersModel is a mistake, not something to ignore.
    await expect(createAdapter(model, { strategy: 'source', graphNodes: { outputNode: 'a', featuresNode: 'b' } })).rejects.toThrow(InvalidOptionError);

    const graph = await graphModel();
    const mem = tf.memory().numTensors;
    const bad: Array<[unknown, RegExp]> = [
      [null, /graphNodes must be an object/],
      [{ outputNode: 'logits', featureNode: 'features' }, /no key 'featureNode'/],
      [{ outputNode: 'logits' }, /featuresNode is undefined/],
      [{ outputNode: 5, featuresNode: 'features' }, /outputNode is 5/],
      [{ outputNode: 'logits', featuresNode: 'features', outputKind: 'probs' }, /outputKind is "probs"/],
      [{ outputNode: 'nope', featuresNode: 'features' }, /failed.*Name nodes of the graph/],
      [{ outputNode: 'logits', featuresNode: 'missing' }, /failed/],
    ];
    for (const [graphNodes, message] of bad) {
      const err = await createAdapter(graph, { strategy: 'lame', graphNodes } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(graphNodes)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(message);
    }
    expect(tf.memory().numTensors).toBe(mem);
    const ok = await createAdapter(graph, { strategy: 'lame', graphNodes: { outputNode: 'logits', featuresNode: 'features' } });
    ok.dispose();
    graph.dispose();
  });

  it('a disposed model gives DisposedError (LayersModel and GraphModel)', async () => {
    const model = smallResNet([8, 8, 1], 3);
    model.dispose();
    await expect(createAdapter(model, { strategy: 'bn-adapt' })).rejects.toThrow(DisposedError);
    await expect(createAdapter(model, { strategy: 'source' })).rejects.toThrow(/was disposed/);
    const graph = await graphModel();
    graph.dispose();
    await expect(createAdapter(graph, { strategy: 'lame', graphNodes: { outputNode: 'logits', featuresNode: 'features' } })).rejects.toThrow(DisposedError);
  });
});

describe('one adapter per model at a time (reproduction 10)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a second adapter on the model gets ModelInUseError; after dispose the next one starts from the true source weights', async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const source = weights(model);
    const x = randomBatch([4, 8, 8, 1], 9);
    const tent = await createAdapter(model, { strategy: 'tent' });
    await tent.step(x);
    await tent.step(x);
    expect(weights(model)).not.toEqual(source); // tent moved the BN affine parameters
    const mem = tf.memory().numTensors;
    const err = await createAdapter(model, { strategy: 'bn-adapt' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelInUseError);
    expect((err as Error).message).toMatch(/already has an adapter \(strategy 'tent'\)/);
    expect(tf.memory().numTensors).toBe(mem);
    tent.dispose();
    expect(weights(model)).toEqual(source);
    // The next adapter's reset and dispose go back to the true source weights, not tent's.
    const bn = await createAdapter(model, { strategy: 'tent', lr: 0.01 });
    await bn.step(x);
    await bn.reset();
    expect(weights(model)).toEqual(source);
    await bn.step(x);
    bn.dispose();
    expect(weights(model)).toEqual(source);
    x.dispose();
  });

  it('a failed createAdapter releases the model; several adapters may share a GraphModel (never written)', async () => {
    const model = smallResNet([8, 8, 1], 3);
    // vida with adapter weights of other ranks fails in its constructor, after the lease was taken.
    await expect(createAdapter(model, { strategy: 'vida', highRank: 4, adapterWeights: new Uint8Array(16) })).rejects.toThrow();
    const a = await createAdapter(model, { strategy: 'source' });
    a.dispose();
    a.dispose(); // idempotent: does not release another adapter's lease
    const b = await createAdapter(model, { strategy: 'bn-adapt' });
    await expect(createAdapter(model, { strategy: 'source' })).rejects.toThrow(ModelInUseError);
    b.dispose();
    const graph = await graphModel();
    const nodes = { outputNode: 'logits', featuresNode: 'features' };
    const g1 = await createAdapter(graph, { strategy: 'lame', graphNodes: nodes });
    const g2 = await createAdapter(graph, { strategy: 'source', graphNodes: nodes });
    g1.dispose();
    g2.dispose();
    graph.dispose();
  });
});
