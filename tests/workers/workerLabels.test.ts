/**
 * Labels through the worker adapter are checked as in-thread: `step(batch, null)` used to throw
 * a TypeError synchronously (`Array.from(null)` before any check) and an array-like object
 * such as `{ length: 1, 0: 1 }` was accepted by the worker though the in-thread adapter refuses
 * it. Every bad labels value now gives a rejected promise with the in-thread InvalidInputError
 * and message, and the refused step changes nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidInputError, type Adapter } from '../../src/index.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE: [number, number, number] = [8, 8, 1];
function makeModel(): tf.LayersModel {
  const model = smallResNet(SHAPE, 3);
  model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 60 + i))));
  // Positive BN moving variances (random normal ones are negative, which createAdapter refuses).
  randomizeBatchNorms(model, 6);
  return model;
}
const batch = (): { data: Float32Array; shape: number[] } => ({
  data: tf.tidy(() => tf.randomUniform([2, ...SHAPE], 0, 1, 'float32', 3).dataSync() as Float32Array),
  shape: [2, ...SHAPE],
});

describe('worker adapter labels', () => {
  let worker: WorkerAdapter | undefined;
  let local: Adapter | undefined;
  let localModel: tf.LayersModel | undefined;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    worker = await createWorkerAdapter({ model: makeModel(), strategy: 'tent', seed: 1 });
    localModel = makeModel();
    local = await createAdapter(localModel, { strategy: 'tent', seed: 1 });
  });
  afterAll(async () => {
    await worker?.terminate();
    local?.dispose();
    localModel?.dispose();
  });

  const bad: [string, unknown][] = [
    ['null', null],
    ['an array-like object', { length: 2, 0: 1, 1: 0 }],
    ['a one-element array-like object', { length: 1, 0: 1 }],
    ['a string', '10'],
    ['a number', 1],
    ['a DataView', new DataView(new ArrayBuffer(8))],
    ['labels out of range', [0, 3]],
    ['fractional labels', [0, 1.5]],
    ['NaN labels', new Float32Array([0, NaN])],
    ['string entries', ['0', '1']],
    ['too few labels', [1]],
    ['too many labels', new Int32Array([0, 1, 2])],
  ];
  for (const [what, labels] of bad) {
    it(`${what}: a rejected promise with the in-thread InvalidInputError and message, nothing changed`, async () => {
      const before = await worker!.snapshot();
      let result: Promise<unknown> | undefined;
      // Not thrown synchronously: a promise comes back, and it rejects.
      expect(() => {
        result = worker!.step(batch(), labels as never);
      }).not.toThrow();
      expect(result).toBeInstanceOf(Promise);
      const err = await result!.then(
        () => null,
        (e: unknown) => e,
      );
      const expected = await local!.step(batch(), labels as never).then(
        () => null,
        (e: unknown) => e,
      );
      expect(expected).toBeInstanceOf(InvalidInputError);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).name).toBe('InvalidInputError');
      expect((err as Error).message).toBe((expected as Error).message);
      expect(await worker!.snapshot()).toEqual(before);
    });
  }

  it('valid labels (arrays and typed arrays) still feed the accuracy, as in-thread', async () => {
    const accuracy = { worker: [] as unknown[], local: [] as unknown[] };
    const subs = [
      worker!.metrics$.subscribe((r) => r.kind === 'step' && accuracy.worker.push(r.accuracy)),
      local!.metrics$.subscribe((r) => r.kind === 'step' && accuracy.local.push(r.accuracy)),
    ];
    for (const labels of [[0, 1], new Int32Array([2, 2]), new Uint8Array([1, 0])]) {
      const w = await worker!.step(batch(), labels);
      const l = await local!.step(batch(), labels);
      expect(Array.from(w.probs)).toEqual(Array.from(l.probs));
      expect(w.stepId).toBe(l.stepId);
    }
    await new Promise((r) => setTimeout(r, 200));
    subs.forEach((s) => s.unsubscribe());
    expect(accuracy.worker).toHaveLength(3);
    expect(accuracy.worker.every((a) => typeof a === 'number')).toBe(true);
    expect(accuracy.worker).toEqual(accuracy.local);
  });
});
