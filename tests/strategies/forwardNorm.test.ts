/**
 * What bn-adapt and alpha-bn share (strategies/forwardNormStrategy.ts), on the tiny net of
 * normTinyNet.ts: the drift statistics of a step against their hand computation, the snapshot
 * tensors that must not be negative, and a forward pass that fails part-way.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { expectNonNegativeState } from '../helpers/nonNegativeState.js';
import { TINY, createStrategy, stepFrames, tinyBatch, tinyBatchMoments, tinyNet } from './normTinyNet.js';

const FRAMES = [
  [1, 3],
  [2, 0],
  [-1, 0.5],
];

describe('forward-only BN strategies (bn-adapt, alpha-bn)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a step reports bnDrift and bnVarDrift of the statistics it used, computed by hand', () => {
    const { mean, variance } = tinyBatchMoments(FRAMES);
    const eps = TINY.epsilon;
    for (const [name, alpha] of [['bn-adapt', 1], ['alpha-bn', 0.3]] as const) {
      // The statistics used: (1 - alpha) source + alpha batch (alpha-BN's mix of means and variances).
      const used = [0, 1].map((c) => ({
        m: (1 - alpha) * TINY.movingMean[c]! + alpha * mean[c]!,
        v: (1 - alpha) * TINY.movingVariance[c]! + alpha * variance[c]!,
      }));
      const bnDrift = used.reduce((s, u, c) => s + Math.abs(u.m - TINY.movingMean[c]!) / Math.sqrt(TINY.movingVariance[c]! + eps), 0) / 2;
      const bnVarDrift = used.reduce((s, u, c) => s + Math.abs(Math.log((u.v + eps) / (TINY.movingVariance[c]! + eps))), 0) / 2;
      expect(bnDrift).toBeGreaterThan(0.1);
      expect(bnVarDrift).toBeGreaterThan(0.1);
      const { s } = createStrategy(name, tinyNet(), { stats: 'batch', ...(name === 'alpha-bn' ? { alpha } : {}) });
      const { stats } = stepFrames(s, FRAMES);
      expect(Object.keys(stats).sort()).toEqual(['bnDrift', 'bnVarDrift']);
      expect(stats.bnDrift, name).toBeCloseTo(bnDrift, 5);
      expect(stats.bnVarDrift, name).toBeCloseTo(bnVarDrift, 5);
      s.dispose();
    }
  });

  it('the drift follows new source statistics set on the model between steps (read again for a new tensor)', () => {
    const model = tinyNet();
    const { s } = createStrategy('bn-adapt', model, { stats: 'batch' });
    const first = stepFrames(s, FRAMES).stats.bnDrift!;
    const movingMean = [3, -2];
    const layer = model.getLayer('tiny_bn');
    layer.setWeights([TINY.gamma, TINY.beta, movingMean, TINY.movingVariance].map((v) => tf.tensor1d([...v])));
    const { mean } = tinyBatchMoments(FRAMES);
    const eps = TINY.epsilon;
    const want = [0, 1].reduce((acc, c) => acc + Math.abs(mean[c]! - movingMean[c]!) / Math.sqrt(TINY.movingVariance[c]! + eps), 0) / 2;
    const { stats } = stepFrames(s, FRAMES);
    expect(stats.bnDrift).toBeCloseTo(want, 5);
    expect(Math.abs(stats.bnDrift! - first)).toBeGreaterThan(0.1);
    s.dispose();
  });

  it('restore refuses a negative moving variance or moving-statistics variance, and only those', () => {
    const nonNegative = /moving_variance|^normStats\/.*\/variance$/;
    for (const name of ['bn-adapt', 'alpha-bn'] as const) {
      for (const stats of ['batch', 'ema', 'auto'] as const) {
        const { s } = createStrategy(name, tinyNet(), { stats });
        stepFrames(s, FRAMES);
        const refused = expectNonNegativeState(s, name, nonNegative);
        const ema = stats === 'batch' ? [] : ['normStats/tiny_bn/variance'];
        expect(refused.sort(), `${name} ${stats}`).toEqual([...ema, 'tiny_bn/moving_variance'].sort());
        s.dispose();
      }
    }
  });

  it('a forward pass that fails part-way rethrows its error, leaks no tensor and commits nothing', () => {
    for (const name of ['bn-adapt', 'alpha-bn'] as const) {
      for (const stats of ['batch', 'ema'] as const) {
        const { s, target } = createStrategy(name, tinyNet(), { stats });
        stepFrames(s, FRAMES);
        const before = s.snapshot();
        const boom = new Error('boom in the forward pass');
        const executor = target.executor as unknown as Record<string, unknown>;
        const original = executor.logits;
        // Fails after the BN hook has run (the moving statistics of this batch are pending).
        executor.logits = (x: tf.Tensor, opts: never) => {
          (original as (x: tf.Tensor, o: never) => tf.Tensor).call(target.executor, x, opts).dispose();
          throw boom;
        };
        const x = tinyBatch(FRAMES);
        const tensors = tf.memory().numTensors;
        expect(() => s.step(x)).toThrow(boom);
        expect(tf.memory().numTensors, `${name} ${stats}`).toBe(tensors);
        x.dispose();
        executor.logits = original;
        const after = s.snapshot();
        for (const k of Object.keys(before.tensors)) {
          expect(Array.from(after.tensors[k]!.dataSync()), `${name} ${stats} ${k}`).toEqual(Array.from(before.tensors[k]!.dataSync()));
        }
        expect(after.meta).toEqual(before.meta);
        // And the next step equals a fresh strategy's second step.
        const fresh = createStrategy(name, tinyNet(), { stats }).s;
        stepFrames(fresh, FRAMES);
        expect(stepFrames(s, [[0.5, -2], [1, 1]]).probs).toEqual(stepFrames(fresh, [[0.5, -2], [1, 1]]).probs);
        tf.dispose([...Object.values(before.tensors), ...Object.values(after.tensors)]);
        s.dispose();
        fresh.dispose();
      }
    }
  });
});
