/**
 * Conv2D under a gradient tape as separate ops (src/model/tapedConv.ts): for every Conv2D
 * configuration the executor may meet (padding same/valid, strides, dilation, with and without
 * bias, linear and non-linear activations), `tapedConv2d` gives the layer's own output, and the
 * gradient with respect to the input (what Tent's backward pass needs) equals the layer's, on the
 * cpu backend (and with dilation, where tfjs has no gradient, fails as the layer's does). `isPlainConv2d` accepts exactly the channels-last Conv2D layers with same/valid
 * padding and a built kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPlainConv2d, tapedConv2d } from '../../src/model/tapedConv.js';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** A built Conv2D with seeded weights (the bias non-zero, so dropping it shows). */
function conv(config: Parameters<typeof tf.layers.conv2d>[0], inputShape: number[], seed: number): tf.layers.Layer {
  const layer = tf.layers.conv2d({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: seed + 1 }), ...config });
  layer.apply(tf.input({ shape: inputShape }));
  return layer;
}

const CASES: { name: string; config: Parameters<typeof tf.layers.conv2d>[0] }[] = [
  { name: 'same padding, relu', config: { filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' } },
  { name: 'valid padding, stride 2, linear', config: { filters: 3, kernelSize: 3, strides: 2, padding: 'valid' } },
  { name: 'same padding, stride 2 x 1, no bias, tanh', config: { filters: 5, kernelSize: [3, 2], strides: [2, 1], padding: 'same', useBias: false, activation: 'tanh' } },
  { name: 'dilation 2, elu', config: { filters: 2, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'elu' } },
  { name: 'same padding, relu6 (one-op taped relu)', config: { filters: 4, kernelSize: 3, padding: 'same', activation: 'relu6' } },
  { name: '1x1, linear', config: { filters: 6, kernelSize: 1, padding: 'valid', activation: 'linear' } },
];

describe('tapedConv2d', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const [k, { name, config }] of CASES.entries()) {
    it(`${name}: output and input gradient equal the layer's (cpu, within 1e-5; dilated: both gradients fail alike)`, () => {
      const layer = conv(config, [7, 6, 3], 10 + k);
      expect(isPlainConv2d(layer)).toBe(true);
      const x = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 20 + k) as tf.Tensor4D;
      // A fixed random direction, so the gradient is not the all-ones sum's.
      const w = tf.tidy(() => tf.randomNormal((layer.apply(x) as tf.Tensor).shape, 0, 1, 'float32', 30 + k));
      tf.tidy(() => {
        const ours = tapedConv2d(layer, x);
        const theirs = layer.apply(x) as tf.Tensor;
        expect(ours.shape).toEqual(theirs.shape);
        expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
        const ourGrad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tapedConv2d(layer, v as tf.Tensor4D), w)));
        const theirGrad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.apply(v) as tf.Tensor, w)));
        if (config.dilationRate !== undefined) {
          // tfjs has no conv2d gradient for dilation > 1, fused or not: both fail alike.
          expect(() => ourGrad(x)).toThrow(/dilation rates greater than 1/);
          expect(() => theirGrad(x)).toThrow(/dilation rates greater than 1/);
          return;
        }
        const gradOurs = ourGrad(x);
        expect(maxAbsDiff(gradOurs, theirGrad(x))).toBeLessThan(1e-5);
        // Non-trivial: the gradient is not zero.
        expect(tf.max(tf.abs(gradOurs)).dataSync()[0]!).toBeGreaterThan(1e-3);
      });
      tf.dispose([x, w]);
      layer.dispose();
    });
  }

  it('isPlainConv2d is false for channels-first, unbuilt, depthwise, transposed, 1D and dense layers', () => {
    const first = tf.layers.conv2d({ filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' });
    first.build([null, 3, 6, 6]);
    expect(isPlainConv2d(first)).toBe(false);
    const unbuilt = tf.layers.conv2d({ filters: 2, kernelSize: 3 });
    expect(isPlainConv2d(unbuilt)).toBe(false);
    const depthwise = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' });
    depthwise.apply(tf.input({ shape: [5, 5, 2] }));
    expect(isPlainConv2d(depthwise)).toBe(false);
    // Other classes with a kernel, channels last and same/valid padding: only the class tells them apart.
    const transpose = tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3, padding: 'same' });
    transpose.apply(tf.input({ shape: [5, 5, 2] }));
    expect(isPlainConv2d(transpose)).toBe(false);
    const conv1d = tf.layers.conv1d({ filters: 2, kernelSize: 3, padding: 'same' });
    conv1d.apply(tf.input({ shape: [5, 2] }));
    expect(isPlainConv2d(conv1d)).toBe(false);
    const dense = tf.layers.dense({ units: 2 });
    dense.apply(tf.input({ shape: [3] }));
    expect(isPlainConv2d(dense)).toBe(false);
    const built = conv({ filters: 2, kernelSize: 3 }, [5, 5, 1], 1);
    expect(isPlainConv2d(built)).toBe(true);
  });
});
