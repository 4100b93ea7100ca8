/**
 * The fused batch-statistics BN kernels (wasm/assembly/batchnorm.ts) against the tfjs cpu
 * backend's tf.moments and tf.batchNorm (the oracle), for channel counts with and without a
 * SIMD tail, inputs with a large mean (cancellation in E[x^2] - E[x]^2), and absent gamma/beta.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { batchNormalizeFused, batchNormBackwardFused, channelMomentsFused, frameChannelMomentsFused } from '../../src/fused/index.js';

const SHAPES: number[][] = [[2, 5, 5, 1], [3, 4, 4, 3], [2, 6, 6, 16], [1, 3, 7, 18], [4, 33]];

async function on<T>(backend: 'cpu' | 'wasm', f: () => T): Promise<T> {
  await initBackend({ backend });
  return f();
}

describe('fused batch-statistics BN (wasm) vs tf.moments / tf.batchNorm (cpu)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });
  for (const shape of SHAPES) {
    const C = shape[shape.length - 1]!;
    it(`moments and normalisation agree for [${shape}]`, async () => {
      const values = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', C).mul(tf.linspace(0.5, 3, C)).add(tf.linspace(-40, 40, C)).dataSync());
      const gamma = Float32Array.from({ length: C }, (_, i) => 0.5 + i / C);
      const beta = Float32Array.from({ length: C }, (_, i) => i / C - 0.5);
      const axes = shape.slice(0, -1).map((_, i) => i);
      const cpu = await on('cpu', () =>
        tf.tidy(() => {
          const x = tf.tensor(values, shape);
          const m = tf.moments(x, axes);
          const y = tf.batchNorm(x, m.mean, m.variance, tf.tensor1d(beta), tf.tensor1d(gamma), 1e-3);
          const yPlain = tf.batchNorm(x, m.mean, m.variance, undefined, undefined, 1e-5);
          return { mean: m.mean.dataSync(), variance: m.variance.dataSync(), y: y.dataSync(), yPlain: yPlain.dataSync() };
        }),
      );
      const wasm = await on('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor(values, shape);
          const m = channelMomentsFused(x)!;
          const y = batchNormalizeFused(x, m.mean, m.variance, tf.tensor1d(gamma), tf.tensor1d(beta), 1e-3)!;
          const yPlain = batchNormalizeFused(x, m.mean, m.variance, undefined, undefined, 1e-5)!;
          return { mean: m.mean.dataSync(), variance: m.variance.dataSync(), y: y.dataSync(), yPlain: yPlain.dataSync() };
        }),
      );
      for (let c = 0; c < C; c++) {
        expect(Math.abs(wasm.mean[c]! - cpu.mean[c]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.mean[c]!)));
        expect(Math.abs(wasm.variance[c]! - cpu.variance[c]!)).toBeLessThan(1e-4 * cpu.variance[c]!);
      }
      for (let i = 0; i < values.length; i++) {
        expect(Math.abs(wasm.y[i]! - cpu.y[i]!)).toBeLessThan(2e-4);
        expect(Math.abs(wasm.yPlain[i]! - cpu.yPlain[i]!)).toBeLessThan(2e-4);
      }
    });
  }

  for (const shape of SHAPES.filter((sh) => sh.length >= 3)) {
    const C = shape[shape.length - 1]!;
    it(`per-frame moments over the spatial axes agree with tf.moments on cpu for [${shape}]`, async () => {
      // Each frame and channel its own offset and scale, so a frame mixed up with another shows.
      const values = tf.tidy(() =>
        tf.randomNormal(shape, 0, 1, 'float32', C + 2).mul(tf.linspace(0.5, 3, C)).add(tf.linspace(-40, 40, C)).mul(tf.linspace(1, 4, shape[0]!).reshape([shape[0]!, 1, 1, 1])).dataSync(),
      );
      const axes = shape.slice(1, -1).map((_, i) => i + 1);
      const cpu = await on('cpu', () => tf.tidy(() => {
        const m = tf.moments(tf.tensor(values, shape), axes);
        return { mean: m.mean.dataSync(), variance: m.variance.dataSync() };
      }));
      const wasm = await on('wasm', () => tf.tidy(() => {
        const m = frameChannelMomentsFused(tf.tensor(values, shape))!;
        expect(m.mean.shape).toEqual([shape[0], C]);
        return { mean: m.mean.dataSync(), variance: m.variance.dataSync() };
      }));
      expect(wasm.mean.length).toBe(shape[0]! * C);
      for (let i = 0; i < wasm.mean.length; i++) {
        expect(Math.abs(wasm.mean[i]! - cpu.mean[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.mean[i]!)));
        expect(Math.abs(wasm.variance[i]! - cpu.variance[i]!)).toBeLessThan(1e-4 * cpu.variance[i]!);
      }
    });
  }

  for (const shape of SHAPES) {
    const C = shape[shape.length - 1]!;
    it(`backward (dx, dgamma, dbeta) equals autodiff through tf.moments + tf.batchNorm on cpu for [${shape}]`, async () => {
      const values = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', C).mul(tf.linspace(0.5, 3, C)).add(tf.linspace(-40, 40, C)).dataSync());
      const dyValues = tf.tidy(() => tf.randomNormal(shape, 0.3, 1, 'float32', C + 1).dataSync());
      const gamma = Float32Array.from({ length: C }, (_, i) => 0.5 + i / C);
      const axes = shape.slice(0, -1).map((_, i) => i);
      const cpu = await on('cpu', () =>
        tf.tidy(() => {
          const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
            const m = tf.moments(x, axes);
            return tf.sum(tf.mul(tf.batchNorm(x, m.mean, m.variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3), tf.tensor(dyValues, shape)));
          };
          return tf.grads(f)([tf.tensor(values, shape), tf.tensor1d(gamma), tf.zeros([C])]).map((t) => t.dataSync());
        }),
      );
      const wasm = await on('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor(values, shape);
          const m = channelMomentsFused(x)!;
          const g = batchNormBackwardFused(x, tf.tensor(dyValues, shape), m.mean, m.variance, tf.tensor1d(gamma), 1e-3)!;
          return [g.dx, g.dgamma, g.dbeta].map((t) => t.dataSync());
        }),
      );
      const scale = Math.max(...cpu[0]!.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-2); // dx is not trivially zero
      for (let i = 0; i < values.length; i++) expect(Math.abs(wasm[0]![i]! - cpu[0]![i]!)).toBeLessThan(1e-4 * scale);
      for (const k of [1, 2]) {
        for (let c = 0; c < C; c++) expect(Math.abs(wasm[k]![c]! - cpu[k]![c]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(cpu[k]![c]!)));
      }
    });
  }

  /** Float64 two-pass moments of x[R, C] (the reference). */
  function moments64(v: Float32Array, C: number): { mean: Float64Array; variance: Float64Array } {
    const R = v.length / C;
    const mean = new Float64Array(C);
    const variance = new Float64Array(C);
    for (let i = 0; i < v.length; i++) mean[i % C]! += v[i]! / R;
    for (let i = 0; i < v.length; i++) variance[i % C]! += (v[i]! - mean[i % C]!) ** 2 / R;
    return { mean, variance };
  }

  // Regression: channelMoments summed x and x^2 from 0 (E[x^2] - E[x]^2), whose cancellation
  // grows as rows * 1e-16 * mean^2 / var: at mean 1e4, std 4e-3 over 65,536 rows the variance came
  // out 93% off (tf.moments on cpu: 0.2%), at mean 1e4, std 0.1 over 100,000 rows 1.2e-3 off, and a
  // constant channel of 0.1 had variance 2.6e-14. The sums are now of x minus a per-channel shift.
  for (const [C, mean, std, rows] of [[4, 1e4, 4e-3, 65536], [3, 1e4, 4e-3, 65536], [5, 1e4, 0.1, 100000], [4, 100, 1e-3, 200000]] as const) {
    it(`moments keep the variance when it is tiny against the mean (C ${C}, mean ${mean}, std ${std}, ${rows} rows)`, async () => {
      const values = tf.tidy(() => tf.randomUniform([rows, C], -std * Math.sqrt(3), std * Math.sqrt(3), 'float32', C).add(mean).dataSync() as Float32Array);
      const ref = moments64(values, C);
      const wasm = await on('wasm', () => tf.tidy(() => {
        const whole = channelMomentsFused(tf.tensor(values, [rows, C]))!;
        const frames = frameChannelMomentsFused(tf.tensor(values, [2, rows / 2, 1, C]))!;
        return { mean: whole.mean.dataSync(), variance: whole.variance.dataSync(), frameVariance: frames.variance.dataSync() };
      }));
      const half = moments64(values.subarray((rows / 2) * C), C);
      for (let c = 0; c < C; c++) {
        expect(Math.abs(wasm.mean[c]! - ref.mean[c]!)).toBeLessThan(1e-6 * mean);
        expect(Math.abs(wasm.variance[c]! - ref.variance[c]!)).toBeLessThan(1e-5 * ref.variance[c]!);
        expect(Math.abs(wasm.frameVariance[C + c]! - half.variance[c]!)).toBeLessThan(1e-5 * half.variance[c]!);
      }
    });
  }

  it('the variance of a constant channel is exactly 0', async () => {
    const wasm = await on('wasm', () => tf.tidy(() => channelMomentsFused(tf.fill([100000, 5], 0.1))!.variance.dataSync()));
    expect(Array.from(wasm)).toEqual([0, 0, 0, 0, 0]);
  });

  // Regression: the variance was clamped with `v > 0 ? v : 0`, which also turned NaN into 0, so a
  // channel holding a NaN or an infinity reported variance 0 where tf.moments reports NaN.
  it('a NaN or an infinity in a channel gives the mean and variance tf.moments gives on cpu (C 5 and 8)', async () => {
    for (const C of [5, 8]) {
      const values = tf.tidy(() => tf.randomNormal([6, C], 0, 1, 'float32', 7).dataSync() as Float32Array);
      values[0] = NaN; // row 0, channel 0: the first value of the channel
      values[1] = Infinity; // row 0, channel 1
      values[C + 2] = -Infinity; // row 1, channel 2
      values[3 * C + 3] = Infinity; // channel 3: +inf and -inf
      values[4 * C + 3] = -Infinity;
      const cpu = await on('cpu', () => tf.tidy(() => {
        const m = tf.moments(tf.tensor(values, [6, C]), [0]);
        return { mean: Array.from(m.mean.dataSync()), variance: Array.from(m.variance.dataSync()) };
      }));
      const wasm = await on('wasm', () => tf.tidy(() => {
        const m = channelMomentsFused(tf.tensor(values, [6, C]))!;
        return { mean: Array.from(m.mean.dataSync()), variance: Array.from(m.variance.dataSync()) };
      }));
      expect(wasm.mean.slice(0, 4)).toEqual(cpu.mean.slice(0, 4)); // NaN, Infinity, -Infinity, NaN
      expect(wasm.variance.slice(0, 4)).toEqual([NaN, NaN, NaN, NaN]);
      expect(cpu.variance.slice(0, 4)).toEqual([NaN, NaN, NaN, NaN]);
      for (let c = 4; c < C; c++) expect(Math.abs(wasm.variance[c]! - cpu.variance[c]!)).toBeLessThan(1e-5 * cpu.variance[c]!);
    }
  });

  // Regression: batchNormalize computed x * scale + (beta - mean * scale), whose rounding of
  // x * scale (of the size of mean / std) gave 1.7e-2 of error in normalised units at mean 1e4,
  // std 0.01 (8e-4 at std 1; tf.batchNorm: 5e-8). It now computes (x - mean) * scale + beta.
  for (const C of [4, 5]) {
    it(`normalisation stays exact for a large mean against the std (C ${C})`, async () => {
      const [mean, std] = [1e4, 0.01];
      const values = tf.tidy(() => tf.randomUniform([4096, C], -std * Math.sqrt(3), std * Math.sqrt(3), 'float32', C).add(mean).dataSync() as Float32Array);
      const m = new Float32Array(C).fill(mean);
      const v = new Float32Array(C).fill(std * std);
      const gamma = Float32Array.from({ length: C }, (_, c) => 0.5 + c);
      const beta = Float32Array.from({ length: C }, (_, c) => c - 2);
      const eps = Math.fround(1e-5);
      const y = await on('wasm', () => tf.tidy(() =>
        batchNormalizeFused(tf.tensor(values, [4096, C]), tf.tensor1d(m), tf.tensor1d(v), tf.tensor1d(gamma), tf.tensor1d(beta), eps)!.dataSync()));
      let err = 0;
      for (let i = 0; i < values.length; i++) {
        const c = i % C;
        const ref = ((values[i]! - m[c]!) / Math.sqrt(v[c]! + eps)) * gamma[c]! + beta[c]!;
        err = Math.max(err, Math.abs(y[i]! - ref));
      }
      expect(err).toBeLessThan(1e-5);
    });
  }

  it('returns null (use tfjs ops) off the wasm backend', async () => {
    await initBackend({ backend: 'cpu' });
    tf.tidy(() => {
      const x = tf.ones([2, 2, 2, 2]);
      expect(channelMomentsFused(x)).toBeNull();
      expect(batchNormalizeFused(x, tf.zeros([2]), tf.ones([2]), undefined, undefined, 1e-3)).toBeNull();
      expect(batchNormBackwardFused(x, x, tf.zeros([2]), tf.ones([2]), undefined, 1e-3)).toBeNull();
    });
  });
});
