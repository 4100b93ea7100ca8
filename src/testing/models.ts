/**
 * The tiny models the conformance suite runs strategies on: a BatchNorm ResNet and a plain CNN
 * without BN. Weights are drawn from seeded generators, so every call builds a model with
 * exactly the same weights (two adapters can then be compared on two identical models).
 */
import * as tf from '../tf.js';

/** A model the conformance suite runs a strategy on. */
export interface ConformanceModel {
  /** Short name used in check names, e.g. `'bn-resnet'`. */
  name: string;
  /** Builds a new model; every call must give the same architecture and bit-identical weights. */
  build(): tf.LayersModel;
  /** Input shape without the batch dimension. */
  inputShape: [number, number, number];
  /** Whether the model has BatchNormalization layers (strategies that need BN are run only on those). */
  batchNorm: boolean;
}

/** Overwrites every weight with seeded values (BN moving variances stay positive), so builds are reproducible. */
function seedWeights(model: tf.LayersModel, seed: number): tf.LayersModel {
  model.weights.forEach((w, i) => {
    const name = w.originalName ?? w.name;
    const value = tf.tidy(() => {
      const u = tf.randomUniform(w.shape as number[], 0, 1, 'float32', seed + i);
      if (name.endsWith('moving_variance')) return tf.add(tf.mul(u, 0.8), 0.4);
      if (name.endsWith('gamma')) return tf.add(tf.mul(u, 0.5), 0.75);
      if (name.endsWith('moving_mean') || name.endsWith('beta') || name.endsWith('bias')) return tf.mul(tf.sub(u, 0.5), 0.2);
      // Kernels: uniform in +-sqrt(6 / fan-in), He initialisation's variance.
      const fanIn = (w.shape as number[]).slice(0, -1).reduce((a, b) => a * b, 1);
      return tf.mul(tf.sub(u, 0.5), 2 * Math.sqrt(6 / fanIn));
    });
    w.write(value);
    value.dispose();
  });
  return model;
}

function convBn(x: tf.SymbolicTensor, filters: number, stride: number, name: string): tf.SymbolicTensor {
  const c = tf.layers
    .conv2d({ filters, kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `${name}_conv` })
    .apply(x) as tf.SymbolicTensor;
  return tf.layers.batchNormalization({ name: `${name}_bn` }).apply(c) as tf.SymbolicTensor;
}

/** A BN ResNet: conv-BN-ReLU stem, one residual block, a strided conv-BN, global pooling, softmax dense. 8x8x3 in, 4 classes. */
export function tinyBnResNet(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const stem = tf.layers.reLU().apply(convBn(input, 6, 1, 'stem')) as tf.SymbolicTensor;
  let y = tf.layers.reLU().apply(convBn(stem, 6, 1, 'res_a')) as tf.SymbolicTensor;
  y = convBn(y, 6, 1, 'res_b');
  let x = tf.layers.reLU().apply(tf.layers.add().apply([stem, y]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(convBn(x, 8, 2, 'down')) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax', name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return seedWeights(tf.model({ inputs: input, outputs: out, name: 'conformance_bn_resnet' }), 1000);
}

/** A CNN without BN: two convs, global pooling, a logits dense layer (no softmax). 8x8x3 in, 4 classes. */
export function tinyPlainCnn(): tf.LayersModel {
  const model = tf.sequential({
    name: 'conformance_plain_cnn',
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c2' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 4, name: 'logits' }),
    ],
  });
  return seedWeights(model, 2000);
}

/** The suite's default models: a BN ResNet and a plain CNN without BN. */
export const CONFORMANCE_MODELS: readonly ConformanceModel[] = [
  { name: 'bn-resnet', build: tinyBnResNet, inputShape: [8, 8, 3], batchNorm: true },
  { name: 'plain-cnn', build: tinyPlainCnn, inputShape: [8, 8, 3], batchNorm: false },
];
