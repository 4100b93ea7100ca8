// Conv2DBackpropFilter, NHWC.
//
//   dW[r, s, ci, co] = sum_{n, oh, ow} x[n, oh*sh - pt + r*dh, ow*sw - pl + s*dw, ci] * dy[n, oh, ow, co]
//
// For each filter tap (r, s) this is a GEMM dW_rs[Ci, Co] = X_rs^T[Ci, P] * DY[P, Co]
// over the P = N*Ho*Wo output pixels whose input pixel is inside the image
// (padding contributes zeros, so out-of-image pixels are skipped). The
// micro-kernel keeps a 4 (ci) x 12 (co) tile in 12 f32x4 accumulators, which
// is the register budget of 16 xmm registers on x64 (12 accumulators, 3 dy
// vectors, 1 broadcast x value).

import { firstValidOut, endValidOut, zeroF32 } from './common';

// Loop bounds of one filter tap and one block of output rows, shared by the
// micro-kernels (globals, not memory). Rows are flattened (n, oh) indices
// t in [gT0, gT1); the micro-kernels skip rows whose input row is outside
// the image for this tap.
let gT0: i32 = 0, gT1: i32 = 0, gN0: i32 = 0, gOh0: i32 = 0, gH: i32 = 0, gW: i32 = 0, gCi: i32 = 0, gHo: i32 = 0, gWo: i32 = 0, gCo: i32 = 0;
let gSh: i32 = 0, gSw: i32 = 0, gIhBase: i32 = 0, gIwBase: i32 = 0;
let gOhLo: i32 = 0, gOhHi: i32 = 0, gOwLo: i32 = 0, gOwHi: i32 = 0;

@inline function xRow(x: usize, n: i32, oh: i32, ci: i32): usize {
  const ih = oh * gSh + gIhBase;
  const iw = gOwLo * gSw + gIwBase;
  return x + ((<usize>(((n * gH + ih) * gW + iw) * gCi + ci)) << 2);
}
@inline function dyRow(dy: usize, n: i32, oh: i32, co: i32): usize {
  return dy + ((<usize>(((n * gHo + oh) * gWo + gOwLo) * gCo + co)) << 2);
}

function mk4x3(x: usize, dy: usize, out: usize, ci: i32, co: i32): void {
  const rs = <usize>gCo << 2;
  const o0 = out + ((<usize>(ci * gCo + co)) << 2), o1 = o0 + rs, o2 = o1 + rs, o3 = o2 + rs;
  let c00 = v128.load(o0), c01 = v128.load(o0, 16), c02 = v128.load(o0, 32);
  let c10 = v128.load(o1), c11 = v128.load(o1, 16), c12 = v128.load(o1, 32);
  let c20 = v128.load(o2), c21 = v128.load(o2, 16), c22 = v128.load(o2, 32);
  let c30 = v128.load(o3), c31 = v128.load(o3, 16), c32 = v128.load(o3, 32);
  const xStep = <usize>(gSw * gCi) << 2;
  const dStep = <usize>gCo << 2;
  const cnt = gOwHi - gOwLo;
  let n = gN0, oh = gOh0;
  for (let t = gT0; t < gT1; t++) {
    if (oh >= gOhLo && oh < gOhHi) {
      let xp = xRow(x, n, oh, ci);
      let dp = dyRow(dy, n, oh, co);
      for (let k = 0; k < cnt; k++) {
        const d0 = v128.load(dp), d1 = v128.load(dp, 16), d2 = v128.load(dp, 32);
        let a = v128.load32_splat(xp);
        c00 = f32x4.add(c00, f32x4.mul(a, d0)); c01 = f32x4.add(c01, f32x4.mul(a, d1)); c02 = f32x4.add(c02, f32x4.mul(a, d2));
        a = v128.load32_splat(xp, 4);
        c10 = f32x4.add(c10, f32x4.mul(a, d0)); c11 = f32x4.add(c11, f32x4.mul(a, d1)); c12 = f32x4.add(c12, f32x4.mul(a, d2));
        a = v128.load32_splat(xp, 8);
        c20 = f32x4.add(c20, f32x4.mul(a, d0)); c21 = f32x4.add(c21, f32x4.mul(a, d1)); c22 = f32x4.add(c22, f32x4.mul(a, d2));
        a = v128.load32_splat(xp, 12);
        c30 = f32x4.add(c30, f32x4.mul(a, d0)); c31 = f32x4.add(c31, f32x4.mul(a, d1)); c32 = f32x4.add(c32, f32x4.mul(a, d2));
        xp += xStep; dp += dStep;
      }
    }
    if (++oh == gHo) { oh = 0; n++; }
  }
  v128.store(o0, c00); v128.store(o0, c01, 16); v128.store(o0, c02, 32);
  v128.store(o1, c10); v128.store(o1, c11, 16); v128.store(o1, c12, 32);
  v128.store(o2, c20); v128.store(o2, c21, 16); v128.store(o2, c22, 32);
  v128.store(o3, c30); v128.store(o3, c31, 16); v128.store(o3, c32, 32);
}

function mk4x2(x: usize, dy: usize, out: usize, ci: i32, co: i32): void {
  const rs = <usize>gCo << 2;
  const o0 = out + ((<usize>(ci * gCo + co)) << 2), o1 = o0 + rs, o2 = o1 + rs, o3 = o2 + rs;
  let c00 = v128.load(o0), c01 = v128.load(o0, 16);
  let c10 = v128.load(o1), c11 = v128.load(o1, 16);
  let c20 = v128.load(o2), c21 = v128.load(o2, 16);
  let c30 = v128.load(o3), c31 = v128.load(o3, 16);
  const xStep = <usize>(gSw * gCi) << 2;
  const dStep = <usize>gCo << 2;
  const cnt = gOwHi - gOwLo;
  let n = gN0, oh = gOh0;
  for (let t = gT0; t < gT1; t++) {
    if (oh >= gOhLo && oh < gOhHi) {
      let xp = xRow(x, n, oh, ci);
      let dp = dyRow(dy, n, oh, co);
      for (let k = 0; k < cnt; k++) {
        const d0 = v128.load(dp), d1 = v128.load(dp, 16);
        let a = v128.load32_splat(xp);
        c00 = f32x4.add(c00, f32x4.mul(a, d0)); c01 = f32x4.add(c01, f32x4.mul(a, d1));
        a = v128.load32_splat(xp, 4);
        c10 = f32x4.add(c10, f32x4.mul(a, d0)); c11 = f32x4.add(c11, f32x4.mul(a, d1));
        a = v128.load32_splat(xp, 8);
        c20 = f32x4.add(c20, f32x4.mul(a, d0)); c21 = f32x4.add(c21, f32x4.mul(a, d1));
        a = v128.load32_splat(xp, 12);
        c30 = f32x4.add(c30, f32x4.mul(a, d0)); c31 = f32x4.add(c31, f32x4.mul(a, d1));
        xp += xStep; dp += dStep;
      }
    }
    if (++oh == gHo) { oh = 0; n++; }
  }
  v128.store(o0, c00); v128.store(o0, c01, 16);
  v128.store(o1, c10); v128.store(o1, c11, 16);
  v128.store(o2, c20); v128.store(o2, c21, 16);
  v128.store(o3, c30); v128.store(o3, c31, 16);
}

function mk4x1(x: usize, dy: usize, out: usize, ci: i32, co: i32): void {
  const rs = <usize>gCo << 2;
  const o0 = out + ((<usize>(ci * gCo + co)) << 2), o1 = o0 + rs, o2 = o1 + rs, o3 = o2 + rs;
  let c0 = v128.load(o0), c1 = v128.load(o1), c2 = v128.load(o2), c3 = v128.load(o3);
  const xStep = <usize>(gSw * gCi) << 2;
  const dStep = <usize>gCo << 2;
  const cnt = gOwHi - gOwLo;
  let n = gN0, oh = gOh0;
  for (let t = gT0; t < gT1; t++) {
    if (oh >= gOhLo && oh < gOhHi) {
      let xp = xRow(x, n, oh, ci);
      let dp = dyRow(dy, n, oh, co);
      for (let k = 0; k < cnt; k++) {
        const d0 = v128.load(dp);
        c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(xp), d0));
        c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(xp, 4), d0));
        c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(xp, 8), d0));
        c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(xp, 12), d0));
        xp += xStep; dp += dStep;
      }
    }
    if (++oh == gHo) { oh = 0; n++; }
  }
  v128.store(o0, c0); v128.store(o1, c1); v128.store(o2, c2); v128.store(o3, c3);
}

/** One input-channel row, three co vectors (used when Ci is not a multiple of 4, e.g. RGB input). */
function mk1x3(x: usize, dy: usize, out: usize, ci: i32, co: i32): void {
  const o = out + ((<usize>(ci * gCo + co)) << 2);
  let c0 = v128.load(o), c1 = v128.load(o, 16), c2 = v128.load(o, 32);
  const xStep = <usize>(gSw * gCi) << 2;
  const dStep = <usize>gCo << 2;
  const cnt = gOwHi - gOwLo;
  let n = gN0, oh = gOh0;
  for (let t = gT0; t < gT1; t++) {
    if (oh >= gOhLo && oh < gOhHi) {
      let xp = xRow(x, n, oh, ci);
      let dp = dyRow(dy, n, oh, co);
      for (let k = 0; k < cnt; k++) {
        const a = v128.load32_splat(xp);
        c0 = f32x4.add(c0, f32x4.mul(a, v128.load(dp)));
        c1 = f32x4.add(c1, f32x4.mul(a, v128.load(dp, 16)));
        c2 = f32x4.add(c2, f32x4.mul(a, v128.load(dp, 32)));
        xp += xStep; dp += dStep;
      }
    }
    if (++oh == gHo) { oh = 0; n++; }
  }
  v128.store(o, c0); v128.store(o, c1, 16); v128.store(o, c2, 32);
}

function mk1x1(x: usize, dy: usize, out: usize, ci: i32, co: i32): void {
  let c0 = v128.load(out + ((<usize>(ci * gCo + co)) << 2));
  const xStep = <usize>(gSw * gCi) << 2;
  const dStep = <usize>gCo << 2;
  const cnt = gOwHi - gOwLo;
  let n = gN0, oh = gOh0;
  for (let t = gT0; t < gT1; t++) {
    if (oh >= gOhLo && oh < gOhHi) {
      let xp = xRow(x, n, oh, ci);
      let dp = dyRow(dy, n, oh, co);
      for (let k = 0; k < cnt; k++) {
        c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(xp), v128.load(dp)));
        xp += xStep; dp += dStep;
      }
    }
    if (++oh == gHo) { oh = 0; n++; }
  }
  v128.store(out + ((<usize>(ci * gCo + co)) << 2), c0);
}

/** Scalar dot product for the co % 4 tail columns. */
function mkScalar(x: usize, dy: usize, out: usize, ci: i32, co: i32): void {
  let acc: f32 = load<f32>(out + ((<usize>(ci * gCo + co)) << 2));
  const xStep = <usize>(gSw * gCi) << 2;
  const dStep = <usize>gCo << 2;
  const cnt = gOwHi - gOwLo;
  let n = gN0, oh = gOh0;
  for (let t = gT0; t < gT1; t++) {
    if (oh >= gOhLo && oh < gOhHi) {
      let xp = xRow(x, n, oh, ci);
      let dp = dyRow(dy, n, oh, co);
      for (let k = 0; k < cnt; k++) {
        acc += load<f32>(xp) * load<f32>(dp);
        xp += xStep; dp += dStep;
      }
    }
    if (++oh == gHo) { oh = 0; n++; }
  }
  store<f32>(out + ((<usize>(ci * gCo + co)) << 2), acc);
}

/** Fills one row band [ci, ci + rows) of dW_rs for all co; rows is 4 or 1. */
function rowBand(x: usize, dy: usize, out: usize, ci: i32, rows: i32): void {
  const Co = gCo;
  let co = 0;
  if (rows == 4) {
    for (; co + 12 <= Co; co += 12) mk4x3(x, dy, out, ci, co);
    if (co + 8 <= Co) { mk4x2(x, dy, out, ci, co); co += 8; }
    else if (co + 4 <= Co) { mk4x1(x, dy, out, ci, co); co += 4; }
    for (; co < Co; co++) for (let r = 0; r < 4; r++) mkScalar(x, dy, out, ci + r, co);
  } else {
    for (; co + 12 <= Co; co += 12) mk1x3(x, dy, out, ci, co);
    for (; co + 4 <= Co; co += 4) mk1x1(x, dy, out, ci, co);
    for (; co < Co; co++) mkScalar(x, dy, out, ci, co);
  }
}

// Bytes of dy + x rows processed per block: small enough to stay in L2 while
// every tap and every register tile sweeps over them.
const BLOCK_BYTES: i32 = 96 * 1024;

/**
 * x: [N, H, W, Ci], dy: [N, Ho, Wo, Co], dw (output): [KH, KW, Ci, Co], all float32.
 * pt / pl are the top / left paddings from computeConv2DInfo.
 *
 * Cache blocking: output rows (flattened over the batch) are taken in blocks
 * of about BLOCK_BYTES of dy and x; for each block every tap and every
 * register tile accumulates into dW (kept in memory, small), so each block of
 * x and dy is read from DRAM once instead of once per tile.
 */
export function conv2dBackpropFilter(
  x: usize, dy: usize, dw: usize,
  N: i32, H: i32, W: i32, Ci: i32, Ho: i32, Wo: i32, Co: i32,
  KH: i32, KW: i32, sh: i32, sw: i32, dh: i32, dwl: i32, pt: i32, pl: i32,
): void {
  gH = H; gW = W; gCi = Ci; gHo = Ho; gWo = Wo; gCo = Co; gSh = sh; gSw = sw;
  zeroF32(dw, KH * KW * Ci * Co);
  const rowBytes = (Wo * Co + sh * W * Ci) * 4;
  let rowsPerBlock = BLOCK_BYTES / rowBytes;
  if (rowsPerBlock < 1) rowsPerBlock = 1;
  const T = N * Ho;
  for (let t0 = 0; t0 < T; t0 += rowsPerBlock) {
    gT0 = t0;
    gT1 = t0 + rowsPerBlock < T ? t0 + rowsPerBlock : T;
    gN0 = t0 / Ho; // (n, oh) of the block's first row; the micro-kernels count on from it
    gOh0 = t0 - gN0 * Ho;
    for (let r = 0; r < KH; r++) {
      const tapH = r * dh;
      gIhBase = tapH - pt;
      gOhLo = firstValidOut(pt, tapH, sh);
      gOhHi = endValidOut(H, pt, tapH, sh, Ho);
      if (gOhHi <= gOhLo) continue; // this filter row never touches the image
      for (let s = 0; s < KW; s++) {
        const tapW = s * dwl;
        gIwBase = tapW - pl;
        gOwLo = firstValidOut(pl, tapW, sw);
        gOwHi = endValidOut(W, pl, tapW, sw, Wo);
        if (gOwHi <= gOwLo) continue;
        const out = dw + ((<usize>((r * KW + s) * Ci * Co)) << 2);
        let ci = 0;
        for (; ci + 4 <= Ci; ci += 4) rowBand(x, dy, out, ci, 4);
        for (; ci < Ci; ci++) rowBand(x, dy, out, ci, 1);
      }
    }
  }
}
