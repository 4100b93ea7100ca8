/**
 * Fused adaptation ops: one call instead of a chain of tfjs ops for the hot
 * loops of the strategies. On the 'wasm' backend each runs as one WASM SIMD
 * kernel on the tensors in place (wasm/assembly/fused.ts); on any other
 * backend the plain-TS twin in ./oracle.ts runs (and is the tests' oracle).
 *
 * None of them writes into an existing tensor's memory: results go to fresh
 * tensors, and variables are updated with `assign`. (tfjs-backend-wasm caches
 * packed conv / depthwise / matMul weights per tensor id, so an in-place write
 * to a weight variable would be silently ignored by those kernels; and a
 * dataId may be shared by several tensors.)
 *
 * These are forward computations, not differentiable ops.
 *
 * @example
 * emaUpdate(teacherVars, studentVars, 0.999);
 * const n = stochasticRestore(studentVars, sourceTensors, 0.01, rng);
 * const h = softmaxEntropy(logits);                    // [B]
 * const y = lameSolve(probs, feats, { affinity: 'knn', k: 5 });
 */
import * as tf from '../tf.js';
import { edgeExports, ptrOf, type WasmBackendLike } from '../backend/kernels/edgeModule.js';
import { createRng, type SeededRng } from '../random.js';
import { emaOracle, lameOracle, LAME_AFFINITIES, mixBnOracle, restoreOracle, softmaxEntropyOracle, type LameAffinity } from './oracle.js';

export { createRng, type SeededRng } from '../random.js';
export { LAME_AFFINITIES, type LameAffinity } from './oracle.js';

/** The wasm backend when it is the active one, else null (use the TS path). */
function activeWasm(): WasmBackendLike | null {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmBackendLike) : null;
}

function fromInfo<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor<R>;
}

/**
 * Outputs of the given shapes for one kernel call. If one cannot be made (out of memory), those
 * already made are freed before the error goes on: they are not tensors yet, so no tidy would.
 */
function makeOutputs(backend: WasmBackendLike, shapes: readonly number[][]): tf.TensorInfo[] {
  const outs: tf.TensorInfo[] = [];
  try {
    for (const shape of shapes) outs.push(backend.makeOutput(shape, 'float32'));
  } catch (e) {
    for (const o of outs) backend.disposeData(o.dataId);
    throw e;
  }
  return outs;
}

function checkPairs(op: string, a: readonly tf.Tensor[], aName: string, b: readonly tf.Tensor[], bName: string): void {
  if (a.length !== b.length) {
    throw new Error(`${op}: ${aName} has ${a.length} tensors but ${bName} has ${b.length}; pass them in matching order.`);
  }
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.dtype !== 'float32' || y.dtype !== 'float32') {
      throw new Error(`${op}: ${aName}[${i}] and ${bName}[${i}] must be float32 (got ${x.dtype} and ${y.dtype}).`);
    }
    if (!tf.util.arraysEqual(x.shape, y.shape)) {
      throw new Error(`${op}: ${aName}[${i}] has shape [${x.shape}] but ${bName}[${i}] has shape [${y.shape}].`);
    }
  }
}

function checkUnit(op: string, name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new Error(`${op}: ${name} must be in [0, 1], got ${v}.`);
}

/**
 * EMA of a parameter set: teacher = m * teacher + (1 - m) * student, for
 * every pair (CoTTA / ViDA teacher update, m = 0.999).
 *
 * @example emaUpdate(teacher.trainableVars, student.trainableVars, 0.999);
 */
export function emaUpdate(teacher: readonly tf.Variable[], student: readonly tf.Tensor[], momentum: number): void {
  checkPairs('emaUpdate', teacher, 'teacher', student, 'student');
  checkUnit('emaUpdate', 'momentum', momentum);
  const backend = activeWasm();
  for (let i = 0; i < teacher.length; i++) {
    const t = teacher[i]!;
    const s = student[i]!;
    if (t.size === 0) continue;
    let next: tf.Tensor;
    if (backend) {
      const ex = edgeExports(backend);
      const out = backend.makeOutput(t.shape, 'float32');
      // Pointers are taken after makeOutput (which may grow the memory; offsets stay valid).
      ex.emaUpdate(ptrOf(backend, t), ptrOf(backend, s), ptrOf(backend, out), t.size, momentum);
      next = fromInfo(out);
    } else {
      next = tf.tensor(emaOracle(t.dataSync() as Float32Array, s.dataSync() as Float32Array, momentum), t.shape);
    }
    t.assign(next);
    next.dispose();
  }
}

/**
 * Stochastic restore (CoTTA): every element of every variable is reset to
 * its source value with probability p (elementwise Bernoulli), drawing one
 * uniform per element from a seeded mulberry32, variables in order. The same
 * seed (or rng state) gives the same mask on every backend. A passed rng is
 * advanced, so consecutive calls continue its sequence. Returns the number of
 * elements restored.
 *
 * @example
 * const rng = createRng(1);
 * const restored = stochasticRestore(student.trainableVars, sourceWeights, 0.01, rng);
 */
export function stochasticRestore(vars: readonly tf.Variable[], source: readonly tf.Tensor[], p: number, seed: number | SeededRng): number {
  checkPairs('stochasticRestore', vars, 'vars', source, 'source');
  checkUnit('stochasticRestore', 'p', p);
  const rng = typeof seed === 'number' ? createRng(seed) : seed;
  const backend = activeWasm();
  let total = 0;
  if (backend) {
    const ex = edgeExports(backend);
    ex.setRngState(rng.state);
    for (let i = 0; i < vars.length; i++) {
      const v = vars[i]!;
      if (v.size === 0) continue;
      const out = backend.makeOutput(v.shape, 'float32');
      const n = ex.stochasticRestore(ptrOf(backend, v), ptrOf(backend, source[i]!), ptrOf(backend, out), v.size, p);
      const next = fromInfo(out);
      if (n > 0) v.assign(next);
      next.dispose();
      total += n;
    }
    rng.state = ex.getRngState() >>> 0;
  } else {
    for (let i = 0; i < vars.length; i++) {
      const v = vars[i]!;
      if (v.size === 0) continue;
      const { out, restored } = restoreOracle(v.dataSync() as Float32Array, source[i]!.dataSync() as Float32Array, p, rng);
      if (restored > 0) {
        const next = tf.tensor(out, v.shape);
        v.assign(next);
        next.dispose();
      }
      total += restored;
    }
  }
  return total;
}

/**
 * alpha-BN statistic mixing: mean = (1 - a) * srcMean + a * batchMean, and
 * the same for the variance. Returns two new tensors (the caller disposes).
 *
 * @example const { mean, variance } = mixBnStats(mu0, var0, muB, varB, 0.1);
 */
export function mixBnStats(srcMean: tf.Tensor, srcVar: tf.Tensor, batchMean: tf.Tensor, batchVar: tf.Tensor, alpha: number): { mean: tf.Tensor; variance: tf.Tensor } {
  checkPairs('mixBnStats', [srcMean, srcVar], 'source statistics', [batchMean, batchVar], 'batch statistics');
  checkPairs('mixBnStats', [srcMean], 'srcMean', [srcVar], 'srcVar');
  checkUnit('mixBnStats', 'alpha', alpha);
  const backend = activeWasm();
  if (backend && srcMean.size > 0) {
    const [om, ov] = makeOutputs(backend, [srcMean.shape, srcMean.shape]) as [tf.TensorInfo, tf.TensorInfo];
    edgeExports(backend).mixBnStats(ptrOf(backend, srcMean), ptrOf(backend, srcVar), ptrOf(backend, batchMean), ptrOf(backend, batchVar),
      ptrOf(backend, om), ptrOf(backend, ov), srcMean.size, alpha);
    return { mean: fromInfo(om), variance: fromInfo(ov) };
  }
  const r = mixBnOracle(srcMean.dataSync() as Float32Array, srcVar.dataSync() as Float32Array,
    batchMean.dataSync() as Float32Array, batchVar.dataSync() as Float32Array, alpha);
  return { mean: tf.tensor(r.mean, srcMean.shape), variance: tf.tensor(r.variance, srcMean.shape) };
}

/**
 * Shannon entropy (nats) of softmax(logits) per row: [B, K] -> [B].
 * Numerically stable (max-shifted, float64 inside). Not differentiable: for a
 * Tent loss use tfjs ops.
 *
 * @example const h = softmaxEntropy(logits); // h.shape = [B]
 */
export function softmaxEntropy(logits: tf.Tensor2D): tf.Tensor1D {
  if (logits.rank !== 2) throw new Error(`softmaxEntropy: logits must be [batch, classes], got shape [${logits.shape}].`);
  if (logits.dtype !== 'float32') throw new Error(`softmaxEntropy: logits must be float32, got ${logits.dtype}.`);
  const [B, K] = logits.shape;
  const backend = activeWasm();
  if (backend && B > 0 && K > 0) {
    const out = backend.makeOutput([B], 'float32');
    edgeExports(backend).softmaxEntropy(ptrOf(backend, logits), ptrOf(backend, out), B, K);
    return fromInfo(out);
  }
  if (K === 0) return tf.fill([B], NaN) as tf.Tensor1D;
  return tf.tensor1d(softmaxEntropyOracle(logits.dataSync() as Float32Array, B, K));
}

/** Options of {@link lameSolve}; the defaults are the official fiveai/LAME ones. */
export interface LameOptions {
  /** Affinity: 'rbf', 'knn' or 'linear'. Defaults to 'rbf' (the reference's and the `lame` strategy's default). */
  affinity?: LameAffinity;
  /** Neighbours: knn keeps the k nearest (self excluded, clamped to batch - 1); rbf's sigma is the mean k-th smallest distance (self counted, clamped to batch). Defaults to 5. */
  k?: number;
  /** Weight of the Laplacian term. Defaults to 1. */
  lambda?: number;
  /** Maximum iterations. Defaults to 100. */
  maxIter?: number;
  /** Relative energy change that stops the iteration (checked from the third iteration on). Defaults to 1e-8. */
  tol?: number;
}

/**
 * LAME's inner loop (fiveai/LAME): refines the batch's class probabilities
 * with a Laplacian over feature affinities. probs [B, K] (softmax outputs),
 * feats [B, D] L2-normalised penultimate features (distances are computed as
 * 2 - 2 x.y). Returns the refined [B, K] assignment; a batch of 1 returns a
 * copy of probs. See DESIGN.md for the exact semantics.
 *
 * @example const y = lameSolve(probs, tf.div(f, tf.norm(f, 2, 1, true)), { affinity: 'knn', k: 5 });
 */
export function lameSolve(probs: tf.Tensor2D, feats: tf.Tensor2D, options: LameOptions = {}): tf.Tensor2D {
  const affinity = options.affinity ?? 'rbf';
  const k = options.k ?? 5;
  const lambda = options.lambda ?? 1;
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-8;
  const kind = LAME_AFFINITIES.indexOf(affinity);
  if (kind < 0) throw new Error(`lameSolve: unknown affinity '${String(affinity)}'. Valid affinities: ${LAME_AFFINITIES.map((a) => `'${a}'`).join(', ')}.`);
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`lameSolve: k must be an integer >= 1, got ${k}.`);
  if (!(Number.isInteger(maxIter) && maxIter >= 0)) throw new Error(`lameSolve: maxIter must be an integer >= 0, got ${maxIter}.`);
  if (probs.rank !== 2 || feats.rank !== 2 || probs.shape[0] !== feats.shape[0]) {
    throw new Error(`lameSolve: probs must be [batch, classes] and feats [batch, dim] with the same batch; got [${probs.shape}] and [${feats.shape}].`);
  }
  if (probs.dtype !== 'float32' || feats.dtype !== 'float32') throw new Error('lameSolve: probs and feats must be float32.');
  const [B, K] = probs.shape;
  const D = feats.shape[1];
  if (B <= 1 || K === 0) return probs.clone();
  const backend = activeWasm();
  if (backend) {
    const scratchBytes = (2 * B * B + 3 * B * K) * 8;
    const scratch = backend.wasm._malloc(scratchBytes) >>> 0;
    try {
      const out = backend.makeOutput([B, K], 'float32');
      edgeExports(backend).lameSolve(ptrOf(backend, probs), ptrOf(backend, feats), ptrOf(backend, out), scratch, B, K, D, kind, k, lambda, maxIter, tol);
      return fromInfo(out);
    } finally {
      backend.wasm._free(scratch);
    }
  }
  const { y } = lameOracle(probs.dataSync() as Float32Array, feats.dataSync() as Float32Array, B, K, D, { affinity, k, lambda, maxIter, tol });
  return tf.tensor2d(y, [B, K]);
}

/**
 * Per-channel batch moments of `x` over every axis but the last (NHWC BN's training-mode
 * statistics): mean and biased variance, in one read of `x` (f64 sums inside) on the wasm
 * backend. Returns null on other backends, for dtypes other than float32 or an empty `x`: the
 * caller then uses `tf.moments`. Not differentiable (the result is a constant to a tape).
 *
 * @example const m = channelMomentsFused(x) ?? tf.moments(x, [0, 1, 2]);
 */
export function channelMomentsFused(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || x.size === 0 || x.rank < 2) return null;
  const C = x.shape[x.rank - 1]!;
  const R = x.size / C;
  const scratch = backend.wasm._malloc(24 * C) >>> 0;
  try {
    const [mean, variance] = makeOutputs(backend, [[C], [C]]) as [tf.TensorInfo, tf.TensorInfo];
    edgeExports(backend).channelMoments(ptrOf(backend, x), ptrOf(backend, mean), ptrOf(backend, variance), scratch, R, C);
    return { mean: fromInfo(mean), variance: fromInfo(variance) };
  } finally {
    backend.wasm._free(scratch);
  }
}

/**
 * Per-frame, per-channel moments of an NHWC `x` [N, ..., C] over its spatial axes: mean and
 * biased variance [N, C], each frame in one read (the kernel of {@link channelMomentsFused} on
 * each frame's rows) on the wasm backend. Returns null on other backends, for dtypes other than
 * float32, rank below 3 or an empty `x`: use `tf.moments(x, spatialAxes)`. Not differentiable.
 *
 * @example const m = frameChannelMomentsFused(x) ?? tf.moments(x, [1, 2]);
 */
export function frameChannelMomentsFused(x: tf.Tensor): { mean: tf.Tensor2D; variance: tf.Tensor2D } | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || x.size === 0 || x.rank < 3) return null;
  const N = x.shape[0]!;
  const C = x.shape[x.rank - 1]!;
  const R = x.size / (N * C);
  const scratch = backend.wasm._malloc(24 * C) >>> 0;
  try {
    const [mean, variance] = makeOutputs(backend, [[N, C], [N, C]]) as [tf.TensorInfo, tf.TensorInfo];
    const [xp, mp, vp] = [ptrOf(backend, x), ptrOf(backend, mean), ptrOf(backend, variance)];
    const kernels = edgeExports(backend);
    for (let n = 0; n < N; n++) kernels.channelMoments(xp + 4 * n * R * C, mp + 4 * n * C, vp + 4 * n * C, scratch, R, C);
    return { mean: fromInfo(mean), variance: fromInfo(variance) };
  } finally {
    backend.wasm._free(scratch);
  }
}

/**
 * (x - mean) / sqrt(variance + eps) * gamma + beta over the last axis, as `tf.batchNorm`, in one
 * read and one write on the wasm backend (null elsewhere: use `tf.batchNorm`). Not differentiable.
 *
 * @example const y = batchNormalizeFused(x, mean, variance, gamma, beta, 1e-3) ?? tf.batchNorm(...);
 */
export function batchNormalizeFused(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined, eps: number): tf.Tensor | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || x.size === 0 || x.rank < 2) return null;
  const C = x.shape[x.rank - 1]!;
  for (const t of [mean, variance, gamma, beta]) if (t !== undefined && (t.size !== C || t.dtype !== 'float32')) return null;
  const scratch = backend.wasm._malloc(8 * C) >>> 0;
  try {
    const out = backend.makeOutput(x.shape, 'float32');
    edgeExports(backend).batchNormalize(ptrOf(backend, x), ptrOf(backend, mean), ptrOf(backend, variance),
      gamma === undefined ? 0 : ptrOf(backend, gamma), beta === undefined ? 0 : ptrOf(backend, beta),
      ptrOf(backend, out), scratch, x.size / C, C, eps);
    return fromInfo(out);
  } finally {
    backend.wasm._free(scratch);
  }
}

/**
 * The closed-form backward of batch-statistics BN over the last axis (see `batchNormTrain` in
 * src/model/batchNorm.ts): dx, dgamma = sum dy * xhat, dbeta = sum dy, for `y = batchNorm(x,
 * mean, variance, beta, gamma, eps)` with `mean` / `variance` the batch's own statistics (`weight`
 * 1), or statistics that move toward the batch's by `weight` (moving statistics). On the wasm
 * backend two reads of x and dy and one write of dx (null elsewhere: use tfjs ops).
 *
 * @example const g = batchNormBackwardFused(x, dy, mean, variance, gamma, 1e-3); // { dx, dgamma, dbeta }
 */
export function batchNormBackwardFused(
  x: tf.Tensor, dy: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor | undefined, eps: number, weight = 1,
): { dx: tf.Tensor; dgamma: tf.Tensor1D; dbeta: tf.Tensor1D } | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || dy.dtype !== 'float32' || x.size === 0 || x.rank < 2) return null;
  if (!tf.util.arraysEqual(x.shape, dy.shape)) return null;
  const C = x.shape[x.rank - 1]!;
  for (const t of [mean, variance, gamma]) if (t !== undefined && (t.size !== C || t.dtype !== 'float32')) return null;
  const scratch = backend.wasm._malloc(28 * C) >>> 0;
  try {
    const [dx, dgamma, dbeta] = makeOutputs(backend, [x.shape, [C], [C]]) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
    edgeExports(backend).batchNormBackward(ptrOf(backend, x), ptrOf(backend, dy), ptrOf(backend, mean), ptrOf(backend, variance),
      gamma === undefined ? 0 : ptrOf(backend, gamma), ptrOf(backend, dx), ptrOf(backend, dgamma), ptrOf(backend, dbeta),
      scratch, x.size / C, C, eps, weight);
    return { dx: fromInfo(dx), dgamma: fromInfo(dgamma), dbeta: fromInfo(dbeta) };
  } finally {
    backend.wasm._free(scratch);
  }
}

/**
 * The input gradient of a ReLU clipped at `maxValue` (Infinity: plain ReLU): dy where
 * 0 < x <= maxValue (`inclusive`; else 0 < x < maxValue), NaN where x is NaN, else 0 (dy * 0, so
 * NaN for a non-finite dy, except +0 above an inclusive clip), the values of tfjs's relu and clip
 * (or minimum) gradients, in one pass on the wasm backend (null elsewhere: use tfjs ops).
 *
 * @example const dx = reluBackwardFused(x, dy, 6, true) ?? tf.mul(dy, mask);
 */
export function reluBackwardFused(x: tf.Tensor, dy: tf.Tensor, maxValue: number, inclusive: boolean): tf.Tensor | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || dy.dtype !== 'float32' || !tf.util.arraysEqual(x.shape, dy.shape)) return null;
  const out = backend.makeOutput(x.shape, 'float32');
  if (x.size > 0) edgeExports(backend).reluBackward(ptrOf(backend, x), ptrOf(backend, dy), ptrOf(backend, out), x.size, maxValue, inclusive ? 1 : 0);
  return fromInfo(out);
}

/**
 * The bilinear resampling of CoTTA's affine augmentation (src/augment/geometric.ts `applyWarp`):
 * x [n, h*w, c] and four taps per output pixel (`index[k]` int32 [m], `weights[k]` [m]) ->
 * [n, m, c], in one pass on the wasm backend (the same values as the four gathers, products and
 * addN bit for bit; null elsewhere: use those ops).
 */
export function warpGatherFused(x: tf.Tensor3D, index: readonly Int32Array[], weights: readonly Float32Array[]): tf.Tensor3D | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || x.size === 0) return null;
  const [n, hw, c] = x.shape;
  const m = index[0]!.length;
  // The four taps end to end, the layout the kernel reads.
  const idx = tf.tensor1d(joined(index, new Int32Array(4 * m)), 'int32');
  const w = tf.tensor1d(joined(weights, new Float32Array(4 * m)));
  try {
    const out = backend.makeOutput([n, m, c], 'float32');
    edgeExports(backend).warpGather(ptrOf(backend, x), ptrOf(backend, idx), ptrOf(backend, w), ptrOf(backend, out), n, hw, m, c);
    return fromInfo(out);
  } finally {
    tf.dispose([idx, w]);
  }
}

function joined<T extends Int32Array | Float32Array>(parts: readonly T[], out: T): T {
  parts.forEach((p, k) => out.set(p, k * p.length));
  return out;
}

/**
 * CoTTA's hue shift of RGB images (src/augment/colorJitter.ts `adjustHue`, torchvision's
 * rgb -> hsv -> rgb) in one pass on the wasm backend, the same values as those ops on wasm bit
 * for bit, NaN, infinite and out-of-range pixels included (null elsewhere, or for other than 3
 * channels: use the tfjs ops).
 */
export function adjustHueFused(x: tf.Tensor4D, shift: number): tf.Tensor4D | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || x.shape[3] !== 3 || x.size === 0) return null;
  const out = backend.makeOutput(x.shape, 'float32');
  edgeExports(backend).adjustHueRgb(ptrOf(backend, x), ptrOf(backend, out), x.size / 3, Math.fround(shift + 1));
  return fromInfo(out);
}

/**
 * ITU-R 601-2 luma of RGB images [n, h, w, 3] -> [n, h, w, 1] (src/augment/colorJitter.ts
 * `toGrayscale`) in one pass on the wasm backend, the same values bit for bit (null elsewhere).
 */
export function grayscaleFused(x: tf.Tensor4D): tf.Tensor4D | null {
  const backend = activeWasm();
  if (backend === null || x.dtype !== 'float32' || x.shape[3] !== 3 || x.size === 0) return null;
  const out = backend.makeOutput([x.shape[0], x.shape[1], x.shape[2], 1], 'float32');
  edgeExports(backend).rgbToGray(ptrOf(backend, x), ptrOf(backend, out), x.size / 3);
  return fromInfo(out);
}

/** The scalars of one Adam update (strategies/adam.ts), as JS numbers; the kernel rounds them to f32 as tfjs does. */
export interface AdamScalars {
  beta1: number;
  beta2: number;
  /** sqrt(1 - beta2^t). */
  sqrtC2: number;
  epsilon: number;
  /** lr / (1 - beta1^t). */
  step: number;
}

/**
 * One Adam update of one parameter on the wasm backend: the new parameter and moments (fresh
 * tensors; the caller assigns them), the same values bit for bit as the tfjs ops of
 * strategies/adam.ts in one pass instead of eleven. Null elsewhere (use the ops).
 */
export function adamStepFused(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: AdamScalars): { p: tf.Tensor; m: tf.Tensor; v: tf.Tensor } | null {
  const backend = activeWasm();
  if (backend === null || p.size === 0) return null;
  for (const t of [p, g, m, v]) if (t.dtype !== 'float32' || t.size !== p.size) return null;
  const [op, om, ov] = makeOutputs(backend, [p.shape, p.shape, p.shape]) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  edgeExports(backend).adamStep(ptrOf(backend, p), ptrOf(backend, g), ptrOf(backend, m), ptrOf(backend, v),
    ptrOf(backend, op), ptrOf(backend, om), ptrOf(backend, ov), p.size,
    s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.sqrtC2, s.epsilon, s.step);
  return { p: fromInfo(op), m: fromInfo(om), v: fromInfo(ov) };
}
