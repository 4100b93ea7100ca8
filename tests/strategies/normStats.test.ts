/**
 * The small-batch mode (moving statistics) of the normalisation strategies against a float64
 * oracle, why its variance needs the between-frame term, and what all three strategies share:
 * exact reset, snapshot round trips, no tensor leaks over thousands of steps, typed input errors,
 * wasm/cpu parity of Tent on a small ResNet.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidInputError } from '../../src/index.js';
import { disposeTensors } from '../../src/model/weights.js';
import { Rng } from '../../src/random.js';
import { batchNormTrain, emaMoments } from '../../src/model/batchNorm.js';
import type { ChannelMoments } from '../../src/model/batchNorm.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';
import { createStrategy, expectClose, stepFrames, stepTensor, tinyBatch, tinyBatchMoments, tinyNet, tinyOracle } from './normTinyNet.js';

const NORM = ['bn-adapt', 'alpha-bn', 'tent'] as const;

const create = createStrategy;
const step = stepTensor;

/** The moving-statistics recurrence in float64 (see strategies/normStats.ts). */
function emaUpdate(ema: { mean: number[]; variance: number[] }, frames: number[][], m: number): void {
  const b = tinyBatchMoments(frames);
  const w = 1 - (1 - m) ** frames.length;
  for (let c = 0; c < ema.mean.length; c++) {
    const d = b.mean[c]! - ema.mean[c]!;
    ema.variance[c] = (1 - w) * ema.variance[c]! + w * b.variance[c]! + w * (1 - w) * d * d;
    ema.mean[c] = ema.mean[c]! + w * d;
  }
}

describe("small-batch mode (stats: 'ema')", () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  const STREAM = [[[1, 3]], [[2, 0], [0.5, 1]], [[-1, 4]], [[0, 0]]];

  it('bn-adapt and alpha-bn follow the float64 oracle of the moving statistics, batch sizes 1 and 2', () => {
    for (const [name, alpha] of [
      ['bn-adapt', 1],
      ['alpha-bn', 0.4],
    ] as const) {
      const m = 0.2;
      const { s } = create(name, tinyNet(), { stats: 'ema', statsMomentum: m, ...(name === 'alpha-bn' ? { alpha } : {}) });
      const ema = { mean: [0.5, 1.5], variance: [0.25, 1] }; // starts at the source statistics
      for (const frames of STREAM) {
        emaUpdate(ema, frames, m);
        const used = {
          mean: ema.mean.map((v, c) => (1 - alpha) * [0.5, 1.5][c]! + alpha * v),
          variance: ema.variance.map((v, c) => (1 - alpha) * [0.25, 1][c]! + alpha * v),
        };
        expectClose(stepFrames(s, frames).probs, tinyOracle(frames, used).probs.flat(), 3e-6);
      }
      const snap = s.snapshot();
      expectClose(Array.from(snap.tensors['normStats/tiny_bn/mean']!.dataSync()), ema.mean, 1e-6);
      expectClose(Array.from(snap.tensors['normStats/tiny_bn/variance']!.dataSync()), ema.variance, 1e-6);
      disposeTensors(snap.tensors);
      s.dispose();
    }
  });

  it('statsMomentum 1 reduces to batch statistics', () => {
    const { s } = create('bn-adapt', tinyNet(), { stats: 'ema', statsMomentum: 1 });
    const { s: b } = create('bn-adapt', tinyNet(), { stats: 'batch' });
    for (const frames of STREAM.slice(1)) expectClose(stepFrames(s, frames).probs, stepFrames(b, frames).probs, 1e-6);
    s.dispose();
    b.dispose();
  });

  it('single frames: the between-frame term makes the variance converge to the population variance', () => {
    // Frames of two pixels: p = offset + noise, offset ~ N(2, 1) per frame, noise ~ N(0, 0.5^2) per pixel.
    // Channel 0 of the BN input is p itself: population mean 2, variance 1 + 0.25 = 1.25. One frame's
    // own variance only sees the pixel noise (expected 0.125 for two pixels), so a plain EMA of frame
    // variances (no between-frame term) would settle near 0.125, ten times too small.
    const rng = new Rng(11);
    const m = 0.01;
    const { s } = create('bn-adapt', tinyNet(), { stats: 'ema', statsMomentum: m });
    let plainVar = 0.25;
    for (let i = 0; i < 1500; i++) {
      const o = rng.gaussian(2, 1);
      const frame = [o + rng.gaussian(0, 0.5), o + rng.gaussian(0, 0.5)];
      const x = tinyBatch([frame]);
      s.step(x).probs.dispose();
      x.dispose();
      plainVar = (1 - m) * plainVar + m * tinyBatchMoments([frame]).variance[0]!;
    }
    const snap = s.snapshot();
    const mean = snap.tensors['normStats/tiny_bn/mean']!.dataSync()[0]!;
    const variance = snap.tensors['normStats/tiny_bn/variance']!.dataSync()[0]!;
    disposeTensors(snap.tensors);
    s.dispose();
    // An EMA over ~100 frames is itself noisy: the bounds are several of its standard errors wide.
    expect(Math.abs(mean - 2)).toBeLessThan(0.4);
    expect(variance).toBeGreaterThan(0.75);
    expect(variance).toBeLessThan(1.9);
    expect(plainVar).toBeLessThan(0.3);
  });

  it("tent in ema mode normalises with the moving statistics and updates with the hand-derived gradient there", () => {
    // Nothing trainable precedes the BN layer, so the statistics do not depend on gamma/beta and the
    // gradient is the oracle's (hand-derived) one with z computed from the moving statistics.
    const m = 0.3;
    const frames = [[1, 3]];
    const { s, target } = create('tent', tinyNet(), { stats: 'ema', statsMomentum: m, optimizer: 'sgd', lr: 1, smallBatchLr: 'fixed' });
    const ema = { mean: [0.5, 1.5], variance: [0.25, 1] };
    emaUpdate(ema, frames, m);
    const oracle = tinyOracle(frames, ema);
    stepFrames(s, frames);
    const bn = target.info.batchNorms[0]!;
    expectClose(Array.from(bn.beta!.dataSync()), [0.1 - oracle.gradBeta[0]!, -0.2 - oracle.gradBeta[1]!], 2e-6);
    expectClose(Array.from(bn.gamma!.dataSync()), [2 - oracle.gradGamma[0]!, 0.5 - oracle.gradGamma[1]!], 2e-6);
    s.dispose();
  });
});

/** f(x, gamma, beta) and the gradients of sum(f * dy) with respect to x, gamma and beta, as arrays. */
function outputAndGrads(f: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, dy: tf.Tensor): number[][] {
  return tf.tidy(() => {
    const y = f(x, gamma, beta);
    const grads = tf.grads((xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(xv, g, b), dy)))([x, gamma, beta]);
    return [y, ...grads].map((t) => Array.from(t.dataSync()));
  });
}

describe('batchNormTrain (the closed-form BN backward Tent uses in batch mode)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it.each([
    [[3, 4, 5, 6]],
    [[1, 3, 3, 4]],
    [[5, 7]],
  ])('matches autodiff through tf.moments + tf.batchNorm, input %j', (shape) => {
    const c = shape[shape.length - 1]!;
    const x = tf.randomNormal(shape, 1, 2, 'float32', 3);
    const gamma = tf.randomUniform([c], 0.5, 1.5, 'float32', 4);
    const beta = tf.randomNormal([c], 0, 1, 'float32', 5);
    const dy = tf.randomNormal(shape, 0, 1, 'float32', 6);
    const axes = shape.slice(0, -1).map((_, i) => i);
    const reference = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xv, axes);
      return tf.batchNorm(xv, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
    };
    const fast = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const r = batchNormTrain(xv, g, b, 1e-3);
      return r.y;
    };
    const [want, got] = [reference, fast].map((f) => outputAndGrads(f, x, gamma, beta, dy));
    want!.forEach((w, i) => expectClose(got![i]!, w, 2e-4));
    // dx is not trivially zero (it is for a loss that ignores the normalisation).
    expect(Math.max(...want![1]!.map(Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([x, gamma, beta, dy]);
  });

  it.each([
    ['wasm', [3, 4, 5, 6], 0.3],
    ['wasm', [1, 3, 3, 5], 0.01],
    ['cpu', [3, 4, 5, 6], 0.3],
  ] as const)('with moving statistics (%s, input %j, batch weight %s) matches autodiff through tf.moments, the moving update and tf.batchNorm', async (backend, shape, w) => {
    await initBackend({ backend });
    const c = shape[shape.length - 1]!;
    const x = tf.randomNormal([...shape], 1, 2, 'float32', 3);
    const gamma = tf.randomUniform([c], 0.5, 1.5, 'float32', 4);
    const beta = tf.randomNormal([c], 0, 1, 'float32', 5);
    const dy = tf.randomNormal([...shape], 0, 1, 'float32', 6);
    const state = { mean: tf.randomNormal([c], 0, 1, 'float32', 7), variance: tf.randomUniform([c], 0.5, 3, 'float32', 8) };
    const axes = shape.slice(0, -1).map((_, i) => i);
    const reference = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = emaMoments(state, tf.moments(xv, axes) as ChannelMoments, w);
      return tf.batchNorm(xv, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
    };
    const fast = (xv: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTrain(xv, g, b, 1e-3, { ...state, weight: w }).y;
    const [want, got] = [reference, fast].map((f) => outputAndGrads(f, x, gamma, beta, dy));
    want!.forEach((v, i) => expectClose(got![i]!, v, 2e-4));
    // The statistics' dependence on x matters: dx differs from the fixed-statistics gradient gamma * rstd * dy.
    const fixed = tf.tidy(() => {
      const { variance } = emaMoments(state, tf.moments(x, axes) as ChannelMoments, w);
      return Array.from(tf.mul(dy, tf.mul(gamma, tf.rsqrt(tf.add(variance, 1e-3)))).dataSync());
    });
    expect(Math.max(...fixed.map((v, i) => Math.abs(v - want![1]![i]!)))).toBeGreaterThan(1e-4);
    tf.dispose([x, gamma, beta, dy, state.mean, state.variance]);
    await initBackend({ backend: 'wasm' });
  });

  it('tent in batch mode (closed form) equals tent through the autodiff path (ema, momentum 1) over 3 steps', () => {
    const runTent = (options: Record<string, unknown>) => {
      const model = smallResNet([8, 8, 1], 3);
      randomizeBatchNorms(model, 5);
      model.setWeights(model.weights.map((w, i) => tf.randomNormal(w.shape as number[], i % 3 === 0 ? 0.5 : 0, 0.3, 'float32', 100 + i)).map((t, i) => (model.weights[i]!.name.includes('variance') ? tf.abs(t).add(0.3) : t)));
      const { s, target } = create('tent', model, { lr: 0.01, ...options });
      const probs: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const x = randomBatch([5, 8, 8, 1], 40 + i);
        probs.push(step(s, x).probs);
        x.dispose();
      }
      const gammas = target.info.batchNorms.flatMap((bn) => [...bn.gamma!.dataSync(), ...bn.beta!.dataSync()]);
      s.dispose();
      return { probs, gammas };
    };
    const fast = runTent({ stats: 'batch' });
    const generic = runTent({ stats: 'ema', statsMomentum: 1 });
    fast.probs.forEach((p, i) => expectClose(p, generic.probs[i]!, 1e-4));
    expectClose(fast.gammas, generic.gammas, 1e-4);
  });
});

describe('bn-adapt, alpha-bn, tent: shared behaviour', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it.each(NORM.flatMap((n) => [[n, 'batch'], [n, 'ema']] as const))(
    '%s (%s): reset is exact and restore(snapshot) replays the same steps',
    (name, stats) => {
      const model = smallResNet([8, 8, 1], 3);
      randomizeBatchNorms(model);
      const { s } = create(name, model, { stats, ...(name === 'tent' ? { lr: 0.05 } : {}) });
      const a = randomBatch([4, 8, 8, 1], 1);
      const b = randomBatch([2, 8, 8, 1], 2);
      const first = step(s, a).probs;
      step(s, b);
      const snap = s.snapshot();
      const later = [step(s, a).probs, step(s, b).probs];
      s.restore(snap);
      expect([step(s, a).probs, step(s, b).probs]).toEqual(later);
      s.reset();
      expect(step(s, a).probs).toEqual(first);
      // Adaptive modes do change something (otherwise these checks prove nothing).
      if (name === 'tent' || stats === 'ema') expect(later[0]).not.toEqual(first);
      disposeTensors(snap.tensors);
      s.dispose();
      tf.dispose([a, b]);
    },
  );

  it.each(NORM.flatMap((n) => [[n, 'batch'], [n, 'ema']] as const))(
    '%s (%s): 2,000 adapter steps leave tf.memory().numTensors unchanged',
    async (name, stats) => {
      const adapter = await createAdapter(tinyNet(), { strategy: name, stats } as never);
      const x = tinyBatch([
        [1, 3],
        [2, 0],
      ]);
      await adapter.step(x);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 2000; i++) await adapter.step(x);
      expect(tf.memory().numTensors).toBe(before);
      adapter.dispose();
      x.dispose();
    },
  );

  it.each(NORM)('%s: bad input gets InvalidInputError and the adapter keeps working', async (name) => {
    const adapter = await createAdapter(tinyNet(), { strategy: name });
    const cases: Array<[tf.Tensor | object, RegExp]> = [
      [tf.zeros([2, 2, 1, 1]), /shape \[2, 2, 1, 1\].*\[n, 1, 2, 1\]/],
      [tf.zeros([0, 1, 2, 1]), /empty/],
      [tf.tensor4d([1, NaN], [1, 1, 2, 1]), /NaN/],
      [{ data: new Float32Array(3), shape: [1, 1, 2, 1] }, /3 values/],
    ];
    for (const [input, message] of cases) {
      const err = await adapter.step(input as tf.Tensor).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(message);
      if (input instanceof tf.Tensor) input.dispose();
    }
    const ok = await adapter.step({ data: new Float32Array([1, 2]), shape: [1, 2, 1] });
    expect(ok.batchSize).toBe(1);
    expect(Number.isFinite(ok.stats.bnDrift)).toBe(true);
    adapter.dispose();
  });

  it('tent on wasm (edge kernels) matches the cpu backend on a small ResNet over 5 steps', async () => {
    const run = async (backend: 'cpu' | 'wasm', weights?: Float32Array[]) => {
      await initBackend({ backend });
      const model = smallResNet([8, 8, 1], 3);
      if (weights) model.setWeights(weights.map((w, i) => tf.tensor(w, model.weights[i]!.shape as number[])));
      else randomizeBatchNorms(model);
      const init = model.weights.map((w) => w.read().dataSync().slice() as Float32Array);
      const { s, target } = create('tent', model, { lr: 0.01 });
      const probs: number[][] = [];
      const losses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const x = randomBatch([6, 8, 8, 1], 20 + i);
        const r = step(s, x);
        probs.push(r.probs);
        losses.push(r.stats.loss!);
        x.dispose();
      }
      const gammas = target.info.batchNorms.flatMap((bn) => Array.from(bn.gamma!.dataSync()));
      s.dispose();
      return { init, probs, losses, gammas };
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm', cpu.init);
    for (let i = 0; i < 5; i++) expectClose(wasm.probs[i]!, cpu.probs[i]!, 1e-4);
    expectClose(wasm.losses, cpu.losses, 1e-4);
    expectClose(wasm.gammas, cpu.gammas, 1e-4);
    expect(Math.max(...cpu.losses)).toBeGreaterThan(Math.min(...cpu.losses)); // it adapted
  });
});
