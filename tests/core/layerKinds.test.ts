/**
 * The layer-kind predicates the executor and the strategies choose layers by
 * (src/model/layerKinds.ts), on real tf.layers instances of every kind they must tell apart.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CONV_CLASSES, activationOf, isBatchNorm, isConv, isDense, isNestedModel, isSoftmaxLayer } from '../../src/model/layerKinds.js';

const layers: Record<string, tf.layers.Layer> = {
  conv1d: tf.layers.conv1d({ filters: 2, kernelSize: 3 }),
  conv2d: tf.layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu' }),
  conv3d: tf.layers.conv3d({ filters: 2, kernelSize: 3 }),
  depthwise: tf.layers.depthwiseConv2d({ kernelSize: 3 }),
  separable: tf.layers.separableConv2d({ filters: 2, kernelSize: 3 }),
  transpose: tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3 }),
  dense: tf.layers.dense({ units: 3 }),
  denseSoftmax: tf.layers.dense({ units: 3, activation: 'softmax' }),
  bn: tf.layers.batchNormalization(),
  ln: tf.layers.layerNormalization(),
  softmaxAct: tf.layers.activation({ activation: 'softmax' }),
  reluAct: tf.layers.activation({ activation: 'relu' }),
  softmaxLayer: tf.layers.softmax(),
  flatten: tf.layers.flatten(),
  pool: tf.layers.globalAveragePooling2d({}),
};

function which(pred: (l: tf.layers.Layer) => boolean): string[] {
  return Object.entries(layers).filter(([, l]) => pred(l)).map(([k]) => k);
}

describe('layer kinds', () => {
  it('isConv: exactly the six convolution classes', () => {
    expect(which(isConv)).toEqual(['conv1d', 'conv2d', 'conv3d', 'depthwise', 'separable', 'transpose']);
    expect([...CONV_CLASSES].sort()).toEqual(['Conv1D', 'Conv2D', 'Conv2DTranspose', 'Conv3D', 'DepthwiseConv2D', 'SeparableConv2D']);
  });

  it('isDense, isBatchNorm: their class only (LayerNormalization is not BN)', () => {
    expect(which(isDense)).toEqual(['dense', 'denseSoftmax']);
    expect(which(isBatchNorm)).toEqual(['bn']);
  });

  it("activationOf: the layer's own activation, 'linear' for a layer without one", () => {
    expect(activationOf(layers.conv2d!)).toBe('relu');
    expect(activationOf(layers.dense!)).toBe('linear');
    expect(activationOf(layers.denseSoftmax!)).toBe('softmax');
    expect(activationOf(layers.softmaxAct!)).toBe('softmax');
    expect(activationOf(layers.flatten!)).toBe('linear');
    expect(activationOf(layers.bn!)).toBe('linear');
  });

  it('isSoftmaxLayer: a Softmax layer or Activation(softmax), not a dense layer with a softmax activation', () => {
    expect(which(isSoftmaxLayer)).toEqual(['softmaxAct', 'softmaxLayer']);
  });

  it('isNestedModel: a LayersModel used as a layer, and nothing else', () => {
    const inner = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    expect(isNestedModel(inner)).toBe(true);
    expect(which(isNestedModel)).toEqual([]);
    inner.dispose();
  });
});
