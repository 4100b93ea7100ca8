/**
 * Photometric jitter in tfjs ops, as torchvision's tensor functions compute it
 * (`torchvision.transforms.functional_tensor`), for NHWC float images in [0, 1].
 * Grayscale (1 channel) and RGB (3 channels); saturation and hue leave grayscale
 * images unchanged, as torchvision does.
 *
 * Every function takes one factor for the whole batch (CoTTA draws its augmentation
 * once per batch) and must be called inside `tf.tidy`.
 */
import * as tf from '../tf.js';
import { adjustHueFused, grayscaleFused } from '../fused/index.js';

/** `ratio * a + (1 - ratio) * b`, clipped to [0, 1] (torchvision `_blend`). */
function blend(a: tf.Tensor4D, b: tf.Tensor, ratio: number): tf.Tensor4D {
  return tf.clipByValue(tf.add(tf.mul(a, ratio), tf.mul(b, 1 - ratio)), 0, 1) as tf.Tensor4D;
}

/** ITU-R 601-2 luma (torchvision's `rgb_to_grayscale`), keeping a channel axis: [n, h, w, 1]. */
export function toGrayscale(x: tf.Tensor4D): tf.Tensor4D {
  // On wasm one pass with the same f32 operations (src/fused); toGrayscaleOps elsewhere and for 1 channel.
  return grayscaleFused(x) ?? toGrayscaleOps(x);
}

/** {@link toGrayscale} as tfjs ops (split, products, addN). */
export function toGrayscaleOps(x: tf.Tensor4D): tf.Tensor4D {
  if (x.shape[3] === 1) return x;
  const [r, g, b] = tf.split(x, 3, 3);
  return tf.addN([tf.mul(r!, 0.2989), tf.mul(g!, 0.587), tf.mul(b!, 0.114)]) as tf.Tensor4D;
}

/** Multiplies by `factor` and clips (torchvision `adjust_brightness`). Factor 1 is the identity on [0, 1]. */
export function adjustBrightness(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  return tf.clipByValue(tf.mul(x, factor), 0, 1) as tf.Tensor4D;
}

/**
 * Blends each image with the mean of its own grayscale version (torchvision
 * `adjust_contrast`: one mean per image, over all pixels and channels).
 */
export function adjustContrast(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  const mean = tf.mean(toGrayscale(x), [1, 2, 3], true);
  return blend(x, mean, factor);
}

/** Blends RGB images with their grayscale version (torchvision `adjust_saturation`); grayscale input is returned as is. */
export function adjustSaturation(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  if (x.shape[3] !== 3) return x;
  return blend(x, toGrayscale(x), factor);
}

/** `x ** gamma` after clamping to [1e-8, 1] (CoTTA's `ColorJitterPro` clamps first to avoid NaN gradients), clipped to [0, 1]. */
export function adjustGamma(x: tf.Tensor4D, gamma: number): tf.Tensor4D {
  return tf.clipByValue(tf.pow(tf.clipByValue(x, 1e-8, 1), gamma), 0, 1) as tf.Tensor4D;
}

/**
 * Shifts the hue of RGB images by `shift` (in turns, [-0.5, 0.5]) through HSV, as
 * torchvision's `_rgb2hsv` / `_hsv2rgb`; grayscale input is returned as is. A pixel with a NaN
 * gives what tfjs's ops give on the backend: NaN on cpu; on wasm, whose maximum and minimum drop a
 * NaN second operand, NaN only for a NaN red.
 */
export function adjustHue(x: tf.Tensor4D, shift: number): tf.Tensor4D {
  // On wasm one pass with the same f32 operations (src/fused); adjustHueOps elsewhere and for 1 channel.
  return adjustHueFused(x, shift) ?? adjustHueOps(x, shift);
}

/** {@link adjustHue} as tfjs ops. */
export function adjustHueOps(x: tf.Tensor4D, shift: number): tf.Tensor4D {
  if (x.shape[3] !== 3) return x;
  const [r, g, b] = tf.split(x, 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  // rgb -> hsv
  const maxc = tf.maximum(tf.maximum(r, g), b);
  const minc = tf.minimum(tf.minimum(r, g), b);
  const eqc = tf.equal(maxc, minc);
  const cr = tf.sub(maxc, minc);
  const ones = tf.onesLike(maxc);
  const s = tf.div(cr, tf.where(eqc, ones, maxc));
  const crDiv = tf.where(eqc, ones, cr);
  const rc = tf.div(tf.sub(maxc, r), crDiv);
  const gc = tf.div(tf.sub(maxc, g), crDiv);
  const bc = tf.div(tf.sub(maxc, b), crDiv);
  const isR = tf.equal(maxc, r);
  const isG = tf.logicalAnd(tf.equal(maxc, g), tf.logicalNot(isR));
  const isB = tf.logicalAnd(tf.logicalNot(tf.equal(maxc, g)), tf.logicalNot(isR));
  const hr = tf.mul(tf.cast(isR, 'float32'), tf.sub(bc, gc));
  const hg = tf.mul(tf.cast(isG, 'float32'), tf.add(tf.sub(rc, bc), 2));
  const hb = tf.mul(tf.cast(isB, 'float32'), tf.add(tf.sub(gc, rc), 4));
  const h0 = tf.addN([hr, hg, hb]);
  const fmod1 = (t: tf.Tensor) => tf.sub(t, tf.floor(t)); // inputs are >= 0 here
  let h = fmod1(tf.add(tf.div(h0, 6), 1));
  // shift hue
  h = fmod1(tf.add(h, shift + 1));
  const v = maxc;
  // hsv -> rgb
  const h6 = tf.mul(h, 6);
  const iFloor = tf.floor(h6);
  const f = tf.sub(h6, iFloor);
  const p = tf.clipByValue(tf.mul(v, tf.sub(1, s)), 0, 1);
  const q = tf.clipByValue(tf.mul(v, tf.sub(1, tf.mul(s, f))), 0, 1);
  const t = tf.clipByValue(tf.mul(v, tf.sub(1, tf.mul(s, tf.sub(1, f)))), 0, 1);
  const i = tf.mod(tf.cast(iFloor, 'int32'), 6);
  const pick = (vals: tf.Tensor[]) =>
    tf.addN(vals.map((val, k) => tf.mul(tf.cast(tf.equal(i, k), 'float32'), val)));
  const rOut = pick([v, q, p, p, t, v]);
  const gOut = pick([t, v, v, q, p, p]);
  const bOut = pick([p, p, t, v, v, q]);
  return tf.concat([rOut, gOut, bOut], 3) as tf.Tensor4D;
}
