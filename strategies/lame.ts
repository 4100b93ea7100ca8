/**
 * `lame`: Laplacian Adjusted Maximum-likelihood Estimation, parameter-free output adaptation.
 * The model is never changed (inference mode, source BN statistics): each batch's class
 * probabilities are corrected, independently of every other batch, by a Laplacian term over
 * the affinities of the batch's penultimate features. Because only the model's outputs are
 * used, LAME works on a `tf.GraphModel` as well as on a `tf.LayersModel`.
 *
 * Paper: Boudiaf, Mueller, Ben Ayed, Bertinetto, "Parameter-free Online Test-time
 * Adaptation" (CVPR 2022).
 * Reference code: fiveai/LAME `src/adaptation/lame.py` (`kNN_affinity`, `rbf_affinity`,
 * `linear_affinity`, `laplacian_optimization`, `entropy_energy`); defaults from
 * `src/config/defaults.py` (`LAME_AFFINITY = 'rbf'`, `LAME_KNN = 5`, `LAME_FORCE_SYMMETRY =
 * False`) and the `bound_lambda = 1`, `max_steps = 100` of `laplacian_optimization`.
 *
 * Per batch, as the reference code does it:
 * - p = softmax(logits); unary = -log(p + 1e-10); features L2-normalised (eps 1e-12).
 * - W: `rbf` exp(-d^2 / (2 sigma^2)) with sigma the mean over rows of the k-th smallest
 *   distance of the row, the sample itself (distance 0) counted, and the diagonal kept;
 *   `knn` W_ij = 1 for the k nearest neighbours of i, i itself excluded (not symmetric);
 *   `linear` X X^T. Optionally symmetrised, (W + W^T) / 2.
 * - Y = softmax(-unary); repeat pairwise = lambda W Y, Y = softmax(-unary + pairwise),
 *   E = sum(unary Y - lambda pairwise Y + Y log max(Y, 1e-20)); stop at iteration index
 *   i > 1 when |E - E_old| <= tol |E_old|, or after `maxIter` iterations.
 *   (As in the reference, `pairwise` already holds lambda, so lambda enters E squared, and
 *   `pairwise` is computed from the Y before the update. With the default lambda = 1 this is
 *   the CCCP bound of the LAME objective; it only drives the stopping rule.)
 *
 * Deviations (the degenerate cases are ones the reference code does not handle):
 * - Distances come from the Gram matrix, d^2 = max(0, |x_i|^2 + |x_j|^2 - 2 x_i.x_j) (that is
 *   2 - 2 X X^T for unit rows, and right for all-zero rows too) with the diagonal exactly 0,
 *   instead of an N x N x d difference tensor. Affinity and iterations run in float64 on the
 *   CPU (the reference: float32 on the GPU); exact duplicates still get distance exactly 0.
 * - Batch size 1 returns p unchanged (the reference's rbf gives 0/0 = NaN there, knn gives
 *   W = 0, linear would sharpen p with its own self-affinity).
 * - rbf with sigma = 0 (every row has at least k-1 exact duplicates, e.g. identical frames):
 *   W is the sigma -> 0 limit, 1 between duplicates and 0 elsewhere, instead of NaN.
 * - knn: ties in distance are broken by the lower index, self always excluded (the reference
 *   drops the first `topk` column, which is the sample itself unless it has duplicates).
 * - k larger than the batch: k is clipped to the batch as in the reference (min(k, N) for
 *   sigma, min(k, N - 1) neighbours for knn).
 * - Safe default (not in the reference): `classGate`. LAME's Laplacian pulls neighbours to one
 *   class, which is right when a batch holds few classes (class-sorted, Dirichlet streams) and
 *   wrong on i.i.d. batches (measured: 58.7% error against the source model's 40.1). So a batch is
 *   corrected only when its source predictions are concentrated on fewer classes than the
 *   stream's: exp(H(mean prediction of the batch)) < `classGate` x exp(H(stream prior)), the
 *   stream prior being a moving average (momentum `LAME_PRIOR_MOMENTUM` per batch) of the
 *   earlier batches' mean predictions (state `lame/streamPrior`). Comparing with the stream, not
 *   with the number of classes, keeps an i.i.d. stream on which the source model predicts few
 *   classes (a hard corruption) from looking class-correlated. Other batches (and the first one)
 *   return the source prediction. `classGate: 0` corrects every batch (the reference behaviour).
 *   With the guard on (the default) LAME also corrects only while the guard's class-correlation
 *   detector (`src/safety/classCorrelation.ts`) calls the stream correlated (`streams:
 *   'class-correlated'`); the default gate, 0.8, was measured with it (500 per domain, batch 64:
 *   i.i.d. 39.73 = source, class-sorted 33.0, mixed domains with Dirichlet(0.1) labels 29.8,
 *   against 39.73 for source; 0.6: 39.73, 34.4, 37.5; with the detector's later exit 0.25,
 *   mixed+Dirichlet 30.9). Guard off, 0.8 costs i.i.d. streams more than 0.6 did (41.7 against 40.1).
 * - Safe default (not in the reference): `maxChanged`. A correction that changes the arg-max of
 *   more than this fraction of the batch (0.25) is not trusted and the batch gets the source
 *   prediction (stats `rejected: 1`). On the benchmark's Dirichlet(0.1) streams (seeds 1-4) the
 *   corrections that changed more than 16 of 64 labels cost 444 errors net, those that changed
 *   16 or fewer saved 505: the large ones come from domains where its features are poor (chosen on validation streams with
 *   `demos/bench/lamePolicy.ts`; docs/safe-adaptation.md). 1 keeps every correction. With the
 *   guard on, LAME also corrects only while the stream is less than `guard.maxShift` from the
 *   source (src/safety/guard.ts).
 * - With the guard on, a step corrects the source pass the guard has already run for its
 *   detectors (`stepOnSourcePass`: the model is the source, so it is the same pass) instead of
 *   running the model a second time; that pass keeps BN unfolded for the detectors' hooks, so
 *   the probabilities differ from the guard-off step's by float rounding (below 1e-5).
 */
import * as tf from '../src/tf.js';
import { InvalidOptionError } from '../src/errors.js';
import { effectiveClasses } from '../src/safety/guard.js';
import type { LayerHook } from '../src/model/executor.js';
import { LAME_AFFINITIES, type LameAffinity } from '../src/fused/index.js';
import { BaseStrategy } from './baseStrategy.js';
import type { StepResult, StrategyDefinition, StrategyNeeds } from './strategy.js';

/** The affinity kernels of the reference code (one list with the fused `lameSolve`). */
export type { LameAffinity };

/** Options of the `lame` strategy; the defaults are the reference code's. */
export interface LameOptions {
  /** Affinity between the batch's features: `'rbf'`, `'knn'` or `'linear'`. Defaults to `'rbf'`. */
  affinity?: LameAffinity;
  /** Neighbours: knn's k, and rbf's sigma is the mean k-th smallest distance (self counted). Defaults to 5. */
  k?: number;
  /** Weight of the Laplacian term (the reference's `bound_lambda`). Defaults to 1. */
  lambda?: number;
  /** Maximum number of bound-optimisation iterations per batch. Defaults to 100. */
  maxIter?: number;
  /** Relative energy change below which the iterations stop. Defaults to 1e-8. */
  tol?: number;
  /** Use (W + W^T) / 2 (the reference's `LAME_FORCE_SYMMETRY`). Defaults to false. */
  forceSymmetry?: boolean;
  /**
   * LayersModel only: name of the layer whose (flattened) output is the feature vector.
   * Defaults to `''`: the penultimate representation found by introspection (the logits
   * layer's input). A GraphModel names its feature node in `graphNodes.featuresNode`.
   */
  featuresLayer?: string;
  /**
   * Correct a batch only when exp(H) of its mean source prediction is below this fraction of the
   * stream's (see the file header); otherwise return the source prediction. 0 corrects every
   * batch (the reference behaviour). Defaults to 0.8 (measured with the guard's class-correlation
   * detector, which lets LAME correct only on class-correlated streams; docs/safe-adaptation.md).
   */
  classGate?: number;
  /**
   * Largest fraction of a batch's labels the correction may change; a correction that changes
   * more returns the source prediction instead (see the file header). 1 keeps every correction
   * (the reference behaviour). Defaults to 0.25.
   */
  maxChanged?: number;
}

/** Per-batch momentum of the stream prior LAME's `classGate` compares a batch with (memory ~3 batches). */
export const LAME_PRIOR_MOMENTUM = 0.3;

/**
 * LAME's gate statistic: exp(H(batch mean prediction)) / exp(H(prior)) for source probabilities
 * [n, K] and the stream prior (all zeros before the first batch: ratio 1). Returns the ratio and
 * the prior after this batch (momentum `momentum`; the first batch's mean when the prior is empty).
 */
export function classGateRatio(
  probs: ArrayLike<number>,
  n: number,
  k: number,
  prior: ArrayLike<number>,
  momentum: number,
): { ratio: number; prior: Float32Array; first: boolean } {
  const mean = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) mean[c] = mean[c]! + probs[i * k + c]! / n;
  let priorMass = 0;
  for (let c = 0; c < k; c++) priorMass += prior[c]!;
  if (priorMass === 0) return { ratio: 1, prior: Float32Array.from(mean), first: true };
  const ratio = effectiveClasses(mean) / effectiveClasses(prior);
  return { ratio, prior: Float32Array.from(mean, (m, c) => (1 - momentum) * prior[c]! + momentum * m), first: false };
}

/** Affinity options of {@link lameAffinity}. */
export interface AffinityOptions {
  /** Defaults to `'rbf'`. */
  affinity?: LameAffinity;
  /** Defaults to 5. */
  k?: number;
  /** Defaults to false. */
  forceSymmetry?: boolean;
}

/**
 * The affinity matrix W [N, N] of a batch of features [N, d] (L2-normalised here), as a
 * tensor the caller disposes, and for `rbf` the bandwidth sigma used.
 *
 * @example
 * const { w } = lameAffinity(feats, { affinity: 'knn', k: 3 });
 */
export function lameAffinity(feats: tf.Tensor2D, options: AffinityOptions = {}): { w: tf.Tensor2D; sigma?: number } {
  const [n, d] = feats.shape;
  const { w, sigma } = lameAffinityArrays(feats.dataSync() as Float32Array, n, d, options);
  const out = tf.tensor2d(Float32Array.from(w), [n, n]);
  return sigma === undefined ? { w: out } : { w: out, sigma };
}

/**
 * {@link lameAffinity} on a row-major feature array [N, d], in float64 (an N x N problem:
 * at N = 64 this is far below the cost of launching the equivalent tfjs ops).
 */
export function lameAffinityArrays(
  feats: ArrayLike<number>,
  n: number,
  d: number,
  options: AffinityOptions = {},
): { w: Float64Array; sigma?: number } {
  const affinity = options.affinity ?? 'rbf';
  const k = options.k ?? 5;
  // F.normalize(feats, p=2, dim=-1): x / max(||x||, 1e-12).
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += feats[i * d + t]! * feats[i * d + t]!;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let t = 0; t < d; t++) x[i * d + t] = feats[i * d + t]! * inv;
  }
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let g = 0;
      for (let t = 0; t < d; t++) g += x[i * d + t]! * x[j * d + t]!;
      gram[i * n + j] = g;
      gram[j * n + i] = g;
    }
  }
  let sigma: number | undefined;
  let w: Float64Array;
  if (affinity === 'linear') {
    w = gram;
  } else {
    // d^2 = |xi|^2 + |xj|^2 - 2 xi.xj: the squared norms are 1, or 0 for an all-zero feature
    // row (a ReLU output can be), where 2 - 2 xi.xj would put it at sqrt(2) instead of 1.
    // Identical rows give bitwise-equal terms, hence exactly 0, as the reference's differences.
    const d2 = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        d2[i * n + j] = i === j ? 0 : Math.max(0, gram[i * n + i]! + gram[j * n + j]! - 2 * gram[i * n + j]!);
      }
    }
    w = new Float64Array(n * n);
    const order = new Int32Array(n);
    // Row i's columns by increasing distance, ties by index (a stable sort).
    const sortRow = (i: number): void => {
      for (let j = 0; j < n; j++) order[j] = j;
      order.sort((a, b) => d2[i * n + a]! - d2[i * n + b]! || a - b);
    };
    if (affinity === 'knn') {
      // The k nearest, the frame itself excluded (reference: topk(k + 1).indices[:, 1:]).
      const kk = Math.min(k, n - 1);
      for (let i = 0; i < n; i++) {
        sortRow(i);
        let taken = 0;
        for (let t = 0; t < n && taken < kk; t++) {
          const j = order[t]!;
          if (j === i) continue;
          w[i * n + j] = 1;
          taken++;
        }
      }
    } else {
      // rbf: sigma = mean over rows of the min(k, N)-th smallest distance, self (0) counted.
      const kk = Math.min(k, n);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        sortRow(i);
        sum += Math.sqrt(d2[i * n + order[kk - 1]!]!);
      }
      sigma = sum / n;
      const den = 2 * sigma * sigma;
      for (let t = 0; t < n * n; t++) {
        // sigma = 0 (every frame has k - 1 exact duplicates): the sigma -> 0 limit, 1 between
        // duplicates and 0 elsewhere, instead of the reference's 0 / 0.
        w[t] = den > 0 ? Math.exp(-d2[t]! / den) : d2[t] === 0 ? 1 : 0;
      }
    }
  }
  if (options.forceSymmetry ?? false) {
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const v = 0.5 * (w[i * n + j]! + w[j * n + i]!);
        w[i * n + j] = v;
        w[j * n + i] = v;
      }
    }
  }
  return sigma === undefined ? { w } : { w, sigma };
}

/** Options of {@link laplacianOptimization}. */
export interface LaplacianOptions {
  /** Defaults to 1. */
  lambda?: number;
  /** Defaults to 100. */
  maxIter?: number;
  /** Defaults to 1e-8. */
  tol?: number;
}

/** What {@link laplacianOptimization} returns. */
export interface LaplacianSolution {
  /** Corrected probabilities [N, K] (caller disposes). */
  y: tf.Tensor2D;
  /** Iterations run (1..maxIter). */
  iterations: number;
  /** Energy of every iteration, as the reference's `E_list`. */
  energies: number[];
}

/**
 * LAME's bound optimisation (reference `laplacian_optimization`) for probabilities
 * p [N, K] and a kernel W [N, N]: Y = softmax(log(p + 1e-10)), then
 * Y <- softmax(log(p + 1e-10) + lambda W Y) until the energy stops changing.
 *
 * Runs on the CPU in float64 on the downloaded p and W (N x N x K multiply-adds per
 * iteration: at N = 64, K = 10 well under 0.1 ms, where a chain of tfjs ops costs about
 * 0.3 ms per iteration in kernel launches and the per-iteration energy read-back).
 *
 * @example
 * const { y, iterations } = laplacianOptimization(probs, w, { lambda: 1 });
 */
export function laplacianOptimization(probs: tf.Tensor2D, kernel: tf.Tensor2D, options: LaplacianOptions = {}): LaplacianSolution {
  const [N, K] = probs.shape;
  const { y, iterations, energies } = laplacianOptimizationArrays(
    probs.dataSync() as Float32Array,
    kernel.dataSync() as Float32Array,
    N,
    K,
    options,
  );
  return { y: tf.tensor2d(y, [N, K]), iterations, energies };
}

/** {@link laplacianOptimization} on row-major arrays: p [N, K], W [N, N]; returns Y as float32. */
export function laplacianOptimizationArrays(
  p: ArrayLike<number>,
  w: ArrayLike<number>,
  N: number,
  K: number,
  options: LaplacianOptions = {},
): { y: Float32Array; iterations: number; energies: number[] } {
  const lambda = options.lambda ?? 1;
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-8;
  const NK = N * K;
  const logp = new Float64Array(NK); // -unary
  for (let i = 0; i < NK; i++) logp[i] = Math.log(p[i]! + 1e-10);
  const W = w instanceof Float64Array ? w : Float64Array.from(w);
  const y = new Float64Array(NK);
  const pair = new Float64Array(NK);
  const yT = new Float64Array(NK);
  const logY = new Float64Array(NK);
  softmaxRowsInto(logp, null, y, N, K);
  const energies: number[] = [];
  let oldE = Infinity;
  let iterations = 0;
  for (let i = 0; i < maxIter; i++) {
    // pairwise = lambda * W Y, from the Y before the update (as the reference).
    for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) yT[c * N + r] = y[r * K + c]!;
    matMulTransposed(W, yT, pair, N, K, lambda);
    softmaxRowsInto(logp, pair, y, N, K, logY);
    // entropy_energy: sum(unary Y - lambda pairwise Y + Y log max(Y, 1e-20)); log Y comes from
    // the softmax itself (z - max - log sum), which saves N K logarithms per iteration.
    let E = 0;
    for (let t = 0; t < NK; t++) {
      const v = y[t]!;
      E += v * (-logp[t]! - lambda * pair[t]! + Math.max(logY[t]!, LOG_1E_20));
    }
    energies.push(E);
    iterations = i + 1;
    if (i > 1 && Math.abs(E - oldE) <= tol * Math.abs(oldE)) break;
    oldE = E;
  }
  return { y: Float32Array.from(y), iterations, energies };
}

/**
 * out[r, c] = scale * sum_j W[r, j] yT[c, j] for W [N, N], yT [K, N] (Y transposed, so every
 * sum is a contiguous dot product), two rows by four columns at a time so each load feeds
 * several multiply-adds (about 2x the plain triple loop in V8).
 */
function matMulTransposed(W: Float64Array, yT: Float64Array, out: Float64Array, N: number, K: number, scale: number): void {
  let r = 0;
  for (; r + 2 <= N; r += 2) {
    const ra = r * N;
    const rb = ra + N;
    let c = 0;
    for (; c + 4 <= K; c += 4) {
      const c0 = c * N;
      const c1 = c0 + N;
      const c2 = c1 + N;
      const c3 = c2 + N;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let j = 0; j < N; j++) {
        const wa = W[ra + j]!;
        const wb = W[rb + j]!;
        const y0 = yT[c0 + j]!;
        const y1 = yT[c1 + j]!;
        const y2 = yT[c2 + j]!;
        const y3 = yT[c3 + j]!;
        a0 += wa * y0; a1 += wa * y1; a2 += wa * y2; a3 += wa * y3;
        b0 += wb * y0; b1 += wb * y1; b2 += wb * y2; b3 += wb * y3;
      }
      const oa = r * K + c;
      const ob = oa + K;
      out[oa] = scale * a0; out[oa + 1] = scale * a1; out[oa + 2] = scale * a2; out[oa + 3] = scale * a3;
      out[ob] = scale * b0; out[ob + 1] = scale * b1; out[ob + 2] = scale * b2; out[ob + 3] = scale * b3;
    }
    for (; c < K; c++) {
      const col = c * N;
      let a = 0;
      let b = 0;
      for (let j = 0; j < N; j++) {
        const v = yT[col + j]!;
        a += W[ra + j]! * v;
        b += W[rb + j]! * v;
      }
      out[r * K + c] = scale * a;
      out[(r + 1) * K + c] = scale * b;
    }
  }
  for (; r < N; r++) {
    const row = r * N;
    for (let c = 0; c < K; c++) {
      const col = c * N;
      let acc = 0;
      for (let j = 0; j < N; j++) acc += W[row + j]! * yT[col + j]!;
      out[r * K + c] = scale * acc;
    }
  }
}

const LOG_1E_20 = Math.log(1e-20);

/** y[r] = softmax(z[r] + a[r]) row by row (a may be null); optionally log y into logY. */
function softmaxRowsInto(z: Float64Array, a: Float64Array | null, y: Float64Array, N: number, K: number, logY?: Float64Array): void {
  for (let r = 0; r < N; r++) {
    const o = r * K;
    let m = -Infinity;
    for (let c = 0; c < K; c++) {
      const v = z[o + c]! + (a === null ? 0 : a[o + c]!);
      y[o + c] = v;
      if (v > m) m = v;
    }
    if (logY !== undefined) for (let c = 0; c < K; c++) logY[o + c] = y[o + c]! - m;
    let s = 0;
    for (let c = 0; c < K; c++) {
      const e = Math.exp(y[o + c]! - m);
      y[o + c] = e;
      s += e;
    }
    for (let c = 0; c < K; c++) y[o + c] = y[o + c]! / s;
    if (logY !== undefined) {
      const logS = Math.log(s);
      for (let c = 0; c < K; c++) logY[o + c] = logY[o + c]! - logS;
    }
  }
}

/** LAME's full per-batch correction: affinity of `feats`, then the bound optimisation. */
export interface LameSolution {
  /** Corrected probabilities [N, K] (caller disposes). */
  y: tf.Tensor2D;
  iterations: number;
  /** Final energy (0 when the batch has one frame). */
  energy: number;
  /** rbf bandwidth, if rbf. */
  sigma?: number;
}

/**
 * Corrects `probs` [N, K] with the Laplacian over `feats` [N, d] (any scale; normalised here).
 * Batch size 1 returns a copy of `probs` (0 iterations).
 *
 * The WASM `lameSolve` of `src/fused` computes the same Y (measured agreement ~1e-17 at
 * N = 64 on ordinary features) faster, but returns neither the iteration count nor the
 * energy this strategy reports, and differs on degenerate input (all-zero feature rows); it
 * can replace the two calls below once it returns `{ y, iterations, energy }`.
 */
export function lameCorrect(
  probs: tf.Tensor2D,
  feats: tf.Tensor2D,
  options: AffinityOptions & LaplacianOptions = {},
): LameSolution {
  const [n, numClasses] = probs.shape;
  if (n <= 1) return { y: tf.clone(probs), iterations: 0, energy: 0 };
  const { w, sigma } = lameAffinityArrays(feats.dataSync() as Float32Array, n, feats.shape[1], options);
  const { y, iterations, energies } = laplacianOptimizationArrays(probs.dataSync() as Float32Array, w, n, numClasses, options);
  const out: LameSolution = { y: tf.tensor2d(y, [n, numClasses]), iterations, energy: energies[energies.length - 1]! };
  if (sigma !== undefined) out.sigma = sigma;
  return out;
}

type LameConfig = Required<LameOptions>;

class LameStrategy extends BaseStrategy<LameConfig> {
  readonly name = 'lame';
  readonly needs = lameStrategy.needs;
  /** With the guard on, LAME corrects only on streams its class-correlation detector calls correlated. */
  readonly streams = 'class-correlated';
  protected readonly stateMetaSchema = {};
  private readonly featureHooks: Map<string, LayerHook> | undefined;
  private captured: tf.Tensor | null = null;
  /**
   * The step on the guard's source pass (see Strategy): LAME reads only the model's outputs, and
   * the model is the source. Only with the penultimate features (no `featuresLayer`).
   */
  readonly stepOnSourcePass?: (probs: tf.Tensor2D, features: tf.Tensor2D, update?: boolean) => StepResult;
  /** The stream prior of `classGate` (zeros until the first batch). */
  private readonly streamPrior: tf.Variable;

  constructor(...args: ConstructorParameters<typeof BaseStrategy<LameConfig>>) {
    super(...args);
    this.streamPrior = tf.tidy(() => tf.variable(tf.zeros([this.target.numClasses]), false));
    const name = this.config.featuresLayer;
    if (name === '') {
      this.stepOnSourcePass = (probs, features, update = true) => {
        this.ensureSource();
        return this.correctPass(probs, features, update);
      };
    } else {
      if (this.target.kind !== 'layers') {
        throw new InvalidOptionError(
          "lame: `featuresLayer` applies to a tf.LayersModel; for a tf.GraphModel name the feature node in `graphNodes.featuresNode`.",
        );
      }
      const names = this.target.model.layers.map((l) => l.name);
      if (!names.includes(name)) {
        throw new InvalidOptionError(
          `lame: featuresLayer '${name}' is not a layer of model '${this.target.model.name}'. Its layers: ${names.join(', ')}.`,
        );
      }
      this.featureHooks = new Map([
        [
          name,
          ({ original }) => {
            const out = original();
            this.captured = out;
            return out;
          },
        ],
      ]);
    }
  }

  protected override stateVariables(): Map<string, tf.Variable> {
    return new Map([...super.stateVariables(), ['lame/streamPrior', this.streamPrior]]);
  }

  protected override nonNegativeState(): tf.Variable[] {
    return [...super.nonNegativeState(), this.streamPrior];
  }

  protected override onDispose(): void {
    this.streamPrior.dispose();
  }

  protected forward(x: tf.Tensor4D): StepResult {
    return this.correct(x, true);
  }

  /** The step's correction of this batch, the stream prior left as it was. */
  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    return this.correct(x, false).probs;
  }

  private correct(x: tf.Tensor4D, commit: boolean): StepResult {
    const { probs, feats } = tf.tidy(() => {
      const target = this.target;
      if (target.kind === 'graph') {
        const { logits, features } = target.run(x);
        return { probs: tf.softmax(logits) as tf.Tensor2D, feats: features };
      }
      this.captured = null;
      const { logits, features } = target.executor.run(x, this.featureHooks ? { hooks: this.featureHooks } : {});
      let feats = features;
      if (this.featureHooks !== undefined) {
        const c = this.captured as tf.Tensor | null;
        this.captured = null;
        feats = tf.reshape(c!, [c!.shape[0]!, -1]);
      }
      return { probs: tf.softmax(logits) as tf.Tensor2D, feats };
    });
    try {
      return this.correctPass(probs, feats, commit);
    } finally {
      probs.dispose();
      feats.dispose();
    }
  }

  /** The correction of a batch given its source probabilities and features (not disposed here). */
  private correctPass(probs: tf.Tensor2D, feats: tf.Tensor2D, commit: boolean): StepResult {
    const [n, k] = probs.shape;
    let gateRatio = 0;
    if (this.config.classGate > 0) {
      const gate = classGateRatio(probs.dataSync(), n, k, this.streamPrior.dataSync(), LAME_PRIOR_MOMENTUM);
      if (commit) tf.tidy(() => this.streamPrior.assign(tf.tensor1d(gate.prior)));
      gateRatio = gate.ratio;
      // The first batch has no stream to compare with: never corrected.
      if (gate.first || gate.ratio >= this.config.classGate) {
        return { probs: tf.clone(probs), stats: { iterations: 0, energy: 0, changed: 0, gateRatio, corrected: 0, rejected: 0 } };
      }
    }
    const sol = lameCorrect(probs, feats, this.config);
    const changed = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(tf.argMax(probs, 1), tf.argMax(sol.y, 1)), 'int32')).dataSync()[0]!);
    const stats: Record<string, number> = { iterations: sol.iterations, energy: sol.energy, changed, gateRatio, corrected: 1, rejected: 0 };
    if (sol.sigma !== undefined) stats.sigma = sol.sigma;
    // A correction that overrules the model on too many frames is not trusted (maxChanged).
    if (changed > this.config.maxChanged * n) {
      sol.y.dispose();
      return { probs: tf.clone(probs), stats: { ...stats, changed: 0, corrected: 0, rejected: 1 } };
    }
    return { probs: sol.y, stats };
  }
}

function checkInt(name: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new InvalidOptionError(`lame: option '${name}' must be an integer >= ${min}; got ${String(v)}.`);
  }
}

/** The `lame` registry entry. */
export const lameStrategy: StrategyDefinition<'lame', LameOptions> = {
  name: 'lame',
  description: 'LAME: Laplacian correction of each batch\'s outputs over feature affinities (model untouched; GraphModels too).',
  needs: { batchNorm: false, gradients: false, layersModel: false } satisfies StrategyNeeds,
  defaults: { affinity: 'rbf', k: 5, lambda: 1, maxIter: 100, tol: 1e-8, forceSymmetry: false, featuresLayer: '', classGate: 0.8, maxChanged: 0.25 },
  validate(config) {
    if (!(LAME_AFFINITIES as readonly string[]).includes(config.affinity)) {
      throw new InvalidOptionError(`lame: option 'affinity' must be 'rbf', 'knn' or 'linear'; got '${String(config.affinity)}'.`);
    }
    checkInt('k', config.k, 1);
    checkInt('maxIter', config.maxIter, 1);
    if (typeof config.lambda !== 'number' || !Number.isFinite(config.lambda) || config.lambda < 0) {
      throw new InvalidOptionError(`lame: option 'lambda' must be a finite number >= 0; got ${String(config.lambda)}.`);
    }
    if (typeof config.tol !== 'number' || !(config.tol >= 0)) {
      throw new InvalidOptionError(`lame: option 'tol' must be a number >= 0; got ${String(config.tol)}.`);
    }
    if (typeof config.forceSymmetry !== 'boolean') {
      throw new InvalidOptionError(`lame: option 'forceSymmetry' must be a boolean; got ${String(config.forceSymmetry)}.`);
    }
    if (typeof config.classGate !== 'number' || !(config.classGate >= 0) || !Number.isFinite(config.classGate)) {
      throw new InvalidOptionError(`lame: option 'classGate' must be a finite number >= 0 (0 corrects every batch, the reference behaviour); got ${String(config.classGate)}.`);
    }
    if (typeof config.maxChanged !== 'number' || !(config.maxChanged >= 0 && config.maxChanged <= 1)) {
      throw new InvalidOptionError(`lame: option 'maxChanged' must be a number in [0, 1] (1 keeps every correction, the reference behaviour); got ${String(config.maxChanged)}.`);
    }
    if (typeof config.featuresLayer !== 'string') {
      throw new InvalidOptionError(`lame: option 'featuresLayer' must be a layer name (string); got ${String(config.featuresLayer)}.`);
    }
  },
  create: (target, config, context) => new LameStrategy(target, config, context),
};
