import * as tf from '../tf.js';

/** Class names of tf.layers that hold convolution kernels. */
export const CONV_CLASSES: ReadonlySet<string> = new Set([
  'Conv1D',
  'Conv2D',
  'Conv3D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Conv2DTranspose',
]);

export function isBatchNorm(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

export function isConv(layer: tf.layers.Layer): boolean {
  return CONV_CLASSES.has(layer.getClassName());
}

export function isDense(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'Dense';
}

/** A nested LayersModel used as a layer (Sequential inside a functional model, a backbone...). */
export function isNestedModel(layer: tf.layers.Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

/** The name of a layer's own activation function ('linear' when it has none). */
export function activationOf(layer: tf.layers.Layer): string {
  const config = layer.getConfig() as { activation?: unknown };
  return typeof config.activation === 'string' ? config.activation : 'linear';
}

/** A layer whose whole job is a softmax (an `Activation('softmax')` or a `Softmax` layer). */
export function isSoftmaxLayer(layer: tf.layers.Layer): boolean {
  const cls = layer.getClassName();
  return cls === 'Softmax' || (cls === 'Activation' && activationOf(layer) === 'softmax');
}
