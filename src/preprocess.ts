/**
 * The `preprocess` option: what turns a frame as the camera gives it into the model's input.
 * Applied once, in the adapter, by `step`, `predict`, `adapt` (through `step`) and the worker
 * adapter (inside the worker), after the frame is read as float32 RGB(A) or grey in [0, 1]
 * (image sources) or taken as given (tensors, `{ data, shape }`):
 *     1. resize to the model's height and width (if `resize` is set and the sizes differ);
 *     2. channel order (`'bgr'` reverses the 3 channels);
 *     3. y = x * scale + offset, per channel or for all.
 * This file resolves the option (no tfjs, so the worker adapter's calling side can use it);
 * `src/batchTensor.ts` applies it.
 */
import { InvalidOptionError } from './errors.js';
import { describeValue } from './input.js';

/** How frames become the model's input. Every field is optional; the default changes nothing. */
export interface PreprocessOptions {
  /**
   * Resize frames whose height or width differ from the model's input: `'bilinear'` (half-pixel
   * centres, as PIL, OpenCV and PyTorch's `align_corners=False`) or `'nearest'`. Defaults to
   * `'none'`: such frames are rejected with an `InvalidInputError`.
   */
  resize?: 'none' | 'bilinear' | 'nearest';
  /** The channel order the model expects; inputs are taken as RGB. `'bgr'` needs a 3-channel model. Defaults to `'rgb'`. */
  channelOrder?: 'rgb' | 'bgr';
  /**
   * Multiplies every value (after resize and channel order), one number or one per channel.
   * Image sources arrive in [0, 1], so a model trained on [-1, 1] takes `scale: 2, offset: -1`,
   * one trained on 0..255 takes `scale: 255`. Defaults to 1.
   */
  scale?: number | readonly number[];
  /** Added after `scale`, one number or one per channel. Defaults to 0. */
  offset?: number | readonly number[];
}

/** {@link PreprocessOptions} checked against a model, with every field filled. */
export interface ResolvedPreprocess {
  resize: 'none' | 'bilinear' | 'nearest';
  channelOrder: 'rgb' | 'bgr';
  /** One value per channel. */
  scale: number[];
  offset: number[];
}

const RESIZE = ['none', 'bilinear', 'nearest'] as const;
const ORDERS = ['rgb', 'bgr'] as const;

function perChannel(name: string, value: number | readonly number[] | undefined, fallback: number, channels: number): number[] {
  if (value === undefined) return new Array<number>(channels).fill(fallback);
  const values = typeof value === 'number' ? new Array<number>(channels).fill(value) : Array.isArray(value) ? [...(value as number[])] : null;
  // Finite as float32 too (the tensors' type): 1e39 is a finite double but Infinity in float32.
  if (values === null || values.length !== channels || values.some((v) => typeof v !== 'number' || !Number.isFinite(v) || !Number.isFinite(Math.fround(v)))) {
    throw new InvalidOptionError(
      `preprocess.${name} is ${JSON.stringify(value)}; it must be a finite number or an array of ${channels} finite numbers (one per channel of the model's input), each finite as a float32 too (magnitude below about 3.4e38).`,
    );
  }
  return values;
}

/** Checks `preprocess` against the model's input shape [h, w, c]; throws {@link InvalidOptionError} naming the bad field. */
export function resolvePreprocess(options: PreprocessOptions | undefined, inputShape: readonly number[]): ResolvedPreprocess {
  const o = options ?? {};
  // An array passed the object test and was refused as "preprocess has no field '0'".
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    const meant = typeof o === 'string' && (RESIZE as readonly string[]).includes(o) ? ` (did you mean preprocess: { resize: '${o}' }?)` : '';
    throw new InvalidOptionError(`preprocess must be an object such as { resize: 'bilinear', scale: 2, offset: -1 }; got ${describeValue(o)}${meant}.`);
  }
  const valid = ['resize', 'channelOrder', 'scale', 'offset'];
  for (const key of Object.keys(o)) {
    if (!valid.includes(key)) throw new InvalidOptionError(`preprocess has no field '${key}'. Its fields: ${valid.join(', ')}.`);
  }
  const resize = o.resize ?? 'none';
  if (!(RESIZE as readonly string[]).includes(resize)) {
    throw new InvalidOptionError(`preprocess.resize is ${JSON.stringify(resize)}; valid values: ${RESIZE.map((r) => `'${r}'`).join(', ')}.`);
  }
  const channelOrder = o.channelOrder ?? 'rgb';
  if (!(ORDERS as readonly string[]).includes(channelOrder)) {
    throw new InvalidOptionError(`preprocess.channelOrder is ${JSON.stringify(channelOrder)}; valid values: 'rgb', 'bgr'.`);
  }
  const channels = inputShape[inputShape.length - 1]!;
  if (channelOrder === 'bgr' && channels !== 3) {
    throw new InvalidOptionError(`preprocess.channelOrder 'bgr' needs a 3-channel model; this model takes ${channels} channels.`);
  }
  return { resize, channelOrder, scale: perChannel('scale', o.scale, 1, channels), offset: perChannel('offset', o.offset, 0, channels) };
}

/** The identity preprocessing for a model with `channels` channels. */
export function noPreprocess(channels: number): ResolvedPreprocess {
  return { resize: 'none', channelOrder: 'rgb', scale: new Array<number>(channels).fill(1), offset: new Array<number>(channels).fill(0) };
}
