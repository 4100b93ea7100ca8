/**
 * The BN-statistics building blocks of strategies/normStats.ts that the strategy tests reach only
 * indirectly: option checks at their bounds, alpha-BN's mixing formula, the model-without-BN
 * message, and `stats: 'auto'` switching at EMA_BELOW_BATCH frames (moving statistics below it,
 * the batch's from it on), checked against 'ema' and 'batch' on the tiny net.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, UnsupportedModelError, initBackend } from '../../src/index.js';
import { createTarget, type LayersTarget } from '../../src/model/target.js';
import { EMA_BELOW_BATCH, checkRange, mixMoments, requireBatchNorms, validateNormStats } from '../../strategies/normStats.js';
import { createStrategy, expectClose, stepFrames, tinyBatchMoments, tinyNet, tinyOracle } from './normTinyNet.js';

describe('normStats building blocks', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('validateNormStats: statsMomentum in (0, 1], stats one of the modes', () => {
    const ok = (m: unknown) => () => validateNormStats('tent', { stats: 'ema', statsMomentum: m as number });
    for (const m of [1, 0.5, 1e-6]) expect(ok(m)).not.toThrow();
    for (const m of [0, -0.1, 1.0001, NaN, Infinity, '0.5']) {
      expect(ok(m), String(m)).toThrow(new InvalidOptionError(`Strategy 'tent': option 'statsMomentum' is ${String(m)}; it must be a number in (0, 1] (e.g. 0.01).`));
    }
    expect(() => validateNormStats('tent', { stats: 'mean' as never, statsMomentum: 0.1 })).toThrow(
      new InvalidOptionError(`Strategy 'tent': option 'stats' is "mean"; valid values: 'auto', 'batch', 'ema'.`),
    );
  });

  it('checkRange: a finite number in [lo, hi], bounds included', () => {
    const check = (v: unknown) => () => checkRange('alpha-bn', 'alpha', v, 0, 1, 'it must be in [0, 1]');
    for (const v of [0, 1, 0.3]) expect(check(v)).not.toThrow();
    for (const v of [-0.001, 1.001, NaN, '0.3', null]) expect(check(v), String(v)).toThrow(new InvalidOptionError(`Strategy 'alpha-bn': option 'alpha' is ${String(v)}; it must be in [0, 1].`));
  });

  it('mixMoments: (1 - alpha) source + alpha batch, for mean and variance', () => {
    const t = (v: number[]) => tf.tensor1d(v);
    const src = { mean: t([1, -2]), variance: t([4, 1]) };
    const batch = { mean: t([3, 2]), variance: t([2, 9]) };
    const m = mixMoments(src, batch, 0.25);
    expect(Array.from(m.mean.dataSync())).toEqual([1.5, -1]);
    expect(Array.from(m.variance.dataSync())).toEqual([3.5, 3]);
    tf.dispose([src.mean, src.variance, batch.mean, batch.variance, m.mean, m.variance]);
  });

  it('requireBatchNorms: a model without BN is refused with the message naming it and the way out', () => {
    const input = tf.input({ shape: [3] });
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(tf.layers.dense({ units: 4 }).apply(input)) as tf.SymbolicTensor, name: 'no_bn' });
    expect(() => requireBatchNorms('tent', createTarget(model) as LayersTarget)).toThrow(
      new UnsupportedModelError(
        "Strategy 'tent' adapts BatchNormalization layers, and model 'no_bn' has none. Use a strategy that does not need BN (e.g. 'lame' or 'source'), or a model with BatchNormalization layers.",
      ),
    );
  });

  it(`stats 'auto': moving statistics below ${EMA_BELOW_BATCH} frames, the batch's from ${EMA_BELOW_BATCH} on (bn-adapt, alpha-bn, tent)`, () => {
    const frames = (n: number, seed: number) => Array.from({ length: n }, (_, i) => [Math.sin(seed + i), Math.cos(seed * 2 + i) * 2]);
    for (const name of ['bn-adapt', 'alpha-bn', 'tent'] as const) {
      for (const n of [1, EMA_BELOW_BATCH - 1, EMA_BELOW_BATCH]) {
        const run = (stats: string) => {
          const { s } = createStrategy(name, tinyNet(), { stats });
          const out = [stepFrames(s, frames(n, 1)).probs, stepFrames(s, frames(n, 2)).probs];
          s.dispose();
          return out;
        };
        const auto = run('auto');
        const expected = run(n < EMA_BELOW_BATCH ? 'ema' : 'batch');
        const other = run(n < EMA_BELOW_BATCH ? 'batch' : 'ema');
        expect(auto, `${name} n=${n}`).toEqual(expected);
        expect(auto, `${name} n=${n} differs from the other mode`).not.toEqual(other);
      }
    }
    // 'batch' means the batch's statistics at every batch size, one frame included (float64 oracle).
    for (const n of [1, 3]) {
      const f = frames(n, 5);
      const { s } = createStrategy('bn-adapt', tinyNet(), { stats: 'batch' });
      expectClose(stepFrames(s, f).probs, tinyOracle(f, tinyBatchMoments(f)).probs.flat(), 1e-5);
      s.dispose();
    }
  });
});
