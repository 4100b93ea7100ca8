/**
 * Frame conversion and validation for the streaming pipeline: one frame at a time, before
 * batching, so one bad frame is rejected alone and never spoils a batch. The conversions are
 * `src/input.ts`'s, shared with `step` and `predict`; the adapter's `preprocess` runs in `step`.
 * No tfjs here: a tensor frame is read into float32 pixels at once (so the operator holds no
 * tensor and a page whose adapter runs in a worker bundles no tfjs).
 */
import { InvalidInputError } from '../errors.js';
import {
  checkBatchShape,
  checkImageChannels,
  checkRgbaImage,
  dataTypeMessage,
  channelMismatchMessage,
  describeShape as describe,
  describeShapeValue,
  describeValue,
  hasNonFinite,
  isImageSource,
  missingChannelMessage,
  readPixels,
  rgbaToFloat32,
  unrecognisedInputMessage,
  withMissingChannel,
  type Frame,
  type ImageDataLike,
  type RawFrame,
} from '../input.js';
import { checkFloat32Tensor, float32Values, isTensor } from '../tensorLike.js';

/**
 * A validated frame: float32 pixels with their shape `[h, w, c]` (a copy the holder owns), or
 * (when the adapter resizes) an image's RGBA bytes (a copy, as a `Uint8ClampedArray`).
 */
export type PreparedFrame =
  | { data: Float32Array; shape: number[]; image?: undefined }
  | { image: ImageDataLike & { data: Uint8ClampedArray }; data?: undefined; shape?: undefined };

/** The keys of a labelled frame (`LabeledFrame` of `adapt`): the frame, its id, its true class. */
export const LABELED_FRAME_KEYS: readonly string[] = ['frame', 'frameId', 'trueLabel'];

/**
 * Throws {@link InvalidInputError} if a labelled frame `{ frame, frameId?, trueLabel? }` has a
 * key it does not know: a misspelt `label` for `trueLabel` would otherwise leave the frame
 * unlabelled without a word (and its batch without accuracy). The message names the key, the
 * valid ones and, for a key that names a label or an id, the one meant.
 */
export function checkLabeledFrameKeys(input: object): void {
  for (const key of Object.keys(input)) {
    if (LABELED_FRAME_KEYS.includes(key)) continue;
    const meant = /label|class|target|^y$/i.test(key) ? 'trueLabel' : /id$|index/i.test(key) ? 'frameId' : null;
    throw new InvalidInputError(
      `The labelled frame has an unknown key '${key}'; its keys are ${LABELED_FRAME_KEYS.join(', ')} ({ frame, frameId?, trueLabel? })` +
        `${meant !== null ? `: did you mean ${meant}?` : ', with the pixels under frame.'}`,
    );
  }
}

/** A frame's shape as [1, h, w, c], checked against the model's input (only channels when resizing). */
function frameShape(shape: readonly number[], inputShape: readonly number[], resize: boolean): number[] {
  const full = shape.length === inputShape.length ? [1, ...shape] : [...shape];
  const exact = full.length === inputShape.length + 1 && full[0] === 1 && full.slice(1).every((d, i) => d === inputShape[i]);
  if (exact) return full;
  // Grey pixels without their channel dimension: one frame [h, w], or several [n, h, w].
  const fixed = withMissingChannel(shape, inputShape, resize);
  if (fixed !== null) {
    throw new InvalidInputError(
      fixed.length === inputShape.length || fixed[0] === 1
        ? missingChannelMessage('frame', shape, inputShape, fixed)
        : `The frame has shape ${describe(shape)}; the model takes ${describe(inputShape)}: these look like ${fixed[0]} frames without their channel dimension. Send them one at a time, each as ${describe(fixed.slice(1))}.`,
    );
  }
  if (full.length !== inputShape.length + 1 || full[0] !== 1) {
    // Not one image (a batch, or a dimension missing or extra): resizing would not help, so the
    // message does not suggest it; only a batch is told to go one frame at a time.
    const frame = `a frame is one image, ${describe(inputShape)} or ${describe([1, ...inputShape])}${resize ? ' (any height and width: preprocess.resize is set)' : ''}`;
    throw new InvalidInputError(
      full.length === inputShape.length + 1
        ? `The frame has shape ${describe(shape)}; ${frame}. Send the frames of a batch one at a time, or pass the batch to adapter.step.`
        : `The frame has shape ${describe(shape)}, ${shape.length} dimensions; ${frame}.`,
    );
  }
  if (!resize && full[full.length - 1] !== inputShape[inputShape.length - 1]) {
    throw new InvalidInputError(channelMismatchMessage('frame', shape, inputShape));
  }
  if (!resize) {
    throw new InvalidInputError(
      `The frame has shape ${describe(shape)}; the model expects ${describe(inputShape)} (or ${describe([1, ...inputShape])}). ` +
        "Resize the frame first, or set preprocess: { resize: 'bilinear' }.",
    );
  }
  const c = inputShape[inputShape.length - 1];
  if (full[full.length - 1] !== c) {
    throw new InvalidInputError(
      `The frame has shape ${describe(shape)}; the model takes ${c} channels (a frame is [h, w, ${c}], resized to ${describe(inputShape.slice(0, -1))}).`,
    );
  }
  checkBatchShape(full, inputShape, resize, 'frame');
  return full;
}

/**
 * RGBA 8-bit pixels to float32 in [0, 1] with the model's channel count: 1 channel takes
 * the luma 0.2989 R + 0.587 G + 0.114 B (the weights of `tf.image.rgbToGrayscale`), 3 takes
 * RGB, 4 takes RGBA. The image must have the model's height and width.
 */
export function imageDataToFloat32(image: ImageDataLike, inputShape: readonly number[]): Float32Array {
  return rgbaToFloat32(image, inputShape[inputShape.length - 1]!, inputShape);
}

/**
 * Validates one frame against the model's input shape `[h, w, c]` and converts it: a float32
 * tensor (read with `dataSync`; the input is not disposed), raw pixels and images of the model's
 * size become float32 pixels (copied: the caller may reuse its buffer or tensor). With `resize` (the adapter's `preprocess.resize` is set) frames of any size
 * pass, and an image of another size is kept as a copy of its RGBA bytes.
 * Throws {@link InvalidInputError} naming the problem: shape, dtype, or a non-finite value.
 */
export function prepareFrame(frame: Frame, inputShape: readonly number[], resize = false): PreparedFrame {
  // A bare frame carrying a label or an id: the wrapper was forgotten, and the label would be lost.
  const own = (k: string): boolean => typeof frame === 'object' && frame !== null && Object.prototype.hasOwnProperty.call(frame, k);
  if (!isTensor(frame) && (own('trueLabel') || own('frameId'))) {
    throw new InvalidInputError(
      `The frame has a ${own('trueLabel') ? 'trueLabel' : 'frameId'} key (got ${describeValue(frame)}); a labelled frame wraps the frame, ` +
        '{ frame, frameId?, trueLabel? }, e.g. { frame: { data, shape }, trueLabel: 3 } (a key on the frame itself would be lost).',
    );
  }
  if (isTensor(frame)) {
    checkFloat32Tensor(frame, 'frame');
    const shape = frameShape(frame.shape, inputShape, resize);
    const data = float32Values(frame);
    if (hasNonFinite(data) >= 0) throw new InvalidInputError('The frame contains NaN or infinite values; every pixel must be a finite number.');
    return { data, shape: shape.slice(1) };
  }
  if (isImageSource(frame)) {
    const image = readPixels(frame);
    // Every check the adapter's conversion makes (the same functions as step's, in its order),
    // here: an image it refused would fail its whole batch.
    checkImageChannels(inputShape[inputShape.length - 1]!);
    checkRgbaImage(image);
    if (!resize || (image.height === inputShape[0] && image.width === inputShape[1])) {
      return { data: imageDataToFloat32(image, inputShape), shape: [...inputShape] };
    }
    // Converted and resized in the adapter's step; a copy, so the caller may reuse its buffer.
    return { image: { data: image.data.slice(), width: image.width, height: image.height } };
  }
  const raw = frame as Partial<RawFrame> | null;
  if (raw === null || typeof raw !== 'object' || !('data' in raw) || !('shape' in raw)) {
    throw new InvalidInputError(unrecognisedInputMessage(frame, 'frame'));
  }
  if (!Array.isArray(raw.shape)) {
    throw new InvalidInputError(
      `The frame shape must be an array of dimensions, ${describe(inputShape)} or ${describe([1, ...inputShape])}; got ${describeShapeValue(raw.shape)}.`,
    );
  }
  if (!(raw.data instanceof Float32Array)) {
    throw new InvalidInputError(dataTypeMessage('frame', raw.data));
  }
  const shape = frameShape(raw.shape, inputShape, resize);
  const size = shape.reduce((a, b) => a * b, 1);
  if (raw.data.length !== size) {
    throw new InvalidInputError(`The frame data has ${raw.data.length} values; shape ${describe(raw.shape)} needs ${size}.`);
  }
  const at = hasNonFinite(raw.data);
  if (at >= 0) throw new InvalidInputError(`The frame contains a non-finite value (${raw.data[at]}) at index ${at}; every pixel must be a finite number.`);
  return { data: raw.data.slice(), shape: shape.slice(1) };
}
