/**
 * `roid`: universal test-time adaptation through weight ensembling, diversity weighting and
 * prior correction. The BN layers normalise with the current batch's statistics and their
 * affine parameters (gamma, beta) are trained online with the soft-likelihood-ratio loss, each
 * sample weighted by its certainty x its diversity against a moving average of the predicted
 * class distribution (the less diverse half is dropped), plus a symmetric cross-entropy
 * consistency loss between the kept samples and an augmented view of them. After every step the
 * trained parameters are pulled back toward the source ones (weight ensembling), and the returned
 * outputs are corrected by the batch's smoothed label prior.
 *
 * Paper: Marsden, Döbler, Yang, "Universal Test-time Adaptation through Weight Ensembling,
 * Diversity Weighting, and Prior Correction" (WACV 2024).
 * Reference code: mariodoebler/test-time-adaptation, `classification/methods/roid.py`
 * (`ROID.forward_and_adapt`, `configure_model`, `collect_params`), `utils/losses.py`
 * (`SoftLikelihoodRatio(clip=0.99, eps=1e-5)`, `SymmetricCrossEntropy(alpha=0.5)`, `Entropy`),
 * `utils/misc.py` (`ema_update_model`), `augmentations/transforms_cotta.py`
 * (`get_tta_transforms(padding_mode="reflect", cotta_augs=False)`), and the defaults of `conf.py`
 * (`ROID.USE_WEIGHTING/USE_PRIOR_CORRECTION/USE_CONSISTENCY = True`, `MOMENTUM_SRC = 0.99`,
 * `MOMENTUM_PROBS = 0.9`, `TEMPERATURE = 1/3`) with `cfgs/cifar10_c/roid.yaml` (Adam, lr 1e-3,
 * beta 0.9 (beta2 0.999, PyTorch), weight decay 0, one step per batch, batch 200).
 *
 * One step on a batch x of n samples, as `forward_and_adapt`:
 * 1. logits = model(x), BN with the batch's statistics.
 * 2. Weights (no gradient): div = 1 - cos(ema, softmax(logits)), cert = -entropy(logits), each
 *    min-max normalised over the batch; mask = div < mean(div); w = exp(div * cert / T), 0 where
 *    masked. Then ema = m_p * ema + (1 - m_p) * mean(softmax(logits)) (ema starts uniform).
 * 3. loss = sum(w * SLR(logits)) / n, SLR(z) = -sum_c p_c log(p_c / (1 - p_c) + 1e-5) with
 *    p = clip(softmax(z), 0, 0.99).
 * 4. Consistency: the kept samples go through one augmentation draw (shared by them) and the
 *    model (BN with the statistics of that augmented subset);
 *    loss += sum(w_kept * SCE(aug logits, kept logits)) / n, SCE(a, b) = -(1/2) sum softmax(b)
 *    log_softmax(a) - (1/2) sum softmax(a) log_softmax(b); gradients flow through both.
 * 5. One Adam step on every BN gamma and beta.
 * 6. Weight ensembling: theta = m_s * theta + (1 - m_s) * theta_source for those parameters.
 * 7. Output (from step 1's logits, before this step's update): with prior correction, prior =
 *    mean(softmax(logits)), smooth = max(1/n, 1/C) / max(prior), prior' = (prior + smooth) /
 *    (1 + smooth * C), and the output is logits * prior' (the official code multiplies the
 *    *logits*, not the probabilities); the strategy returns its softmax.
 *
 * Deviations / choices where the official code is silent or would fail:
 * - The losses are divided by the actual batch size n; the official code divides by the
 *   configured `TEST.BATCH_SIZE` (the same for every full batch; a smaller last batch weighs less there).
 * - Min-max normalisation of a constant vector (every sample equally diverse or certain, e.g.
 *   n = 1) gives 0 for all, so nothing is masked and every weight is exp(0) = 1; the official
 *   code divides 0 by 0 and trains on NaN.
 * - `weighting: false` with `consistency: true` uses weight 1 for every sample and keeps them
 *   all (the official code would fail on the undefined weights and mask).
 * - The masked samples carry weight 0 and stay in the SLR sum (same value and gradient as
 *   dropping them); the consistency pass runs on the kept samples only, as officially.
 * - BN layers use the batch's statistics by default (`configure_model` sets `track_running_stats =
 *   False`). Addition: `stats: 'ema'` (the SDK's moving statistics of `strategies/normStats.ts`, for
 *   class-correlated streams and small batches, where one batch's statistics are biased); the
 *   augmented pass then keeps its own moving statistics (of the augmented kept samples), both
 *   starting from the source statistics and both part of the state.
 * - Weight ensembling runs when `weightEnsembling` is true and `momentumSrc` < 1 (officially only
 *   `MOMENTUM_SRC < 1` decides); it updates exactly the trained BN parameters, as
 *   `ema_update_model` updates the parameters that require grad.
 * - Augmentations: `src/augment` `ROID_AUGMENT` (saturation and hue are no-ops on grayscale, as in
 *   torchvision); `horizontalFlip` can be turned off. One draw per step from a seeded generator.
 * - Adam's moments and step count, the class-probability average and the augmentation generator
 *   are strategy state, so `snapshot`/`restore`/`reset` are exact (officially `reset` reloads the
 *   model and optimiser and re-initialises the average, the same thing).
 * - The kept rows of the logits are picked with a one-hot matmul (exact): the gradient of
 *   `gather` (`UnsortedSegmentSum`) has no wasm kernel in tfjs 4.22.
 * - Weight decay (0 in the CIFAR configs) and SGD (the ImageNet configs) are not implemented.
 *
 * `predict` is step 1 and step 7 alone (the current parameters, nothing updated).
 */
import * as tf from '../src/tf.js';
import { CottaAugmenter, ROID_AUGMENT } from '../src/augment/index.js';
import { InvalidOptionError, UnsupportedModelError } from '../src/errors.js';
import type { AdaptTarget } from '../src/model/target.js';
import { deepCopy } from '../src/model/weights.js';
import { hashSeed } from '../src/random.js';
import { COUNTER, RNG_STATE, type StateMetaSchema } from '../src/model/stateSpec.js';
import { Adam } from './adam.js';
import { BaseStrategy } from './baseStrategy.js';
import {
  BnStatistics,
  checkRange,
  NORM_STATS_DEFAULTS,
  requireBatchNorms,
  validateNormStats,
  type NormStatsOptions,
} from './normStats.js';
import type { StepResult, StrategyContext, StrategyDefinition } from './strategy.js';
import { emaFrom } from './teacher.js';

/**
 * Options of `roid`. Defaults: `conf.py` and `cfgs/cifar10_c/roid.yaml` of the reference code.
 *
 * @example
 * await createAdapter(model, { strategy: 'roid' }); // the official CIFAR-10-C setting
 * // or, outputs without prior correction (one adapter per model at a time):
 * // await createAdapter(model, { strategy: 'roid', priorCorrection: false });
 */
export interface RoidOptions extends NormStatsOptions {
  /** Certainty x diversity sample weights, less diverse half dropped (`ROID.USE_WEIGHTING`). Defaults to true. */
  weighting?: boolean;
  /** Symmetric cross-entropy consistency with an augmented view of the kept samples (`ROID.USE_CONSISTENCY`). Defaults to true. */
  consistency?: boolean;
  /** Correct the returned outputs by the batch's smoothed label prior (`ROID.USE_PRIOR_CORRECTION`). Defaults to true. */
  priorCorrection?: boolean;
  /** Pull the trained parameters toward the source ones after every step. Defaults to true. */
  weightEnsembling?: boolean;
  /** Weight-ensembling momentum: theta = m * theta + (1 - m) * theta_source (`ROID.MOMENTUM_SRC`). Defaults to 0.99. */
  momentumSrc?: number;
  /** Momentum of the moving average of class probabilities for the diversity weights (`ROID.MOMENTUM_PROBS`). Defaults to 0.9. */
  momentumProbs?: number;
  /** Temperature of the sample weights exp(div * cert / T) (`ROID.TEMPERATURE`). Defaults to 1/3. */
  temperature?: number;
  /** Adam learning rate (`OPTIM.LR`). Defaults to 1e-3. */
  lr?: number;
  /** Adam beta1 (`OPTIM.BETA`). Defaults to 0.9; beta2 is 0.999 and epsilon 1e-8 (PyTorch's). */
  beta1?: number;
  /** Random horizontal flips in the consistency view. Defaults to true (official); turn off where flips change meaning. */
  horizontalFlip?: boolean;
}

/** `SoftLikelihoodRatio`'s clip and epsilon (`utils/losses.py` defaults). */
const SLR_CLIP = 0.99;
const SLR_EPS = 1e-5;
/** `SymmetricCrossEntropy`'s alpha. */
const SCE_ALPHA = 0.5;

/**
 * Soft likelihood ratio per sample, -sum_c p_c log(p_c / (1 - p_c) + 1e-5) with
 * p = clip(softmax(logits), 0, 0.99) (`SoftLikelihoodRatio`). Differentiable; [n].
 */
export function softLikelihoodRatio(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const p = tf.clipByValue(tf.softmax(logits), 0, SLR_CLIP);
    return tf.neg(tf.sum(tf.mul(p, tf.log(tf.add(tf.div(p, tf.sub(1, p)), SLR_EPS))), 1)) as tf.Tensor1D;
  });
}

/**
 * Symmetric cross-entropy per sample between two sets of logits (`SymmetricCrossEntropy(alpha=0.5)`):
 * -(1 - a) sum softmax(xEma) log_softmax(x) - a sum softmax(x) log_softmax(xEma). Differentiable in both; [n].
 */
export function symmetricCrossEntropy(x: tf.Tensor2D, xEma: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const a = tf.sum(tf.mul(tf.softmax(xEma), tf.logSoftmax(x)), 1);
    const b = tf.sum(tf.mul(tf.softmax(x), tf.logSoftmax(xEma)), 1);
    return tf.neg(tf.add(tf.mul(a, 1 - SCE_ALPHA), tf.mul(b, SCE_ALPHA))) as tf.Tensor1D;
  });
}

/** Min-max normalisation to [0, 1]; a constant vector gives zeros (the official code gives NaN). */
function minMax(v: Float64Array): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return v.map((x) => (hi > lo ? (x - lo) / (hi - lo) : 0));
}

/** The sample weights of one batch and the next class-probability average. */
export interface RoidWeights {
  /** exp(div * cert / T), 0 for masked samples; [n]. */
  weights: Float64Array;
  /** True for the samples dropped (less diverse than the batch mean). */
  mask: boolean[];
  /** Per-sample normalised diversity and certainty, in [0, 1]. */
  diversity: Float64Array;
  certainty: Float64Array;
  /** momentum * ema + (1 - momentum) * mean(probs): the average for the next batch. */
  nextEma: Float64Array;
}

/**
 * ROID's certainty x diversity weights (`forward_and_adapt`'s `use_weighting` block), in float64
 * on a batch's softmax probabilities [n][C] (row-major) against the class-probability average `ema`.
 */
export function roidSampleWeights(probs: ArrayLike<number>, n: number, ema: ArrayLike<number>, temperature: number, momentum: number): RoidWeights {
  const c = ema.length;
  const div = new Float64Array(n);
  const negEntropy = new Float64Array(n);
  let emaNorm = 0;
  for (let k = 0; k < c; k++) emaNorm += ema[k]! ** 2;
  emaNorm = Math.sqrt(emaNorm);
  const mean = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    let norm = 0;
    let h = 0;
    for (let k = 0; k < c; k++) {
      const p = probs[i * c + k]!;
      dot += p * ema[k]!;
      norm += p * p;
      if (p > 0) h += p * Math.log(p);
      mean[k]! += p / n;
    }
    // torch's cosine_similarity clamps each norm at eps = 1e-8.
    div[i] = 1 - dot / (Math.max(emaNorm, 1e-8) * Math.max(Math.sqrt(norm), 1e-8));
    negEntropy[i] = h;
  }
  const diversity = minMax(div);
  const certainty = minMax(negEntropy);
  let divMean = 0;
  for (const d of diversity) divMean += d / n;
  const mask = Array.from(diversity, (d) => d < divMean);
  const weights = diversity.map((d, i) => (mask[i] ? 0 : Math.exp((d * certainty[i]!) / temperature)));
  const nextEma = Float64Array.from(mean, (m, k) => momentum * ema[k]! + (1 - momentum) * m);
  return { weights, mask, diversity, certainty, nextEma };
}

/**
 * ROID's prior correction of a batch's logits [n, C]: logits * (prior + s) / (1 + s C), with
 * prior = mean(softmax(logits)) and s = max(1/n, 1/C) / max(prior). Returns the corrected logits.
 */
export function priorCorrection(logits: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, c] = logits.shape;
    const prior = tf.mean(tf.softmax(logits), 0);
    const smooth = tf.div(Math.max(1 / n, 1 / c), tf.max(prior));
    const smoothed = tf.div(tf.add(prior, smooth), tf.add(1, tf.mul(smooth, c)));
    return tf.mul(logits, smoothed) as tf.Tensor2D;
  });
}

/** The `roid` strategy; `lastWeights` exposes the latest step's sample weights for inspection. */
export class RoidStrategy extends BaseStrategy<Required<RoidOptions>> {
  readonly name = 'roid';
  readonly needs = roidStrategy.needs;
  private readonly norm: BnStatistics;
  private readonly augNorm: BnStatistics;
  private readonly params: tf.Variable[];
  private readonly sourceParams: tf.Tensor[];
  private readonly adam: Adam;
  private readonly augmenter: CottaAugmenter;
  private classProbsEma: Float64Array;
  /** The sample weights of the latest step (0 for dropped samples), or null before the first step. */
  lastWeights: Float64Array | null = null;
  /** The class-probability average is kept in float64, as meta fields '0'..'C-1' (each in [0, 1]). */
  protected readonly stateMetaSchema: StateMetaSchema;

  constructor(target: AdaptTarget, config: Required<RoidOptions>, context: StrategyContext) {
    super(target, config, context);
    const bns = requireBatchNorms('roid', this.layers);
    const bnOptions = { mode: config.stats, momentum: config.statsMomentum, alpha: 1, differentiable: true } as const;
    this.norm = new BnStatistics(bns, bnOptions);
    this.augNorm = new BnStatistics(bns, bnOptions);
    this.params = bns.flatMap((bn) => [bn.gamma, bn.beta].filter((v): v is tf.Variable => v !== null));
    if (this.params.length === 0) {
      throw new UnsupportedModelError(
        `Strategy 'roid' trains the BN scale and offset, and every BatchNormalization layer of model '${this.layers.model.name}' ` +
          "was built with `scale: false, center: false`. Use 'bn-adapt' or 'alpha-bn' instead.",
      );
    }
    this.sourceParams = this.params.map((p) => deepCopy(p));
    this.adam = new Adam(this.params, { lr: config.lr, beta1: config.beta1 });
    this.augmenter = new CottaAugmenter({ ...ROID_AUGMENT, horizontalFlip: config.horizontalFlip }, hashSeed(context.seed, 1));
    this.classProbsEma = this.uniform();
    const probField = { type: 'number', min: 0, max: 1 } as const;
    this.stateMetaSchema = {
      adamStep: COUNTER,
      augmenter: RNG_STATE,
      classProbsEma: { type: 'object', fields: Object.fromEntries(Array.from(this.classProbsEma, (_, k) => [String(k), probField])) },
    };
  }

  private uniform(): Float64Array {
    const c = this.layers.info.numClasses;
    return new Float64Array(c).fill(1 / c);
  }

  protected override stateVariables(): Map<string, tf.Variable> {
    const augStats = [...this.augNorm.variables].map(([name, v]) => [`roid/aug/${name}`, v] as const);
    return new Map([...super.stateVariables(), ...this.norm.variables, ...augStats, ...this.adam.stateVariables('roid/adam/')]);
  }

  protected override nonNegativeState(): tf.Variable[] {
    return [
      ...super.nonNegativeState(),
      ...this.norm.varianceVariables(),
      ...this.augNorm.varianceVariables(),
      ...this.adam.secondMoments(),
    ];
  }

  protected override stateMeta(): Record<string, unknown> {
    return {
      adamStep: this.adam.t,
      augmenter: this.augmenter.state,
      classProbsEma: Object.fromEntries(Array.from(this.classProbsEma, (v, k) => [String(k), v])),
    };
  }

  protected override restoreMeta(meta: Record<string, unknown>): void {
    this.adam.t = meta.adamStep as number;
    this.augmenter.state = meta.augmenter as number;
    const ema = meta.classProbsEma as Record<string, number>;
    this.classProbsEma = Float64Array.from(this.classProbsEma, (_, k) => ema[String(k)]!);
    this.lastWeights = null;
  }

  /** The step's output without adapting: the current parameters, batch statistics, prior correction if on. */
  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    try {
      return tf.tidy(() => {
        const logits = this.layers.executor.logits(x, { hooks: this.norm.hooks });
        return tf.softmax(this.config.priorCorrection ? priorCorrection(logits) : logits) as tf.Tensor2D;
      });
    } finally {
      this.norm.abort();
    }
  }

  protected forward(x: tf.Tensor4D): StepResult {
    const c = this.config;
    const n = x.shape[0];
    const out: { logits?: tf.Tensor2D; weights?: RoidWeights | null } = {};
    let loss: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap | undefined;
    let augRan = false;
    // A failed step commits nothing, the augmentation draws included.
    const augmenterState = this.augmenter.state;
    try {
      let value: tf.Scalar;
      ({ value, grads } = tf.variableGrads(() => {
        const logits = this.layers.executor.logits(x, { hooks: this.norm.hooks });
        out.logits = tf.keep(logits);
        // The weights carry no gradient (officially under torch.no_grad()): computed from the values.
        let weights: tf.Tensor1D;
        let kept: number[];
        if (c.weighting) {
          const probs = tf.tidy(() => tf.softmax(logits));
          const w = roidSampleWeights(probs.dataSync(), n, this.classProbsEma, c.temperature, c.momentumProbs);
          probs.dispose();
          out.weights = w;
          weights = tf.tensor1d(Float32Array.from(w.weights));
          kept = [];
          w.mask.forEach((m, i) => m || kept.push(i));
        } else {
          out.weights = null;
          weights = tf.ones([n]) as tf.Tensor1D;
          kept = Array.from({ length: n }, (_, i) => i);
        }
        let total = tf.div(tf.sum(tf.mul(softLikelihoodRatio(logits), weights)), n) as tf.Scalar;
        if (c.consistency && kept.length > 0) {
          const idx = tf.tensor1d(kept, 'int32');
          const xKept = tf.gather(x, idx) as tf.Tensor4D;
          const augLogits = this.layers.executor.logits(this.augmenter.augment(xKept), { hooks: this.augNorm.hooks });
          augRan = true;
          // The kept rows of the logits as a one-hot matmul: exact, and differentiable on the wasm
          // backend (gather's gradient, UnsortedSegmentSum, has no wasm kernel in tfjs 4.22). All
          // rows kept (always so for a single frame, where tf.oneHot refuses a depth of 1): the logits.
          const keptLogits = kept.length === n ? logits : (tf.matMul(tf.oneHot(idx, n, 1, 0, 'float32'), logits) as tf.Tensor2D);
          const sce = symmetricCrossEntropy(augLogits, keptLogits);
          total = tf.add(total, tf.div(tf.sum(tf.mul(sce, tf.gather(weights, idx))), n)) as tf.Scalar;
        }
        return total;
      }, this.params));
      loss = value;
      this.adam.step(this.params.map((p) => grads![p.name]!));
      tf.dispose(grads);
    } catch (e) {
      this.norm.abort();
      this.augNorm.abort();
      // A failed update (the optimiser's step) leaves the loss and the gradients to free too.
      tf.dispose([out.logits, loss, grads]);
      this.augmenter.state = augmenterState;
      throw e;
    }
    if (out.weights) this.classProbsEma = out.weights.nextEma;
    this.lastWeights = out.weights ? out.weights.weights : new Float64Array(n).fill(1);
    if (c.weightEnsembling && c.momentumSrc < 1) emaFrom(this.params, this.sourceParams, c.momentumSrc);
    if (augRan) this.augNorm.finish();
    const { bnDrift, bnVarDrift, extra } = this.norm.finish([loss!]);
    const logits = out.logits!;
    const probs = tf.tidy(() => tf.softmax(c.priorCorrection ? priorCorrection(logits) : logits)) as tf.Tensor2D;
    logits.dispose();
    const keptCount = out.weights ? out.weights.mask.filter((m) => !m).length : n;
    return { probs, stats: { loss: extra[0]!, kept: keptCount, bnDrift, bnVarDrift } };
  }

  protected override onDispose(): void {
    this.norm.dispose();
    this.augNorm.dispose();
    this.adam.dispose();
    tf.dispose(this.sourceParams);
  }
}

const bool = (name: string, v: unknown) => {
  if (typeof v !== 'boolean') throw new InvalidOptionError(`Strategy 'roid': option '${name}' is ${String(v)}; expected true or false.`);
};

/** The `roid` registry entry. */
export const roidStrategy: StrategyDefinition<'roid', RoidOptions> = {
  name: 'roid',
  description: 'ROID: batch-stat BN, BN scale/offset trained on certainty x diversity weighted soft likelihood ratio + consistency, weight ensembling, prior correction.',
  needs: { batchNorm: true, gradients: true, layersModel: true },
  defaults: {
    weighting: true,
    consistency: true,
    priorCorrection: true,
    weightEnsembling: true,
    momentumSrc: 0.99,
    momentumProbs: 0.9,
    temperature: 1 / 3,
    lr: 1e-3,
    beta1: 0.9,
    horizontalFlip: true,
    ...NORM_STATS_DEFAULTS,
  },
  validate: (config) => {
    validateNormStats('roid', config);
    for (const k of ['weighting', 'consistency', 'priorCorrection', 'weightEnsembling', 'horizontalFlip'] as const) bool(k, config[k]);
    checkRange('roid', 'momentumSrc', config.momentumSrc, 0, 1, 'it must be a number in [0, 1] (e.g. 0.99; 1 turns weight ensembling off)');
    checkRange('roid', 'momentumProbs', config.momentumProbs, 0, 1, 'it must be a number in [0, 1] (e.g. 0.9)');
    checkRange('roid', 'temperature', config.temperature, Number.MIN_VALUE, Infinity, 'it must be a positive finite number (e.g. 1/3)');
    checkRange('roid', 'lr', config.lr, Number.MIN_VALUE, Infinity, 'it must be a positive finite number (e.g. 1e-3)');
    checkRange('roid', 'beta1', config.beta1, 0, 0.999999, 'it must be a number in [0, 1) (e.g. 0.9)');
  },
  create: (target, config, context) => new RoidStrategy(target, config, context),
};
