/**
 * A batch as the model's input tensor: `step` and `predict` accept what `src/input.ts` describes
 * (a tensor, raw pixels, an image source, an array of frames); this checks it against the model's
 * input shape, makes the float32 tensor and applies the adapter's `preprocess` (`src/preprocess.ts`).
 */
import * as tf from './tf.js';
import { InvalidInputError } from './errors.js';
import {
  checkBatchShape,
  dataTypeMessage,
  describeShape,
  describeShapeValue,
  describeValue,
  hasNonFinite,
  isImageSource,
  readPixels,
  rgbaToFloat32,
  unrecognisedInputMessage,
  type BatchInput,
  type Frame,
  type ImageSource,
  type RawBatch,
} from './input.js';
import { noPreprocess, type ResolvedPreprocess } from './preprocess.js';
import { checkFloat32Tensor } from './tensorLike.js';

/** A float32 tensor [n, h, w, c] (validated, at the input's own size) the caller owns. */
function readBatch(input: tf.Tensor | RawBatch | ImageSource, inputShape: readonly number[], resize: boolean): tf.Tensor4D {
  if (input instanceof tf.Tensor) {
    checkFloat32Tensor(input, 'batch');
    const shape = input.rank === inputShape.length ? [1, ...input.shape] : input.shape;
    checkBatchShape(shape, inputShape, resize, 'batch', input.shape);
    const bad = tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(input))).dataSync()[0]);
    if (bad) throw new InvalidInputError('The batch contains NaN or infinite values; every pixel must be a finite number.');
    return (input.rank === inputShape.length ? tf.expandDims(input, 0) : tf.clone(input)) as tf.Tensor4D;
  }
  if (isImageSource(input)) {
    const image = readPixels(input);
    const c = inputShape[inputShape.length - 1]!;
    // The conversion checks what prepareFrame checks, in its order and with its messages (step
    // and adapt agree): an image of the wrong size is refused without converting it.
    return tf.tensor4d(rgbaToFloat32(image, c, resize ? undefined : inputShape), [1, image.height, image.width, c]);
  }
  if (input === null || typeof input !== 'object' || !('data' in input) || !('shape' in input)) {
    throw new InvalidInputError(unrecognisedInputMessage(input, 'batch'));
  }
  if (!(input.data instanceof Float32Array)) {
    throw new InvalidInputError(dataTypeMessage('batch', input.data));
  }
  if (!Array.isArray(input.shape)) {
    throw new InvalidInputError(`The batch shape must be an array of dimensions, [n, ${inputShape.join(', ')}] or [${inputShape.join(', ')}]; got ${describeShapeValue(input.shape)}.`);
  }
  const shape = input.shape.length === inputShape.length ? [1, ...input.shape] : [...input.shape];
  checkBatchShape(shape, inputShape, resize, 'batch', input.shape);
  const size = shape.reduce((a, b) => a * b, 1);
  if (input.data.length !== size) {
    throw new InvalidInputError(`The batch data has ${input.data.length} values; shape ${describeShape(shape)} needs ${size}.`);
  }
  const at = hasNonFinite(input.data);
  if (at >= 0) throw new InvalidInputError(`The batch contains a non-finite value (${input.data[at]}) at index ${at}.`);
  return tf.tensor4d(input.data, shape as [number, number, number, number]);
}

/**
 * Checks a batch against the model's input shape, converts it and applies `preprocess`; returns
 * a float32 tensor [n, ...inputShape] the caller owns (the input is not disposed). Throws
 * {@link InvalidInputError} naming the problem: wrong rank, shape or dtype, empty batch, NaN or
 * infinite values, an unreadable image.
 */
export function toBatchTensor(input: BatchInput, inputShape: readonly number[], preprocess?: ResolvedPreprocess): tf.Tensor4D {
  const p = preprocess ?? noPreprocess(inputShape[inputShape.length - 1]!);
  const resize = p.resize !== 'none';
  if (Array.isArray(input)) {
    if (input.length === 0) throw new InvalidInputError('The batch is an empty array; send at least one frame.');
    // An array of plain numbers would otherwise be refused frame by frame as "the batch ... got 0.1".
    const bad = (input as readonly unknown[]).findIndex((f) => typeof f !== 'object' || f === null);
    if (bad >= 0) {
      throw new InvalidInputError(
        `The batch is an array whose element ${bad} is ${describeValue(input[bad])}; an array batch holds frames (tensors, { data: Float32Array, shape }, images). ` +
          'Plain numbers go as { data: Float32Array.from(values), shape: [n, h, w, c] }.',
      );
    }
    const frames: tf.Tensor4D[] = [];
    try {
      for (const frame of input as readonly Frame[]) frames.push(toBatchTensor(frame as tf.Tensor | RawBatch | ImageSource, inputShape, p));
      return frames.length === 1 ? frames.pop()! : (tf.concat(frames, 0) as tf.Tensor4D);
    } finally {
      tf.dispose(frames);
    }
  }
  const raw = readBatch(input as tf.Tensor | RawBatch | ImageSource, inputShape, resize);
  const identity =
    raw.shape[1] === inputShape[0] && raw.shape[2] === inputShape[1] && p.channelOrder === 'rgb' && p.scale.every((s) => s === 1) && p.offset.every((o) => o === 0);
  if (identity) return raw;
  try {
    return applyPreprocess(raw, inputShape, p);
  } finally {
    raw.dispose();
  }
}

/**
 * Steps 1 to 3 on a float32 batch [n, h, w, c] whose channels already match the model's. Returns
 * a new tensor [n, ...inputShape]; `x` is not disposed. The caller has checked that the size
 * matches or `resize` is set.
 */
export function applyPreprocess(x: tf.Tensor4D, inputShape: readonly number[], p: ResolvedPreprocess): tf.Tensor4D {
  return tf.tidy(() => {
    let y: tf.Tensor4D = x;
    const [h, w] = inputShape as [number, number, number];
    if (x.shape[1] !== h || x.shape[2] !== w) {
      y = p.resize === 'nearest' ? tf.image.resizeNearestNeighbor(y, [h, w], false, true) : tf.image.resizeBilinear(y, [h, w], false, true);
    }
    if (p.channelOrder === 'bgr') y = tf.reverse(y, -1);
    const identity = p.scale.every((s) => s === 1) && p.offset.every((o) => o === 0);
    if (!identity) {
      const same = (a: number[]) => a.every((v) => v === a[0]);
      const scale = same(p.scale) ? tf.scalar(p.scale[0]!) : tf.tensor1d(p.scale);
      const offset = same(p.offset) ? tf.scalar(p.offset[0]!) : tf.tensor1d(p.offset);
      y = tf.add(tf.mul(y, scale), offset);
    }
    return y === x ? tf.clone(x) : y;
  });
}
