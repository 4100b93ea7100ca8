/** `tent` on the tiny hand-built net: first update against the hand-derived gradient, state, errors. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError, UnsupportedModelError } from '../../src/index.js';
import type { LayersTarget } from '../../src/model/target.js';
import { disposeTensors } from '../../src/model/weights.js';
import { plainCnn } from '../helpers/models.js';
import { expectNonNegativeState } from '../helpers/nonNegativeState.js';
import { TINY, createStrategy, expectClose, stepFrames, tinyBatch, tinyBatchMoments, tinyNet, tinyOracle } from './normTinyNet.js';

const FRAMES = [
  [1, 3],
  [2, 0],
  [-1, 0.5],
];

const create = (model: tf.LayersModel, options: Record<string, unknown> = {}) => createStrategy('tent', model, options);
const step = stepFrames;

function bnParams(target: LayersTarget): { gamma: number[]; beta: number[] } {
  const bn = target.info.batchNorms[0]!;
  return { gamma: Array.from(bn.gamma!.dataSync()), beta: Array.from(bn.beta!.dataSync()) };
}

describe('tent', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('SGD: the first update is gamma/beta minus lr times the hand-derived entropy gradient', () => {
    const oracle = tinyOracle(FRAMES, tinyBatchMoments(FRAMES));
    // The gradient is not trivially small: the check below can fail.
    expect(Math.min(...oracle.gradGamma.map(Math.abs), ...oracle.gradBeta.map(Math.abs))).toBeGreaterThan(1e-3);
    const lr = 0.5;
    const { s, target } = create(tinyNet(), { optimizer: 'sgd', lr, stats: 'batch', smallBatchLr: 'fixed' });
    const { probs, stats } = step(s, FRAMES);
    // The returned prediction is the forward pass before the update (as Tent's forward_and_adapt).
    expectClose(probs, oracle.probs.flat(), 2e-6);
    expect(stats.loss).toBeCloseTo(oracle.loss, 5);
    const { gamma, beta } = bnParams(target);
    expectClose(gamma, TINY.gamma.map((g, c) => g - lr * oracle.gradGamma[c]!), 2e-6);
    expectClose(beta, TINY.beta.map((b, c) => b - lr * oracle.gradBeta[c]!), 2e-6);
    // The second step predicts with the updated parameters.
    const second = tinyOracle(FRAMES, tinyBatchMoments(FRAMES), gamma, beta);
    expectClose(step(s, FRAMES).probs, second.probs.flat(), 2e-6);
    expect(second.loss).toBeLessThan(oracle.loss); // entropy went down
    s.dispose();
  });

  it('Adam (default, lr 1e-3, scaled by 2n/64 below 32 frames): the first update is lr * g / (|g| + 1e-8) per parameter', () => {
    const oracle = tinyOracle(FRAMES, tinyBatchMoments(FRAMES));
    const { s, target } = create(tinyNet());
    expect(s.getConfig()).toEqual({ optimizer: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, smallBatchLr: 'scale', stats: 'auto', statsMomentum: 0.01 });
    step(s, FRAMES);
    const { gamma, beta } = bnParams(target);
    // SAR's small-batch rule: a batch of n < 32 frames steps with lr * 2n / 64.
    expect(FRAMES.length).toBeLessThan(32);
    const lr = (1e-3 * 2 * FRAMES.length) / 64;
    // Bias-corrected first Adam step: m_hat = g, v_hat = g^2.
    const upd = (g: number) => (lr * g) / (Math.abs(g) + 1e-8);
    expectClose(gamma, TINY.gamma.map((v, c) => v - upd(oracle.gradGamma[c]!)), 1e-6);
    expectClose(beta, TINY.beta.map((v, c) => v - upd(oracle.gradBeta[c]!)), 1e-6);
    s.dispose();
  });

  it('only BN gamma/beta change; conv, dense and BN moving statistics stay the source ones', () => {
    const model = tinyNet();
    const before = model.weights.map((w) => Array.from(w.read().dataSync()));
    const { s } = create(model, { optimizer: 'sgd', lr: 0.1 });
    for (let i = 0; i < 3; i++) step(s, FRAMES);
    model.weights.forEach((w, i) => {
      const changed = Array.from(w.read().dataSync()).some((v, j) => v !== before[i]![j]);
      expect(changed, w.name).toBe(/gamma|beta/.test(w.name));
    });
    s.dispose();
    // dispose hands the source weights back.
    model.weights.forEach((w, i) => expect(Array.from(w.read().dataSync())).toEqual(before[i]));
  });

  it('snapshot/restore include the Adam moments and step count: the next step is bit-identical', () => {
    const { s, target } = create(tinyNet());
    step(s, FRAMES);
    const snap = s.snapshot();
    expect(Object.keys(snap.tensors).filter((k) => k.startsWith('tent/adam/')).length).toBe(4);
    expect(snap.meta).toEqual({ adamStep: 1 });
    const a = step(s, [[0.5, 2], [1, 1]]);
    const after = bnParams(target);
    step(s, FRAMES);
    s.restore(snap);
    const b = step(s, [[0.5, 2], [1, 1]]);
    expect(b.probs).toEqual(a.probs);
    expect(bnParams(target)).toEqual(after);
    // reset: source weights and a fresh optimiser (the first step again equals a new strategy's).
    s.reset();
    const { s: fresh, target: t2 } = create(tinyNet());
    expect(step(s, FRAMES).probs).toEqual(step(fresh, FRAMES).probs);
    expect(bnParams(target)).toEqual(bnParams(t2));
    disposeTensors(snap.tensors);
    s.dispose();
    fresh.dispose();
  });

  it('option types follow the strategy name (type-checked by `npm run typecheck`)', async () => {
    const ok = await createAdapter(tinyNet(), { strategy: 'tent', optimizer: 'sgd', lr: 0.01, stats: 'ema', statsMomentum: 0.05 });
    expect((await ok.getConfig()).optimizer).toBe('sgd');
    ok.dispose();
    // @ts-expect-error 'rmsprop' is not a TentOptimizer
    await expect(createAdapter(tinyNet(), { strategy: 'tent', optimizer: 'rmsprop' })).rejects.toThrow(InvalidOptionError);
    // @ts-expect-error alpha is an option of 'alpha-bn', not of 'tent'
    await expect(createAdapter(tinyNet(), { strategy: 'tent', alpha: 0.5 })).rejects.toThrow(/Unknown option 'alpha' for strategy 'tent'/);
  });

  it('bad options, a model without BN and BN without affine parameters get typed errors', async () => {
    for (const [options, message] of [
      [{ optimizer: 'rmsprop' }, /'optimizer' is "rmsprop".*'adam', 'sgd'/],
      [{ lr: 0 }, /^Strategy 'tent': option 'lr' is 0; it must be a positive finite number \(e\.g\. 1e-3\)\.$/],
      [{ lr: -1 }, /'lr' is -1/],
      [{ beta1: 1 }, /^Strategy 'tent': option 'beta1' is 1; it must be a number in \[0, 1\) \(e\.g\. 0\.9\)\.$/],
      [{ beta2: 1 }, /^Strategy 'tent': option 'beta2' is 1; it must be a number in \[0, 1\) \(e\.g\. 0\.999\)\.$/],
      [{ stats: 'moving' }, /^Strategy 'tent': option 'stats' is "moving"/],
      [{ momentum: 0.9 }, /Unknown option 'momentum' for strategy 'tent'/],
    ] as const) {
      const err = await createAdapter(tinyNet(), { strategy: 'tent', ...options } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(message);
    }
    const err = await createAdapter(plainCnn(), { strategy: 'tent' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedModelError);
    expect((err as Error).message).toMatch(/'tent'.*BatchNormalization.*plain_cnn/);
    expect(() => create(plainCnn())).toThrow(UnsupportedModelError);
    expect(() => create(plainCnn())).toThrow(/^Strategy 'tent' adapts BatchNormalization layers, and model 'plain_cnn' has none/);
    const input = tf.input({ shape: [1, 2, 1] });
    let h = tf.layers.batchNormalization({ center: false, scale: false }).apply(input) as tf.SymbolicTensor;
    h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
    const noAffine = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(h) as tf.SymbolicTensor, name: 'no_affine' });
    expect(() => create(noAffine)).toThrow(/^Strategy 'tent' trains the BN scale and offset, .* model 'no_affine' was built with `scale: false, center: false`.*'bn-adapt' or 'alpha-bn'/);
  });

  it('restore refuses a negative BN moving variance, Adam second moment or moving-statistics variance, and only those', () => {
    const nonNegative = /moving_variance|^tent\/adam\/v\/|^normStats\/.*\/variance$/;
    const cases: Record<string, string>[] = [{ stats: 'batch' }, { optimizer: 'sgd', stats: 'batch' }, { stats: 'ema' }, { optimizer: 'sgd', stats: 'auto' }];
    for (const options of cases) {
      const { s } = create(tinyNet(), options);
      step(s, FRAMES);
      const refused = expectNonNegativeState(s, 'tent', nonNegative);
      const adam = options.optimizer === 'sgd' ? [] : ['tent/adam/v/0', 'tent/adam/v/1'];
      // 'ema' and 'auto' keep moving statistics.
      const ema = options.stats === 'batch' ? [] : ['normStats/tiny_bn/variance'];
      expect(refused.sort()).toEqual([...adam, ...ema, 'tiny_bn/moving_variance'].sort());
      // The strategy still works from the snapshot's state, SGD too (no Adam step count to restore).
      s.reset();
      expect(step(s, FRAMES).probs).toEqual(step(create(tinyNet(), options).s, FRAMES).probs);
      s.dispose();
    }
  });

  it('a step that fails part-way rethrows its error, leaks no tensor and commits nothing', () => {
    for (const stats of ['batch', 'ema'] as const) {
      for (const where of ['forward', 'update'] as const) {
        const { s, target } = create(tinyNet(), { stats });
        step(s, FRAMES);
        const before = s.snapshot();
        const boom = new Error(`boom in the ${where}`);
        const sabotaged = where === 'forward' ? target.executor : (s as unknown as { adam: { step: () => void } }).adam;
        const method = where === 'forward' ? 'logits' : 'step';
        const original = (sabotaged as unknown as Record<string, unknown>)[method];
        (sabotaged as unknown as Record<string, unknown>)[method] = () => {
          throw boom;
        };
        const x = tinyBatch(FRAMES);
        const tensors = tf.memory().numTensors;
        expect(() => s.step(x)).toThrow(boom);
        expect(tf.memory().numTensors).toBe(tensors);
        x.dispose();
        (sabotaged as unknown as Record<string, unknown>)[method] = original;
        const after = s.snapshot();
        for (const name of Object.keys(before.tensors)) {
          expect(Array.from(after.tensors[name]!.dataSync()), name).toEqual(Array.from(before.tensors[name]!.dataSync()));
        }
        expect(after.meta).toEqual(before.meta);
        tf.dispose([...Object.values(before.tensors), ...Object.values(after.tensors)]);
        s.dispose();
      }
    }
  });
});
