/**
 * Checks of the arguments `createAdapter` and `Adapter.step` take from the caller, so that a bad
 * value gets a typed error naming it instead of a TypeError, a tfjs error, or silent acceptance
 * (a seed of 'abc' acting as 0, a label of NaN counting as a miss). No tfjs code: the worker
 * adapter's calling side uses these too.
 */
import type * as tf from './tf.js';
import { DisposedError, InvalidInputError, InvalidOptionError } from './errors.js';
import { isPlainObject } from './model/stateSpec.js';
import { isTensor, modelKind } from './tensorLike.js';

/** Largest seed: seeds are 32-bit (every generator is mulberry32 seeded through `hashSeed`). */
export const MAX_SEED = 0xffffffff;

/**
 * Throws {@link InvalidOptionError} unless `options` is a plain object (not null, not an array,
 * not a class instance). The message names what came instead: a JavaScript caller who passes the
 * model where the options go (`createWorkerAdapter(model)`) is told where the model goes, not
 * "got object".
 */
export function checkOptionsObject(where: string, options: unknown): asserts options is Record<string, unknown> {
  if (isPlainObject(options)) return;
  const example = where === 'createWorkerAdapter' ? "createWorkerAdapter({ model, strategy: 'tent' })" : `${where}(model, { strategy: 'tent' })`;
  const model = modelKind(options);
  let got: string;
  if (model !== null) {
    got =
      where === 'createWorkerAdapter'
        ? `a tf.${model}; pass { model, strategy } instead, e.g. ${example}`
        : `a tf.${model}; the model is the first argument and the options the second, e.g. ${example}`;
  } else if (typeof options === 'string') {
    got = `the string ${JSON.stringify(options.length > 40 ? `${options.slice(0, 40)}...` : options)}; pass ${where === 'createWorkerAdapter' ? '{ model, strategy }' : '{ strategy }'}, e.g. ${example}`;
  } else {
    got = `${describeValue(options)}; pass a plain object, e.g. ${example}`;
  }
  throw new InvalidOptionError(`${where}: options must be an object such as { strategy: 'tent' }; got ${got}.`);
}

/** What a value that is not a plain object is, for {@link checkOptionsObject}'s message. */
function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'function') return 'a function';
  if (typeof v !== 'object') return typeof v === 'undefined' ? 'undefined' : `${typeof v} ${String(v)}`;
  if (isTensor(v)) return 'a tf.Tensor';
  // A class instance (a Map, a Date, a model of some other library...): its constructor's name.
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name.length > 0 ? `an instance of ${name.slice(0, 60)}` : 'an object that is not a plain object';
}

/** Throws {@link InvalidOptionError} unless `seed` is undefined or an integer in [0, 2^32 - 1]. */
export function checkSeed(seed: unknown): void {
  if (seed === undefined) return;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new InvalidOptionError(
      `Option 'seed' is ${typeof seed === 'string' ? JSON.stringify(seed) : String(seed)}; it must be an integer in [0, ${MAX_SEED}] (seeds are 32-bit), e.g. 1.`,
    );
  }
}

/**
 * Throws {@link DisposedError} if the model's weights were disposed (`model.dispose()`): a
 * disposed model cannot be adapted, and tfjs would fail later with an untyped error.
 */
export function checkModelNotDisposed(model: tf.LayersModel | tf.GraphModel): void {
  let disposed = false;
  try {
    const kind = modelKind(model);
    if (kind === 'LayersModel') {
      // LayerVariable.read() throws once the layer's variables are disposed.
      disposed = (model as tf.LayersModel).weights.some((w) => w.read().isDisposed);
    } else if (kind === 'GraphModel') {
      disposed = Object.values((model as tf.GraphModel).weights).some((ts) => ts.some((t) => t.isDisposed));
    }
  } catch {
    disposed = true;
  }
  if (disposed) throw new DisposedError('createAdapter: the model was disposed (model.dispose()); load it again to adapt it.');
}

/**
 * Throws {@link InvalidInputError} unless `labels` is an array or typed array of `n` integer
 * class indices in [0, numClasses).
 */
export function checkLabels(labels: unknown, n: number, numClasses: number): asserts labels is ArrayLike<number> {
  const isList = Array.isArray(labels) || (ArrayBuffer.isView(labels) && !(labels instanceof DataView));
  if (!isList) {
    throw new InvalidInputError(`Labels must be an array of class indices; got ${labels === null ? 'null' : typeof labels}.`);
  }
  const list = labels as ArrayLike<unknown>;
  if (list.length !== n) throw new InvalidInputError(`Got ${list.length} labels for a batch of ${n} frames.`);
  for (let i = 0; i < n; i++) checkLabel(list[i], numClasses, `Label ${i}`);
}

/** One label: an integer class index in [0, numClasses), else an InvalidInputError starting with `what`. */
export function checkLabel(v: unknown, numClasses: number, what: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= numClasses) {
    throw new InvalidInputError(`${what} is ${typeof v === 'string' ? JSON.stringify(v) : String(v)}; labels must be integer class indices in [0, ${numClasses}).`);
  }
}
