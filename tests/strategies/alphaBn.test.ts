/** `alpha-bn` on a tiny hand-built net against hand-computed values, plus its options and errors. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError, UnsupportedModelError } from '../../src/index.js';
import { batchStatisticsHook } from '../../src/model/batchNorm.js';
import { plainCnn } from '../helpers/models.js';
import { createStrategy, expectClose, stepFrames, tinyBatch, tinyBatchMoments, tinyNet, tinyOracle } from './normTinyNet.js';

// Two frames of two pixels. By hand: conv channel 0 = p -> {1, 3, 2, 0}: mean 1.5, biased var 1.25;
// channel 1 = 0.5 p + 1 -> {1.5, 2.5, 2, 1}: mean 1.75, var 0.3125. Source: mean [0.5, 1.5], var [0.25, 1].
const FRAMES = [
  [1, 3],
  [2, 0],
];

const create = (model: tf.LayersModel, options: Record<string, unknown>, name = 'alpha-bn') => createStrategy(name, model, options);
const probsOf = stepFrames;

describe('alpha-bn', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('batch moments of the tiny net are the hand-computed ones (checks the oracle itself)', () => {
    const m = tinyBatchMoments(FRAMES);
    expectClose(m.mean, [1.5, 1.75], 1e-12);
    expectClose(m.variance, [1.25, 0.3125], 1e-12);
  });

  it('alpha = 0 gives the source model exactly', () => {
    const model = tinyNet();
    const { s } = create(model, { alpha: 0 });
    const x = tinyBatch(FRAMES);
    const expected = tf.tidy(() => Array.from(tf.softmax(model.predict(x) as tf.Tensor2D).dataSync()));
    const { probs, stats } = probsOf(s, FRAMES);
    expect(probs).toEqual(expected);
    expect(stats.bnDrift).toBe(0);
    expect(stats.bnVarDrift).toBe(0);
    s.dispose();
    x.dispose();
  });

  it('alpha = 1 gives bn-adapt (pure batch statistics) exactly', () => {
    const model = tinyNet();
    const { s, target } = create(model, { alpha: 1, stats: 'batch' });
    const x = tinyBatch(FRAMES);
    // An independent path: the core's batch-statistics hook on the executor.
    const hooks = new Map(target.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
    const expected = tf.tidy(() => Array.from(tf.softmax(target.executor.logits(x, { hooks })).dataSync()));
    const { probs } = probsOf(s, FRAMES);
    expect(probs).toEqual(expected);
    s.dispose();
    // And the registered bn-adapt strategy agrees bit for bit.
    const { s: bn } = create(model, { stats: 'batch' }, 'bn-adapt');
    expect(probsOf(bn, FRAMES).probs).toEqual(expected);
    bn.dispose();
    x.dispose();
  });

  it('alpha = 0.5 normalises with the hand-computed mix of source and batch statistics', () => {
    // mean = 0.5 [0.5, 1.5] + 0.5 [1.5, 1.75] = [1, 1.625]; var = 0.5 [0.25, 1] + 0.5 [1.25, 0.3125] = [0.75, 0.65625].
    const oracle = tinyOracle(FRAMES, { mean: [1, 1.625], variance: [0.75, 0.65625] });
    const { s } = create(tinyNet(), { alpha: 0.5, stats: 'batch' });
    const { probs, stats } = probsOf(s, FRAMES);
    expectClose(probs, oracle.probs.flat(), 2e-6);
    // bnDrift: mean over channels of |mu - mu_src| / sqrt(var_src + eps) = (0.5/sqrt(0.251) + 0.125/sqrt(1.001)) / 2.
    expect(stats.bnDrift).toBeCloseTo((0.5 / Math.sqrt(0.251) + 0.125 / Math.sqrt(1.001)) / 2, 5);
    const lr = (v: number, src: number) => Math.abs(Math.log((v + 1e-3) / (src + 1e-3)));
    expect(stats.bnVarDrift).toBeCloseTo((lr(0.75, 0.25) + lr(0.65625, 1)) / 2, 5);
    // The mix matters: the source model and bn-adapt give other outputs.
    const src = tinyOracle(FRAMES, { mean: [0.5, 1.5], variance: [0.25, 1] }).probs.flat();
    expect(Math.max(...probs.map((p, i) => Math.abs(p - src[i]!)))).toBeGreaterThan(0.01);
    s.dispose();
  });

  it('nothing accumulates: the same batch gives the same output at every step', () => {
    const { s } = create(tinyNet(), { stats: 'batch' });
    const first = probsOf(s, FRAMES).probs;
    probsOf(s, [[5, -3], [0.5, 0.25], [9, 9]]);
    expect(probsOf(s, FRAMES).probs).toEqual(first);
    s.dispose();
  });

  it('defaults to alpha 0.3 and batch statistics', async () => {
    const adapter = await createAdapter(tinyNet(), { strategy: 'alpha-bn' });
    expect(await adapter.getConfig()).toEqual({ strategy: 'alpha-bn', alpha: 0.3, stats: 'auto', statsMomentum: 0.01 });
    adapter.dispose();
  });

  it('bad options and a model without BN get typed errors naming the problem', async () => {
    for (const [options, message] of [
      [{ alpha: 1.5 }, /'alpha' is 1.5.*\[0, 1\]/],
      [{ alpha: Number.NaN }, /'alpha' is NaN/],
      [{ stats: 'window' }, /'stats' is "window".*'batch', 'ema'/],
      [{ stats: 'ema', statsMomentum: 0 }, /'statsMomentum' is 0.*\(0, 1\]/],
    ] as const) {
      const err = await createAdapter(tinyNet(), { strategy: 'alpha-bn', ...options } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(message);
    }
    const err = await createAdapter(plainCnn(), { strategy: 'alpha-bn' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedModelError);
    expect((err as Error).message).toMatch(/'alpha-bn'.*BatchNormalization.*plain_cnn/);
    // The strategy checks it too when built directly (not only createAdapter).
    expect(() => create(plainCnn(), {})).toThrow(UnsupportedModelError);
  });
});
