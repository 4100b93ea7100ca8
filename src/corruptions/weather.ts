/**
 * Weather corruptions: snow, frost, fog, brightness (CIFAR-10-C constants
 * from `make_cifar_c.py`). Textures are synthesised procedurally (the
 * reference crops photographs of frost; we grow a seeded ice-crystal texture
 * instead), so no image files are needed and everything runs in a browser.
 */
import type { Rng } from '../random.js';
import { type Img, clippedZoom, gaussianBlur, grayAt, hsvToRgb, rgbToHsv, spatialScale } from './image.js';
import { motionBlurLine } from './blur.js';

/** (loc, scale, zoom, threshold, blur radius, blur sigma, blend) per severity. */
export const SNOW = [
  [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
  [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
  [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9],
  [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85],
  [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8],
] as const;
/** (image weight, frost weight) per severity. */
export const FROST = [[1, 0.2], [1, 0.3], [0.9, 0.4], [0.85, 0.4], [0.75, 0.45]] as const;
/** (fog strength, plasma wibble decay) per severity. */
export const FOG = [[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]] as const;
/** Added HSV value per severity. */
export const BRIGHTNESS = [0.05, 0.1, 0.15, 0.2, 0.3] as const;

/**
 * Diamond-square plasma fractal (the reference's `plasma_fractal`), size a
 * power of two >= `minSize`, values in [0, 1].
 */
export function plasmaFractal(minSize: number, wibbleDecay: number, rng: Rng): { d: Float32Array; n: number } {
  let n = 1;
  while (n < minSize) n *= 2;
  const m = new Float64Array(n * n);
  let step = n;
  let wibble = 100;
  const at = (y: number, x: number) => m[(((y % n) + n) % n) * n + (((x % n) + n) % n)];
  const wmean = (v: number) => v / 4 + wibble * rng.uniform(-wibble, wibble);
  while (step >= 2) {
    const half = step >> 1;
    // squares: centre = mean of the 4 corners (np.roll wraps around)
    for (let y = 0; y < n; y += step) {
      for (let x = 0; x < n; x += step) {
        const s = at(y, x) + at(y + step, x) + at(y, x + step) + at(y + step, x + step);
        m[(y + half) * n + (x + half)] = wmean(s);
      }
    }
    // diamonds
    for (let y = 0; y < n; y += step) {
      for (let x = 0; x < n; x += step) {
        // maparray[0::step, half::step] = dr[i,j] + dr[i-1,j] + ul[i,j] + ul[i,j+1]
        const lt = at(y + half, x + half) + at(y - half, x + half) + at(y, x) + at(y, x + step);
        m[y * n + (x + half)] = wmean(lt);
      }
    }
    for (let y = 0; y < n; y += step) {
      for (let x = 0; x < n; x += step) {
        // maparray[half::step, 0::step] = dr[i,j] + dr[i,j-1] + ul[i,j] + ul[i+1,j]
        const tt = at(y + half, x + half) + at(y + half, x - half) + at(y, x) + at(y + step, x);
        m[(y + half) * n + x] = wmean(tt);
      }
    }
    step = half;
    wibble /= wibbleDecay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const d = new Float32Array(n * n);
  const span = hi - lo || 1;
  for (let i = 0; i < d.length; i++) d[i] = (m[i] - lo) / span;
  return { d, n };
}

/**
 * A procedural frost texture (h x w, intensity in [0, 1]): a milky plasma
 * haze plus branching ice needles, lightly blurred. Mean intensity is about
 * 0.25 at 28 x 28 (bright needles on a dim haze).
 */
export function frostTexture(h: number, w: number, rng: Rng): Float32Array {
  const haze = plasmaFractal(Math.max(h, w), 1.6, rng);
  const t = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) t[y * w + x] = 0.3 * haze.d[y * haze.n + x];
  const needles = Math.max(6, Math.round((h * w) / 45));
  const draw = (x0: number, y0: number, ang: number, len: number, inten: number, depth: number) => {
    const dx = Math.cos(ang);
    const dy = Math.sin(ang);
    for (let s = 0; s <= len; s += 0.5) {
      const fx = x0 + dx * s;
      const fy = y0 + dy * s;
      const ix = Math.floor(fx);
      const iy = Math.floor(fy);
      const ax = fx - ix;
      const ay = fy - iy;
      const v = inten * (1 - 0.5 * (s / (len + 1e-6)));
      // bilinear splat, max-composited so crossings stay bright
      const splat = (yy: number, xx: number, wgt: number) => {
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) return;
        const p = yy * w + xx;
        t[p] = Math.max(t[p], t[p] * 0.5 + v * wgt + 0.15 * wgt);
      };
      splat(iy, ix, (1 - ax) * (1 - ay));
      splat(iy, ix + 1, ax * (1 - ay));
      splat(iy + 1, ix, (1 - ax) * ay);
      splat(iy + 1, ix + 1, ax * ay);
    }
    if (depth > 0) {
      const bl = len * 0.45;
      const at = rng.uniform(0.3, 0.8) * len;
      draw(x0 + dx * at, y0 + dy * at, ang + Math.PI / 3, bl, inten * 0.8, depth - 1);
      draw(x0 + dx * at, y0 + dy * at, ang - Math.PI / 3, bl, inten * 0.8, depth - 1);
    }
  };
  const scale = Math.min(h, w) / 28;
  for (let i = 0; i < needles; i++) {
    draw(rng.uniform(-2, w + 2), rng.uniform(-2, h + 2), rng.uniform(0, 2 * Math.PI), rng.uniform(4, 11) * scale, rng.uniform(0.5, 0.9), 1);
  }
  const b = gaussianBlur({ d: t, h, w, c: 1 }, 0.5);
  for (let i = 0; i < b.d.length; i++) b.d[i] = Math.min(1, Math.max(0, b.d[i]));
  return b.d;
}

/** Pale blue tint of the frost photographs (RGB multipliers). */
const FROST_TINT = [0.86, 0.94, 1.0] as const;

export function frostImpl(img: Img, severity: number, rng: Rng): Img {
  const [a, b] = FROST[severity - 1];
  const { h, w, c } = img;
  const tex = frostTexture(h, w, rng);
  const lumaTint = 0.299 * FROST_TINT[0] + 0.587 * FROST_TINT[1] + 0.114 * FROST_TINT[2];
  const d = new Float32Array(img.d.length);
  for (let p = 0; p < h * w; p++) {
    for (let ch = 0; ch < c; ch++) {
      const tint = c === 3 ? FROST_TINT[ch] : lumaTint;
      d[p * c + ch] = a * img.d[p * c + ch] + b * tex[p] * tint;
    }
  }
  return { ...img, d };
}

export function fogImpl(img: Img, severity: number, rng: Rng): Img {
  const [strength, decay] = FOG[severity - 1];
  const { h, w, c } = img;
  const pl = plasmaFractal(Math.max(h, w), decay, rng);
  let maxVal = 0;
  for (const v of img.d) maxVal = Math.max(maxVal, v);
  const d = new Float32Array(img.d.length);
  const k = maxVal / (maxVal + strength);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const f = strength * pl.d[y * pl.n + x];
      for (let ch = 0; ch < c; ch++) d[(y * w + x) * c + ch] = (img.d[(y * w + x) * c + ch] + f) * k;
    }
  }
  return { ...img, d };
}

export function snowImpl(img: Img, severity: number, rng: Rng): Img {
  const [loc, scale, zoom, thr, radius, sigma, blend] = SNOW[severity - 1];
  const { h, w, c } = img;
  let layer: Img = { d: new Float32Array(h * w), h, w, c: 1 };
  for (let i = 0; i < layer.d.length; i++) layer.d[i] = rng.gaussian(loc, scale);
  layer = clippedZoom(layer, zoom);
  for (let i = 0; i < layer.d.length; i++) {
    let v = layer.d[i] < thr ? 0 : layer.d[i];
    v = Math.min(1, Math.max(0, v));
    layer.d[i] = Math.floor(v * 255) / 255; // .astype(np.uint8) before the PNG round-trip
  }
  const s = spatialScale(img);
  const flakes = motionBlurLine(layer, radius * s, sigma * s, rng.uniform(-135, -45));
  const d = new Float32Array(img.d.length);
  const n = h * w;
  for (let p = 0; p < n; p++) {
    const g = grayAt(img, p) * 1.5 + 0.5;
    const sn = Math.round(flakes.d[p] * 255) / 255 + Math.round(flakes.d[n - 1 - p] * 255) / 255; // + rot90(k=2)
    for (let ch = 0; ch < c; ch++) {
      const x = img.d[p * c + ch];
      d[p * c + ch] = blend * x + (1 - blend) * Math.max(x, g) + sn;
    }
  }
  return { ...img, d };
}

export function brightnessImpl(img: Img, severity: number): Img {
  const add = BRIGHTNESS[severity - 1];
  const d = new Float32Array(img.d.length);
  if (img.c === 1) {
    // HSV of a gray pixel: V = value, S = 0, so only V moves.
    for (let i = 0; i < d.length; i++) d[i] = Math.min(1, img.d[i] + add);
    return { ...img, d };
  }
  for (let p = 0; p < img.h * img.w; p++) {
    const [hh, s, v] = rgbToHsv(img.d[p * 3], img.d[p * 3 + 1], img.d[p * 3 + 2]);
    const [r, g, b] = hsvToRgb(hh, s, Math.min(1, v + add));
    d[p * 3] = r;
    d[p * 3 + 1] = g;
    d[p * 3 + 2] = b;
  }
  return { ...img, d };
}
