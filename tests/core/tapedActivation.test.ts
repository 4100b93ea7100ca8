/**
 * ReLU layers under a gradient tape as one op each way (src/model/tapedActivation.ts): for ReLU
 * layers with and without `maxValue` and Activation('relu' | 'relu6'), `tapedRelu` gives the
 * layer's output and the layer's input gradient, on the cpu backend (tfjs ops) and on wasm (the
 * fused backward kernel), on inputs that hit 0 and the clip value exactly. `reluLayerClip`
 * recognises exactly those layers.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { reluLayerClip, tapedRelu, type ReluClip } from '../../src/model/tapedActivation.js';

const LAYERS: Array<[string, () => tf.layers.Layer, ReluClip]> = [
  ['ReLU', () => tf.layers.reLU(), { max: Infinity, maxInclusive: true }],
  ['ReLU maxValue 6', () => tf.layers.reLU({ maxValue: 6 }), { max: 6, maxInclusive: true }],
  ['ReLU maxValue 1.5', () => tf.layers.reLU({ maxValue: 1.5 }), { max: 1.5, maxInclusive: true }],
  ["Activation('relu')", () => tf.layers.activation({ activation: 'relu' }), { max: Infinity, maxInclusive: true }],
  // minimum(6, relu(x)) in tfjs-layers: no gradient at exactly 6.
  ["Activation('relu6')", () => tf.layers.activation({ activation: 'relu6' }), { max: 6, maxInclusive: false }],
];

describe('tapedRelu', () => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const [name, make, clip] of LAYERS) {
      it(`${name} (${backend}): output and input gradient equal the layer's`, async () => {
        await initBackend({ backend });
        const layer = make();
        expect(reluLayerClip(layer)).toEqual(clip);
        // Values across the kinks, with exact zeros and exact clip values (37 values: a SIMD tail).
        const values = [...Array.from({ length: 31 }, (_, i) => -4 + i * 0.35), 0, 0, 6, 6, 1.5, -0];
        const x = tf.tensor(values, [1, values.length]);
        const w = tf.randomNormal([1, values.length], 0, 1, 'float32', 3);
        tf.tidy(() => {
          const ours = tapedRelu(x, clip);
          // Equal values (clipByValue keeps an input -0, relu gives +0).
          expect(Array.from(ours.dataSync()).map((v) => v + 0)).toEqual(Array.from((layer.apply(x) as tf.Tensor).dataSync()).map((v) => v + 0));
          const ourGrad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tapedRelu(v, clip), w)))(x).dataSync();
          const theirGrad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.apply(v) as tf.Tensor, w)))(x).dataSync();
          // Equal values (tfjs may give -0 where the mask is 0, the fused kernel +0).
          const differs = values.flatMap((v, i) => (ourGrad[i]! + 0 !== theirGrad[i]! + 0 ? [`x=${v}: ${ourGrad[i]} vs ${theirGrad[i]}`] : []));
          expect(differs).toEqual([]);
          expect(ourGrad.filter((v) => v !== 0).length).toBeGreaterThanOrEqual(5);
        });
        tf.dispose([x, w]);
      });
    }
  }

  it('reluLayerMax is null for layers that are not a (clipped) ReLU', () => {
    expect(reluLayerClip(tf.layers.leakyReLU())).toBeNull();
    expect(reluLayerClip(tf.layers.activation({ activation: 'tanh' }))).toBeNull();
    expect(reluLayerClip(tf.layers.activation({ activation: 'elu' }))).toBeNull();
    expect(reluLayerClip(tf.layers.dense({ units: 2, activation: 'relu' }))).toBeNull();
    expect(reluLayerClip(tf.layers.activation({ activation: 'relu6' }))).toEqual({ max: 6, maxInclusive: false });
  });
});
