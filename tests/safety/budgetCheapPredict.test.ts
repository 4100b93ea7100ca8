/**
 * Steps the compute budget skips run the strategy's `predictCheap` when it has one (CoTTA: the
 * teacher on the clean batch, without the augmented views that cost as much as an update), and
 * `predict` otherwise. Checked on CoTTA forced to augment every batch (threshold 2): a skipped
 * step's prediction equals, bit for bit, what an adapter restored to the same state predicts
 * without augmentation (threshold 0), and differs from the augmented prediction.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend } from '../../src/index.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE: [number, number, number] = [8, 8, 1];

function model(): tf.LayersModel {
  const m = smallResNet(SHAPE, 4);
  m.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 300 + i))));
  randomizeBatchNorms(m, 7);
  return m;
}

function batch(seed: number): { data: Float32Array; shape: number[] } {
  const data = tf.tidy(() => tf.randomUniform([6, ...SHAPE], 0, 1, 'float32', seed).dataSync() as Float32Array);
  return { data, shape: [6, ...SHAPE] };
}

describe('the budget skips steps with the cheap prediction', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it("CoTTA: a step the budget skips predicts with the teacher on the clean batch, not the augmented teacher", async () => {
    const common = { strategy: 'cotta' as const, seed: 3, augmentations: 4, guard: false as const };
    const budgeted = await createAdapter(model(), { ...common, threshold: 2, budget: { maxAdaptMsPerFrame: 1e-6 } });
    const first = await budgeted.step(batch(1));
    expect(first.update.mode).toBe('adapt');
    const state = await budgeted.snapshot();
    const x = batch(2);
    // References from the same state: the augmented prediction (predict) and the clean one.
    const clean = await createAdapter(model(), { ...common, threshold: 0 });
    await clean.restore(state);
    const cleanProbs = (await clean.predict(x)).probs;
    const augmentedProbs = (await budgeted.predict(x)).probs;
    const gap = Math.max(...Array.from(cleanProbs, (v, i) => Math.abs(v - augmentedProbs[i]!)));
    expect(gap).toBeGreaterThan(1e-3);
    const skipped = await budgeted.step(x);
    expect(skipped.update).toMatchObject({ mode: 'predict', reason: 'budget' });
    expect(Array.from(skipped.probs)).toEqual(Array.from(cleanProbs));
    // Nothing was updated: the next skipped step still equals the clean prediction of that state.
    const y = batch(3);
    const next = await budgeted.step(y);
    expect(next.update).toMatchObject({ mode: 'predict', reason: 'budget' });
    expect(Array.from(next.probs)).toEqual(Array.from((await clean.predict(y)).probs));
    budgeted.dispose();
    clean.dispose();
  });

  it('step records report the budget against what steps cost: a budget under the cost of a prediction shows a floor above it', async () => {
    const adapter = await createAdapter(model(), { strategy: 'tent', seed: 3, guard: false, budget: { maxAdaptMsPerFrame: 1e-6 } });
    const records: Array<{ stepMs: number; batchSize: number; update: { mode: string; budget?: { maxMsPerFrame: number; msPerFrame: number; floorMsPerFrame?: number } } }> = [];
    const sub = adapter.metrics$.subscribe((r) => {
      if (r.kind === 'step') records.push(r);
    });
    const outs = [];
    for (let i = 0; i < 4; i++) outs.push(await adapter.step(batch(10 + i)));
    sub.unsubscribe();
    expect(outs.map((o) => o.update.mode)).toEqual(['adapt', 'predict', 'predict', 'predict']);
    // After the update alone: the budget and its cost, no floor yet.
    expect(outs[0]!.update.budget).toEqual({ maxMsPerFrame: 1e-6, msPerFrame: expect.any(Number) });
    for (const o of outs.slice(1)) {
      const budget = o.update.budget!;
      expect(budget.maxMsPerFrame).toBe(1e-6);
      // A prediction costs more than the budget: the floor shows that it cannot be met.
      expect(budget.floorMsPerFrame!).toBeGreaterThan(budget.maxMsPerFrame);
    }
    // The step records carry the same figures as the step results; ms per frame is measured step time over frames.
    expect(records.map((r) => r.update.budget)).toEqual(outs.map((o) => o.update.budget));
    adapter.dispose();
    // No budget, no field.
    const free = await createAdapter(model(), { strategy: 'tent', seed: 3, guard: false });
    expect((await free.step(batch(1))).update.budget).toBeUndefined();
    free.dispose();
  });
});
