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

/**
 * RGBA pixels, 8 bits, row by row: a browser `ImageData`, or any object of this shape, such as
 * what Node image decoders give (jpeg-js's and pngjs's `{ data: Buffer, width, height }`).
 * `data` holds exactly width x height x 4 bytes (R, G, B, A per pixel).
 */
export interface ImageDataLike {
  /**
   * The RGBA bytes: a `Uint8ClampedArray` (as in `ImageData`) or a `Uint8Array` (a Node
   * `Buffer` is one), read as the same bytes. A `Uint8Array` is taken as RGBA only on an object
   * without `shape` (`{ data, shape }` is raw pixels, which must be float32).
   */
  data: Uint8ClampedArray | Uint8Array;
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

/** The class of a typed array or another object (`'Uint8Array'`, `'Buffer'`), or its typeof. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (Array.isArray(v)) return 'Array';
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name.length > 0 ? name.slice(0, 60) : 'object';
}

/** `kind` with its article: 'a Float32Array', 'an Int32Array', 'a Uint8Array', 'an undefined'. */
function withArticle(kind: string): string {
  return `${/^(?:[aeioAEIO]|[Uu]nd)/.test(kind) ? 'an' : 'a'} ${kind}`;
}

/** What a value is, for an error message: `the number 0.1`, `an object with keys data, width, height`. */
export function describeValue(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === 'number' || typeof x === 'boolean') return `the ${typeof x} ${String(x)}`;
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x)}`;
  if (typeof x !== 'object') return withArticle(typeof x);
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (ArrayBuffer.isView(x)) return withArticle(kindOf(x));
  const keys = Object.keys(x);
  const kind = kindOf(x);
  const what = kind === 'Object' || kind === 'object' ? 'an object' : withArticle(kind);
  if (keys.length === 0) return `${what} without keys`;
  return `${what} with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', ...' : ''}`;
}

/** A `shape` that is not an array, for the message: 'null', 'object', 'an Int32Array (pass a plain array: Array.from(shape))'. */
export function describeShapeValue(shape: unknown): string {
  if (ArrayBuffer.isView(shape)) return `${withArticle(kindOf(shape))} (pass a plain array: Array.from(shape))`;
  return shape === null ? 'null' : typeof shape;
}

/**
 * The message for raw pixels whose `data` is not a Float32Array: 8-bit bytes are told to scale to
 * [0, 1]; other arrays to convert (the old message told a Float64Array or a number array to scale
 * 8-bit pixels too).
 */
export function dataTypeMessage(what: string, data: unknown): string {
  const head = `The ${what} data is ${data === null || data === undefined ? String(data) : withArticle(kindOf(data))}; expected a Float32Array`;
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return `${head} (scale 8-bit pixels to [0, 1] first).`;
  if (Array.isArray(data) || ArrayBuffer.isView(data)) return `${head}: Float32Array.from(data) holds the same values as 32-bit floats.`;
  return `${head} of pixel values.`;
}

/**
 * The message for a batch or frame that is none of the accepted inputs: what was received
 * (its keys, for an object) and, where its keys show what was meant, what to send instead.
 */
export function unrecognisedInputMessage(x: unknown, what: 'batch' | 'frame'): string {
  const image = 'an image (ImageData or { data, width, height } RGBA bytes, an ImageBitmap, a canvas, a video element)';
  const accepted = `a tf.Tensor, { data: Float32Array, shape }, ${image}${what === 'batch' ? ' or an array of frames' : ''}`;
  let hint = '';
  if (typeof x === 'object' && x !== null && !Array.isArray(x)) {
    const o = x as Record<string, unknown>;
    const has = (k: string): boolean => k in o;
    if (has('frame') || has('trueLabel') || has('frameId')) {
      hint =
        what === 'batch'
          ? ' A labelled frame, { frame, frameId, trueLabel }, is for the adapt() operator; step and predict take the frames themselves, and step takes the labels as its second argument: step(frames, labels).'
          : ' A labelled frame is { frame, frameId?, trueLabel? }, with the pixels under frame.';
    } else if (has('data') && (has('width') || has('height'))) {
      const d = o.data;
      hint =
        d instanceof Float32Array
          ? ' Float pixels go as { data, shape: [height, width, channels] }; { data, width, height } is for RGBA bytes.'
          : ` An ImageData-like image needs data as a Uint8ClampedArray or Uint8Array of width x height x 4 RGBA bytes, and numbers for width and height; here data is ${withArticle(kindOf(d))}, width ${withArticle(kindOf(o.width))}, height ${withArticle(kindOf(o.height))}.`;
    } else if (has('data') && !has('shape')) {
      hint = ' Raw pixels need their shape: { data: Float32Array, shape: [h, w, c] } (RGBA bytes: { data, width, height }).';
    } else if (has('shape') && !has('data')) {
      hint = ' Raw pixels are { data: Float32Array, shape }: data is missing.';
    }
  } else if (Array.isArray(x) && what === 'frame') {
    hint = ' An array of frames is a batch: send its frames one at a time, or pass it to adapter.step.';
  }
  return `The ${what} must be ${accepted}; got ${describeValue(x)}.${hint}`;
}

/**
 * True for an `ImageData` or an object of its shape: `data` a `Uint8ClampedArray`, or a
 * `Uint8Array` (a Node `Buffer`) when the object has no `shape` (with one it is raw pixels).
 */
export function isImageDataLike(x: unknown): x is ImageDataLike {
  const f = x as Partial<ImageDataLike> | null;
  if (typeof f !== 'object' || f === null || typeof f.width !== 'number' || typeof f.height !== 'number') return false;
  return f.data instanceof Uint8ClampedArray || (f.data instanceof Uint8Array && !('shape' in f));
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
  getImageData(sx: number, sy: number, sw: number, sh: number): ImageDataLike & { data: Uint8ClampedArray };
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
        'Reading a video frame or an ImageBitmap needs OffscreenCanvas or a DOM document, which this runtime lacks; send ImageData or RGBA bytes as { data, width, height }, a tensor, or { data: Float32Array, shape } instead.',
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
 * main thread and send bytes). `ImageData` (a `Uint8ClampedArray`) is returned as it is; a
 * `Uint8Array` of RGBA bytes is copied into a `Uint8ClampedArray` of our own (the worker adapter
 * transfers what is ours, and must not detach a caller's `Buffer`); a canvas is read through its
 * 2d context; a video frame or a bitmap is drawn on a scratch canvas first. Sizes and byte counts
 * are checked by the conversion (`checkRgbaImage`), not here.
 */
export function readPixels(source: ImageSource): ImageDataLike & { data: Uint8ClampedArray } {
  if (isImageDataLike(source)) {
    if (source.data instanceof Uint8ClampedArray) return source as ImageDataLike & { data: Uint8ClampedArray };
    return { data: new Uint8ClampedArray(source.data), width: source.width, height: source.height };
  }
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

/** Throws {@link InvalidInputError} unless an image converts to `channels` channels (1, 3 or 4). */
export function checkImageChannels(channels: number): void {
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new InvalidInputError(`The model takes ${channels} channels; an image frame converts only to 1 (grey), 3 (RGB) or 4 (RGBA).`);
  }
}

/**
 * Throws {@link InvalidInputError} unless `image` is whole RGBA pixels: a positive integer width
 * and height, and exactly width x height x 4 bytes. A byte count that fits 3 or 1 bytes per pixel
 * is named as RGB or grey, with the fix (the bytes are not guessed at: RGBA is the one layout).
 */
export function checkRgbaImage(image: ImageDataLike): void {
  const { width: w, height: h } = image;
  if (!(Number.isSafeInteger(w) && Number.isSafeInteger(h) && w > 0 && h > 0)) {
    throw new InvalidInputError(`The image is ${w}x${h}; its width and height must be positive integers.`);
  }
  const n = image.data.length;
  const need = w * h * 4;
  if (n === need) return;
  let hint = '';
  if (n === w * h * 3) {
    hint =
      ' That is 3 bytes per pixel (RGB, no alpha): add an alpha byte per pixel (sharp: .ensureAlpha().raw()), or send float pixels, ' +
      `{ data: Float32Array.from(bytes, (v) => v / 255), shape: [${h}, ${w}, 3] }.`;
  } else if (n === w * h) {
    hint = ` That is 1 byte per pixel (grey): send float pixels, { data: Float32Array.from(bytes, (v) => v / 255), shape: [${h}, ${w}, 1] }.`;
  }
  throw new InvalidInputError(`The image data has ${n} bytes; ${w}x${h} RGBA (4 bytes per pixel, width x height x 4) needs ${need}.${hint}`);
}

/**
 * Throws {@link InvalidInputError} unless the image has the model's height and width (when the
 * adapter does not resize); the message names the resize option as the fix.
 */
export function checkImageSize(image: { width: number; height: number }, inputShape: readonly number[]): void {
  const [h, w] = inputShape as [number, number, number];
  if (inputShape.length !== 3 || image.height !== h || image.width !== w) {
    throw new InvalidInputError(
      `The image is ${image.width}x${image.height}; the model expects ${describeShape(inputShape)} (height, width, channels). Resize it first, or set preprocess: { resize: 'bilinear' }.`,
    );
  }
}

/**
 * RGBA 8-bit pixels to float32 in [0, 1] with `channels` channels, [h, w, channels]: 1 channel
 * takes the luma 0.2989 R + 0.587 G + 0.114 B (the weights of `tf.image.rgbToGrayscale`), 3
 * takes RGB, 4 takes RGBA. Checked first, in this order (every caller's messages agree): the
 * channels, whole RGBA pixels, and with `inputShape` the model's height and width.
 */
export function rgbaToFloat32(image: ImageDataLike, channels: number, inputShape?: readonly number[]): Float32Array {
  const { width: w, height: h } = image;
  checkImageChannels(channels);
  checkRgbaImage(image);
  if (inputShape !== undefined) checkImageSize(image, inputShape);
  const src = image.data;
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
 * For a grey model (`[h, w, 1]`), a shape sent without its channel dimension, `[h, w]` or
 * `[n, h, w]` (with `resize`, only `[h, w]`: `[n, h, w]` cannot be told from `[h, w, c]`; nor
 * without, when it is also `[h, w, c]` of the model's size), with the channel added; otherwise null.
 */
export function withMissingChannel(sent: readonly number[], inputShape: readonly number[], resize: boolean): number[] | null {
  const k = inputShape.length;
  if (inputShape[k - 1] !== 1 || k < 2) return null;
  const positive = (d: number): boolean => Number.isSafeInteger(d) && d > 0;
  const tail = sent.slice(-(k - 1));
  const sized = tail.length === k - 1 && (resize ? tail.every(positive) : tail.every((d, i) => d === inputShape[i]));
  if (!sized) return null;
  if (sent.length === k - 1) return [...sent, 1];
  // [n, h, w], unless it also reads as [h, w, c] of the model's size (then: a channel count).
  const alsoImage = sent.slice(0, k - 1).every((d, i) => d === inputShape[i]);
  if (!resize && sent.length === k && positive(sent[0]!) && !alsoImage) return [...sent, 1];
  return null;
}

/** The message for {@link withMissingChannel}'s case. */
export function missingChannelMessage(what: string, sent: readonly number[], inputShape: readonly number[], fixed: readonly number[]): string {
  return `The ${what} has shape ${describeShape(sent)}; the model takes ${describeShape(inputShape)}: the channel dimension is missing. Send shape ${describeShape(fixed)} (the same data).`;
}

/**
 * The message for pixels of another channel count than the model's, without `resize` (resizing
 * changes height and width, never channels, so it is not named as the fix).
 */
export function channelMismatchMessage(what: string, sent: readonly number[], inputShape: readonly number[]): string {
  const c = inputShape[inputShape.length - 1]!;
  const image = c === 1 || c === 3 || c === 4 ? ", or send RGBA bytes as { data, width, height } (converted to the model's channels)" : '';
  return (
    `The ${what} has shape ${describeShape(sent)}; the model expects ${describeShape(inputShape)}: ${sent[sent.length - 1]} channel${sent[sent.length - 1] === 1 ? '' : 's'}, not ${c}. ` +
    `Convert the pixels to ${c} channel${c === 1 ? '' : 's'} first${image}.`
  );
}

/**
 * Checks a batch shape [n, h, w, c] against the model's input [h, w, c]: with `resize`, only
 * the channel count must match. `sent` is the shape as the caller sent it (before a leading 1
 * was added to one frame), for the messages.
 */
export function checkBatchShape(shape: readonly number[], inputShape: readonly number[], resize: boolean, what = 'batch', sent: readonly number[] = shape): void {
  const expected = `[n, ${inputShape.join(', ')}]`;
  const missing = (): void => {
    const fixed = withMissingChannel(sent, inputShape, resize);
    if (fixed !== null) throw new InvalidInputError(missingChannelMessage(what, sent, inputShape, fixed));
  };
  if (shape.length !== inputShape.length + 1) {
    missing();
    throw new InvalidInputError(`The ${what} has shape ${describeShape(shape)}; expected ${expected} (or one frame, ${describeShape(inputShape)}).`);
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
      missing();
      throw new InvalidInputError(`The ${what} has shape ${describeShape(shape)}; the model takes ${c} channels ([n, h, w, ${c}], resized to ${describeShape(inputShape.slice(0, -1))}).`);
    }
    return;
  }
  if (shape.some((d, i) => i > 0 && d !== inputShape[i - 1])) missing();
  if (shape[shape.length - 1] !== c) throw new InvalidInputError(channelMismatchMessage(what, sent, inputShape));
  for (let i = 0; i < inputShape.length; i++) {
    if (shape[i + 1] !== inputShape[i]) {
      throw new InvalidInputError(
        `The ${what} has shape ${describeShape(shape)}; the model expects ${expected}. Resize the frames first, or set preprocess: { resize: 'bilinear' }.`,
      );
    }
  }
}
