/**
 * Plain-TS implementations of the fused ops, on typed arrays. They run on the
 * CPU backend and are the test oracle of the WASM SIMD path
 * (wasm/assembly/fused.ts); the arithmetic follows it step for step (float32
 * where it uses f32, float64 where it uses f64).
 */
import type { SeededRng } from '../random.js';

const f = Math.fround;

/** out = m * teacher + (1 - m) * student, in float32 arithmetic. */
export function emaOracle(teacher: Float32Array, student: Float32Array, momentum: number): Float32Array {
  const m = f(momentum);
  const k = f(1 - m);
  const out = new Float32Array(teacher.length);
  for (let i = 0; i < out.length; i++) out[i] = f(f(m * teacher[i]!) + f(k * student[i]!));
  return out;
}

/** Elementwise Bernoulli(p) restore: one rng draw per element, in order; u < p restores. */
export function restoreOracle(current: Float32Array, source: Float32Array, p: number, rng: SeededRng): { out: Float32Array; restored: number } {
  const out = new Float32Array(current);
  let restored = 0;
  for (let i = 0; i < out.length; i++) {
    if (rng.next() < p) {
      out[i] = source[i]!;
      restored++;
    }
  }
  return { out, restored };
}

/** (1 - alpha) * src + alpha * batch for mean and variance, float32 arithmetic. */
export function mixBnOracle(srcMean: Float32Array, srcVar: Float32Array, batchMean: Float32Array, batchVar: Float32Array, alpha: number): { mean: Float32Array; variance: Float32Array } {
  const a = f(alpha);
  const k = f(1 - a);
  const mean = new Float32Array(srcMean.length);
  const variance = new Float32Array(srcVar.length);
  for (let i = 0; i < mean.length; i++) {
    mean[i] = f(f(k * srcMean[i]!) + f(a * batchMean[i]!));
    variance[i] = f(f(k * srcVar[i]!) + f(a * batchVar[i]!));
  }
  return { mean, variance };
}

/** Entropy of softmax(z) per row: lse(z) - sum softmax * z, in float64. */
export function softmaxEntropyOracle(logits: Float32Array, B: number, K: number): Float32Array {
  const out = new Float32Array(B);
  for (let b = 0; b < B; b++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logits[b * K + k]!);
    let s = 0;
    let sz = 0;
    for (let k = 0; k < K; k++) {
      const z = logits[b * K + k]! - m;
      const e = Math.exp(z);
      s += e;
      if (e !== 0) sz += e * z; // a -Infinity logit has weight 0 (0 * -Infinity is NaN); as the kernel
    }
    out[b] = Math.log(s) - sz / s;
  }
  return out;
}

/** LAME affinity kinds, in the order the WASM kernel numbers them. */
export const LAME_AFFINITIES = ['knn', 'rbf', 'linear'] as const;
export type LameAffinity = (typeof LAME_AFFINITIES)[number];

/** Index of the next smallest d2[i, *] after (lastV, lastJ) in (value, index) order, skipping `skip`. */
function nextSmallest(d2: Float64Array, i: number, B: number, lastV: number, lastJ: number, skip: number): number {
  let bestJ = -1;
  let bestV = Infinity;
  for (let j = 0; j < B; j++) {
    if (j === skip) continue;
    const v = d2[i * B + j]!;
    if (!(v > lastV || (v === lastV && j > lastJ))) continue;
    if (bestJ < 0 || v < bestV || (v === bestV && j < bestJ)) {
      bestV = v;
      bestJ = j;
    }
  }
  return bestJ;
}

function softmaxRows(u: Float64Array, a: Float64Array | null, y: Float64Array, B: number, K: number): void {
  for (let b = 0; b < B; b++) {
    const r = b * K;
    let m = -Infinity;
    for (let k = 0; k < K; k++) {
      const z = (a ? a[r + k]! : 0) - u[r + k]!;
      y[r + k] = z;
      if (z > m) m = z;
    }
    let s = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(y[r + k]! - m);
      y[r + k] = e;
      s += e;
    }
    for (let k = 0; k < K; k++) y[r + k] = y[r + k]! / s;
  }
}

/** The affinity matrix W [B, B] of LAME from L2-normalised features (see lameOracle). */
export function lameAffinityOracle(feats: Float32Array, B: number, D: number, kind: LameAffinity, knn: number): Float64Array {
  const w = new Float64Array(B * B);
  const d2 = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = i; j < B; j++) {
      let g = 0;
      for (let t = 0; t < D; t++) g += feats[i * D + t]! * feats[j * D + t]!;
      w[i * B + j] = g;
      w[j * B + i] = g;
      const dd = i === j ? 0 : Math.max(0, 2 - 2 * g);
      d2[i * B + j] = dd;
      d2[j * B + i] = dd;
    }
  }
  if (kind === 'knn') {
    const kk = Math.min(knn, B - 1);
    w.fill(0);
    for (let i = 0; i < B; i++) {
      let lastV = -Infinity;
      let lastJ = -1;
      for (let t = 0; t < kk; t++) {
        const j = nextSmallest(d2, i, B, lastV, lastJ, i);
        if (j < 0) break;
        w[i * B + j] = 1;
        lastV = d2[i * B + j]!;
        lastJ = j;
      }
    }
  } else if (kind === 'rbf') {
    const kk = Math.min(knn, B);
    let sigma = 0;
    for (let i = 0; i < B; i++) {
      let lastV = -Infinity;
      let lastJ = -1;
      for (let t = 0; t < kk; t++) {
        const j = nextSmallest(d2, i, B, lastV, lastJ, -1);
        lastV = d2[i * B + j]!;
        lastJ = j;
      }
      sigma += Math.sqrt(lastV);
    }
    sigma /= B;
    const den = 2 * sigma * sigma;
    for (let i = 0; i < B * B; i++) {
      const dd = d2[i]!;
      w[i] = den > 0 ? Math.exp(-dd / den) : dd === 0 ? 1 : 0;
    }
  }
  return w;
}

/**
 * LAME (fiveai/LAME, `laplacian_optimization`) for one batch, float64.
 * unary = -log(p + 1e-10); Y0 = softmax(-unary); repeat
 * Y = softmax(-unary + lambda W Y); E = sum(unary Y - lambda (lambda W Y) Y + Y log max(Y, 1e-20))
 * (the reference's `pairwise` already holds lambda and `entropy_energy` scales it by lambda again);
 * stop when |E - E_old| <= tol |E_old| at iteration i > 1 (0-based, as the official loop), or after maxIter.
 */
export function lameOracle(probs: Float32Array, feats: Float32Array, B: number, K: number, D: number,
  opts: { affinity: LameAffinity; k: number; lambda: number; maxIter: number; tol: number }): { y: Float32Array; iterations: number } {
  const w = lameAffinityOracle(feats, B, D, opts.affinity, opts.k);
  const u = new Float64Array(B * K);
  for (let i = 0; i < B * K; i++) u[i] = -Math.log(probs[i]! + 1e-10);
  const y = new Float64Array(B * K);
  const wy = new Float64Array(B * K);
  softmaxRows(u, null, y, B, K);
  let eOld = Infinity;
  let it = 0;
  while (it < opts.maxIter) {
    for (let i = 0; i < B; i++) {
      for (let k = 0; k < K; k++) wy[i * K + k] = 0;
      for (let j = 0; j < B; j++) {
        const wij = w[i * B + j]!;
        if (wij === 0) continue;
        for (let k = 0; k < K; k++) wy[i * K + k] = wy[i * K + k]! + wij * y[j * K + k]!;
      }
      for (let k = 0; k < K; k++) wy[i * K + k] = opts.lambda * wy[i * K + k]!;
    }
    softmaxRows(u, wy, y, B, K);
    let e = 0;
    for (let i = 0; i < B * K; i++) {
      const yi = y[i]!;
      e += u[i]! * yi - opts.lambda * wy[i]! * yi + yi * Math.log(Math.max(yi, 1e-20));
    }
    const i0 = it;
    it++;
    if (i0 > 1 && Math.abs(e - eOld) <= opts.tol * Math.abs(eOld)) break;
    eOld = e;
  }
  return { y: Float32Array.from(y), iterations: it };
}
