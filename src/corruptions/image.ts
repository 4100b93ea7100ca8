/**
 * Image container and low-level image helpers of the corruption suite.
 * Browser-safe (no Node imports). Images are HWC, row-major, 1 or 3 channels.
 */

/** An HWC image: float values in [0, 1] (Float32Array) or bytes 0-255 (Uint8Array). */
export interface ImageHWC<T extends Float32Array | Uint8Array = Float32Array | Uint8Array> {
  data: T;
  height: number;
  width: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
}

/** Working form: float HWC in [0, 1]. */
export interface Img {
  d: Float32Array;
  h: number;
  w: number;
  c: number;
}

export function toImg(image: ImageHWC): Img {
  const { data, height: h, width: w, channels: c } = image;
  if (!(data instanceof Float32Array) && !(data instanceof Uint8Array)) {
    throw new TypeError('corrupt: image.data must be a Float32Array (values in [0, 1]) or a Uint8Array (0-255).');
  }
  if (c !== 1 && c !== 3) throw new RangeError(`corrupt: image.channels is ${c}; use 1 (grayscale) or 3 (RGB).`);
  if (!(h > 0 && w > 0) || data.length !== h * w * c) {
    throw new RangeError(`corrupt: image.data has ${data.length} values but height*width*channels = ${h}*${w}*${c} = ${h * w * c}.`);
  }
  const d = new Float32Array(data.length);
  if (data instanceof Uint8Array) for (let i = 0; i < d.length; i++) d[i] = data[i] / 255;
  else for (let i = 0; i < d.length; i++) d[i] = data[i] < 0 ? 0 : data[i] > 1 ? 1 : data[i];
  return { d, h, w, c };
}

/** Back to the caller's type: floats clipped to [0, 1], or rounded bytes. */
export function fromImg<T extends Float32Array | Uint8Array>(img: Img, like: T): ImageHWC<T> {
  const n = img.d.length;
  let out: Float32Array | Uint8Array;
  if (like instanceof Uint8Array) {
    out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.round(clip01(img.d[i]) * 255);
  } else {
    out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = clip01(img.d[i]);
  }
  return { data: out as T, height: img.h, width: img.w, channels: img.c };
}

export function clip01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v === v ? v : 0;
}

export function clipInPlace(d: Float32Array): Float32Array {
  for (let i = 0; i < d.length; i++) d[i] = clip01(d[i]);
  return d;
}

/** Rounds like a uint8 image round-trip (the reference works on uint8 PIL images between steps). */
export function quantizeInPlace(d: Float32Array): Float32Array {
  for (let i = 0; i < d.length; i++) d[i] = Math.round(clip01(d[i]) * 255) / 255;
  return d;
}

/** Border modes. reflect101: d c b | a b c d | c b a (OpenCV default); symmetric: c b a | a b c (scipy 'reflect'); nearest: a a a | a b c. */
export type Border = 'reflect101' | 'symmetric' | 'nearest';

export function borderIndex(i: number, n: number, mode: Border): number {
  if (n === 1) return 0;
  if (mode === 'nearest') return i < 0 ? 0 : i >= n ? n - 1 : i;
  if (mode === 'reflect101') {
    const period = 2 * n - 2;
    i = ((i % period) + period) % period;
    return i < n ? i : period - i;
  }
  const period = 2 * n;
  i = ((i % period) + period) % period;
  return i < n ? i : period - 1 - i;
}

/** 1-D Gaussian kernel with radius round(truncate * sigma) (scipy/skimage convention), normalised. */
export function gaussianKernel1d(sigma: number, truncate = 4): Float32Array {
  const r = Math.max(0, Math.round(truncate * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) {
    const v = sigma > 0 ? Math.exp((-0.5 * i * i) / (sigma * sigma)) : i === 0 ? 1 : 0;
    k[i + r] = v;
    s += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Separable filter of every channel of an HWC float image. */
export function separableFilter(img: Img, kx: Float32Array, ky: Float32Array, mode: Border): Img {
  const { h, w, c } = img;
  const tmp = new Float32Array(img.d.length);
  const out = new Float32Array(img.d.length);
  const rx = (kx.length - 1) >> 1;
  const ry = (ky.length - 1) >> 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -rx; k <= rx; k++) s += kx[k + rx] * img.d[(y * w + borderIndex(x + k, w, mode)) * c + ch];
        tmp[(y * w + x) * c + ch] = s;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -ry; k <= ry; k++) s += ky[k + ry] * tmp[(borderIndex(y + k, h, mode) * w + x) * c + ch];
        out[(y * w + x) * c + ch] = s;
      }
    }
  }
  return { d: out, h, w, c };
}

/** skimage.filters.gaussian (truncate 4, mode 'nearest' by default). */
export function gaussianBlur(img: Img, sigma: number, mode: Border = 'nearest', truncate = 4): Img {
  const k = gaussianKernel1d(sigma, truncate);
  return separableFilter(img, k, k, mode);
}

/** 2-D correlation (cv2.filter2D semantics: kernel centred, BORDER_REFLECT_101). */
export function filter2d(img: Img, kernel: Float32Array, kh: number, kw: number, mode: Border = 'reflect101'): Img {
  const { h, w, c } = img;
  const out = new Float32Array(img.d.length);
  const ay = kh >> 1;
  const ax = kw >> 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let i = 0; i < kh; i++) {
          const yy = borderIndex(y + i - ay, h, mode);
          for (let j = 0; j < kw; j++) {
            const kv = kernel[i * kw + j];
            if (kv !== 0) s += kv * img.d[(yy * w + borderIndex(x + j - ax, w, mode)) * c + ch];
          }
        }
        out[(y * w + x) * c + ch] = s;
      }
    }
  }
  return { d: out, h, w, c };
}

/** Bilinear sample of channel `ch` at (y, x) with the given border mode. */
export function bilinear(img: Img, y: number, x: number, ch: number, mode: Border): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const { h, w, c, d } = img;
  const ya = borderIndex(y0, h, mode);
  const yb = borderIndex(y0 + 1, h, mode);
  const xa = borderIndex(x0, w, mode);
  const xb = borderIndex(x0 + 1, w, mode);
  const v00 = d[(ya * w + xa) * c + ch];
  const v01 = d[(ya * w + xb) * c + ch];
  const v10 = d[(yb * w + xa) * c + ch];
  const v11 = d[(yb * w + xb) * c + ch];
  return (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11);
}

/**
 * The reference's `clipped_zoom`: crop the centre ceil(h / z) square, zoom it
 * by z with linear interpolation (scipy.ndimage.zoom, order 1, corner-aligned
 * grid), trim the centre h x w. Works on square and non-square images.
 */
export function clippedZoom(img: Img, z: number): Img {
  const { h, w, c } = img;
  const chh = Math.ceil(h / z);
  const cww = Math.ceil(w / z);
  const top = (h - chh) >> 1;
  const left = (w - cww) >> 1;
  const oh = Math.round(chh * z);
  const ow = Math.round(cww * z);
  const tt = (oh - h) >> 1;
  const tl = (ow - w) >> 1;
  const sy = oh > 1 ? (chh - 1) / (oh - 1) : 0;
  const sx = ow > 1 ? (cww - 1) / (ow - 1) : 0;
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) {
    const srcY = top + (y + tt) * sy;
    for (let x = 0; x < w; x++) {
      const srcX = left + (x + tl) * sx;
      for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = bilinear(img, srcY, srcX, ch, 'nearest');
    }
  }
  return { d: out, h, w, c };
}

/** RGB (0-1) to HSV (0-1 each), as skimage.color.rgb2hsv. */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b);
  const m = Math.min(r, g, b);
  const delta = v - m;
  const s = v === 0 ? 0 : delta / v;
  let hh = 0;
  if (delta > 0) {
    if (r === v) hh = (g - b) / delta;
    else if (g === v) hh = 2 + (b - r) / delta;
    else hh = 4 + (r - g) / delta;
    hh = (hh / 6) % 1;
    if (hh < 0) hh += 1;
  }
  return [hh, s, v];
}

/** HSV (0-1 each) to RGB (0-1), as skimage.color.hsv2rgb. */
export function hsvToRgb(hh: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(hh * 6);
  const f = hh * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (((i % 6) + 6) % 6) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

/** Luma as OpenCV's RGB2GRAY: 0.299 R + 0.587 G + 0.114 B (identity for grayscale). */
export function grayAt(img: Img, p: number): number {
  if (img.c === 1) return img.d[p];
  return 0.299 * img.d[p * 3] + 0.587 * img.d[p * 3 + 1] + 0.114 * img.d[p * 3 + 2];
}

/** Spatial scale of the reference's pixel-unit parameters (CIFAR images are 32 x 32). */
export function spatialScale(img: { h: number; w: number }): number {
  return Math.min(img.h, img.w) / 32;
}
