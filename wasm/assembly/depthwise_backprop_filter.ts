// DepthwiseConv2dNativeBackpropFilter, NHWC, channel multiplier M >= 1.
//
//   dW[r, s, c, m] = sum_{n, oh, ow} x[n, ih, iw, c] * dy[n, oh, ow, c*M + m]
//   ih = oh*sh - pt + r*dh, iw = ow*sw - pl + s*dw (pixels outside the image are skipped)
//
// The output channel q = c*M + m is contiguous in both dy and dW, so the
// kernel vectorises over q. Per tap it keeps 16 output channels (4 f32x4
// accumulators) in registers across all pixels. The op is memory-bound
// (2 loads per multiply-add), so the blocking is for streaming, not reuse.

import { firstValidOut, endValidOut } from './common';

/** x vector for output channels q..q+3 when M > 1: lane j holds x[(q + j) / M]. */
@inline function gatherX(xp: usize, q: i32, M: i32): v128 {
  let v = f32x4.splat(load<f32>(xp + ((<usize>(q / M)) << 2)));
  v = f32x4.replace_lane(v, 1, load<f32>(xp + ((<usize>((q + 1) / M)) << 2)));
  v = f32x4.replace_lane(v, 2, load<f32>(xp + ((<usize>((q + 2) / M)) << 2)));
  v = f32x4.replace_lane(v, 3, load<f32>(xp + ((<usize>((q + 3) / M)) << 2)));
  return v;
}

export function depthwiseBackpropFilter(
  x: usize, dy: usize, dw: usize,
  N: i32, H: i32, W: i32, C: i32, Ho: i32, Wo: i32, M: i32,
  KH: i32, KW: i32, sh: i32, sw: i32, dh: i32, dwl: i32, pt: i32, pl: i32,
): void {
  const Q = C * M;
  const xStep = <usize>(sw * C) << 2;
  const dStep = <usize>Q << 2;
  for (let r = 0; r < KH; r++) {
    const tapH = r * dh;
    const ohLo = firstValidOut(pt, tapH, sh);
    const ohHi = endValidOut(H, pt, tapH, sh, Ho);
    for (let s = 0; s < KW; s++) {
      const tapW = s * dwl;
      const owLo = firstValidOut(pl, tapW, sw);
      const owHi = endValidOut(W, pl, tapW, sw, Wo);
      const cnt = owHi - owLo;
      const out = dw + ((<usize>((r * KW + s) * Q)) << 2);
      let q = 0;
      if (M == 1) {
        for (; q + 16 <= Q; q += 16) {
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          for (let n = 0; n < N; n++) {
            for (let oh = ohLo; oh < ohHi; oh++) {
              const ih = oh * sh - pt + tapH;
              const iw = owLo * sw - pl + tapW;
              let xp = x + ((<usize>(((n * H + ih) * W + iw) * C + q)) << 2);
              let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
              for (let k = 0; k < cnt; k++) {
                a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(dp)));
                a1 = f32x4.add(a1, f32x4.mul(v128.load(xp, 16), v128.load(dp, 16)));
                a2 = f32x4.add(a2, f32x4.mul(v128.load(xp, 32), v128.load(dp, 32)));
                a3 = f32x4.add(a3, f32x4.mul(v128.load(xp, 48), v128.load(dp, 48)));
                xp += xStep; dp += dStep;
              }
            }
          }
          const o = out + ((<usize>q) << 2);
          v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
        }
        for (; q + 4 <= Q; q += 4) {
          let a0 = f32x4.splat(0);
          for (let n = 0; n < N; n++) {
            for (let oh = ohLo; oh < ohHi; oh++) {
              const ih = oh * sh - pt + tapH;
              const iw = owLo * sw - pl + tapW;
              let xp = x + ((<usize>(((n * H + ih) * W + iw) * C + q)) << 2);
              let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
              for (let k = 0; k < cnt; k++) {
                a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(dp)));
                xp += xStep; dp += dStep;
              }
            }
          }
          v128.store(out + ((<usize>q) << 2), a0);
        }
      } else {
        for (; q + 4 <= Q; q += 4) {
          let a0 = f32x4.splat(0);
          for (let n = 0; n < N; n++) {
            for (let oh = ohLo; oh < ohHi; oh++) {
              const ih = oh * sh - pt + tapH;
              const iw = owLo * sw - pl + tapW;
              let xp = x + ((<usize>(((n * H + ih) * W + iw) * C)) << 2);
              let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
              for (let k = 0; k < cnt; k++) {
                a0 = f32x4.add(a0, f32x4.mul(gatherX(xp, q, M), v128.load(dp)));
                xp += xStep; dp += dStep;
              }
            }
          }
          v128.store(out + ((<usize>q) << 2), a0);
        }
      }
      // Scalar tail (Q % 4 output channels).
      for (; q < Q; q++) {
        const c = q / M;
        let acc: f32 = 0;
        for (let n = 0; n < N; n++) {
          for (let oh = ohLo; oh < ohHi; oh++) {
            const ih = oh * sh - pt + tapH;
            const iw = owLo * sw - pl + tapW;
            let xp = x + ((<usize>(((n * H + ih) * W + iw) * C + c)) << 2);
            let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
            for (let k = 0; k < cnt; k++) {
              acc += load<f32>(xp) * load<f32>(dp);
              xp += xStep; dp += dStep;
            }
          }
        }
        store<f32>(out + ((<usize>q) << 2), acc);
      }
    }
  }
}
