/**
 * CoTTA's confidence threshold rule, computed from clean source data.
 *
 * CoTTA averages the teacher over augmented views when the anchor's confidence (the batch
 * mean of the source model's max softmax probability, with batch-statistics BN) is below a
 * threshold. The authors' rule for choosing it on a new model: the 5% quantile of the source
 * model's confidence on source data, minus 0.05 (0.92 for their CIFAR-10 WideResNet-28).
 *
 * The quantity whose quantile is taken is the one compared at test time: the per-batch mean
 * confidence, over clean source batches of the deployment batch size, with the same
 * batch-statistics normalisation the anchor uses (`per: 'batch'`, the default). The per-image
 * variant (`per: 'image'`) is available for comparison; it gives a much lower threshold,
 * because a few hard images in every batch are unsure even when the batch mean is high
 * (a CIFAR-10 model with 5% clean error cannot have a per-image 5% quantile near 0.97, which
 * 0.92 + 0.05 implies, so the authors' value must come from batch means).
 *
 * @example
 * ```ts
 * const { threshold } = cottaThreshold(model, cleanSourceImages, { batchSize: 64 });
 * createAdapter(model, { strategy: 'cotta', threshold });
 * ```
 */
import * as tf from './tf.js';
import { InvalidInputError, InvalidOptionError } from './errors.js';
import { batchStatisticsHook } from './model/batchNorm.js';
import { ModelExecutor, type LayerHook } from './model/executor.js';

/** Options of {@link cottaThreshold}. */
export interface CottaThresholdOptions {
  /** The quantile taken. Defaults to 0.05. */
  quantile?: number;
  /** Subtracted from the quantile. Defaults to 0.05. */
  margin?: number;
  /** Batch size the model is run at (use the deployment batch size). Defaults to 64. */
  batchSize?: number;
  /** `'batch'`: quantile of per-batch mean confidences (what CoTTA compares); `'image'`: of per-image ones. Defaults to `'batch'`. */
  per?: 'batch' | 'image';
  /** Normalise BN layers with each batch's statistics, as CoTTA's anchor does; false uses the source (moving) statistics. Defaults to true. */
  batchStatistics?: boolean;
}

/** What {@link cottaThreshold} measured. */
export interface CottaThreshold {
  /** quantile - margin: the value to pass as CoTTA's `threshold`. */
  threshold: number;
  /** The quantile of the confidences. */
  quantileValue: number;
  /** Mean of the confidences. */
  meanConfidence: number;
  /** The confidences the quantile was taken over (per batch or per image). */
  confidences: Float32Array;
}

/** The q-quantile of `values` with linear interpolation between order statistics (numpy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new InvalidInputError('quantile: no values.');
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * CoTTA's threshold for `model` from clean source images [n, h, w, c] (the authors' rule:
 * 5% quantile of the source model's confidence minus 0.05). A trailing partial batch is
 * dropped in `'batch'` mode (its statistics would differ from deployment).
 */
export function cottaThreshold(model: tf.LayersModel, images: tf.Tensor4D, options: CottaThresholdOptions = {}): CottaThreshold {
  const q = options.quantile ?? 0.05;
  const margin = options.margin ?? 0.05;
  const batchSize = options.batchSize ?? 64;
  const per = options.per ?? 'batch';
  const batchStatistics = options.batchStatistics ?? true;
  if (!(q >= 0 && q <= 1)) throw new InvalidOptionError(`cottaThreshold: quantile is ${q}; expected a number in [0, 1].`);
  if (!Number.isFinite(margin)) throw new InvalidOptionError(`cottaThreshold: margin is ${margin}; expected a finite number.`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new InvalidOptionError(`cottaThreshold: batchSize is ${batchSize}; expected an integer >= 1.`);
  if (per !== 'batch' && per !== 'image') throw new InvalidOptionError(`cottaThreshold: per is '${String(per)}'; expected 'batch' or 'image'.`);
  const n = images.shape[0];
  const batches = per === 'batch' ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  if (batches === 0) {
    throw new InvalidInputError(`cottaThreshold: ${n} images make no full batch of ${batchSize}; pass more images or a smaller batchSize.`);
  }
  const executor = new ModelExecutor(model);
  const hooks = new Map<string, LayerHook>(batchStatistics ? executor.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]) : []);
  const confidences: number[] = [];
  try {
    for (let b = 0; b < batches; b++) {
      const size = Math.min(batchSize, n - b * batchSize);
      const conf = tf.tidy(() => {
        const x = tf.slice(images, [b * batchSize, 0, 0, 0], [size, -1, -1, -1]);
        const c = tf.max(tf.softmax(executor.logits(x, { hooks })), 1);
        return per === 'batch' ? tf.mean(c) : c;
      });
      confidences.push(...conf.dataSync());
      conf.dispose();
    }
  } finally {
    executor.dispose();
  }
  const quantileValue = quantile(confidences, q);
  return {
    threshold: quantileValue - margin,
    quantileValue,
    meanConfidence: confidences.reduce((s, v) => s + v, 0) / confidences.length,
    confidences: Float32Array.from(confidences),
  };
}
