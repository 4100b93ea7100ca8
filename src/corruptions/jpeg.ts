/**
 * A small baseline-JPEG round trip (no entropy coding, which is lossless):
 * RGB -> YCbCr (JFIF), 4:2:0 chroma subsampling for colour images (Pillow's
 * default), edge-replicated padding to whole MCUs, level shift, 8x8 DCT-II,
 * quantisation with the IJG tables scaled for `quality` (libjpeg's
 * `jpeg_quality_scaling`), dequantisation, IDCT, chroma upsampling
 * ("fancy", triangular, as libjpeg does by default), YCbCr -> RGB, uint8.
 * Grayscale images are coded as one luminance plane (Pillow's mode 'L').
 */
import type { Img } from './image.js';

/** JPEG quality per severity (CIFAR-10-C). */
export const JPEG_QUALITY = [80, 65, 58, 50, 40] as const;

// ITU T.81 Annex K tables, natural (row-major) order.
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** libjpeg's quality scaling of a base table (baseline: entries clamped to 1..255). */
export function quantTable(base: readonly number[], quality: number): Int32Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return Int32Array.from(base, (b) => Math.min(255, Math.max(1, Math.floor((b * scale + 50) / 100))));
}

const COS = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++) for (let u = 0; u < 8; u++) t[x * 8 + u] = Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return t;
})();
const CU = (u: number) => (u === 0 ? Math.SQRT1_2 : 1);

/** In-place quantise round trip of one 8x8 block (values already level-shifted). */
function codeBlock(b: Float64Array, q: Int32Array): void {
  const tmp = new Float64Array(64);
  const coef = new Float64Array(64);
  // forward DCT, rows then columns
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += b[y * 8 + x] * COS[x * 8 + u];
      tmp[y * 8 + u] = 0.5 * CU(u) * s;
    }
  }
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += tmp[y * 8 + u] * COS[y * 8 + v];
      const c = 0.5 * CU(v) * s;
      const qq = q[v * 8 + u];
      coef[v * 8 + u] = Math.round(c / qq) * qq;
    }
  }
  // inverse DCT
  for (let v = 0; v < 8; v++) {
    for (let x = 0; x < 8; x++) {
      let s = 0;
      for (let u = 0; u < 8; u++) s += CU(u) * coef[v * 8 + u] * COS[x * 8 + u];
      tmp[v * 8 + x] = 0.5 * s;
    }
  }
  for (let x = 0; x < 8; x++) {
    for (let y = 0; y < 8; y++) {
      let s = 0;
      for (let v = 0; v < 8; v++) s += CU(v) * tmp[v * 8 + x] * COS[y * 8 + v];
      b[y * 8 + x] = 0.5 * s;
    }
  }
}

/** Codes one plane (values 0-255, size ph x pw, multiples of 8); returns the decoded plane (unclamped). */
function codePlane(plane: Float64Array, ph: number, pw: number, q: Int32Array): Float64Array {
  const out = new Float64Array(plane.length);
  const blk = new Float64Array(64);
  for (let by = 0; by < ph; by += 8) {
    for (let bx = 0; bx < pw; bx += 8) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) blk[y * 8 + x] = plane[(by + y) * pw + bx + x] - 128;
      codeBlock(blk, q);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) out[(by + y) * pw + bx + x] = blk[y * 8 + x] + 128;
    }
  }
  return out;
}

/** Edge-replicated copy of an h x w plane into ph x pw. */
function padPlane(src: Float64Array, h: number, w: number, ph: number, pw: number): Float64Array {
  const out = new Float64Array(ph * pw);
  for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) out[y * pw + x] = src[Math.min(y, h - 1) * w + Math.min(x, w - 1)];
  return out;
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** JPEG round trip of a float [0, 1] image at `quality` (1-100). */
export function jpegRoundTrip(img: Img, quality: number): Img {
  const { h, w, c } = img;
  const lq = quantTable(LUMA_Q, quality);
  const d = new Float32Array(img.d.length);
  if (c === 1) {
    const ph = Math.ceil(h / 8) * 8;
    const pw = Math.ceil(w / 8) * 8;
    const y0 = new Float64Array(h * w);
    for (let i = 0; i < h * w; i++) y0[i] = Math.round(img.d[i] * 255);
    const dec = codePlane(padPlane(y0, h, w, ph, pw), ph, pw, lq);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = clamp255(dec[y * pw + x]) / 255;
    return { ...img, d };
  }
  const cq = quantTable(CHROMA_Q, quality);
  // MCU 16x16 for 4:2:0
  const ph = Math.ceil(h / 16) * 16;
  const pw = Math.ceil(w / 16) * 16;
  const Y = new Float64Array(h * w);
  const Cb = new Float64Array(h * w);
  const Cr = new Float64Array(h * w);
  for (let p = 0; p < h * w; p++) {
    const r = Math.round(img.d[p * 3] * 255);
    const g = Math.round(img.d[p * 3 + 1] * 255);
    const b = Math.round(img.d[p * 3 + 2] * 255);
    Y[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    Cb[p] = -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
    Cr[p] = 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
  }
  const Yp = padPlane(Y, h, w, ph, pw);
  const Cbp = padPlane(Cb, h, w, ph, pw);
  const Crp = padPlane(Cr, h, w, ph, pw);
  const ch = ph / 2;
  const cw = pw / 2;
  const sub = (pl: Float64Array) => {
    const o = new Float64Array(ch * cw);
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        o[y * cw + x] = (pl[2 * y * pw + 2 * x] + pl[2 * y * pw + 2 * x + 1] + pl[(2 * y + 1) * pw + 2 * x] + pl[(2 * y + 1) * pw + 2 * x + 1]) / 4;
      }
    }
    return o;
  };
  const Yd = codePlane(Yp.map(Math.round), ph, pw, lq);
  const Cbd = codePlane(sub(Cbp).map(Math.round), ch, cw, cq);
  const Crd = codePlane(sub(Crp).map(Math.round), ch, cw, cq);
  // libjpeg "fancy" h2v2 upsampling: each output sample = (9 nearest + 3 + 3 + 1 diagonal) / 16.
  const up = (pl: Float64Array, y: number, x: number) => {
    const cy = (y - 0.5) / 2;
    const cx = (x - 0.5) / 2;
    const y0 = Math.floor(cy);
    const x0 = Math.floor(cx);
    const fy = cy - y0;
    const fx = cx - x0;
    const at = (yy: number, xx: number) => pl[Math.min(ch - 1, Math.max(0, yy)) * cw + Math.min(cw - 1, Math.max(0, xx))];
    return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const yy = Yd[y * pw + x];
      const cb = up(Cbd, y, x) - 128;
      const cr = up(Crd, y, x) - 128;
      const p = (y * w + x) * 3;
      d[p] = clamp255(yy + 1.402 * cr) / 255;
      d[p + 1] = clamp255(yy - 0.344136 * cb - 0.714136 * cr) / 255;
      d[p + 2] = clamp255(yy + 1.772 * cb) / 255;
    }
  }
  return { ...img, d };
}

export function jpegCompressionImpl(img: Img, severity: number): Img {
  return jpegRoundTrip(img, JPEG_QUALITY[severity - 1]);
}
