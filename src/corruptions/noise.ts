/**
 * Noise corruptions (Hendrycks & Dietterich 2019, CIFAR-10-C constants from
 * `make_cifar_c.py`; per-pixel, so no rescaling for 28 x 28 is needed).
 */
import type { Rng } from '../random.js';
import type { Img } from './image.js';

/** Std of the additive Gaussian noise per severity (CIFAR-10-C). */
export const GAUSSIAN_NOISE_STD = [0.04, 0.06, 0.08, 0.09, 0.1] as const;
/** Photon count scale per severity: poisson(x * c) / c (CIFAR-10-C). */
export const SHOT_NOISE_SCALE = [500, 250, 100, 75, 50] as const;
/** Salt-and-pepper fraction per severity (CIFAR-10-C; skimage `s&p`, salt:pepper 1:1). */
export const IMPULSE_NOISE_AMOUNT = [0.01, 0.02, 0.03, 0.05, 0.07] as const;

export function gaussianNoiseImpl(img: Img, severity: number, rng: Rng): Img {
  const s = GAUSSIAN_NOISE_STD[severity - 1];
  const d = new Float32Array(img.d.length);
  for (let i = 0; i < d.length; i++) d[i] = img.d[i] + s * rng.gaussian();
  return { ...img, d };
}

export function shotNoiseImpl(img: Img, severity: number, rng: Rng): Img {
  const c = SHOT_NOISE_SCALE[severity - 1];
  const d = new Float32Array(img.d.length);
  for (let i = 0; i < d.length; i++) d[i] = rng.poisson(img.d[i] * c) / c;
  return { ...img, d };
}

export function impulseNoiseImpl(img: Img, severity: number, rng: Rng): Img {
  const amount = IMPULSE_NOISE_AMOUNT[severity - 1];
  const d = Float32Array.from(img.d);
  for (let i = 0; i < d.length; i++) {
    if (rng.next() <= amount) d[i] = rng.next() <= 0.5 ? 1 : 0;
  }
  return { ...img, d };
}
