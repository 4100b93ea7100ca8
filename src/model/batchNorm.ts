import * as tf from '../tf.js';
import { batchNormalizeFused, batchNormBackwardFused, channelMomentsFused } from '../fused/index.js';
import type { BatchNormInfo } from './introspect.js';
import type { LayerHook } from './executor.js';

/** Per-channel mean and (biased) variance of one BN layer's input, as Keras training mode computes them. */
export interface ChannelMoments {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

function reductionAxes(bn: BatchNormInfo, rank: number): number[] {
  const axes: number[] = [];
  for (let i = 0; i < rank; i++) if (i !== bn.axis) axes.push(i);
  return axes;
}

/** True while tfjs records a gradient tape for the ops being run (not inside a kernel or customGrad forward). */
export function tapeRecording(): boolean {
  const state = tf.engine().state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/**
 * After a gradient computation threw (e.g. out of memory): frees the tensors tfjs kept for the
 * backward pass of the abandoned tape (customGrad's saved inputs), which tfjs only frees after a
 * completed backward pass. Does nothing while a tape is still recording.
 */
export function disposeAbandonedTape(): void {
  const state = tf.engine().state as unknown as { gradientDepth: number; activeTape: Array<{ saved?: tf.Tensor[] }> | null | undefined };
  if (state.gradientDepth > 0 || state.activeTape == null) return; // null, or never set: no tape was abandoned
  for (const node of state.activeTape) if (node.saved !== undefined) tf.dispose(node.saved);
  state.activeTape = null;
}

/**
 * The batch statistics of `x` over every axis but the BN layer's channel axis. With `fused` (by
 * default when no gradient tape records), channel axis last, on wasm: one SIMD pass (src/fused
 * `channelMomentsFused`, not differentiable) instead of tf.moments' chain of ops. A caller whose
 * step and predict must agree bit for bit passes the same `fused` to both.
 */
export function batchMoments(x: tf.Tensor, bn: BatchNormInfo, fused = !tapeRecording()): ChannelMoments {
  if (fused && bn.axis === x.rank - 1) {
    const fast = channelMomentsFused(x);
    if (fast !== null) return fast;
  }
  const { mean, variance } = tf.moments(x, reductionAxes(bn, x.rank));
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * Normalises `x` with the given per-channel statistics and the layer's own gamma/beta, as the
 * BN layer does: (x - mean) / sqrt(var + eps) * gamma + beta. With `asLayer` (or under a gradient
 * tape) it is tf.batchNorm, bit for bit the layer's own computation with the same statistics;
 * otherwise, on wasm with the channels last, (x - mean) * scale + beta in SIMD lanes, scale = gamma / sqrt(var + eps) (~10x faster than
 * tfjs-wasm's scalar loop; equal within float rounding).
 */
export function normalizeWith(x: tf.Tensor, bn: BatchNormInfo, mean: tf.Tensor, variance: tf.Tensor, asLayer = false): tf.Tensor {
  const gamma = bn.gamma ?? undefined;
  const beta = bn.beta ?? undefined;
  // tf.batchNorm with the source statistics is bit for bit the layer's own computation (alpha-BN at
  // alpha 0 equals the source model exactly). A layer built with `scale: false` or `center: false`
  // gets an explicit 1 or 0: tf.batchNorm's gradient fails on a missing scale or offset (tfjs
  // 4.22), and its kernels use 1 and 0 for them anyway (same values).
  if (bn.axis === x.rank - 1) {
    const fast = asLayer || tapeRecording() ? null : batchNormalizeFused(x, mean, variance, gamma, beta, bn.epsilon);
    if (fast !== null) return fast;
    return tf.tidy(() => tf.batchNorm(x, mean, variance, beta ?? tf.zeros([bn.channels]), gamma ?? tf.ones([bn.channels]), bn.epsilon));
  }
  // Channel axis not last: tf.batchNorm's kernels index the statistics by flat position modulo
  // their length (channels last only), so broadcast per-channel vectors with elementwise ops.
  const shape = x.shape.map((d, i) => (i === bn.axis ? d : 1));
  return tf.tidy(() => {
    let y = tf.mul(tf.sub(x, tf.reshape(mean, shape)), tf.rsqrt(tf.add(tf.reshape(variance, shape), bn.epsilon)));
    if (gamma !== undefined) y = tf.mul(y, tf.reshape(gamma, shape));
    if (beta !== undefined) y = tf.add(y, tf.reshape(beta, shape));
    return y;
  });
}

/**
 * A hook that normalises with the current batch's statistics (test-time BN), like `training: true`
 * without updating moving statistics. Under a gradient tape, for a BN layer with scale and offset
 * over the last axis, it is the closed-form op `batchNormTrain` (the same values and gradients as
 * autodiff through tf.moments and tf.batchNorm, one kernel each way, one saved tensor instead of
 * several): the students of CoTTA and ViDA train through it.
 */
export function batchStatisticsHook(bn: BatchNormInfo): LayerHook {
  return ({ inputs }) => {
    const x = inputs[0]!;
    if (tapeRecording() && closedFormFits(bn, x)) return batchNormTrain(x, bn.gamma!, bn.beta!, bn.epsilon).y;
    const { mean, variance } = batchMoments(x, bn);
    return normalizeWith(x, bn, mean, variance);
  };
}

/** Whether {@link batchNormTrain} can run layer `bn` on `x`: a scale and an offset, channels last. */
export function closedFormFits(bn: BatchNormInfo, x: tf.Tensor): boolean {
  return bn.gamma !== null && bn.beta !== null && bn.axis === x.rank - 1;
}

/**
 * The moving statistics after a batch whose moments are `batch`, moved by weight `w`: the mean
 * moves by w (mean + w * d, d = batch mean - mean), and the variance is the w-mixture's variance,
 * (1 - w) * var + w * batch var + w (1 - w) d^2.
 */
export function emaMoments(state: { mean: tf.Tensor; variance: tf.Tensor }, batch: ChannelMoments, w: number): ChannelMoments {
  const d = tf.sub(batch.mean, state.mean);
  return {
    mean: tf.add(state.mean, tf.mul(d, w)) as tf.Tensor1D,
    variance: tf.add(tf.add(tf.mul(state.variance, 1 - w), tf.mul(batch.variance, w)), tf.mul(tf.square(d), w * (1 - w))) as tf.Tensor1D,
  };
}

/**
 * Train-mode BN over every axis but the last, as one differentiable op whose gradient is the
 * closed-form BN backward. The statistics are the batch's own, or with `moving` the moving ones
 * after this batch (`emaMoments(moving, batch, moving.weight)`, which depend on x through the
 * batch moments with weight w). With N values per channel and xhat = (x - mean) * rstd:
 *     dbeta = sum dy,  dgamma = sum dy * xhat,  dx = gamma * rstd * (dy - w dbeta / N - w xhat dgamma / N)
 * (w = 1 for batch statistics; for the moving ones the w(1 - w) d^2 term of the variance folds
 * into the same formula). Same values and gradients as autodiff through `tf.moments`, the moving
 * update and `tf.batchNorm` (tested), in one wasm kernel each way instead of a chain of
 * full-size ops: on the benchmark ResNet this was most of Tent's backward time outside the
 * convolutions, and at batch 1 most of its kernel calls.
 * Returns the normalised `y` and the `mean` / `variance` used (no gradient through those two).
 */
export function batchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
  moving?: { mean: tf.Tensor; variance: tf.Tensor; weight: number },
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  // Captured by the op below, not its inputs: the tape sends no gradient through them (the closed
  // form accounts for the statistics' dependence on x). On wasm one SIMD pass, off the tape (so
  // the tape keeps none of tf.moments' full-size intermediates until the backward pass).
  const m = channelMomentsFused(x) ?? tf.moments(x, axes);
  const batch = { mean: m.mean as tf.Tensor1D, variance: m.variance as tf.Tensor1D };
  const { mean, variance } = moving !== undefined ? emaMoments(moving, batch, moving.weight) : batch;
  const w = moving?.weight ?? 1;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const y = batchNormalizeFused(xs, mean, variance, g, b, epsilon) ?? tf.batchNorm(xs, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, epsilon);
    // Saved (kept by the engine until the backward pass), since the forward scope's tensors are gone by then.
    save([xs, g, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xv, gv, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D, tf.Tensor1D];
        const fused = batchNormBackwardFused(xv, dy, mean, variance, gv, epsilon, w);
        if (fused !== null) return [fused.dx, fused.dgamma, fused.dbeta];
        const n = xv.size / xv.shape[xv.rank - 1]!;
        const rstd = tf.rsqrt(tf.add(variance, epsilon));
        const xhat = tf.mul(tf.sub(xv, mean), rstd);
        const dbeta = tf.sum(dy, axes);
        const dgamma = tf.sum(tf.mul(dy, xhat), axes);
        const dx = tf.mul(
          tf.sub(tf.sub(dy, tf.mul(dbeta, w / n)), tf.mul(xhat, tf.mul(dgamma, w / n))),
          tf.mul(gv, rstd),
        );
        return [dx, dgamma, dbeta];
      },
    };
  }) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
  return { y: op(x, gamma, beta), mean, variance };
}

