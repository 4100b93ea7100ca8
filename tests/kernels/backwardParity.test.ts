/**
 * Parity of every kernel on the backward path of our strategies on 'wasm'
 * (tfjs-backend-wasm's own ones and edge-tta's) against the tfjs CPU
 * backend, through tf.grads of the ops the models use.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { registerEdgeKernels } from '../../src/backend/kernels/index.js';
import { onBackend, randn, relErr } from './helpers.js';

type T4 = tf.Tensor4D;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Gradients of sum(f(args) * w) (w fixed random weights, so every output element matters) on cpu and wasm. */
async function gradParity(shapes: number[][], f: (...a: tf.Tensor[]) => tf.Tensor, seed = 1, scale = 1, tol = 1e-4): Promise<void> {
  const data = shapes.map((s, i) => randn(size(s), seed + i, scale));
  const run = () => {
    const xs = data.map((d, i) => tf.tensor(d, shapes[i]));
    const g = tf.grads((...a: tf.Tensor[]) => {
      const y = f(...a);
      return tf.sum(tf.mul(y, tf.tensor(randn(y.size, 99), y.shape)));
    });
    return g(xs);
  };
  const ref = await onBackend('cpu', run);
  const got = await onBackend('wasm', run);
  for (let i = 0; i < ref.length; i++) expect(relErr(got[i]!, ref[i]!), `gradient of argument ${i}`).toBeLessThan(tol);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await registerEdgeKernels();
});

describe('Conv2DBackpropInput (tfjs-wasm) and Conv2DBackpropFilter via tf.grads of conv2d', () => {
  const cases: [string, number[], number[], [number, number], 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]]][] = [
    ['stride 2, odd sizes, same', [2, 9, 7, 5], [3, 3, 5, 6], [2, 2], 'same'],
    ['1x1', [1, 5, 5, 8], [1, 1, 8, 12], [1, 1], 'valid'],
    ['explicit pads', [2, 6, 5, 3], [3, 2, 3, 4], [1, 2], [[0, 0], [1, 2], [0, 1], [0, 0]]],
    ['batch 1, 7 channels', [1, 6, 6, 7], [3, 3, 7, 9], [1, 1], 'same'],
  ];
  for (const [name, xs, fs, st, pad] of cases) {
    it(name, () => gradParity([xs, fs], (x, w) => tf.conv2d(x as T4, w as T4, st, pad)));
  }
  it('fused conv2d + bias + relu (FusedConv2D gradient)', () =>
    gradParity([[2, 7, 7, 4], [3, 3, 4, 6], [6]], (x, w, b) => tf.fused.conv2d({ x: x as T4, filter: w as T4, bias: b, strides: 2, pad: 'same', activation: 'relu' })));
  it('fused depthwiseConv2d + bias + relu6 (FusedDepthwiseConv2D gradient)', () =>
    gradParity([[2, 7, 7, 6], [3, 3, 6, 1], [6]], (x, w, b) => tf.fused.depthwiseConv2d({ x: x as T4, filter: w as T4, bias: b, strides: 2, pad: 'same', activation: 'relu6' })));
});

describe('pooling gradients', () => {
  it('MaxPoolGrad, 3x3 stride 2 same, odd sizes', () => gradParity([[2, 9, 7, 6]], (x) => tf.maxPool(x as T4, 3, 2, 'same')));
  it('MaxPoolGrad, 2x2 valid, channels not a multiple of 4', () => gradParity([[1, 6, 6, 5]], (x) => tf.maxPool(x as T4, 2, 2, 'valid')));
  it('MaxPoolGrad, overlapping windows with ties (repeated values)', async () => {
    const x = new Float32Array(1 * 5 * 5 * 4).map((_, i) => (i % 3) * 0.5);
    const run = () => [tf.grad((a: tf.Tensor) => tf.maxPool(a as T4, 3, 1, 'same').sum())(tf.tensor4d(x, [1, 5, 5, 4]))];
    const [ref] = await onBackend('cpu', run);
    const [got] = await onBackend('wasm', run);
    expect(relErr(got!, ref!)).toBe(0);
  });
  it('MaxPoolGrad with tiny maxima (<= 1e-38, subnormal) — tfjs-wasm 4.22 loses these', async () => {
    const n = 1 * 6 * 6 * 8;
    const x = new Float32Array(n).map((_, i) => ((i * 7919) % 97) * 1e-40);
    const dy = randn(1 * 3 * 3 * 8, 5);
    const run = () => [tf.grad((a: tf.Tensor) => tf.maxPool(a as T4, 2, 2, 'valid').mul(tf.tensor4d(dy, [1, 3, 3, 8])).sum())(tf.tensor4d(x, [1, 6, 6, 8]))];
    const [ref] = await onBackend('cpu', run);
    const [got] = await onBackend('wasm', run);
    expect(ref!.some((v) => v !== 0)).toBe(true);
    expect(relErr(got!, ref!)).toBe(0);
  });
  it('MaxPoolGrad with all-negative windows and -Infinity', async () => {
    const x = new Float32Array(1 * 4 * 4 * 4).map((_, i) => (i % 5 === 0 ? -Infinity : -1 - (i % 7)));
    const run = () => [tf.grad((a: tf.Tensor) => tf.maxPool(a as T4, 2, 2, 'same').sum())(tf.tensor4d(x, [1, 4, 4, 4]))];
    const [ref] = await onBackend('cpu', run);
    const [got] = await onBackend('wasm', run);
    expect(relErr(got!, ref!)).toBe(0);
  });
  it('AvgPoolGrad, 3x3 stride 2 same', () => gradParity([[2, 9, 7, 6]], (x) => tf.avgPool(x as T4, 3, 2, 'same')));
  it('global average pooling (Mean) gradient', () => gradParity([[3, 5, 5, 7]], (x) => tf.mean(x, [1, 2])));
});

describe('batch-norm and activation gradients', () => {
  it('batchNorm with batch statistics (training-mode BN): grads wrt x, gamma, beta', () =>
    gradParity([[4, 5, 5, 6], [6], [6]], (x, g, b) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, b, g, 1e-3);
    }));
  it('batchNorm with fixed statistics: grads wrt x, mean, variance, offset, scale', () =>
    gradParity([[2, 4, 4, 5], [5], [5], [5], [5]], (x, m, v, o, s) => tf.batchNorm(x, m, tf.add(tf.abs(v), 0.5), o, s, 1e-3)));
  it('relu', () => gradParity([[3, 17]], (x) => tf.relu(x)));
  it('relu6 (values beyond 6 included)', () => gradParity([[3, 17]], (x) => tf.relu6(x), 1, 5));
  it('leakyRelu, elu, sigmoid, tanh', () =>
    gradParity([[2, 9], [2, 9], [2, 9], [2, 9]], (a, b, c, d) => tf.concat([tf.leakyRelu(a, 0.1), tf.elu(b), tf.sigmoid(c), tf.tanh(d)], 1)));
  it('softmax / logSoftmax / soft cross-entropy', () =>
    gradParity([[4, 10], [4, 10]], (s, t) => tf.neg(tf.sum(tf.mul(tf.softmax(t), tf.logSoftmax(s)), 1))));
  it('residual add with broadcasting, matMul (dense)', () =>
    gradParity([[4, 8], [8, 5], [5]], (x, w, b) => tf.add(tf.matMul(x, w), b)));
});
