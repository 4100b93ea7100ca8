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
