/**
 * Conv2D under a gradient tape, as separate tfjs ops (conv2d, bias add, activation) instead of the
 * layer's own `tf.fused.conv2d`. The fused op's gradient is a customGrad that computes the filter
 * and bias gradients whether or not they are asked for; the plain ops' gradients are computed per
 * input and pruned by the tape, so a backward pass that trains only BN parameters (Tent, and the
 * forward-only statistics passes of the others) skips every Conv2DBackpropFilter. A relu or relu6
 * activation runs as `tapedRelu` (tapedActivation.ts). Same values.
 */
import * as tf from '../tf.js';
import { activationOf } from './layerKinds.js';
import { reluActivationClip, tapedRelu } from './tapedActivation.js';

interface Conv2DLike {
  kernel?: { read(): tf.Tensor } | null;
  bias?: { read(): tf.Tensor } | null;
  activation?: { apply(x: tf.Tensor): tf.Tensor };
}

/** Whether `layer` can run as {@link tapedConv2d}: a channels-last Conv2D with same/valid padding. */
export function isPlainConv2d(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const c = layer.getConfig();
  return (c.dataFormat ?? 'channelsLast') === 'channelsLast' && (c.padding === 'same' || c.padding === 'valid') && (layer as unknown as Conv2DLike).kernel != null;
}

/** The layer's computation on `x` as conv2d + bias add + activation. */
export function tapedConv2d(layer: tf.layers.Layer, x: tf.Tensor4D): tf.Tensor {
  const l = layer as unknown as Conv2DLike;
  const c = layer.getConfig() as { strides: [number, number]; padding: 'same' | 'valid'; dilationRate: [number, number] | number };
  let y: tf.Tensor = tf.conv2d(x, l.kernel!.read() as tf.Tensor4D, c.strides, c.padding, 'NHWC', c.dilationRate as [number, number]);
  if (l.bias != null) y = tf.add(y, l.bias.read());
  const relu = reluActivationClip(activationOf(layer));
  if (relu !== null) return tapedRelu(y, relu);
  return l.activation !== undefined ? l.activation.apply(y) : y;
}
