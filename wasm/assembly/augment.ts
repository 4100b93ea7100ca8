// CoTTA's augmentation hot spots (src/augment) as one pass each, with the same f32 operations in
// the same order as the tfjs-op versions they replace, so the values are the same bit for bit.

/**
 * The affine warp of src/augment/geometric.ts `applyWarp`: out[n, o, c] = ((w0[o] x[n, i0[o], c]
 * + w1[o] x[n, i1[o], c]) + w2[o] x[n, i2[o], c]) + w3[o] x[n, i3[o], c], for x [N, HW, C] and
 * four taps (index int32 [4, M], weights f32 [4, M]) per output pixel.
 */
export function warpGather(x: usize, index: usize, weights: usize, out: usize, N: i32, HW: i32, M: i32, C: i32): void {
  const tap = (<usize>M) << 2;
  for (let n = 0; n < N; n++) {
    const xn = x + (<usize>(n * HW * C) << 2);
    const on = out + (<usize>(n * M * C) << 2);
    for (let o = 0; o < M; o++) {
      const oo = (<usize>o) << 2;
      const p0 = xn + (<usize>(load<i32>(index + oo) * C) << 2);
      const p1 = xn + (<usize>(load<i32>(index + tap + oo) * C) << 2);
      const p2 = xn + (<usize>(load<i32>(index + 2 * tap + oo) * C) << 2);
      const p3 = xn + (<usize>(load<i32>(index + 3 * tap + oo) * C) << 2);
      const w0 = load<f32>(weights + oo);
      const w1 = load<f32>(weights + tap + oo);
      const w2 = load<f32>(weights + 2 * tap + oo);
      const w3 = load<f32>(weights + 3 * tap + oo);
      const po = on + (<usize>(o * C) << 2);
      for (let c = 0; c < C; c++) {
        const cc = (<usize>c) << 2;
        let s: f32 = load<f32>(p0 + cc) * w0 + load<f32>(p1 + cc) * w1;
        s = s + load<f32>(p2 + cc) * w2;
        s = s + load<f32>(p3 + cc) * w3;
        store<f32>(po + cc, s);
      }
    }
  }
}

// tfjs-backend-wasm's maximum, minimum and clipByValue (XNNPACK's pmax/pmin), which differ from
// f32.max/min on NaN and on -0: they return the first operand when the comparison fails, so a NaN
// second operand is dropped and a NaN clips to 0.

@inline
function wasmMax(a: f32, b: f32): f32 {
  return a < b ? b : a;
}

@inline
function wasmMin(a: f32, b: f32): f32 {
  return b < a ? b : a;
}

@inline
function clip01(v: f32): f32 {
  const lo: f32 = 0 < v ? v : 0;
  return lo < 1 ? lo : 1;
}

/**
 * src/augment/colorJitter.ts `adjustHue` on RGB pixels x [P, 3] (torchvision's _rgb2hsv, shift,
 * _hsv2rgb). `shiftPlusOne` is f32(shift + 1), as tfjs makes the scalar.
 */
export function adjustHueRgb(x: usize, out: usize, P: i32, shiftPlusOne: f32): void {
  for (let i = 0; i < P; i++) {
    const px = x + (<usize>(i * 3) << 2);
    const r = load<f32>(px);
    const g = load<f32>(px, 4);
    const b = load<f32>(px, 8);
    const maxc = wasmMax(wasmMax(r, g), b);
    const minc = wasmMin(wasmMin(r, g), b);
    const eqc = maxc == minc;
    const cr = maxc - minc;
    const s = cr / (eqc ? <f32>1 : maxc);
    const crDiv = eqc ? <f32>1 : cr;
    const rc = (maxc - r) / crDiv;
    const gc = (maxc - g) / crDiv;
    const bc = (maxc - b) / crDiv;
    const isR = maxc == r;
    const isG = maxc == g && !isR;
    const isB = !(maxc == g) && !isR;
    const hr: f32 = (isR ? <f32>1 : <f32>0) * (bc - gc);
    const hg: f32 = (isG ? <f32>1 : <f32>0) * ((rc - bc) + <f32>2);
    const hb: f32 = (isB ? <f32>1 : <f32>0) * ((gc - rc) + <f32>4);
    const h0 = (hr + hg) + hb;
    let h = h0 / <f32>6 + <f32>1;
    h = h - floor<f32>(h);
    h = h + shiftPlusOne;
    h = h - floor<f32>(h);
    const v = maxc;
    const h6 = h * <f32>6;
    const iFloor = floor<f32>(h6);
    const f = h6 - iFloor;
    const p = clip01(v * (<f32>1 - s));
    const q = clip01(v * (<f32>1 - s * f));
    const t = clip01(v * (<f32>1 - s * (<f32>1 - f)));
    const k = (<i32>iFloor) % 6;
    let ro: f32, go: f32, bo: f32;
    if (k == 0) { ro = v; go = t; bo = p; }
    else if (k == 1) { ro = q; go = v; bo = p; }
    else if (k == 2) { ro = p; go = v; bo = t; }
    else if (k == 3) { ro = p; go = q; bo = v; }
    else if (k == 4) { ro = t; go = p; bo = v; }
    else { ro = v; go = p; bo = q; }
    // The ops pick with a sum of mask * value from +0 over all six cases, so v (in every case list)
    // makes all three NaN when it is infinite or NaN (0 * v), and a picked -0 becomes +0.
    const z = v - v;
    const po = out + (<usize>(i * 3) << 2);
    store<f32>(po, ro + z);
    store<f32>(po, go + z, 4);
    store<f32>(po, bo + z, 8);
  }
}

/** src/augment/colorJitter.ts `toGrayscale` on RGB pixels x [P, 3]: (0.2989 r + 0.587 g) + 0.114 b, into out [P]. */
export function rgbToGray(x: usize, out: usize, P: i32): void {
  for (let i = 0; i < P; i++) {
    const px = x + (<usize>(i * 3) << 2);
    const v: f32 = load<f32>(px) * <f32>0.2989 + load<f32>(px, 4) * <f32>0.587;
    store<f32>(out + ((<usize>i) << 2), v + load<f32>(px, 8) * <f32>0.114);
  }
}
