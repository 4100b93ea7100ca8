/**
 * Out of wasm memory is a typed error, never an abort: with a memory limit, a Tent step whose
 * backward pass needs more than the limit fails with OutOfMemoryError before the heap grows,
 * leaks nothing and changes no state, and the same adapter then steps on a batch that fits;
 * through a worker the error keeps its class.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError, OutOfMemoryError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const DEFAULT_MB = 3072;

describe('wasm memory limit', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await initBackend({ backend: 'wasm', memoryLimitMB: DEFAULT_MB });
  });

  it('rejects a limit outside (0, 4096] MB with InvalidOptionError', async () => {
    for (const bad of [0, -1, 5000, NaN]) await expect(initBackend({ backend: 'wasm', memoryLimitMB: bad })).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('a step past the limit throws OutOfMemoryError, leaks nothing, changes nothing; a smaller batch then runs', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 2);
    const adapter = await createAdapter(model, { strategy: 'tent' });
    const small = randomBatch([4, 12, 12, 1], 1);
    const big = randomBatch([3000, 12, 12, 1], 2); // 14 MB per 8-channel activation
    await adapter.step(small);
    const weights = () => model.weights.map((w) => Array.from(w.read().dataSync()));
    const before = weights();
    await initBackend({ backend: 'wasm', memoryLimitMB: tf.memory().numBytes / 2 ** 20 + 40 });
    // The first failure may leave tfjs' lazily made constants behind; later ones leave nothing.
    await expect(adapter.step(big)).rejects.toBeInstanceOf(OutOfMemoryError);
    const tensors = tf.memory().numTensors;
    const err = await adapter.step(big).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect((err as Error).name).toBe('OutOfMemoryError');
    expect((err as Error).message).toMatch(/memoryLimitMB/);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(weights()).toEqual(before);
    const out = await adapter.step(small);
    expect(out.batchSize).toBe(4);
    await initBackend({ backend: 'wasm', memoryLimitMB: DEFAULT_MB });
    adapter.dispose();
    tf.dispose([small, big]);
    model.dispose();
  });

  it('keeps its class across the worker boundary', async () => {
    const model = smallResNet([12, 12, 1], 5);
    const worker = await createWorkerAdapter({ model, strategy: 'tent', backend: { backend: 'wasm', memoryLimitMB: 24 } });
    try {
      const frames = { data: new Float32Array(3000 * 144).fill(0.5), shape: [3000, 12, 12, 1] };
      const err = await worker.step(frames).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(OutOfMemoryError);
      const ok = await worker.step({ data: new Float32Array(4 * 144).fill(0.5), shape: [4, 12, 12, 1] });
      expect(ok.batchSize).toBe(4);
    } finally {
      await worker.terminate();
      model.dispose();
    }
  });
});
