import * as tf from '../tf.js';
import { batchNormalizeFused, channelMomentsFused } from '../fused/index.js';
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
 * otherwise, on wasm with the channels last, x * scale + shift in SIMD lanes (~10x faster than
 * tfjs-wasm's scalar loop; equal within float rounding).
 */
export function normalizeWith(x: tf.Tensor, bn: BatchNormInfo, mean: tf.Tensor, variance: tf.Tensor, asLayer = false): tf.Tensor {
  const gamma = bn.gamma ?? undefined;
  const beta = bn.beta ?? undefined;
  // tf.batchNorm with the source statistics is bit for bit the layer's own computation (alpha-BN at
  // alpha 0 equals the source model exactly). A layer built
  // with `scale: false` or `center: false` gets an explicit 1 or 0: tf.batchNorm's gradient fails on
  // a missing scale or offset (tfjs 4.22), and its kernels use 1 and 0 for them anyway (same values).
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

/** A hook that normalises with the current batch's statistics (test-time BN), like `training: true` without updating moving statistics. */
export function batchStatisticsHook(bn: BatchNormInfo): LayerHook {
  return ({ inputs }) => {
    const x = inputs[0]!;
    const { mean, variance } = batchMoments(x, bn);
    return normalizeWith(x, bn, mean, variance);
  };
}
