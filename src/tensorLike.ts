/**
 * Recognises tfjs tensors and models by their shape instead of `instanceof`, so the code that
 * only routes frames and models (the streaming operator, the worker adapter's calling side) does
 * not import TensorFlow.js: a page that runs its adapter in a worker bundles no tfjs, and a tensor
 * or model from another copy of tfjs is recognised too.
 */
import type * as tf from './tf.js';

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
