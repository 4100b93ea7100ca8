/**
 * Digital corruptions: contrast, elastic_transform, pixelate (CIFAR-10-C
 * constants from `make_cifar_c.py`). jpeg_compression lives in jpeg.ts.
 */
import type { Rng } from '../random.js';
import { type Img, bilinear, gaussianKernel1d, quantizeInPlace, separableFilter } from './image.js';

/** Contrast factor per severity. */
export const CONTRAST = [0.75, 0.5, 0.4, 0.3, 0.15] as const;
/**
 * (alpha, sigma, affine jitter) as fractions of the image size, per severity
 * (the reference's IMSIZE * c). Alpha and sigma are the reference's; severity
 * 5 is the reference's. The reference's affine jitter (0.08, 0.07, 0.06,
 * 0.05, 0.03) *falls* with severity and dominates the pixel change at 28 x 28
 * (severity 1 moved images more than severity 5), so severities 1-4 use
 * 0.01, 0.015, 0.02, 0.025 instead.
 */
export const ELASTIC = [[0, 0, 0.01], [0.05, 0.2, 0.015], [0.08, 0.06, 0.02], [0.1, 0.04, 0.025], [0.1, 0.03, 0.03]] as const;
/** Downscale factor per severity. */
export const PIXELATE = [0.95, 0.9, 0.85, 0.75, 0.65] as const;

export function contrastImpl(img: Img, severity: number): Img {
  const f = CONTRAST[severity - 1];
  const { h, w, c } = img;
  const d = new Float32Array(img.d.length);
  for (let ch = 0; ch < c; ch++) {
    let mean = 0;
    for (let p = 0; p < h * w; p++) mean += img.d[p * c + ch];
    mean /= h * w;
    for (let p = 0; p < h * w; p++) d[p * c + ch] = (img.d[p * c + ch] - mean) * f + mean;
  }
  return { ...img, d };
}

/** Solves the affine map taking 3 source points to 3 destination points (cv2.getAffineTransform). */
function affineFrom3(src: number[][], dst: number[][]): number[] {
  // [x y 1] * [a b c; d e f]^T = [x' y']
  const [[x1, y1], [x2, y2], [x3, y3]] = src;
  const det = x1 * (y2 - y3) - y1 * (x2 - x3) + (x2 * y3 - x3 * y2);
  const inv = [
    [(y2 - y3) / det, (y3 - y1) / det, (y1 - y2) / det],
    [(x3 - x2) / det, (x1 - x3) / det, (x2 - x1) / det],
    [(x2 * y3 - x3 * y2) / det, (x3 * y1 - x1 * y3) / det, (x1 * y2 - x2 * y1) / det],
  ];
  const solve = (v: number[]) => [0, 1, 2].map((r) => inv[r][0] * v[0] + inv[r][1] * v[1] + inv[r][2] * v[2]);
  const [a, b, cc] = solve(dst.map((p) => p[0]));
  const [d, e, f] = solve(dst.map((p) => p[1]));
  return [a, b, cc, d, e, f];
}

export function elasticTransformImpl(img: Img, severity: number, rng: Rng): Img {
  const { h, w, c } = img;
  const size = Math.min(h, w);
  const [fa, fs, fj] = ELASTIC[severity - 1];
  const alpha = size * fa;
  const sigma = size * fs;
  const jitter = size * fj;
  // random affine around the centre square (points as (x, y))
  const cx = Math.floor(w / 2);
  const cy = Math.floor(h / 2);
  const sq = Math.floor(size / 3);
  const pts1 = [[cx + sq, cy + sq], [cx + sq, cy - sq], [cx - sq, cy - sq]];
  const pts2 = pts1.map(([x, y]) => [x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)]);
  // cv2.warpAffine: dst(p) = src(M^-1 p), so map destination points back with the inverse (pts2 -> pts1).
  const [a, b, c0, d, e, f] = affineFrom3(pts2, pts1);
  const warped = new Float32Array(img.d.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = a * x + b * y + c0;
      const sy = d * x + e * y + f;
      for (let ch = 0; ch < c; ch++) warped[(y * w + x) * c + ch] = bilinear(img, sy, sx, ch, 'reflect101');
    }
  }
  const wImg: Img = { d: warped, h, w, c };
  if (alpha === 0) return wImg;
  // displacement fields: gaussian(U(-1, 1), sigma, mode='reflect', truncate=3) * alpha
  const field = () => {
    const u: Img = { d: new Float32Array(h * w), h, w, c: 1 };
    for (let i = 0; i < u.d.length; i++) u.d[i] = rng.uniform(-1, 1);
    const k = gaussianKernel1d(sigma, 3);
    const g = separableFilter(u, k, k, 'symmetric');
    for (let i = 0; i < g.d.length; i++) g.d[i] *= alpha;
    return g.d;
  };
  const dx = field();
  const dy = field();
  const out = new Float32Array(img.d.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      for (let ch = 0; ch < c; ch++) out[p * c + ch] = bilinear(wImg, y + dy[p], x + dx[p], ch, 'symmetric');
    }
  }
  return { d: out, h, w, c };
}

/** Pillow's resampling coefficients for the BOX filter (precompute_coeffs in Resample.c). */
function boxCoeffs(inSize: number, outSize: number): { start: Int32Array; weights: Float64Array[] } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  const start = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const ws = new Float64Array(xmax - xmin);
    let total = 0;
    for (let x = 0; x < ws.length; x++) {
      const t = (x + xmin - center + 0.5) / filterScale;
      ws[x] = t > -0.5 && t <= 0.5 ? 1 : 0;
      total += ws[x];
    }
    if (total > 0) for (let x = 0; x < ws.length; x++) ws[x] /= total;
    start[i] = xmin;
    weights.push(ws);
  }
  return { start, weights };
}

/** Pillow-style BOX resize (separable, horizontal pass first, uint8 rounding after each pass). */
export function boxResize(img: Img, oh: number, ow: number): Img {
  const { h, w, c } = img;
  const cx = boxCoeffs(w, ow);
  const cy = boxCoeffs(h, oh);
  const tmp = new Float32Array(h * ow * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      const ws = cx.weights[x];
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = 0; k < ws.length; k++) s += ws[k] * img.d[(y * w + cx.start[x] + k) * c + ch];
        tmp[(y * ow + x) * c + ch] = s;
      }
    }
  }
  quantizeInPlace(tmp);
  const out = new Float32Array(oh * ow * c);
  for (let y = 0; y < oh; y++) {
    const ws = cy.weights[y];
    for (let x = 0; x < ow; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = 0; k < ws.length; k++) s += ws[k] * tmp[((cy.start[y] + k) * ow + x) * c + ch];
        out[(y * ow + x) * c + ch] = s;
      }
    }
  }
  quantizeInPlace(out);
  return { d: out, h: oh, w: ow, c };
}

export function pixelateImpl(img: Img, severity: number): Img {
  const f = PIXELATE[severity - 1];
  const small = boxResize(img, Math.trunc(img.h * f), Math.trunc(img.w * f));
  return boxResize(small, img.h, img.w);
}
