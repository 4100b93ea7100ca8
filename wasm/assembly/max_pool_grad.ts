// MaxPoolGrad, NHWC (replaces tfjs-backend-wasm 4.22's kernel, which loses
// the gradient when a window's maximum is tiny, <= ~1e-38).
//
// Same semantics as the tfjs CPU backend: for each output pixel and channel
// the gradient goes to the first (row-major) strictly greatest input in the
// window that lies inside the image; padding never wins; a window whose values
// are all -Infinity or NaN passes no gradient. Four channels are searched at
// once with f32x4 compares, then the four winners are scattered.

import { zeroF32 } from './common';

export function maxPoolGrad(
  x: usize, dy: usize, dx: usize,
  N: i32, H: i32, W: i32, C: i32, Ho: i32, Wo: i32,
  FH: i32, FW: i32, sh: i32, sw: i32, dh: i32, dwl: i32, pt: i32, pl: i32,
): void {
  zeroF32(dx, N * H * W * C);
  const negInf = f32x4.splat(-Infinity);
  const none = i32x4.splat(-1);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < Ho; oh++) {
      const ihC = oh * sh - pt;
      for (let ow = 0; ow < Wo; ow++) {
        const iwC = ow * sw - pl;
        const dp = dy + ((<usize>(((n * Ho + oh) * Wo + ow) * C)) << 2);
        let c = 0;
        for (; c + 4 <= C; c += 4) {
          let best = negInf;
          let pos = none; // flat element index into x (per lane)
          for (let r = 0; r < FH; r++) {
            const ih = ihC + r * dh;
            if (ih < 0 || ih >= H) continue;
            for (let s = 0; s < FW; s++) {
              const iw = iwC + s * dwl;
              if (iw < 0 || iw >= W) continue;
              const idx = ((n * H + ih) * W + iw) * C + c;
              const v = v128.load(x + ((<usize>idx) << 2));
              const gt = f32x4.gt(v, best);
              best = v128.bitselect(v, best, gt);
              const lanes = i32x4.add(i32x4.splat(idx), i32x4(0, 1, 2, 3));
              pos = v128.bitselect(lanes, pos, gt);
            }
          }
          const g = v128.load(dp + ((<usize>c) << 2));
          let p = i32x4.extract_lane(pos, 0);
          if (p >= 0) { const a = dx + ((<usize>p) << 2); store<f32>(a, load<f32>(a) + f32x4.extract_lane(g, 0)); }
          p = i32x4.extract_lane(pos, 1);
          if (p >= 0) { const a = dx + ((<usize>p) << 2); store<f32>(a, load<f32>(a) + f32x4.extract_lane(g, 1)); }
          p = i32x4.extract_lane(pos, 2);
          if (p >= 0) { const a = dx + ((<usize>p) << 2); store<f32>(a, load<f32>(a) + f32x4.extract_lane(g, 2)); }
          p = i32x4.extract_lane(pos, 3);
          if (p >= 0) { const a = dx + ((<usize>p) << 2); store<f32>(a, load<f32>(a) + f32x4.extract_lane(g, 3)); }
        }
        for (; c < C; c++) {
          let best: f32 = -Infinity;
          let p: i32 = -1;
          for (let r = 0; r < FH; r++) {
            const ih = ihC + r * dh;
            if (ih < 0 || ih >= H) continue;
            for (let s = 0; s < FW; s++) {
              const iw = iwC + s * dwl;
              if (iw < 0 || iw >= W) continue;
              const idx = ((n * H + ih) * W + iw) * C + c;
              const v = load<f32>(x + ((<usize>idx) << 2));
              if (v > best) { best = v; p = idx; }
            }
          }
          if (p >= 0) {
            const a = dx + ((<usize>p) << 2);
            store<f32>(a, load<f32>(a) + load<f32>(dp + ((<usize>c) << 2)));
          }
        }
      }
    }
  }
}
