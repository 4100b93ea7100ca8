/**
 * CoTTA's geometric augmentation as one linear resampling: edge (or reflect) padding, a random
 * affine (rotation, translation, scale; bilinear) about the padded image's centre, then a
 * centre crop, for one parameter draw shared by the whole batch.
 *
 * Follows torchvision's tensor path (`Pad(padding_mode='edge' | 'reflect')`, `RandomAffine`,
 * `CenterCrop`): output pixel centres are mapped through the inverse affine matrix of
 * `_get_inverse_affine_matrix` and sampled like `grid_sample(align_corners=False,
 * padding_mode='zeros')`. Because the padding only copies pixels of the image (replicated edges,
 * or the mirror image without repeating the edge), a sample inside the padded image reads the
 * original image at a clamped or reflected index, so the padded image is never built: the warp
 * is four gathers with precomputed indices and weights.
 */
import * as tf from '../tf.js';
import { warpGatherFused } from '../fused/index.js';


/** One draw of the affine parameters (torchvision `RandomAffine.get_params`). */
export interface AffineParams {
  /** Rotation in degrees (counter-clockwise in torchvision's convention). */
  angle: number;
  /** Integer translation in pixels of the padded image, x (columns) and y (rows). */
  tx: number;
  ty: number;
  /** Isotropic scale factor. */
  scale: number;
}

/** torchvision's `Pad` modes the warp supports: replicate the edge pixel, or mirror without repeating it. */
export type PaddingMode = 'edge' | 'reflect';

/** The original-image index that padded index `t` (in [-pad, n + pad)) copies: `t - pad` clamped or reflected into [0, n). */
function sourceIndex(s: number, n: number, mode: PaddingMode): number {
  let r = s;
  if (mode === 'reflect' && n > 1) {
    // torch 'reflect' (pad < n): -1 -> 1, n -> n - 2.
    if (r < 0) r = -r;
    else if (r > n - 1) r = 2 * (n - 1) - r;
  }
  // Clamping is the edge mode, and keeps the (zero-weight) taps outside the padded image valid indices.
  return Math.min(n - 1, Math.max(0, r));
}

/** Precomputed bilinear taps: output pixel `o` = sum over k of `weights[k][o] * x[index[k][o]]`. */
export interface WarpPlan {
  /** Output height and width (the crop plus `border` on each side). */
  height: number;
  width: number;
  index: [Int32Array, Int32Array, Int32Array, Int32Array];
  weights: [Float32Array, Float32Array, Float32Array, Float32Array];
}

/**
 * The taps of pad (floor(h/2), floor(w/2), `padding`) -> affine -> centre crop h x w, extended by
 * `border` pixels on each side of the crop (read from the warped padded image, so a
 * following 'valid' blur of radius `border` sees exactly what it would before the crop).
 * `'reflect'` needs h, w >= 2 (torch requires the padding to be smaller than the size).
 */
export function planAffineWarp(h: number, w: number, p: AffineParams, border = 0, padding: PaddingMode = 'edge'): WarpPlan {
  const padY = Math.floor(h / 2);
  const padX = Math.floor(w / 2);
  const hp = h + 2 * padY;
  const wp = w + 2 * padX;
  const cy = (hp - 1) / 2;
  const cx = (wp - 1) / 2;
  const rot = (p.angle * Math.PI) / 180;
  const cos = Math.cos(rot) / p.scale;
  const sin = Math.sin(rot) / p.scale;
  const oh = h + 2 * border;
  const ow = w + 2 * border;
  const n = oh * ow;
  const index = [new Int32Array(n), new Int32Array(n), new Int32Array(n), new Int32Array(n)] as WarpPlan['index'];
  const weights = [new Float32Array(n), new Float32Array(n), new Float32Array(n), new Float32Array(n)] as WarpPlan['weights'];
  // Centre crop of the padded image starts at (padY, padX) (torchvision rounds (hp - h) / 2, an integer here).
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const o = oy * ow + ox;
      const ry = padY - border + oy - cy - p.ty;
      const rx = padX - border + ox - cx - p.tx;
      // Inverse rotation-scale (shear 0): [cos, sin; -sin, cos] / scale.
      const ix = cos * rx + sin * ry + cx;
      const iy = -sin * rx + cos * ry + cy;
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fx = ix - x0;
      const fy = iy - y0;
      const taps: Array<[number, number, number]> = [
        [y0, x0, (1 - fy) * (1 - fx)],
        [y0, x0 + 1, (1 - fy) * fx],
        [y0 + 1, x0, fy * (1 - fx)],
        [y0 + 1, x0 + 1, fy * fx],
      ];
      taps.forEach(([ty, tx, wt], k) => {
        const inside = ty >= 0 && ty < hp && tx >= 0 && tx < wp;
        // Padded (ty, tx) reads the original image at the clamped (edge) or mirrored (reflect) index.
        const sy = sourceIndex(ty - padY, h, padding);
        const sx = sourceIndex(tx - padX, w, padding);
        index[k][o] = sy * w + sx;
        weights[k][o] = inside ? wt : 0; // grid_sample 'zeros' padding outside the padded image
      });
    }
  }
  return { height: oh, width: ow, index, weights };
}

/** Applies a {@link WarpPlan} to a batch [n, h, w, c]; returns [n, plan.height, plan.width, c]. Call inside `tf.tidy`. */
export function applyWarp(x: tf.Tensor4D, plan: WarpPlan): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  // On wasm one pass (the same sums in the same order, src/fused); the gathers of applyWarpOps elsewhere.
  const fused = warpGatherFused(tf.reshape(x, [n, h * w, c]) as tf.Tensor3D, plan.index, plan.weights);
  if (fused !== null) return tf.reshape(fused, [n, plan.height, plan.width, c]) as tf.Tensor4D;
  return applyWarpOps(x, plan);
}

/** {@link applyWarp} as tfjs ops: four gathers, their products with the weights, and their sum. */
export function applyWarpOps(x: tf.Tensor4D, plan: WarpPlan): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const flat = tf.reshape(x, [n, h * w, c]);
  const m = plan.height * plan.width;
  const terms = plan.index.map((idx, k) =>
    tf.mul(tf.gather(flat, tf.tensor1d(idx, 'int32'), 1), tf.tensor3d(plan.weights[k]!, [1, m, 1])),
  );
  return tf.reshape(tf.addN(terms), [n, plan.height, plan.width, c]) as tf.Tensor4D;
}

/** The normalised 1-D Gaussian taps of torchvision's `_get_gaussian_kernel1d(size, sigma)`. */
export function gaussianKernel1d(size: number, sigma: number): Float32Array {
  const half = (size - 1) / 2;
  const k = new Float32Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = -half + i;
    k[i] = Math.exp(-0.5 * (x / sigma) ** 2);
    sum += k[i]!;
  }
  for (let i = 0; i < size; i++) k[i] = k[i]! / sum;
  return k;
}

/**
 * Separable Gaussian blur with 'valid' padding: [n, h, w, c] -> [n, h - size + 1, w - size + 1, c].
 * Call inside `tf.tidy`.
 */
export function gaussianBlurValid(x: tf.Tensor4D, size: number, sigma: number): tf.Tensor4D {
  const c = x.shape[3];
  const k = gaussianKernel1d(size, sigma);
  const taps = new Float32Array(size * c);
  for (let i = 0; i < size; i++) taps.fill(k[i]!, i * c, (i + 1) * c);
  const vertical = tf.tensor4d(taps, [size, 1, c, 1]);
  const horizontal = tf.tensor4d(taps, [1, size, c, 1]);
  return tf.depthwiseConv2d(tf.depthwiseConv2d(x, vertical, 1, 'valid'), horizontal, 1, 'valid');
}
