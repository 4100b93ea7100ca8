/**
 * Recognises tfjs tensors and models by their shape instead of `instanceof`, so the code that
 * only routes frames and models (the streaming operator, the worker adapter's calling side) does
 * not import TensorFlow.js: a page that runs its adapter in a worker bundles no tfjs, and a tensor
 * or model from another copy of tfjs is recognised too.
 */
import type * as tf from './tf.js';
import { InvalidInputError } from './errors.js';

/** True for a `tf.Tensor` (of any tfjs copy): an object with a shape, a dtype, `dataSync` and `dispose`. */
export function isTensor(x: unknown): x is tf.Tensor {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Partial<Record<'shape' | 'dtype' | 'dataSync' | 'dispose' | 'isDisposed', unknown>>;
  return Array.isArray(t.shape) && typeof t.dtype === 'string' && typeof t.dataSync === 'function' && typeof t.dispose === 'function' && 'isDisposed' in t;
}

/** What a tfjs model is, by its methods: a `tf.LayersModel`, a `tf.GraphModel`, or neither. */
export function modelKind(x: unknown): 'LayersModel' | 'GraphModel' | null {
  if (typeof x !== 'object' || x === null) return null;
  const v = x as Record<string, unknown>;
  if (typeof v.predict === 'function' && typeof v.getWeights === 'function' && Array.isArray(v.layers)) return 'LayersModel';
  if (typeof v.execute === 'function' && typeof v.executeAsync === 'function' && 'modelVersion' in v) return 'GraphModel';
  return null;
}

/**
 * Throws {@link InvalidInputError} unless `t` is a live float32 tensor; `what` names it in the
 * message ('frame', 'batch').
 */
export function checkFloat32Tensor(t: tf.Tensor, what: string): void {
  if (t.isDisposed) throw new InvalidInputError(`The ${what} tensor was already disposed.`);
  if (t.dtype !== 'float32') {
    throw new InvalidInputError(`The ${what} has dtype ${t.dtype}; expected float32. Convert it first, e.g. \`x.toFloat().div(255)\` for 8-bit pixels.`);
  }
}

/** A float32 tensor's values in a Float32Array of our own (dataSync may return the backend's storage). */
export function float32Values(t: tf.Tensor): Float32Array {
  return new Float32Array(t.dataSync() as Float32Array);
}
