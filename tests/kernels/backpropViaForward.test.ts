/**
 * The Conv2DBackpropInput and Tile wrappers (src/backend/kernels/backpropViaForward.ts) against
 * the cpu backend, on the cases they cover and on the cases they hand back to tfjs-wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { maxRelError } from '../helpers/models.js';

async function onBoth<T extends tf.Tensor>(f: () => T): Promise<[Float32Array, Float32Array]> {
  await tf.setBackend('cpu');
  const cpu = tf.tidy(() => f().dataSync() as Float32Array).slice();
  await tf.setBackend('wasm');
  const wasm = tf.tidy(() => f().dataSync() as Float32Array).slice();
  return [wasm, cpu];
}

describe('Conv2DBackpropInput and Tile through forward kernels', () => {
  beforeAll(async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info.edgeKernels).toBe(true);
  });

  const cases: Array<[string, number[], number[], [number, number], 'same' | 'valid']> = [
    ['3x3 same stride 1 (covered)', [2, 7, 5, 3], [3, 3, 3, 6], [1, 1], 'same'],
    ['5x3 same stride 1, batch 1 (covered)', [1, 6, 6, 5], [5, 3, 5, 4], [1, 1], 'same'],
    ['1x1 valid (covered)', [3, 4, 4, 7], [1, 1, 7, 5], [1, 1], 'valid'],
    ['3x3 valid stride 1 (fallback)', [2, 6, 6, 3], [3, 3, 3, 4], [1, 1], 'valid'],
    ['2x2 same stride 1, even kernel (fallback)', [2, 5, 5, 2], [2, 2, 2, 3], [1, 1], 'same'],
    ['3x3 same stride 2, odd size (fallback)', [2, 7, 7, 3], [3, 3, 3, 4], [2, 2], 'same'],
  ];
  for (const [name, xShape, wShape, strides, pad] of cases) {
    it(`input gradient of conv2d, ${name}`, async () => {
      const [wasm, cpu] = await onBoth(() => {
        const x = tf.randomUniform(xShape, -1, 1, 'float32', 3) as unknown as tf.Tensor4D;
        const w = tf.randomUniform(wShape, -1, 1, 'float32', 4) as unknown as tf.Tensor4D;
        const dy = tf.conv2d(x, w, strides, pad);
        const weights = tf.randomUniform(dy.shape, -1, 1, 'float32', 5);
        return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, w, strides, pad), weights)))(x);
      });
      expect(maxRelError(wasm, cpu, 1e-2)).toBeLessThan(1e-4);
    });
  }

  it('Tile: broadcast (covered) and general (fallback) reps', async () => {
    for (const [shape, reps] of [
      [[1, 3, 1, 4], [2, 1, 5, 1]],
      [[2, 3], [2, 2]],
    ] as Array<[number[], number[]]>) {
      const [wasm, cpu] = await onBoth(() => tf.tile(tf.randomUniform(shape, -1, 1, 'float32', 6), reps));
      expect(Array.from(wasm)).toEqual(Array.from(cpu));
    }
  });
});
