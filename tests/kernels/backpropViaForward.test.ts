/**
 * The Conv2DBackpropInput, Tile and Reverse wrappers (src/backend/kernels/backpropViaForward.ts)
 * against the cpu backend, on the cases they cover and on the cases they hand back to tfjs-wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { maxRelError } from '../helpers/models.js';
import { createRng } from '../../src/random.js';
import { cachedTransposedFilters, isBackpropViaForward } from '../../src/backend/kernels/backpropViaForward.js';

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

  type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  const cases: Array<[string, number[], number[], [number, number], Pad]> = [
    ['3x3 same stride 1', [2, 7, 5, 3], [3, 3, 3, 6], [1, 1], 'same'],
    ['5x3 same stride 1, batch 1', [1, 6, 6, 5], [5, 3, 5, 4], [1, 1], 'same'],
    ['1x1 valid', [3, 4, 4, 7], [1, 1, 7, 5], [1, 1], 'valid'],
    ['3x3 valid stride 1 (zero-padded dy)', [2, 6, 6, 3], [3, 3, 3, 4], [1, 1], 'valid'],
    ['2x2 same stride 1, even kernel', [2, 5, 5, 2], [2, 2, 2, 3], [1, 1], 'same'],
    ['3x3 same stride 2, odd size', [2, 7, 7, 3], [3, 3, 3, 4], [2, 2], 'same'],
    ['3x3 same stride 2, even size (pad bottom/right only)', [2, 8, 8, 4], [3, 3, 4, 5], [2, 2], 'same'],
    ['1x1 same stride 2 (ResNet shortcut)', [2, 8, 8, 4], [1, 1, 4, 8], [2, 2], 'same'],
    ['3x3 valid stride 2, trailing input rows unused', [1, 8, 9, 3], [3, 3, 3, 2], [2, 2], 'valid'],
    ['strides 3 and 1, numeric pad 1', [2, 10, 6, 3], [3, 2, 3, 4], [3, 1], 1],
    ['explicit pads wider than the kernel (windows wholly in padding)', [1, 5, 4, 2], [2, 2, 2, 3], [2, 1], [[0, 0], [3, 4], [2, 0], [0, 0]]],
  ];
  // Seeded random shapes, strides and paddings on top of the hand-picked ones.
  const rng = createRng(11);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  for (let i = 0; i < 12; i++) {
    const kh = pick([1, 2, 3, 5]);
    const kw = pick([1, 2, 3]);
    const xShape = [pick([1, 2]), kh + pick([0, 1, 4, 7]), kw + pick([0, 2, 5]), pick([1, 3, 4, 8])];
    cases.push([`random #${i}`, xShape, [kh, kw, xShape[3]!, pick([1, 4, 6])], [pick([1, 2, 3]), pick([1, 2])], pick<Pad>(['same', 'valid', 0, 1])]);
  }
  for (const [name, xShape, wShape, strides, pad] of cases) {
    it(`input gradient of conv2d, ${name}`, async () => {
      // The kernel itself (tfjs-wasm's forward conv2d mishandles numeric and explicit pads, so the
      // gradient of a conv2d cannot be taken on wasm for those), then, where the forward conv
      // runs on wasm, the gradient through tf.grad.
      const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], wShape as [number, number, number, number], strides, 1, pad);
      const [wasm, cpu] = await onBoth(() => {
        const dy = tf.randomUniform(info.outShape, -1, 1, 'float32', 5);
        const w = tf.randomUniform(wShape, -1, 1, 'float32', 4);
        return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides, pad, dataFormat: 'NHWC', inputShape: xShape }) as tf.Tensor;
      });
      expect(maxRelError(wasm, cpu, 1e-2)).toBeLessThan(1e-4);
      if (typeof pad !== 'string') return;
      const [wasmGrad, cpuGrad] = await onBoth(() => {
        const x = tf.randomUniform(xShape, -1, 1, 'float32', 3) as unknown as tf.Tensor4D;
        const w = tf.randomUniform(wShape, -1, 1, 'float32', 4) as unknown as tf.Tensor4D;
        const weights = tf.randomUniform(info.outShape, -1, 1, 'float32', 5);
        return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, w, strides, pad), weights)))(x);
      });
      expect(maxRelError(wasmGrad, cpuGrad, 1e-2)).toBeLessThan(1e-4);
    });
  }

  it('runs through the wrapper, not tfjs-wasm\'s own loop, and leaves no tensor behind', async () => {
    await tf.setBackend('wasm');
    const kernel = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
    expect(isBackpropViaForward(kernel)).toBe(true);
    const x = tf.randomUniform([2, 8, 8, 4], -1, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 4, 5], -1, 1, 'float32', 4) as tf.Tensor4D;
    const before = tf.memory().numBytes;
    const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, w, 2, 'same')))(x);
    expect(tf.memory().numBytes - before).toBe(g.size * 4);
    tf.dispose([x, w, g]);
  });

  it('transposes a filter once while it lives, and frees the copy once it is disposed', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const x = tf.randomUniform([2, 6, 6, 4], -1, 1, 'float32', 3) as tf.Tensor4D;
    const gradFor = (w: tf.Tensor4D) => tf.grad((xx: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, w, 1, 'same')))(x);
    const w1 = tf.randomUniform([3, 3, 4, 5], -1, 1, 'float32', 4) as tf.Tensor4D;
    const first = gradFor(w1); // (also frees the copies of earlier tests' disposed filters)
    const count = cachedTransposedFilters(backend);
    expect(count).toBeGreaterThanOrEqual(1);
    const again = gradFor(w1);
    expect(cachedTransposedFilters(backend)).toBe(count);
    expect(Array.from(again.dataSync())).toEqual(Array.from(first.dataSync()));
    // A new filter with the same shape but other values: a new entry, a new (right) gradient.
    const w2 = tf.randomUniform([3, 3, 4, 5], -1, 1, 'float32', 5) as tf.Tensor4D;
    const [wasm2] = [gradFor(w2).dataSync().slice()];
    expect(cachedTransposedFilters(backend)).toBe(count + 1);
    w1.dispose();
    gradFor(w2).dispose();
    expect(cachedTransposedFilters(backend)).toBe(count); // w1's copy freed
    await tf.setBackend('cpu');
    const cpu2 = tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, w2, 1, 'same')))(x).dataSync().slice());
    expect(maxRelError(wasm2, cpu2, 1e-2)).toBeLessThan(1e-4);
    await tf.setBackend('wasm');
    tf.dispose([x, w2, first, again]);
  });

  // Regression: the cache was keyed by the filter's dataId alone, and tfjs-wasm's Reshape shares
  // the dataId, so a [1, 3, 4, 4] filter and its reshape to [3, 1, 4, 4] got one transposed copy:
  // the second conv's input gradient came out 89% off (same output shape, so no error was raised).
  it('a filter and a reshape of it (one dataId, two shapes) each get their own transposed copy', async () => {
    const grads = () => {
      const f = tf.randomUniform([1, 3, 4, 4], -1, 1, 'float32', 1) as tf.Tensor4D;
      const f2 = tf.reshape(f, [3, 1, 4, 4]) as tf.Tensor4D;
      const x = tf.randomUniform([1, 6, 6, 4], -1, 1, 'float32', 2) as tf.Tensor4D;
      const weights = tf.randomUniform([1, 6, 6, 4], -1, 1, 'float32', 5);
      const g = (w: tf.Tensor4D) => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, w, 1, 'same'), weights)))(x);
      return tf.concat([g(f).flatten(), g(f2).flatten()]);
    };
    const [wasm, cpu] = await onBoth(grads);
    expect(maxRelError(wasm, cpu, 1e-2)).toBeLessThan(1e-4);
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const f = tf.randomUniform([1, 3, 4, 4], -1, 1, 'float32', 1) as tf.Tensor4D;
    const x = tf.randomUniform([1, 6, 6, 4], -1, 1, 'float32', 2) as tf.Tensor4D;
    const grad = (w: tf.Tensor4D) => tf.grad((xx: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, w, 1, 'same')))(x).dispose();
    grad(f); // frees the copies of earlier tests' disposed filters
    const count = cachedTransposedFilters(backend);
    const f2 = tf.reshape(f, [3, 1, 4, 4]) as tf.Tensor4D;
    grad(f2);
    expect(cachedTransposedFilters(backend)).toBe(count + 1);
    tf.dispose([f, f2]);
    const other = tf.zeros([3, 3, 4, 4]) as tf.Tensor4D;
    grad(other); // the next call frees both copies of the disposed data and adds its own
    expect(cachedTransposedFilters(backend)).toBe(count + 1 - 2 + 1);
    tf.dispose([x, other]);
  });

  it('Reverse: one axis of float32 / int32 (covered, any axis, negative, size-1 axes ignored); several or repeated axes (fallback)', async () => {
    const cases: Array<[number[], number | number[], 'float32' | 'int32']> = [
      [[4, 5, 6, 3], 2, 'float32'], // CoTTA's horizontal flip (NHWC, width)
      [[4, 5, 6, 3], -1, 'float32'],
      [[3, 3, 2, 4], [0, 0], 'float32'], // a repeated axis flips twice: tfjs-wasm's own
      [[1, 7, 1, 2], [0, 1, 2], 'float32'], // only axis 1 has more than one element
      [[6], 0, 'int32'],
      [[2, 3, 4], [0, 2], 'float32'], // two axes: tfjs-wasm's own
      [[0, 3], 1, 'float32'],
    ];
    for (const [shape, axis, dtype] of cases) {
      const make = () => (dtype === 'int32' ? tf.range(0, shape.reduce((a, b) => a * b, 1), 1, 'int32').reshape(shape) : tf.randomUniform(shape, -1, 1, 'float32', 9));
      const [wasm, cpu] = await onBoth(() => tf.reverse(make(), axis));
      expect(Array.from(wasm), `${shape} axis ${axis}`).toEqual(Array.from(cpu));
    }
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([2, 3, 4, 3]);
    tf.reverse(x, 2).dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(isBackpropViaForward(tf.getKernel('Reverse', 'wasm'))).toBe(true);
  });

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
