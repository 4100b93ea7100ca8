/**
 * Frame conversion and validation for the streaming pipeline: one frame at a time, before
 * batching, so one bad frame is rejected alone and never spoils a batch.
 */
import * as tf from '../tf.js';
import { InvalidInputError } from '../errors.js';
import type { Frame, ImageDataLike, RawFrame } from './types.js';

/** A validated frame: a float32 tensor `[h, w, c]` (owned by the holder) or float32 pixels. */
export type PreparedFrame = { tensor: tf.Tensor3D; data?: undefined } | { data: Float32Array; tensor?: undefined };

function describe(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function checkFrameShape(shape: readonly number[], inputShape: readonly number[]): void {
  const ok =
    (shape.length === inputShape.length && shape.every((d, i) => d === inputShape[i])) ||
    (shape.length === inputShape.length + 1 && shape[0] === 1 && shape.slice(1).every((d, i) => d === inputShape[i]));
  if (!ok) {
    throw new InvalidInputError(
      `The frame has shape ${describe(shape)}; the model expects ${describe(inputShape)} (or ${describe([1, ...inputShape])}). Resize the frame first.`,
    );
  }
}

function isImageDataLike(frame: unknown): frame is ImageDataLike {
  const f = frame as Partial<ImageDataLike> | null;
  return (
    typeof f === 'object' && f !== null && f.data instanceof Uint8ClampedArray && typeof f.width === 'number' && typeof f.height === 'number'
  );
}

function isImageBitmap(frame: unknown): frame is ImageBitmap {
  return typeof ImageBitmap !== 'undefined' && frame instanceof ImageBitmap;
}

/**
 * RGBA 8-bit pixels to float32 in [0, 1] with the model's channel count: 1 channel takes
 * the luma 0.2989 R + 0.587 G + 0.114 B (the weights of `tf.image.rgbToGrayscale`), 3 takes
 * RGB, 4 takes RGBA.
 */
export function imageDataToFloat32(image: ImageDataLike, inputShape: readonly number[]): Float32Array {
  const [h, w, c] = inputShape as [number, number, number];
  if (inputShape.length !== 3 || image.height !== h || image.width !== w) {
    throw new InvalidInputError(
      `The image is ${image.width}x${image.height}; the model expects ${describe(inputShape)} (height, width, channels). Resize it first.`,
    );
  }
  if (c !== 1 && c !== 3 && c !== 4) {
    throw new InvalidInputError(`The model takes ${c} channels; an image frame converts only to 1 (grey), 3 (RGB) or 4 (RGBA).`);
  }
  const src = image.data;
  if (src.length !== h * w * 4) {
    throw new InvalidInputError(`The image data has ${src.length} bytes; ${image.width}x${image.height} RGBA needs ${h * w * 4}.`);
  }
  const out = new Float32Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    const r = src[4 * p]!;
    const g = src[4 * p + 1]!;
    const b = src[4 * p + 2]!;
    if (c === 1) out[p] = (0.2989 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      out[c * p] = r / 255;
      out[c * p + 1] = g / 255;
      out[c * p + 2] = b / 255;
      if (c === 4) out[c * p + 3] = src[4 * p + 3]! / 255;
    }
  }
  return out;
}

/** Reads an `ImageBitmap`'s pixels through an `OffscreenCanvas` (browsers and Web Workers). */
function imageBitmapToImageData(bitmap: ImageBitmap): ImageDataLike {
  if (typeof OffscreenCanvas === 'undefined') {
    throw new InvalidInputError('ImageBitmap frames need OffscreenCanvas, which this runtime lacks; send ImageData or a tensor instead.');
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  if (ctx === null) throw new InvalidInputError('Could not get a 2d context to read the ImageBitmap frame.');
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
}

/**
 * Validates one frame against the model's input shape `[h, w, c]` and converts it: a float32
 * tensor stays a tensor `[h, w, c]` (a new handle the caller owns; the input is not disposed),
 * everything else becomes float32 pixels (copied: the caller may reuse its buffer).
 * Throws {@link InvalidInputError} naming the problem: shape, dtype, or a non-finite value.
 */
export function prepareFrame(frame: Frame, inputShape: readonly number[]): PreparedFrame {
  if (frame instanceof tf.Tensor) {
    if (frame.isDisposed) throw new InvalidInputError('The frame tensor was already disposed.');
    if (frame.dtype !== 'float32') {
      throw new InvalidInputError(
        `The frame has dtype ${frame.dtype}; expected float32. Convert it first, e.g. \`x.toFloat().div(255)\` for 8-bit pixels.`,
      );
    }
    checkFrameShape(frame.shape, inputShape);
    const bad = tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(frame))).dataSync()[0]);
    if (bad) throw new InvalidInputError('The frame contains NaN or infinite values; every pixel must be a finite number.');
    const reshaped: tf.Tensor = tf.reshape(frame as tf.Tensor, [...inputShape] as number[]);
    return { tensor: reshaped as tf.Tensor3D };
  }
  if (isImageBitmap(frame)) return { data: imageDataToFloat32(imageBitmapToImageData(frame), inputShape) };
  if (isImageDataLike(frame)) return { data: imageDataToFloat32(frame, inputShape) };
  const raw = frame as Partial<RawFrame> | null;
  if (raw === null || typeof raw !== 'object' || !('data' in raw) || !Array.isArray(raw.shape)) {
    throw new InvalidInputError(
      `The frame must be a tf.Tensor, { data: Float32Array, shape }, ImageData or ImageBitmap; got ${raw === null ? 'null' : typeof raw}.`,
    );
  }
  if (!(raw.data instanceof Float32Array)) {
    const kind = (raw.data as unknown as object | null)?.constructor?.name ?? typeof raw.data;
    throw new InvalidInputError(`The frame data is a ${kind}; expected a Float32Array (scale 8-bit pixels to [0, 1] first).`);
  }
  checkFrameShape(raw.shape, inputShape);
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (raw.data.length !== size) {
    throw new InvalidInputError(`The frame data has ${raw.data.length} values; shape ${describe(raw.shape)} needs ${size}.`);
  }
  for (let i = 0; i < size; i++) {
    if (!Number.isFinite(raw.data[i]!)) {
      throw new InvalidInputError(`The frame contains a non-finite value (${raw.data[i]}) at index ${i}; every pixel must be a finite number.`);
    }
  }
  return { data: raw.data.slice() };
}
