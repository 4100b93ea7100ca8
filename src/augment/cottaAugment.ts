/**
 * CoTTA's test-time augmentation pipeline in tfjs ops (`get_tta_transforms` in
 * qinenergy/cotta `cifar/cotta.py`, with `my_transforms.py`), for NHWC float images in [0, 1],
 * grayscale or RGB:
 *
 *   clip -> colour jitter (brightness, contrast, saturation, hue, gamma, in random order)
 *   -> edge pad h/2 -> random affine (rotation, translation, scale; bilinear)
 *   -> Gaussian blur (k = 5) -> centre crop -> horizontal flip -> Gaussian noise -> clip
 *
 * ROID's variant ({@link ROID_AUGMENT}, mariodoebler/test-time-adaptation
 * `get_tta_transforms(padding_mode="reflect", cotta_augs=False)`) pads by reflection and has no
 * blur and no noise (options `padding`, `blur`, `noiseStd`).
 *
 * As in the official code (torchvision transforms applied to a batch tensor), one set of
 * random parameters is drawn per call and shared by the whole batch; only the noise is
 * drawn per pixel. Every draw comes from a seeded generator whose state can be saved.
 *
 * Deviations: saturation and hue are no-ops on grayscale images (torchvision does the
 * same); pad + affine + blur + crop run as one gather-based resampling followed by a
 * 'valid' blur of the crop plus a 2-pixel border, which gives the official values on every
 * output pixel (torchvision's fill-mask blending at the padded image's outer edge, which
 * only the 2-pixel border could ever see under extreme draws, is not reproduced).
 *
 * @example
 * ```ts
 * const aug = new CottaAugmenter({ horizontalFlip: false }, 42);
 * const views = tf.tidy(() => aug.augment(batch)); // one random draw for the batch
 * ```
 */
import * as tf from '../tf.js';
import { InvalidInputError, InvalidOptionError } from '../errors.js';
import { createRng, type SeededRng } from '../random.js';
import { adjustBrightness, adjustContrast, adjustGamma, adjustHue, adjustSaturation } from './colorJitter.js';
import { applyWarp, gaussianBlurValid, planAffineWarp, type AffineParams, type PaddingMode } from './geometric.js';

/** Options of CoTTA's augmentation. Every range is [min, max]; defaults are the official (non-"soft") CIFAR values. */
export interface CottaAugmentOptions {
  /** Brightness factor range. Defaults to [0.6, 1.4]. */
  brightness?: [number, number];
  /** Contrast factor range. Defaults to [0.7, 1.3]. */
  contrast?: [number, number];
  /** Saturation factor range (RGB only). Defaults to [0.5, 1.5]. */
  saturation?: [number, number];
  /** Hue shift range in turns (RGB only). Defaults to [-0.06, 0.06]. */
  hue?: [number, number];
  /** Gamma range. Defaults to [0.7, 1.3]. */
  gamma?: [number, number];
  /** Largest rotation in degrees (drawn in [-rotation, rotation]). Defaults to 15. */
  rotation?: number;
  /** Largest translation as a fraction of the padded image size (rounded to whole pixels, like torchvision). Defaults to 1/16. */
  translate?: number;
  /** Scale range. Defaults to [0.9, 1.1]. */
  scale?: [number, number];
  /** Gaussian blur sigma range (kernel size 5). Defaults to [0.001, 0.5]. */
  blurSigma?: [number, number];
  /** Apply the Gaussian blur. Defaults to true (CoTTA); `get_tta_transforms(cotta_augs=False)` has none. */
  blur?: boolean;
  /** `Pad` mode before the affine: `'edge'` (CoTTA, the default) or `'reflect'` (ROID's `padding_mode="reflect"`). */
  padding?: PaddingMode;
  /** Horizontal flip with probability 0.5. Turn off for data whose meaning a flip changes (digits, text). Defaults to true. */
  horizontalFlip?: boolean;
  /** Standard deviation of the additive per-pixel Gaussian noise. Defaults to 0.005. */
  noiseStd?: number;
}

/** The official defaults of {@link CottaAugmentOptions}. */
export const COTTA_AUGMENT_DEFAULTS: Readonly<Required<CottaAugmentOptions>> = Object.freeze<Required<CottaAugmentOptions>>({
  brightness: [0.6, 1.4],
  contrast: [0.7, 1.3],
  saturation: [0.5, 1.5],
  hue: [-0.06, 0.06],
  gamma: [0.7, 1.3],
  rotation: 15,
  translate: 1 / 16,
  scale: [0.9, 1.1],
  blurSigma: [0.001, 0.5],
  blur: true,
  padding: 'edge',
  horizontalFlip: true,
  noiseStd: 0.005,
});

/**
 * ROID's augmentation: mariodoebler/test-time-adaptation `get_tta_transforms(padding_mode="reflect",
 * cotta_augs=False)`: clip -> colour jitter -> reflect pad -> random affine -> centre crop -> flip -> clip,
 * i.e. CoTTA's pipeline without the Gaussian blur and the Gaussian noise, with reflect padding.
 */
export const ROID_AUGMENT: Readonly<Required<CottaAugmentOptions>> = Object.freeze<Required<CottaAugmentOptions>>({
  ...COTTA_AUGMENT_DEFAULTS,
  blur: false,
  padding: 'reflect',
  noiseStd: 0,
});

/** The official "soft" variant (`get_tta_transforms(soft=True)`), for reference. */
export const COTTA_SOFT_AUGMENT: Readonly<Required<CottaAugmentOptions>> = Object.freeze<Required<CottaAugmentOptions>>({
  ...COTTA_AUGMENT_DEFAULTS,
  brightness: [0.8, 1.2],
  contrast: [0.85, 1.15],
  saturation: [0.75, 1.25],
  hue: [-0.03, 0.03],
  gamma: [0.85, 1.15],
  rotation: 8,
  scale: [0.95, 1.05],
  blurSigma: [0.001, 0.25],
});

const BLUR_SIZE = 5;
const BLUR_RADIUS = (BLUR_SIZE - 1) / 2;
const JITTERS = ['brightness', 'contrast', 'saturation', 'hue', 'gamma'] as const;

/** One batch's random augmentation parameters. */
export interface AugmentDraw {
  /** The order in which the five jitters are applied (a permutation of 0..4: brightness, contrast, saturation, hue, gamma). */
  order: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  gamma: number;
  affine: AffineParams;
  blurSigma: number;
  flip: boolean;
  /** Seed of the per-pixel noise. */
  noiseSeed: number;
}

function checkRange(name: string, r: unknown, lo: number, hi: number): void {
  if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => Number.isFinite(v)) || r[0] > r[1] || r[0] < lo || r[1] > hi) {
    throw new InvalidOptionError(`CoTTA augmentation option '${name}' is ${JSON.stringify(r)}; expected [min, max] with ${lo} <= min <= max <= ${hi}.`);
  }
}

/** Applies the defaults and validates; throws {@link InvalidOptionError} naming the bad option. */
export function resolveAugmentOptions(options: CottaAugmentOptions = {}): Required<CottaAugmentOptions> {
  const o = { ...COTTA_AUGMENT_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<CottaAugmentOptions>;
  for (const key of Object.keys(o)) {
    if (!(key in COTTA_AUGMENT_DEFAULTS)) {
      throw new InvalidOptionError(`CoTTA augmentation has no option '${key}'. Its options: ${Object.keys(COTTA_AUGMENT_DEFAULTS).join(', ')}.`);
    }
  }
  checkRange('brightness', o.brightness, 0, Infinity);
  checkRange('contrast', o.contrast, 0, Infinity);
  checkRange('saturation', o.saturation, 0, Infinity);
  checkRange('hue', o.hue, -0.5, 0.5);
  checkRange('gamma', o.gamma, 1e-6, Infinity);
  checkRange('scale', o.scale, 1e-3, Infinity);
  checkRange('blurSigma', o.blurSigma, 1e-6, Infinity);
  const scalar = (name: string, v: number, lo: number, hi: number) => {
    if (!Number.isFinite(v) || v < lo || v > hi) {
      throw new InvalidOptionError(`CoTTA augmentation option '${name}' is ${v}; expected a number in [${lo}, ${hi}].`);
    }
  };
  scalar('rotation', o.rotation, 0, 180);
  scalar('translate', o.translate, 0, 1);
  scalar('noiseStd', o.noiseStd, 0, Infinity);
  if (typeof o.blur !== 'boolean') {
    throw new InvalidOptionError(`CoTTA augmentation option 'blur' is ${String(o.blur)}; expected true or false.`);
  }
  if (o.padding !== 'edge' && o.padding !== 'reflect') {
    throw new InvalidOptionError(`CoTTA augmentation option 'padding' is ${JSON.stringify(o.padding)}; valid values: 'edge', 'reflect'.`);
  }
  if (typeof o.horizontalFlip !== 'boolean') {
    throw new InvalidOptionError(`CoTTA augmentation option 'horizontalFlip' is ${String(o.horizontalFlip)}; expected true or false.`);
  }
  return o;
}

/** Python's round (half to even), as torchvision's `int(round(...))` of the translation. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Draws one batch's parameters from `rng` for images of size `h` x `w`, in a fixed order:
 * jitter permutation, the five jitter factors, angle, tx, ty, scale, blur sigma, flip, noise seed.
 */
export function drawAugment(rng: SeededRng, h: number, w: number, options: Required<CottaAugmentOptions>): AugmentDraw {
  const u = (r: readonly [number, number]) => r[0] + (r[1] - r[0]) * rng.next();
  const order = [0, 1, 2, 3, 4];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const brightness = u(options.brightness);
  const contrast = u(options.contrast);
  const saturation = u(options.saturation);
  const hue = u(options.hue);
  const gamma = u(options.gamma);
  const angle = u([-options.rotation, options.rotation]);
  const maxDx = options.translate * (w + 2 * Math.floor(w / 2));
  const maxDy = options.translate * (h + 2 * Math.floor(h / 2));
  const tx = roundHalfEven(u([-maxDx, maxDx]));
  const ty = roundHalfEven(u([-maxDy, maxDy]));
  const scale = u(options.scale);
  const blurSigma = u(options.blurSigma);
  const flip = options.horizontalFlip && rng.next() < 0.5;
  const noiseSeed = Math.floor(rng.next() * 2 ** 31);
  return { order, brightness, contrast, saturation, hue, gamma, affine: { angle, tx, ty, scale }, blurSigma, flip, noiseSeed };
}

/** Applies one draw to a batch [n, h, w, c] (c = 1 or 3) in [0, 1]. Call inside `tf.tidy`. */
export function applyAugment(x: tf.Tensor4D, draw: AugmentDraw, options: Readonly<Required<CottaAugmentOptions>>): tf.Tensor4D {
  const [, h, w] = x.shape;
  let y = tf.clipByValue(x, 0, 1) as tf.Tensor4D;
  for (const k of draw.order) {
    const name = JITTERS[k]!;
    if (name === 'brightness') y = adjustBrightness(y, draw.brightness);
    else if (name === 'contrast') y = adjustContrast(y, draw.contrast);
    else if (name === 'saturation') y = adjustSaturation(y, draw.saturation);
    else if (name === 'hue') y = adjustHue(y, draw.hue);
    else y = adjustGamma(y, draw.gamma);
  }
  if (options.blur) {
    // pad + affine + crop (plus the blur's border), then the blur shrinks it to h x w.
    y = applyWarp(y, planAffineWarp(h, w, draw.affine, BLUR_RADIUS, options.padding));
    y = gaussianBlurValid(y, BLUR_SIZE, draw.blurSigma);
  } else {
    y = applyWarp(y, planAffineWarp(h, w, draw.affine, 0, options.padding));
  }
  if (draw.flip) y = tf.reverse(y, 2);
  if (options.noiseStd > 0) y = tf.add(y, tf.randomNormal(y.shape, 0, options.noiseStd, 'float32', draw.noiseSeed));
  return tf.clipByValue(y, 0, 1) as tf.Tensor4D;
}

/**
 * CoTTA's augmentation with its own seeded generator: each {@link augment} call draws new
 * parameters for the whole batch. `state` saves and replays the generator.
 */
export class CottaAugmenter {
  readonly options: Readonly<Required<CottaAugmentOptions>>;
  private readonly rng: SeededRng;

  /** @param seed any integer; equal seeds give equal augmentations. */
  constructor(options: CottaAugmentOptions = {}, seed = 0) {
    this.options = Object.freeze(resolveAugmentOptions(options));
    this.rng = createRng(seed);
  }

  /** Draws the next batch's parameters (advances the generator). */
  draw(h: number, w: number): AugmentDraw {
    return drawAugment(this.rng, h, w, this.options);
  }

  /** One augmented view of the batch [n, h, w, 1 or 3] (a new draw). Call inside `tf.tidy`. */
  augment(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || (x.shape[3] !== 1 && x.shape[3] !== 3)) {
      throw new InvalidInputError(`CoTTA augmentation expects a batch [n, h, w, 1 or 3]; got [${x.shape.join(', ')}].`);
    }
    return applyAugment(x, this.draw(x.shape[1], x.shape[2]), this.options);
  }

  /** The generator's 32-bit state (part of a strategy's snapshot). */
  get state(): number {
    return this.rng.state;
  }

  set state(s: number) {
    this.rng.state = s;
  }
}
