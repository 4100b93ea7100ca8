// DepthwiseConv2dNativeBackpropInput, NHWC, channel multiplier M >= 1.
//
//   dx[n, ih, iw, c] = sum over taps (r, s) and m of dy[n, oh, ow, c*M + m] * f[r, s, c, m]
//   where oh*sh - pt + r*dh = ih and ow*sw - pl + s*dw = iw
//
// Computed as a scatter from each output pixel: dx starts at zero and every
// (dy pixel, tap) adds its contribution to one dx pixel row of C floats. This
// avoids integer division by the stride; the dx rows being updated stay in
// L1/L2 cache.

import { firstValidOut, endValidOut, zeroF32 } from './common';

export function depthwiseBackpropInput(
  dy: usize, f: usize, dx: usize,
  N: i32, H: i32, W: i32, C: i32, Ho: i32, Wo: i32, M: i32,
  KH: i32, KW: i32, sh: i32, sw: i32, dh: i32, dwl: i32, pt: i32, pl: i32,
): void {
  const Q = C * M;
  zeroF32(dx, N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let r = 0; r < KH; r++) {
        const ih = oh * sh - pt + r * dh;
        if (ih < 0 || ih >= H) continue;
        for (let s = 0; s < KW; s++) {
          const tapW = s * dwl;
          const owLo = firstValidOut(pl, tapW, sw);
          const owHi = endValidOut(W, pl, tapW, sw, Wo);
          const fp = f + ((<usize>((r * KW + s) * Q)) << 2);
          for (let ow = owLo; ow < owHi; ow++) {
            const iw = ow * sw - pl + tapW;
            const dp = dy + ((<usize>(((n * Ho + oh) * Wo + ow) * Q)) << 2);
            const xp = dx + ((<usize>(((n * H + ih) * W + iw) * C)) << 2);
            if (M == 1) {
              let c = 0;
              for (; c + 8 <= C; c += 8) {
                const o = (<usize>c) << 2;
                v128.store(xp + o, f32x4.add(v128.load(xp + o), f32x4.mul(v128.load(dp + o), v128.load(fp + o))));
                v128.store(xp + o, f32x4.add(v128.load(xp + o, 16), f32x4.mul(v128.load(dp + o, 16), v128.load(fp + o, 16))), 16);
              }
              for (; c + 4 <= C; c += 4) {
                const o = (<usize>c) << 2;
                v128.store(xp + o, f32x4.add(v128.load(xp + o), f32x4.mul(v128.load(dp + o), v128.load(fp + o))));
              }
              for (; c < C; c++) {
                const o = (<usize>c) << 2;
                store<f32>(xp + o, load<f32>(xp + o) + load<f32>(dp + o) * load<f32>(fp + o));
              }
            } else {
              for (let c = 0; c < C; c++) {
                let acc: f32 = 0;
                const base = (<usize>(c * M)) << 2;
                for (let m = 0; m < M; m++) {
                  const o = base + ((<usize>m) << 2);
                  acc += load<f32>(dp + o) * load<f32>(fp + o);
                }
                const xo = xp + ((<usize>c) << 2);
                store<f32>(xo, load<f32>(xo) + acc);
              }
            }
          }
        }
      }
    }
  }
}
