/**
 * The worker adapter sends only buffers of its own: a caller's array that is a view over a
 * larger ArrayBuffer (a Node Buffer, whose `slice` is no copy, or any typed array) is copied into
 * a new buffer, and a GraphModel's weights (its artifacts' buffer, which may be the caller's) are
 * copied before the transfer, so the caller's ArrayBuffer is never detached.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, initBackend } from '../../src/index.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { mlpGraphArtifacts, randomMlpWeights } from '../helpers/graphModel.js';
import { smallResNet } from '../helpers/models.js';

describe("the worker adapter leaves the caller's buffers attached", () => {
  const open: WorkerAdapter[] = [];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await Promise.all(open.map((a) => a.terminate()));
  });

  it.each([false, true])('a Buffer view over the caller\'s ArrayBuffer is copied, not transferred (transfer: %s)', async (transfer) => {
    const adapter = await createWorkerAdapter({ model: smallResNet([8, 8, 1], 3), strategy: 'source', transfer });
    open.push(adapter);
    const ab = new ArrayBuffer(4096);
    const other = new Float32Array(ab, 1024, 4).fill(7);
    const data = Buffer.from(ab, 0, 64).fill(1);
    for (const batch of [{ data, shape: [8, 8, 1] }, [{ data, shape: [8, 8, 1] }]]) {
      // Not float pixels: the worker refuses it, with the in-thread adapter's typed error.
      await expect(adapter.step(batch as never)).rejects.toThrow(InvalidInputError);
      await expect(adapter.predict(batch as never)).rejects.toThrow(InvalidInputError);
    }
    expect(ab.byteLength).toBe(4096);
    expect(data.length).toBe(64);
    expect(Array.from(other)).toEqual([7, 7, 7, 7]);
    expect(data.every((b) => b === 1)).toBe(true);
    // The adapter still works on float pixels afterwards.
    const out = await adapter.step({ data: new Float32Array(64).fill(0.5), shape: [8, 8, 1] });
    expect(out.batchSize).toBe(1);
  });

  it('a Float32Array view over part of the caller\'s ArrayBuffer is copied, its neighbours intact', async () => {
    const adapter = await createWorkerAdapter({ model: smallResNet([8, 8, 1], 3), strategy: 'source', transfer: true });
    open.push(adapter);
    const ab = new ArrayBuffer(64 * 4 + 16);
    const pixels = new Float32Array(ab, 0, 64).fill(0.25);
    const other = new Float32Array(ab, 64 * 4, 4).fill(3);
    const out = await adapter.step({ data: pixels, shape: [8, 8, 1] });
    expect(out.batchSize).toBe(1);
    expect(ab.byteLength).toBe(64 * 4 + 16);
    expect(Array.from(other)).toEqual([3, 3, 3, 3]);
  });

  it('transfer: true with one buffer twice in a batch steps both frames; a batch used again after its transfer is an InvalidInputError', async () => {
    const adapter = await createWorkerAdapter({ model: smallResNet([8, 8, 1], 3), strategy: 'source', transfer: true });
    open.push(adapter);
    const frame = new Float32Array(64).fill(0.5);
    const twice = await adapter.step([
      { data: frame, shape: [8, 8, 1] },
      { data: frame, shape: [8, 8, 1] },
    ]);
    expect(twice.batchSize).toBe(2);
    expect(Array.from(twice.probs.slice(3, 6))).toEqual(Array.from(twice.probs.slice(0, 3)));
    // Used twice, the buffer was copied, not detached.
    expect(frame.length).toBe(64);
    const batch = { data: new Float32Array(2 * 64).fill(0.25), shape: [2, 8, 8, 1] };
    expect((await adapter.step(batch)).batchSize).toBe(2);
    expect(batch.data.length).toBe(0); // transferred
    // Its detached array again: the in-thread adapter's typed error, not a structured-clone Error.
    await expect(adapter.step(batch)).rejects.toThrow(InvalidInputError);
    await expect(adapter.predict(batch)).rejects.toThrow(InvalidInputError);
    expect((await adapter.step({ data: new Float32Array(64).fill(0.5), shape: [8, 8, 1] })).batchSize).toBe(1);
  });

  it('a batch the structured clone cannot send (a function as data, a symbol in the shape) is an InvalidInputError; the adapter goes on', async () => {
    const adapter = await createWorkerAdapter({ model: smallResNet([8, 8, 1], 3), strategy: 'source' });
    open.push(adapter);
    const data = new Float32Array(64).fill(0.5);
    for (const batch of [{ data: () => data, shape: [1, 8, 8, 1] }, { data, shape: [1, 8, 8, Symbol('c')] }, [{ data: () => data, shape: [8, 8, 1] }]]) {
      const err = await adapter.step(batch as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(/could not be sent to the worker/);
      await expect(adapter.predict(batch as never)).rejects.toThrow(InvalidInputError);
    }
    expect((await adapter.step({ data, shape: [1, 8, 8, 1] })).stepId).toBe(0);
  });

  it(
    "a GraphModel's weights (the caller's ArrayBuffer, via tf.io.fromMemory) are copied: the buffer and the model stay usable",
    async () => {
      const { modelJson, weights } = mlpGraphArtifacts(randomMlpWeights(5));
      const size = weights.byteLength;
      const model = await tf.loadGraphModel(
        tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
      );
      const options = { strategy: 'lame', classGate: 0, graphNodes: { outputNode: 'logits', featuresNode: 'features' }, seed: 2 } as const;
      const first = await createWorkerAdapter({ model, ...options } as never);
      open.push(first);
      expect(weights.byteLength).toBe(size);
      // The same model again: its weights are all still there.
      const second = await createWorkerAdapter({ model, ...options } as never);
      open.push(second);
      const x = tf.randomUniform([4, ...first.inputShape], 0, 1, 'float32', 3);
      const [a, b] = [await first.predict(x as tf.Tensor4D), await second.predict(x as tf.Tensor4D)];
      expect(Array.from(b.probs)).toEqual(Array.from(a.probs));
      x.dispose();
      model.dispose();
    },
  );
});
