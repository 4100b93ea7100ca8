// Fused adaptation ops: EMA, seeded stochastic restore, BN statistic mixing,
// softmax entropy and the LAME inner loop. The TS twins in src/fused/oracle.ts
// are the reference; keep the arithmetic order of the two in step.

// exp/log come from the host (JS Math): AssemblyScript's own Math uses lookup
// tables (static data), and this module must have no static data because it
// shares tfjs-backend-wasm's memory.
@external("env", "exp") declare function hostExp(x: f64): f64;
@external("env", "log") declare function hostLog(x: f64): f64;

/** out = m * teacher + (1 - m) * student over n floats (out may alias teacher). */
export function emaUpdate(teacher: usize, student: usize, out: usize, n: i32, m: f32): void {
  const vm = f32x4.splat(m);
  const vk = f32x4.splat(<f32>1 - m);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = (<usize>i) << 2;
    v128.store(out + o, f32x4.add(f32x4.mul(vm, v128.load(teacher + o)), f32x4.mul(vk, v128.load(student + o))));
    v128.store(out + o, f32x4.add(f32x4.mul(vm, v128.load(teacher + o, 16)), f32x4.mul(vk, v128.load(student + o, 16))), 16);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(out + o, m * load<f32>(teacher + o) + (<f32>1 - m) * load<f32>(student + o));
  }
}

// ---- mulberry32, bit-identical to createRng() in src/random.ts ----
let rngState: u32 = 0;
export function setRngState(s: u32): void { rngState = s; }
export function getRngState(): u32 { return rngState; }

@inline function nextUniform(): f64 {
  rngState += 0x6D2B79F5;
  let t: u32 = rngState;
  t = (t ^ (t >>> 15)) * (t | 1);
  t = (t + (t ^ (t >>> 7)) * (t | 61)) ^ t;
  return <f64>(t ^ (t >>> 14)) / 4294967296.0;
}

/**
 * For each of n elements draws u ~ U[0,1) (one draw per element, in order);
 * where u < p, out[i] = source[i], else out[i] = current[i]. Returns the
 * count restored.
 *
 * mulberry32 is counter-based (draw i is a pure function of seed + i * C), so
 * four consecutive draws are computed at once in i32x4 lanes. The comparison
 * u < p is done on the integer x = u * 2^32 against ceil(p * 2^32), which is
 * exact (both sides are exact in f64), so the mask equals the scalar one.
 */
export function stochasticRestore(current: usize, source: usize, out: usize, n: i32, p: f64): i32 {
  const thr = Math.ceil(p * 4294967296.0);
  if (thr >= 4294967296.0) {
    // Every draw x <= 2^32 - 1 is below the threshold: every element restored;
    // advance the generator as n draws would.
    memory.copy(out, source, (<usize>n) << 2);
    rngState += <u32>n * 0x6D2B79F5;
    return n;
  }
  const vThr = i32x4.splat(<i32><u32>thr); // thr < 2^32 here
  const step = i32x4.splat(<i32>(<u32>4 * 0x6D2B79F5));
  let a = i32x4(
    <i32>(rngState + 0x6D2B79F5), <i32>(rngState + 2 * 0x6D2B79F5),
    <i32>(rngState + 3 * 0x6D2B79F5), <i32>(rngState + 4 * 0x6D2B79F5));
  const one = i32x4.splat(1), c61 = i32x4.splat(61);
  let counts = i32x4.splat(0); // per lane: minus the number restored (mask lanes are -1)
  let count = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let t = i32x4.mul(v128.xor(a, i32x4.shr_u(a, 15)), v128.or(a, one));
    t = v128.xor(i32x4.add(t, i32x4.mul(v128.xor(t, i32x4.shr_u(t, 7)), v128.or(t, c61))), t);
    const x = v128.xor(t, i32x4.shr_u(t, 14));
    const mask = i32x4.lt_u(x, vThr);
    const o = (<usize>i) << 2;
    v128.store(out + o, v128.bitselect(v128.load(source + o), v128.load(current + o), mask));
    counts = i32x4.add(counts, mask);
    a = i32x4.add(a, step);
  }
  count = -(i32x4.extract_lane(counts, 0) + i32x4.extract_lane(counts, 1) + i32x4.extract_lane(counts, 2) + i32x4.extract_lane(counts, 3));
  rngState += <u32>i * 0x6D2B79F5;
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    if (nextUniform() < p) {
      store<f32>(out + o, load<f32>(source + o));
      count++;
    } else {
      store<f32>(out + o, load<f32>(current + o));
    }
  }
  return count;
}

/** outX = (1 - alpha) * srcX + alpha * batchX for the mean and the variance. */
export function mixBnStats(
  srcMean: usize, srcVar: usize, bMean: usize, bVar: usize,
  outMean: usize, outVar: usize, n: i32, alpha: f32,
): void {
  const va = f32x4.splat(alpha);
  const vk = f32x4.splat(<f32>1 - alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(outMean + o, f32x4.add(f32x4.mul(vk, v128.load(srcMean + o)), f32x4.mul(va, v128.load(bMean + o))));
    v128.store(outVar + o, f32x4.add(f32x4.mul(vk, v128.load(srcVar + o)), f32x4.mul(va, v128.load(bVar + o))));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(outMean + o, (<f32>1 - alpha) * load<f32>(srcMean + o) + alpha * load<f32>(bMean + o));
    store<f32>(outVar + o, (<f32>1 - alpha) * load<f32>(srcVar + o) + alpha * load<f32>(bVar + o));
  }
}

/** Row max of K floats, 4 lanes at a time. */
function rowMax(p: usize, K: i32): f32 {
  let i = 0;
  let m: f32 = -Infinity;
  if (K >= 4) {
    let v = v128.load(p);
    for (i = 4; i + 4 <= K; i += 4) v = f32x4.max(v, v128.load(p + ((<usize>i) << 2)));
    m = max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
  }
  for (; i < K; i++) m = max(m, load<f32>(p + ((<usize>i) << 2)));
  return m;
}

/**
 * out[b] = -sum_k softmax(z_b)_k log softmax(z_b)_k = lse(z_b) - sum_k softmax_k z_k. A -Infinity
 * logit (a class of probability 0, as in log-probability outputs) contributes 0; a NaN or +Infinity
 * gives NaN.
 */
export function softmaxEntropy(logits: usize, out: usize, B: i32, K: i32): void {
  for (let b = 0; b < B; b++) {
    const row = logits + ((<usize>(b * K)) << 2);
    const m = <f64>rowMax(row, K);
    let s: f64 = 0, sz: f64 = 0;
    for (let k = 0; k < K; k++) {
      const z = <f64>load<f32>(row + ((<usize>k) << 2)) - m;
      const e = hostExp(z);
      s += e;
      // A -Infinity logit has weight 0 (0 * -Infinity would make the row NaN); for finite logits
      // a zero weight adds 0 anyway, so this changes no other value.
      if (e != 0) sz += e * z;
    }
    store<f32>(out + ((<usize>b) << 2), <f32>(hostLog(s) - sz / s));
  }
}

// ---- LAME ----

/** Dot product of two f32 rows in f64 (f64x2 lanes). */
function dotF64(a: usize, b: usize, D: i32): f64 {
  let acc0 = f64x2.splat(0), acc1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= D; i += 4) {
    const o = (<usize>i) << 2;
    acc0 = f64x2.add(acc0, f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(a + o)), f64x2.promote_low_f32x4(v128.load64_zero(b + o))));
    acc1 = f64x2.add(acc1, f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(a + o + 8)), f64x2.promote_low_f32x4(v128.load64_zero(b + o + 8))));
  }
  const v = f64x2.add(acc0, acc1);
  let s = f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
  for (; i < D; i++) s += <f64>load<f32>(a + ((<usize>i) << 2)) * <f64>load<f32>(b + ((<usize>i) << 2));
  return s;
}

@inline function at(p: usize, i: i32): f64 { return load<f64>(p + ((<usize>i) << 3)); }
@inline function put(p: usize, i: i32, v: f64): void { store<f64>(p + ((<usize>i) << 3), v); }

/**
 * Index of the next smallest entry of row d2[i, *] after (lastV, lastJ) in
 * (value, index) order, skipping j == skip (-1: skip none).
 */
function nextSmallest(d2: usize, i: i32, B: i32, lastV: f64, lastJ: i32, skip: i32): i32 {
  let bestJ = -1;
  let bestV: f64 = Infinity;
  for (let j = 0; j < B; j++) {
    if (j == skip) continue;
    const v = at(d2, i * B + j);
    const after = v > lastV || (v == lastV && j > lastJ);
    if (!after) continue;
    if (bestJ < 0 || v < bestV || (v == bestV && j < bestJ)) { bestV = v; bestJ = j; }
  }
  return bestJ;
}

/** Row-wise softmax of (a - u) (or of -u if a == 0) into y, K columns, B rows. */
function softmaxRows(u: usize, a: usize, y: usize, B: i32, K: i32): void {
  for (let b = 0; b < B; b++) {
    const r = b * K;
    let m: f64 = -Infinity;
    for (let k = 0; k < K; k++) {
      const z = (a != 0 ? at(a, r + k) : 0) - at(u, r + k);
      put(y, r + k, z);
      if (z > m) m = z;
    }
    let s: f64 = 0;
    for (let k = 0; k < K; k++) { const e = hostExp(at(y, r + k) - m); put(y, r + k, e); s += e; }
    for (let k = 0; k < K; k++) put(y, r + k, at(y, r + k) / s);
  }
}

/**
 * LAME (fiveai/LAME) for one batch. probs [B, K], feats [B, D] (L2-normalised)
 * are f32 in tensor memory; out [B, K] f32. scratch holds 2*B*B + 3*B*K f64.
 * kind: 0 knn, 1 rbf, 2 linear. Returns the number of iterations run.
 */
export function lameSolve(
  probs: usize, feats: usize, out: usize, scratch: usize,
  B: i32, K: i32, D: i32, kind: i32, knn: i32, lambda: f64, maxIter: i32, tol: f64,
): i32 {
  const BB = B * B, BK = B * K;
  const d2 = scratch;
  const w = d2 + ((<usize>BB) << 3);
  const u = w + ((<usize>BB) << 3);
  const y = u + ((<usize>BK) << 3);
  const wy = y + ((<usize>BK) << 3);

  // Gram matrix into w, squared distances 2 - 2 x.y into d2 (self exactly 0).
  for (let i = 0; i < B; i++) {
    for (let j = i; j < B; j++) {
      const g = dotF64(feats + ((<usize>(i * D)) << 2), feats + ((<usize>(j * D)) << 2), D);
      put(w, i * B + j, g); put(w, j * B + i, g);
      const dd = i == j ? 0.0 : max(0.0, 2.0 - 2.0 * g);
      put(d2, i * B + j, dd); put(d2, j * B + i, dd);
    }
  }
  if (kind == 0) {
    const kk = min(knn, B - 1);
    for (let i = 0; i < BB; i++) put(w, i, 0);
    for (let i = 0; i < B; i++) {
      let lastV: f64 = -Infinity, lastJ = -1;
      for (let t = 0; t < kk; t++) {
        const j = nextSmallest(d2, i, B, lastV, lastJ, i);
        if (j < 0) break;
        put(w, i * B + j, 1);
        lastV = at(d2, i * B + j); lastJ = j;
      }
    }
  } else if (kind == 1) {
    const kk = min(knn, B);
    let sigma: f64 = 0;
    for (let i = 0; i < B; i++) {
      let lastV: f64 = -Infinity, lastJ = -1;
      for (let t = 0; t < kk; t++) {
        const j = nextSmallest(d2, i, B, lastV, lastJ, -1);
        lastV = at(d2, i * B + j); lastJ = j;
      }
      sigma += sqrt(lastV);
    }
    sigma /= <f64>B;
    const den = 2.0 * sigma * sigma;
    for (let i = 0; i < BB; i++) {
      const dd = at(d2, i);
      // Identical features give sigma = 0: count exact duplicates only.
      put(w, i, den > 0 ? hostExp(-dd / den) : (dd == 0 ? 1.0 : 0.0));
    }
  }
  // kind == 2 (linear): w already holds X X^T.

  for (let i = 0; i < BK; i++) put(u, i, -hostLog(<f64>load<f32>(probs + ((<usize>i) << 2)) + 1e-10));
  softmaxRows(u, 0, y, B, K);
  let eOld: f64 = Infinity;
  let it = 0;
  while (it < maxIter) {
    // wy = lambda * W Y
    for (let i = 0; i < B; i++) {
      for (let k = 0; k < K; k++) put(wy, i * K + k, 0);
      for (let j = 0; j < B; j++) {
        const wij = at(w, i * B + j);
        if (wij == 0) continue;
        for (let k = 0; k < K; k++) put(wy, i * K + k, at(wy, i * K + k) + wij * at(y, j * K + k));
      }
      for (let k = 0; k < K; k++) put(wy, i * K + k, lambda * at(wy, i * K + k));
    }
    softmaxRows(u, wy, y, B, K);
    let e: f64 = 0;
    for (let i = 0; i < BK; i++) {
      const yi = at(y, i);
      // As the reference's entropy_energy(Y, unary, pairwise, bound_lambda): pairwise already
      // holds lambda and is scaled by lambda again, so lambda enters E squared.
      e += at(u, i) * yi - lambda * at(wy, i) * yi + yi * hostLog(max(yi, 1e-20));
    }
    const i0 = it;
    it++;
    if (i0 > 1 && abs(e - eOld) <= tol * abs(eOld)) break;
    eOld = e;
  }
  for (let i = 0; i < BK; i++) store<f32>(out + ((<usize>i) << 2), <f32>at(y, i));
  return it;
}

/**
 * One Adam update of n parameters (strategies/adam.ts), the same f32 operations in the same order
 * as its tfjs ops, so the same values bit for bit:
 *   m' = m * b1 + g * omb1;  v' = v * b2 + (g * g) * omb2;
 *   p' = p - (m' / (sqrt(v') / sc2 + eps)) * step
 * with omb1 = f32(1 - beta1), omb2 = f32(1 - beta2), sc2 = f32(sqrt(1 - beta2^t)), step = f32(lr / (1 - beta1^t)).
 */
export function adamStep(
  p: usize, g: usize, m: usize, v: usize, outP: usize, outM: usize, outV: usize, n: i32,
  b1: f32, omb1: f32, b2: f32, omb2: f32, sc2: f32, eps: f32, step: f32,
): void {
  for (let i = 0; i < n; i++) {
    const o = (<usize>i) << 2;
    const gi = load<f32>(g + o);
    const mi = load<f32>(m + o) * b1 + gi * omb1;
    const vi = load<f32>(v + o) * b2 + (gi * gi) * omb2;
    const denom = sqrt<f32>(vi) / sc2 + eps;
    store<f32>(outM + o, mi);
    store<f32>(outV + o, vi);
    store<f32>(outP + o, load<f32>(p + o) - (mi / denom) * step);
  }
}
