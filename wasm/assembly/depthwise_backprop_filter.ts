// DepthwiseConv2dNativeBackpropFilter, NHWC, channel multiplier M >= 1.
//
//   dW[r, s, c, m] = sum_{n, oh, ow} x[n, ih, iw, c] * dy[n, oh, ow, c*M + m]
//   ih = oh*sh - pt + r*dh, iw = ow*sw - pl + s*dw (pixels outside the image are skipped)
//
// The output channel q = c*M + m is contiguous in both dy and dW, so the
// kernel vectorises over q: 16 output channels (4 f32x4 accumulators) per
// sweep over a block of pixels. The op has 2 loads per multiply-add, so it
// is bound by load bandwidth; the row blocks keep those loads in L1/L2.

import { firstValidOut, endValidOut, zeroF32 } from './common';

/** x vector for output channels q..q+3 when M > 1: lane j holds x[(q + j) / M]. */
@inline function gatherX(xp: usize, q: i32, M: i32): v128 {
  let v = f32x4.splat(load<f32>(xp + ((<usize>(q / M)) << 2)));
  v = f32x4.replace_lane(v, 1, load<f32>(xp + ((<usize>((q + 1) / M)) << 2)));
  v = f32x4.replace_lane(v, 2, load<f32>(xp + ((<usize>((q + 2) / M)) << 2)));
  v = f32x4.replace_lane(v, 3, load<f32>(xp + ((<usize>((q + 3) / M)) << 2)));
  return v;
}

// Bytes of dy + x rows per cache block (see conv2d_backprop_filter.ts).
const BLOCK_BYTES: i32 = 64 * 1024;

/**
 * x: [N, H, W, C], dy: [N, Ho, Wo, C*M], dw (output): [KH, KW, C, M].
 * Output rows (flattened over the batch) are processed in cache blocks; for
 * each block every tap and channel chunk accumulates into dW in memory.
 */
export function depthwiseBackpropFilter(
  x: usize, dy: usize, dw: usize,
  N: i32, H: i32, W: i32, C: i32, Ho: i32, Wo: i32, M: i32,
  KH: i32, KW: i32, sh: i32, sw: i32, dh: i32, dwl: i32, pt: i32, pl: i32,
): void {
  const Q = C * M;
  const xStep = <usize>(sw * C) << 2;
  const dStep = <usize>Q << 2;
  zeroF32(dw, KH * KW * Q);
  let rowsPerBlock = BLOCK_BYTES / ((Wo * Q + sh * W * C) * 4);
  if (rowsPerBlock < 1) rowsPerBlock = 1;
  const T = N * Ho;
  for (let t0 = 0; t0 < T; t0 += rowsPerBlock) {
    const t1 = t0 + rowsPerBlock < T ? t0 + rowsPerBlock : T;
    const n0 = t0 / Ho;
    const oh0 = t0 - n0 * Ho;
    for (let r = 0; r < KH; r++) {
      const tapH = r * dh;
      const ohLo = firstValidOut(pt, tapH, sh);
      const ohHi = endValidOut(H, pt, tapH, sh, Ho);
      if (ohHi <= ohLo) continue;
      for (let s = 0; s < KW; s++) {
        const tapW = s * dwl;
        const owLo = firstValidOut(pl, tapW, sw);
        const owHi = endValidOut(W, pl, tapW, sw, Wo);
        const cnt = owHi - owLo;
        if (cnt <= 0) continue;
        const out = dw + ((<usize>((r * KW + s) * Q)) << 2);
        const iw0 = owLo * sw - pl + tapW;
        let q = 0;
        if (M == 1) {
          for (; q + 16 <= Q; q += 16) {
            const o = out + ((<usize>q) << 2);
            let a0 = v128.load(o), a1 = v128.load(o, 16), a2 = v128.load(o, 32), a3 = v128.load(o, 48);
            let n = n0, oh = oh0;
            for (let t = t0; t < t1; t++) {
              if (oh >= ohLo && oh < ohHi) {
                const ih = oh * sh - pt + tapH;
                let xp = x + ((<usize>(((n * H + ih) * W + iw0) * C + q)) << 2);
                let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
                for (let k = 0; k < cnt; k++) {
                  a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(dp)));
                  a1 = f32x4.add(a1, f32x4.mul(v128.load(xp, 16), v128.load(dp, 16)));
                  a2 = f32x4.add(a2, f32x4.mul(v128.load(xp, 32), v128.load(dp, 32)));
                  a3 = f32x4.add(a3, f32x4.mul(v128.load(xp, 48), v128.load(dp, 48)));
                  xp += xStep; dp += dStep;
                }
              }
              if (++oh == Ho) { oh = 0; n++; }
            }
            v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
          }
          for (; q + 4 <= Q; q += 4) {
            const o = out + ((<usize>q) << 2);
            let a0 = v128.load(o);
            let n = n0, oh = oh0;
            for (let t = t0; t < t1; t++) {
              if (oh >= ohLo && oh < ohHi) {
                const ih = oh * sh - pt + tapH;
                let xp = x + ((<usize>(((n * H + ih) * W + iw0) * C + q)) << 2);
                let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
                for (let k = 0; k < cnt; k++) {
                  a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(dp)));
                  xp += xStep; dp += dStep;
                }
              }
              if (++oh == Ho) { oh = 0; n++; }
            }
            v128.store(o, a0);
          }
        } else {
          for (; q + 4 <= Q; q += 4) {
            const o = out + ((<usize>q) << 2);
            let a0 = v128.load(o);
            let n = n0, oh = oh0;
            for (let t = t0; t < t1; t++) {
              if (oh >= ohLo && oh < ohHi) {
                const ih = oh * sh - pt + tapH;
                let xp = x + ((<usize>(((n * H + ih) * W + iw0) * C)) << 2);
                let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
                for (let k = 0; k < cnt; k++) {
                  a0 = f32x4.add(a0, f32x4.mul(gatherX(xp, q, M), v128.load(dp)));
                  xp += xStep; dp += dStep;
                }
              }
              if (++oh == Ho) { oh = 0; n++; }
            }
            v128.store(o, a0);
          }
        }
        // Scalar tail (Q % 4 output channels).
        for (; q < Q; q++) {
          const c = q / M;
          const o = out + ((<usize>q) << 2);
          let acc = load<f32>(o);
          let n = n0, oh = oh0;
          for (let t = t0; t < t1; t++) {
            if (oh >= ohLo && oh < ohHi) {
              const ih = oh * sh - pt + tapH;
              let xp = x + ((<usize>(((n * H + ih) * W + iw0) * C + c)) << 2);
              let dp = dy + ((<usize>(((n * Ho + oh) * Wo + owLo) * Q + q)) << 2);
              for (let k = 0; k < cnt; k++) {
                acc += load<f32>(xp) * load<f32>(dp);
                xp += xStep; dp += dStep;
              }
            }
            if (++oh == Ho) { oh = 0; n++; }
          }
          store<f32>(o, acc);
        }
      }
    }
  }
}
