import * as tf from './tf.js';
import { InvalidInputError } from './errors.js';

/** Raw pixels with their shape, as they arrive from a camera or a file; float32, NHWC or HWC. */
export interface RawBatch {
  data: Float32Array;
  shape: number[];
}

/** A batch the adapter accepts: a float32 tensor [n, h, w, c] (or [h, w, c] for one frame), or raw pixels. */
export type BatchInput = tf.Tensor | RawBatch;

function describe(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function hasNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/**
 * Checks a batch against the model's input shape and returns a float32 tensor [n, h, w, c]
 * the caller owns. Throws {@link InvalidInputError} naming the problem: wrong rank, shape or
 * dtype, empty batch, NaN or infinite values.
 */
export function toBatchTensor(input: BatchInput, inputShape: readonly number[]): tf.Tensor4D {
  const expected = `[n, ${inputShape.join(', ')}]`;
  if (input instanceof tf.Tensor) {
    if (input.isDisposed) throw new InvalidInputError('The batch tensor was already disposed.');
    if (input.dtype !== 'float32') {
      throw new InvalidInputError(
        `The batch has dtype ${input.dtype}; expected float32. Convert it first, e.g. \`x.toFloat().div(255)\` for 8-bit pixels.`,
      );
    }
    const shape = input.rank === inputShape.length ? [1, ...input.shape] : input.shape;
    checkShape(shape, inputShape, expected);
    const bad = tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(input))).dataSync()[0]);
    if (bad) throw new InvalidInputError('The batch contains NaN or infinite values; every pixel must be a finite number.');
    return (input.rank === inputShape.length ? tf.expandDims(input, 0) : tf.clone(input)) as tf.Tensor4D;
  }
  if (input === null || typeof input !== 'object' || !('data' in input) || !('shape' in input)) {
    throw new InvalidInputError(`The batch must be a tf.Tensor or { data: Float32Array, shape }; got ${String(input)}.`);
  }
  if (!(input.data instanceof Float32Array)) {
    const kind = (input.data as object | null)?.constructor?.name ?? typeof input.data;
    throw new InvalidInputError(`The batch data is a ${kind}; expected a Float32Array (scale 8-bit pixels to [0, 1] first).`);
  }
  const shape = input.shape.length === inputShape.length ? [1, ...input.shape] : [...input.shape];
  checkShape(shape, inputShape, expected);
  const size = shape.reduce((a, b) => a * b, 1);
  if (input.data.length !== size) {
    throw new InvalidInputError(`The batch data has ${input.data.length} values; shape ${describe(shape)} needs ${size}.`);
  }
  const at = hasNonFinite(input.data);
  if (at >= 0) throw new InvalidInputError(`The batch contains a non-finite value (${input.data[at]}) at index ${at}.`);
  return tf.tensor4d(input.data, shape as [number, number, number, number]);
}

function checkShape(shape: readonly number[], inputShape: readonly number[], expected: string): void {
  if (shape.length !== inputShape.length + 1) {
    throw new InvalidInputError(`The batch has shape ${describe(shape)}; expected ${expected}.`);
  }
  if (shape[0] === 0) throw new InvalidInputError(`The batch is empty (shape ${describe(shape)}); send at least one frame.`);
  for (let i = 0; i < inputShape.length; i++) {
    if (shape[i + 1] !== inputShape[i]) {
      throw new InvalidInputError(`The batch has shape ${describe(shape)}; the model expects ${expected}. Resize the frames first.`);
    }
  }
}
