/**
 * Everything `step`, `predict` and `adapt` accept, turned into the model's input in one place:
 * tensors, raw float32 pixels, and what camera code holds (`ImageData`, `ImageBitmap`, a canvas
 * or `OffscreenCanvas`, a `<video>` element), then the adapter's `preprocess`. The image types
 * are structural (a real DOM object or any object of that shape), so this file needs no DOM
 * library and runs in Node, browsers and workers; a source that needs drawing (video, bitmap)
 * needs `OffscreenCanvas` or a `document`. This file has no tfjs code (the worker adapter's
 * calling side and the streaming operator use it in pages that bundle no tfjs); `src/batchTensor.ts`
 * makes the tensor.
 */
import type * as tf from './tf.js';
import { InvalidInputError } from './errors.js';
import { isTensor } from './tensorLike.js';

/** Raw pixels with their shape, as they arrive from a camera or a file; float32, NHWC or HWC. */
export interface RawBatch {
  data: Float32Array;
  shape: readonly number[];
}

/** Pixels with their shape: `[h, w, c]` or `[1, h, w, c]`, float32 (other dtypes are rejected as bad frames). */
export interface RawFrame {
  data: Float32Array;
  shape: readonly number[];
}

/** The pixels of a browser `ImageData` (RGBA, 8 bits): a real `ImageData` or any object of this shape. */
export interface ImageDataLike {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** A canvas: `HTMLCanvasElement` or `OffscreenCanvas` (read through its 2d context). */
export interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(contextId: '2d'): unknown;
}

/** A `<video>` element (its current frame is read; it must have one, i.e. `readyState >= 2`). */
export interface VideoLike {
  readonly videoWidth: number;
  readonly videoHeight: number;
}

/** An `ImageBitmap` (e.g. from `createImageBitmap(videoFrame)`). */
export interface BitmapLike {
  readonly width: number;
  readonly height: number;
  close(): void;
}

/** What camera code holds: RGBA 8-bit pixels, read as [0, 1] with the model's channel count. */
export type ImageSource = ImageDataLike | CanvasLike | VideoLike | BitmapLike;

/**
 * One frame: a float32 tensor `[h, w, c]` (or `[1, h, w, c]`), raw pixels, or an image source
 * (converted to the model's channels and scaled to [0, 1]).
 */
export type Frame = tf.Tensor | RawFrame | ImageSource;

/**
 * A batch the adapter accepts: a float32 tensor [n, h, w, c] (or [h, w, c] for one frame), raw
 * pixels `{ data, shape }`, one image source (a batch of one), or an array of frames (each
 * converted and preprocessed on its own, so their sizes may differ when `preprocess.resize` is set).
 */
export type BatchInput = tf.Tensor | RawBatch | ImageSource | readonly Frame[];

export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function hasNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/** True for an `ImageData` or an object of its shape. */
export function isImageDataLike(x: unknown): x is ImageDataLike {
  const f = x as Partial<ImageDataLike> | null;
  return typeof f === 'object' && f !== null && f.data instanceof Uint8ClampedArray && typeof f.width === 'number' && typeof f.height === 'number';
}

function isCanvasLike(x: object): x is CanvasLike {
  return typeof (x as Partial<CanvasLike>).getContext === 'function' && typeof (x as Partial<CanvasLike>).width === 'number';
}

function isVideoLike(x: object): x is VideoLike {
  return typeof (x as Partial<VideoLike>).videoWidth === 'number' && typeof (x as Partial<VideoLike>).videoHeight === 'number';
}

function isBitmapLike(x: object): x is BitmapLike {
  return typeof (x as Partial<BitmapLike>).close === 'function' && typeof (x as Partial<BitmapLike>).width === 'number';
}

/** True for anything {@link readPixels} reads: ImageData, a canvas, a video element, an ImageBitmap. */
export function isImageSource(x: unknown): x is ImageSource {
  if (typeof x !== 'object' || x === null || isTensor(x)) return false;
  return isImageDataLike(x) || isCanvasLike(x) || isVideoLike(x) || isBitmapLike(x);
}

type Context2D = {
  drawImage(image: unknown, dx: number, dy: number, dw: number, dh: number): void;
  getImageData(sx: number, sy: number, sw: number, sh: number): ImageDataLike;
};

let scratch: { canvas: CanvasLike & { width: number; height: number }; ctx: Context2D } | null = null;

/** A reusable 2d canvas to draw video frames and bitmaps on (OffscreenCanvas, else a DOM canvas). */
function scratchContext(width: number, height: number): Context2D {
  if (scratch === null) {
    const g = globalThis as { OffscreenCanvas?: new (w: number, h: number) => CanvasLike; document?: { createElement(tag: 'canvas'): CanvasLike } };
    let canvas: CanvasLike;
    if (typeof g.OffscreenCanvas === 'function') canvas = new g.OffscreenCanvas(width, height);
    else if (g.document !== undefined) canvas = g.document.createElement('canvas');
    else {
      throw new InvalidInputError(
        'Reading a video frame or an ImageBitmap needs OffscreenCanvas or a DOM document, which this runtime lacks; send ImageData, a tensor or { data, shape } instead.',
      );
    }
    const ctx = (canvas.getContext as (id: '2d', options?: object) => unknown)('2d', { willReadFrequently: true }) as Context2D | null;
    if (ctx === null) throw new InvalidInputError('Could not get a 2d canvas context to read the frame.');
    scratch = { canvas: canvas as CanvasLike & { width: number; height: number }, ctx };
  }
  if (scratch.canvas.width !== width) scratch.canvas.width = width;
  if (scratch.canvas.height !== height) scratch.canvas.height = height;
  return scratch.ctx;
}

/**
 * The RGBA pixels of an image source, without tfjs (so the worker adapter can run it on the
 * main thread and send bytes). `ImageData` is returned as it is; a canvas is read through its
 * 2d context; a video frame or a bitmap is drawn on a scratch canvas first.
 */
export function readPixels(source: ImageSource): ImageDataLike {
  if (isImageDataLike(source)) return source;
  if (isCanvasLike(source)) {
    const ctx = source.getContext('2d') as Context2D | null;
    if (ctx === null) {
      throw new InvalidInputError('The canvas has no 2d context (it was set up for webgl?); copy it to a 2d canvas or pass ImageData instead.');
    }
    return ctx.getImageData(0, 0, source.width, source.height);
  }
  const [width, height] = isVideoLike(source) ? [source.videoWidth, source.videoHeight] : [source.width, source.height];
  if (!(width > 0 && height > 0)) {
    throw new InvalidInputError(
      `The ${isVideoLike(source) ? 'video has no frame yet (wait for its loadeddata event)' : 'image is empty'}: its size is ${width}x${height}.`,
    );
  }
  const ctx = scratchContext(width, height);
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height);
}

/**
 * RGBA 8-bit pixels to float32 in [0, 1] with `channels` channels, [h, w, channels]: 1 channel
 * takes the luma 0.2989 R + 0.587 G + 0.114 B (the weights of `tf.image.rgbToGrayscale`), 3
 * takes RGB, 4 takes RGBA.
 */
export function rgbaToFloat32(image: ImageDataLike, channels: number): Float32Array {
  const { width: w, height: h } = image;
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new InvalidInputError(`The model takes ${channels} channels; an image frame converts only to 1 (grey), 3 (RGB) or 4 (RGBA).`);
  }
  const src = image.data;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) || src.length !== h * w * 4) {
    throw new InvalidInputError(`The image data has ${src.length} bytes; ${w}x${h} RGBA needs ${h * w * 4}.`);
  }
  const c = channels;
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

/**
 * Checks a batch shape [n, h, w, c] against the model's input [h, w, c]: with `resize`, only
 * the channel count must match.
 */
export function checkBatchShape(shape: readonly number[], inputShape: readonly number[], resize: boolean, what = 'batch'): void {
  const expected = `[n, ${inputShape.join(', ')}]`;
  if (shape.length !== inputShape.length + 1) {
    throw new InvalidInputError(`The ${what} has shape ${describeShape(shape)}; expected ${expected}.`);
  }
  if (shape[0] === 0) throw new InvalidInputError(`The ${what} is empty (shape ${describeShape(shape)}); send at least one frame.`);
  // Every dimension a positive safe integer: a fractional, negative or non-number one would reach tfjs (untyped errors).
  const bad = shape.findIndex((d) => !(Number.isSafeInteger(d) && d > 0));
  if (bad >= 0) {
    const d = typeof shape[bad] === 'number' ? String(shape[bad]) : `${JSON.stringify(shape[bad])?.slice(0, 40)} (a ${shape[bad] === null ? 'null' : typeof shape[bad]})`;
    throw new InvalidInputError(`The ${what} has shape ${describeShape(shape)}; dimension ${bad} is ${d}: every dimension must be a positive integer.`);
  }
  const c = inputShape[inputShape.length - 1];
  if (resize) {
    if (shape[shape.length - 1] !== c) {
      throw new InvalidInputError(`The ${what} has shape ${describeShape(shape)}; the model takes ${c} channels ([n, h, w, ${c}], resized to ${describeShape(inputShape.slice(0, -1))}).`);
    }
    return;
  }
  for (let i = 0; i < inputShape.length; i++) {
    if (shape[i + 1] !== inputShape[i]) {
      throw new InvalidInputError(
        `The ${what} has shape ${describeShape(shape)}; the model expects ${expected}. Resize the frames first, or set preprocess: { resize: 'bilinear' }.`,
      );
    }
  }
}
