/**
 * The 15 ImageNet-C / CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR
 * 2019) at severities 1-5, for grayscale and RGB HWC images, seeded and
 * deterministic, in pure TypeScript (browser-safe: no Node imports, no image
 * files; frost and snow textures are synthesised).
 *
 * Constants follow the reference's `make_cifar_c.py`; spatial extents in
 * pixels are scaled by min(H, W) / 32. Deviations are listed in docs/benchmark.md.
 *
 * @example
 * ```ts
 * import { corrupt, CORRUPTIONS } from 'edge-tta';
 * const img = { data: pixels, height: 28, width: 28, channels: 1 }; // Float32Array in [0,1] or Uint8Array
 * const foggy = corrupt(img, { name: 'fog', severity: 5, seed: 1 });
 * for (const name of CORRUPTIONS) corrupt(img, { name, severity: 3, seed: 7 });
 * ```
 */
import { Rng, hashSeed } from '../random.js';
import { type ImageHWC, type Img, fromImg, toImg } from './image.js';
import { gaussianNoiseImpl, impulseNoiseImpl, shotNoiseImpl } from './noise.js';
import { defocusBlurImpl, glassBlurImpl, motionBlurImpl, zoomBlurImpl } from './blur.js';
import { brightnessImpl, fogImpl, frostImpl, snowImpl } from './weather.js';
import { contrastImpl, elasticTransformImpl, pixelateImpl } from './digital.js';
import { jpegCompressionImpl } from './jpeg.js';

export type { ImageHWC } from './image.js';
export { frostTexture, plasmaFractal } from './weather.js';
export { jpegRoundTrip, quantTable } from './jpeg.js';

/** The 15 corruptions in the standard (continual benchmark) order. */
export const CORRUPTIONS = Object.freeze([
  'gaussian_noise', 'shot_noise', 'impulse_noise',
  'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
  'snow', 'frost', 'fog', 'brightness',
  'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression',
] as const);

/** A corruption name, derived from {@link CORRUPTIONS}. */
export type CorruptionName = (typeof CORRUPTIONS)[number];

/** Severity level, 1 (mild) to 5 (strongest). */
export type Severity = 1 | 2 | 3 | 4 | 5;

export interface CorruptOptions {
  /** Severity 1-5. Defaults to 5. */
  severity?: Severity;
  /** Seed of the random parts (noise, textures, angles): an integer in [0, 2^32 - 1]. Defaults to 0. Equal seeds give equal outputs. */
  seed?: number;
}

type Impl = (img: Img, severity: number, rng: Rng) => Img;

const IMPLS: Readonly<Record<CorruptionName, Impl>> = Object.freeze({
  gaussian_noise: gaussianNoiseImpl,
  shot_noise: shotNoiseImpl,
  impulse_noise: impulseNoiseImpl,
  defocus_blur: (i, s) => defocusBlurImpl(i, s),
  glass_blur: glassBlurImpl,
  motion_blur: motionBlurImpl,
  zoom_blur: (i, s) => zoomBlurImpl(i, s),
  snow: snowImpl,
  frost: frostImpl,
  fog: fogImpl,
  brightness: (i, s) => brightnessImpl(i, s),
  contrast: (i, s) => contrastImpl(i, s),
  elastic_transform: elasticTransformImpl,
  pixelate: (i, s) => pixelateImpl(i, s),
  jpeg_compression: (i, s) => jpegCompressionImpl(i, s),
});

/** True if `name` is one of {@link CORRUPTIONS}. */
export function isCorruptionName(name: unknown): name is CorruptionName {
  return typeof name === 'string' && (CORRUPTIONS as readonly string[]).includes(name);
}

function checkName(name: unknown): CorruptionName {
  if (!isCorruptionName(name)) {
    throw new RangeError(`Unknown corruption '${String(name)}'. Valid names: ${CORRUPTIONS.join(', ')}.`);
  }
  return name;
}

/** Seeds are 32-bit integers: hashSeed would cut 1.5 to 1 and -1 to 4294967295, giving another seed's noise. */
function checkSeed(seed: number): number {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
    throw new RangeError(`Corruption seed must be an integer in [0, 4294967295]; got ${String(seed)}.`);
  }
  return seed;
}

function checkSeverity(severity: unknown): Severity {
  if (severity !== 1 && severity !== 2 && severity !== 3 && severity !== 4 && severity !== 5) {
    throw new RangeError(`Corruption severity must be an integer from 1 to 5; got ${String(severity)}.`);
  }
  return severity;
}

/**
 * Corrupts one HWC image. Returns a new image of the same type (Float32Array
 * in [0, 1], or Uint8Array 0-255, rounded) and shape; the input is not modified.
 */
export function corrupt<T extends Float32Array | Uint8Array>(
  image: ImageHWC<T>,
  options: CorruptOptions & { name: CorruptionName },
): ImageHWC<T> {
  const name = checkName(options.name);
  const severity = checkSeverity(options.severity ?? 5);
  const seed = checkSeed(options.seed ?? 0);
  const rng = new Rng(hashSeed(seed, CORRUPTIONS.indexOf(name) + 1, severity));
  const out = IMPLS[name](toImg(image), severity, rng);
  return fromImg(out, image.data);
}

/**
 * Corrupts a batch NHWC float32 array in [0, 1] (e.g. a tensor's data). Image i
 * uses seed `seeds[i]` if given, else `hashSeed(seed, i)`, so results do not
 * depend on how a stream is cut into batches when callers pass per-image seeds.
 */
export function corruptBatch(
  data: Float32Array,
  shape: readonly [number, number, number, number],
  options: CorruptOptions & { name: CorruptionName; seeds?: ArrayLike<number> },
): Float32Array {
  const [n, h, w, c] = shape;
  const per = h * w * c;
  if (data.length !== n * per) {
    throw new RangeError(`corruptBatch: data has ${data.length} values but shape [${shape.join(', ')}] needs ${n * per}.`);
  }
  if (options.seeds && options.seeds.length < n) {
    throw new RangeError(`corruptBatch: ${options.seeds.length} seeds for ${n} images; pass one seed per image.`);
  }
  if (!options.seeds) checkSeed(options.seed ?? 0);
  const out = new Float32Array(data.length);
  for (let i = 0; i < n; i++) {
    const seed = options.seeds ? options.seeds[i] : hashSeed(options.seed ?? 0, i);
    const img = corrupt({ data: data.subarray(i * per, (i + 1) * per), height: h, width: w, channels: c }, { ...options, seed });
    out.set(img.data, i * per);
  }
  return out;
}

type PerName = <T extends Float32Array | Uint8Array>(image: ImageHWC<T>, options?: CorruptOptions) => ImageHWC<T>;
const perName = (name: CorruptionName): PerName => (image, options = {}) => corrupt(image, { ...options, name });

/** Additive Gaussian noise. @example gaussianNoise(img, { severity: 3, seed: 1 }) */
export const gaussianNoise = perName('gaussian_noise');
/** Poisson (shot) noise. */
export const shotNoise = perName('shot_noise');
/** Salt-and-pepper noise. */
export const impulseNoise = perName('impulse_noise');
/** Disk (defocus) blur. */
export const defocusBlur = perName('defocus_blur');
/** Gaussian blur + local pixel shuffling. */
export const glassBlur = perName('glass_blur');
/** Directional motion blur (random angle). */
export const motionBlur = perName('motion_blur');
/** Average of centre zooms. */
export const zoomBlur = perName('zoom_blur');
/** Procedural snow flakes. */
export const snow = perName('snow');
/** Procedural frost texture overlay. */
export const frost = perName('frost');
/** Plasma-fractal fog. */
export const fog = perName('fog');
/** HSV value shift. */
export const brightness = perName('brightness');
/** Contrast reduction around the per-channel mean. */
export const contrast = perName('contrast');
/** Random affine + smoothed displacement field. */
export const elasticTransform = perName('elastic_transform');
/** Box down- and up-sampling. */
export const pixelate = perName('pixelate');
/** Baseline JPEG round trip at the reference's quality levels. */
export const jpegCompression = perName('jpeg_compression');

/** The per-name functions keyed by corruption name. */
export const CORRUPTION_FUNCTIONS: Readonly<Record<CorruptionName, PerName>> = Object.freeze({
  gaussian_noise: gaussianNoise,
  shot_noise: shotNoise,
  impulse_noise: impulseNoise,
  defocus_blur: defocusBlur,
  glass_blur: glassBlur,
  motion_blur: motionBlur,
  zoom_blur: zoomBlur,
  snow,
  frost,
  fog,
  brightness,
  contrast,
  elastic_transform: elasticTransform,
  pixelate,
  jpeg_compression: jpegCompression,
});
