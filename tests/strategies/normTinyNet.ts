/**
 * A tiny hand-built net for the normalisation-strategy tests, and a plain-TS float64 oracle of it.
 *
 *   input [1, 2, 1] (two pixels) -> conv 1x1, 2 filters: c0 = 1 * p, c1 = 0.5 * p + 1
 *   -> BN (eps 1e-3) -> flatten [p0c0, p0c1, p1c0, p1c1] -> dense 3 (logits, linear)
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { createTarget, type LayersTarget } from '../../src/model/target.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';
import type { Strategy } from '../../strategies/strategy.js';

export const TINY = {
  convKernel: [1, 0.5],
  convBias: [0, 1],
  gamma: [2, 0.5],
  beta: [0.1, -0.2],
  movingMean: [0.5, 1.5],
  movingVariance: [0.25, 1],
  epsilon: 1e-3,
  // dense kernel [4 features, 3 classes], row-major
  W: [
    [1, -0.5, 0.25],
    [0.5, 1, -1],
    [-0.75, 0.5, 1],
    [0.25, -1, 0.5],
  ],
  b: [0.1, 0, -0.1],
} as const;

/** Builds the tiny net with the weights of {@link TINY}. */
export function tinyNet(): tf.LayersModel {
  const input = tf.input({ shape: [1, 2, 1] });
  let x = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'tiny_conv' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ epsilon: TINY.epsilon, name: 'tiny_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'tiny_flat' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'tiny_logits' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: 'tiny_norm_net' });
  model.getLayer('tiny_conv').setWeights([tf.tensor4d([...TINY.convKernel], [1, 1, 1, 2]), tf.tensor1d([...TINY.convBias])]);
  model
    .getLayer('tiny_bn')
    .setWeights([TINY.gamma, TINY.beta, TINY.movingMean, TINY.movingVariance].map((v) => tf.tensor1d([...v])));
  model.getLayer('tiny_logits').setWeights([tf.tensor2d(TINY.W.map((r) => [...r])), tf.tensor1d([...TINY.b])]);
  return model;
}

/** A batch of `frames` (each two pixels) as a [n, 1, 2, 1] tensor. */
export function tinyBatch(frames: number[][]): tf.Tensor4D {
  return tf.tensor4d(frames.flat(), [frames.length, 1, 2, 1]);
}

export interface TinyOracle {
  /** BN statistics used, per channel. */
  mean: number[];
  variance: number[];
  logits: number[][];
  probs: number[][];
  /** Mean softmax entropy of the batch. */
  loss: number;
  /** d loss / d gamma and d loss / d beta, per channel (hand-derived; see below). */
  gradGamma: number[];
  gradBeta: number[];
}

/** Conv outputs [frame][pixel][channel] of the tiny net. */
function convOut(frames: number[][]): number[][][] {
  return frames.map((f) => f.map((p) => [0, 1].map((c) => TINY.convKernel[c]! * p + TINY.convBias[c]!)));
}

/** Per-channel batch mean and biased variance of the BN input. */
export function tinyBatchMoments(frames: number[][]): { mean: number[]; variance: number[] } {
  const h = convOut(frames).flat();
  const mean = [0, 1].map((c) => h.reduce((s, v) => s + v[c]!, 0) / h.length);
  const variance = [0, 1].map((c) => h.reduce((s, v) => s + (v[c]! - mean[c]!) ** 2, 0) / h.length);
  return { mean, variance };
}

/**
 * The tiny net in float64 with the given BN statistics, gamma and beta. The entropy gradient is
 * the hand derivation: with H_i = -sum_k p_ik log p_ik, dH_i/dl_ik = -p_ik (log p_ik + H_i);
 * the loss is the batch mean, so dL/dl_ik = dH_i/dl_ik / n; dL/dh = dL/dl W^T (h the BN outputs,
 * flattened); h = gamma z + beta with z = (x - mu) / sqrt(var + eps) not depending on gamma or
 * beta (batch statistics of a BN layer with nothing trainable before it), so
 * dL/dgamma_c = sum over frames and pixels of dL/dh * z and dL/dbeta_c = sum of dL/dh.
 */
export function tinyOracle(
  frames: number[][],
  stats: { mean: number[]; variance: number[] },
  gamma: readonly number[] = TINY.gamma,
  beta: readonly number[] = TINY.beta,
): TinyOracle {
  const n = frames.length;
  const conv = convOut(frames);
  const z = conv.map((f) => f.map((p) => p.map((v, c) => (v - stats.mean[c]!) / Math.sqrt(stats.variance[c]! + TINY.epsilon))));
  const feats = z.map((f) => f.flatMap((p) => p.map((v, c) => gamma[c]! * v + beta[c]!)));
  const logits = feats.map((h) => [0, 1, 2].map((k) => TINY.b[k]! + h.reduce((s, v, j) => s + v * TINY.W[j]![k]!, 0)));
  const probs = logits.map((l) => {
    const m = Math.max(...l);
    const e = l.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  const H = probs.map((p) => -p.reduce((s, v) => s + v * Math.log(v), 0));
  const loss = H.reduce((a, b) => a + b, 0) / n;
  const gradGamma = [0, 0];
  const gradBeta = [0, 0];
  probs.forEach((p, i) => {
    const dl = p.map((pk) => (-pk * (Math.log(pk) + H[i]!)) / n);
    for (let j = 0; j < 4; j++) {
      const dh = dl.reduce((s, v, k) => s + v * TINY.W[j]![k]!, 0);
      const pixel = Math.floor(j / 2);
      const c = j % 2;
      gradGamma[c] = gradGamma[c]! + dh * z[i]![pixel]![c]!;
      gradBeta[c] = gradBeta[c]! + dh;
    }
  });
  return { mean: stats.mean, variance: stats.variance, logits, probs, loss, gradGamma, gradBeta };
}

/** Builds a registered strategy on `model` with `options` resolved as `createAdapter` does (seed 0). */
export function createStrategy(
  name: string,
  model: tf.LayersModel,
  options: Record<string, unknown> = {},
): { s: Strategy; target: LayersTarget } {
  const def = getStrategy(name);
  const target = createTarget(model) as LayersTarget;
  return { s: def.create(target, resolveOptions(def, options) as never, { seed: 0 }), target };
}

/** One step on `x`; the probabilities as plain numbers (the tensor is disposed). */
export function stepTensor(s: Strategy, x: tf.Tensor4D): { probs: number[]; stats: Record<string, number> } {
  const { probs, stats } = s.step(x);
  const out = Array.from(probs.dataSync());
  probs.dispose();
  return { probs: out, stats };
}

/** One step on a batch of tiny-net frames. */
export function stepFrames(s: Strategy, frames: number[][]): { probs: number[]; stats: Record<string, number> } {
  const x = tinyBatch(frames);
  try {
    return stepTensor(s, x);
  } finally {
    x.dispose();
  }
}

/** Element-wise |actual - expected| < tol, naming the first bad index. */
export function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `index ${i}: ${a} vs ${expected[i]}`).toBeLessThan(tol));
}
