/**
 * Checks of the arguments `createAdapter` and `Adapter.step` take from the caller, so that a bad
 * value gets a typed error naming it instead of a TypeError, a tfjs error, or silent acceptance
 * (a seed of 'abc' acting as 0, a label of NaN counting as a miss). No tfjs code: the worker
 * adapter's calling side uses these too.
 */
import type * as tf from './tf.js';
import { DisposedError, InvalidInputError, InvalidOptionError } from './errors.js';
import { isPlainObject } from './model/stateSpec.js';
import { modelKind } from './tensorLike.js';

/** Largest seed: seeds are 32-bit (every generator is mulberry32 seeded through `hashSeed`). */
export const MAX_SEED = 0xffffffff;

/** Throws {@link InvalidOptionError} unless `options` is a plain object (not null, not an array). */
export function checkOptionsObject(where: string, options: unknown): asserts options is Record<string, unknown> {
  if (!isPlainObject(options)) {
    const got = options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options;
    throw new InvalidOptionError(`${where}: options must be an object such as { strategy: 'tent' }; got ${got}.`);
  }
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
