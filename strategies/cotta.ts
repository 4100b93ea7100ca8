/**
 * `cotta`: Continual Test-Time Adaptation. A student is trained online against an EMA
 * teacher whose target is averaged over augmented views when the source model is unsure;
 * a stochastic restore pulls a small random part of the weights back to source each step
 * so that the model does not drift over a long, changing stream.
 *
 * Paper: Wang, Fink, Van Gool, Dai, "Continual Test-Time Domain Adaptation" (CVPR 2022).
 * Reference code: qinenergy/cotta, `cifar/cotta.py` (`CoTTA.forward_and_adapt`) with
 * `cifar/cfgs/cifar10/cotta.yaml` (Adam lr 1e-3, beta 0.9, MT 0.999, RST 0.01, AP 0.92).
 *
 * Per batch x, as the official `forward_and_adapt`:
 * 1. Anchor (frozen source model) confidence: batch mean of max softmax(anchor(x)).
 * 2. Teacher target: if that confidence is below `threshold`, the mean of the teacher's
 *    *logits* over `augmentations` (32) augmented copies of x (one augmentation draw per
 *    copy, shared by the batch); else the teacher's logits on x.
 * 3. Loss: -sum softmax(target) * log_softmax(student(x)), batch mean; one Adam step on
 *    every trainable weight (conv/dense kernels and biases, BN gamma and beta).
 * 4. Teacher EMA: teacher = m * teacher + (1 - m) * student, m = `emaMomentum`.
 * 5. Stochastic restore: each trainable weight element returns to its source value with
 *    probability `restoreProb` (seeded).
 * 6. Returns softmax(target), the same tensor the official code returns (`outputs_ema`):
 *    the augmentation-averaged teacher output when augmentation was used, else the
 *    teacher's output on the clean batch; both computed before this step's update.
 * `predict` computes steps 1, 2 and 6 only (the teacher's prediction, as the paper predicts),
 * with the augmentation generator put back afterwards: it returns exactly what `step` would,
 * and changes nothing.
 * Student, teacher and anchor normalise every BN layer with the current batch's statistics
 * (`configure_model` disables running statistics); BN moving statistics are never touched.
 *
 * Deviations from the official code:
 * - The 32 augmented teacher passes run only when their average is used (the official code
 *   always runs them and discards them when confident): same result, ~10x less compute on
 *   confident batches. The augmentation generator therefore advances only on such batches.
 * - Only variables marked trainable are adapted (the official `configure_model` enables
 *   gradients on every parameter); for a model without frozen layers this is the same set.
 * - The restore source is the anchor's weights (the frozen source model), so no separate
 *   copy of the source weights is kept.
 * - Augmentations: see `src/augment/cottaAugment.ts` (saturation/hue are no-ops on
 *   grayscale; `horizontalFlip` can be turned off).
 * - `threshold` defaults to `'auto'`: the authors' rule for a new model (5% quantile of the source
 *   model's per-batch confidence minus 0.05) applied to the anchor's confidences on the first 16
 *   batches of the stream, instead of CIFAR-10's 0.92, which on another model can mean "always
 *   augment" (docs/safe-adaptation.md). A number restores the official behaviour.
 * - `minBatch` 16: with the guard on, a batch of fewer frames gets the source model's prediction
 *   and no update (every pass here is on batch statistics; docs/safe-adaptation.md).
 */
import * as tf from '../src/tf.js';
import { CottaAugmenter } from '../src/augment/index.js';
import { InvalidOptionError } from '../src/errors.js';
import { COUNTER, RNG_STATE } from '../src/model/stateSpec.js';
import { createRng, type SeededRng } from '../src/fused/index.js';
import { batchStatisticsHook } from '../src/model/batchNorm.js';
import type { LayerHook } from '../src/model/executor.js';
import type { AdaptTarget } from '../src/model/target.js';
import { hashSeed } from '../src/random.js';
import { Adam } from './adam.js';
import { BaseStrategy } from './baseStrategy.js';
import type { StepResult, StrategyContext, StrategyDefinition } from './strategy.js';
import { emaFrom, ModelCopy, restoreToSource, tensorBytes, trainableParameters } from './teacher.js';
import { EMA_BELOW_BATCH } from './normStats.js';

/** Options of `cotta`. Defaults are the official CIFAR-10 configuration (`cfgs/cifar10/cotta.yaml`). */
export interface CottaOptions {
  /** Adam learning rate. Defaults to 1e-3 (official, small images). */
  lr?: number;
  /** Adam beta1. Defaults to 0.9 (official `OPTIM.BETA`); beta2 is 0.999, epsilon 1e-8 (PyTorch). */
  beta1?: number;
  /** Teacher EMA momentum. Defaults to 0.999 (official `OPTIM.MT`). */
  emaMomentum?: number;
  /** Probability that a weight element is restored to source each step. Defaults to 0.01 (official `OPTIM.RST`). */
  restoreProb?: number;
  /**
   * Anchor confidence below which the teacher target is averaged over augmented views. 0 never
   * augments; above 1 always does. The official value 0.92 (`OPTIM.AP`) is CIFAR-10's; the
   * authors' rule for other models is the 5% quantile of the source model's per-batch confidence
   * on source data minus 0.05 (`cottaThreshold` in `src/confidenceThreshold.ts`: pass its
   * result here when you have source images).
   * Defaults to `'auto'`: the same rule applied online to the anchor's confidences on the first
   * `COTTA_CALIBRATION_BATCHES` (16) batches of the stream (each of those batches uses the
   * rule on the batches seen so far, itself included), then fixed; it assumes the stream starts
   * close to the source conditions (see docs/safe-adaptation.md). The value in use is the
   * `threshold` step statistic.
   */
  threshold?: number | 'auto';
  /** Augmented teacher passes averaged when unsure. Defaults to 32 (official `N`). */
  augmentations?: number;
  /** Random horizontal flips among the augmentations. Defaults to true (official); turn off where flips change meaning. */
  horizontalFlip?: boolean;
}

/** Batches whose anchor confidence calibrates `threshold: 'auto'`. */
export const COTTA_CALIBRATION_BATCHES = 16;

/**
 * The authors' threshold rule (5% quantile minus 0.05) over at most 21 per-batch confidences,
 * from the two lowest: numpy's linear-interpolation quantile at position 0.05 (n - 1) < 1 lies
 * between the smallest and the second smallest value.
 */
export function calibratedThreshold(batches: number, lowest: number, second: number): number {
  const pos = 0.05 * (batches - 1);
  return (batches > 1 ? lowest + pos * (second - lowest) : lowest) - 0.05;
}

class CottaStrategy extends BaseStrategy<Required<CottaOptions>> {
  readonly name = 'cotta';
  /** Every pass on batch statistics (docs/safe-adaptation.md: batch 1). */
  readonly minBatch = EMA_BELOW_BATCH;
  readonly needs = cottaStrategy.needs;
  private readonly teacher: ModelCopy;
  private readonly anchor: ModelCopy;
  private readonly studentHooks: Map<string, LayerHook>;
  /** Student parameters and, aligned, the teacher's and the anchor's (the restore source). */
  private readonly params: tf.Variable[];
  private readonly paramNames: string[];
  private readonly teacherParams: tf.Variable[];
  private readonly sourceParams: tf.Variable[];
  private readonly adam: Adam;
  private readonly augmenter: CottaAugmenter;
  private readonly restoreRng: SeededRng;
  private stepCount = 0;
  /** `threshold: 'auto'`: batches seen so far (up to COTTA_CALIBRATION_BATCHES) and their two lowest confidences. */
  private calibration = { batches: 0, lowest: 1, second: 1 };
  protected readonly stateMetaSchema = {
    step: COUNTER,
    adamT: COUNTER,
    augmenter: RNG_STATE,
    restoreRng: RNG_STATE,
    calibration: {
      type: 'object',
      fields: { batches: { type: 'integer', min: 0, max: COTTA_CALIBRATION_BATCHES }, lowest: { type: 'number', min: 0, max: 1 }, second: { type: 'number', min: 0, max: 1 } },
    },
  } as const;
  private readonly copyBytes: number;

  constructor(target: AdaptTarget, config: Required<CottaOptions>, context: StrategyContext) {
    super(target, config, context);
    const { model, info } = this.layers;
    this.teacher = ModelCopy.of(model);
    this.anchor = ModelCopy.of(model);
    // The student's own BN hooks (each reads its layer's gamma/beta, so the copies have their own).
    this.studentHooks = new Map(info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
    const params = trainableParameters(model);
    this.paramNames = [...params.keys()];
    this.params = [...params.values()];
    this.teacherParams = this.paramNames.map((n) => this.teacher.parameters.get(n)!);
    this.sourceParams = this.paramNames.map((n) => this.anchor.parameters.get(n)!);
    this.adam = new Adam(this.params, { lr: config.lr, beta1: config.beta1 });
    this.augmenter = new CottaAugmenter({ horizontalFlip: config.horizontalFlip }, hashSeed(context.seed, 1));
    this.restoreRng = createRng(hashSeed(context.seed, 2));
    // Parameter copies held besides the student: teacher, anchor (= restore source), Adam
    // moments, and the base class's exact-reset copy of the whole state.
    const stateBytes = tensorBytes(this.stateVariables().values());
    this.copyBytes = this.teacher.bytes + this.anchor.bytes + 2 * tensorBytes(this.params) + stateBytes;
  }

  protected override stateVariables(): Map<string, tf.Variable> {
    const vars = new Map(super.stateVariables());
    this.paramNames.forEach((name, i) => vars.set(`cotta/teacher/${name}`, this.teacherParams[i]!));
    for (const [name, v] of this.adam.stateVariables('cotta/adam/')) vars.set(name, v);
    return vars;
  }

  protected override nonNegativeState(): tf.Variable[] {
    return [...super.nonNegativeState(), ...this.adam.secondMoments()];
  }

  protected override stateMeta(): Record<string, unknown> {
    return { step: this.stepCount, adamT: this.adam.t, augmenter: this.augmenter.state, restoreRng: this.restoreRng.state, calibration: { ...this.calibration } };
  }

  protected override restoreMeta(meta: Record<string, unknown>): void {
    this.stepCount = Number(meta.step ?? 0);
    this.adam.t = Number(meta.adamT ?? 0);
    this.augmenter.state = Number(meta.augmenter ?? 0);
    this.restoreRng.state = Number(meta.restoreRng ?? 0);
    const c = (meta.calibration ?? { batches: 0, lowest: 1, second: 1 }) as { batches: number; lowest: number; second: number };
    this.calibration = { batches: c.batches, lowest: c.lowest, second: c.second };
  }

  /**
   * The threshold for a batch of anchor confidence `confidence`: the option's value, or with
   * `'auto'` the rule over the calibration batches (this one included while calibrating).
   * `commit` records the batch (a step); `predict` leaves the calibration as it was.
   */
  private thresholdFor(confidence: number, commit: boolean): number {
    if (this.config.threshold !== 'auto') return this.config.threshold;
    let c = this.calibration;
    if (c.batches < COTTA_CALIBRATION_BATCHES) {
      const [lowest, second] = confidence < c.lowest ? [confidence, c.lowest] : [c.lowest, Math.min(c.second, confidence)];
      c = { batches: c.batches + 1, lowest, second };
      if (commit) this.calibration = c;
    }
    return calibratedThreshold(c.batches, c.lowest, c.second);
  }

  protected override onDispose(): void {
    this.adam.dispose();
    this.teacher.dispose();
    this.anchor.dispose();
  }

  /** The teacher's target logits: augmentation-averaged when `augmented`, else on the clean batch. */
  private teacherTarget(x: tf.Tensor4D, augmented: boolean): tf.Tensor2D {
    const hooks = this.teacher.batchStatisticsHooks();
    if (!augmented) return tf.tidy(() => this.teacher.executor.logits(x, { hooks }));
    const n = this.config.augmentations;
    let sum: tf.Tensor2D | null = null;
    for (let i = 0; i < n; i++) {
      // One tidy per view: only the running sum of logits is kept between views.
      const next: tf.Tensor2D = tf.tidy(() => {
        const logits = this.teacher.executor.logits(this.augmenter.augment(x), { hooks });
        return sum === null ? logits : tf.add(sum, logits);
      });
      sum?.dispose();
      sum = next;
    }
    const mean = tf.div(sum!, n) as tf.Tensor2D;
    sum!.dispose();
    return mean;
  }

  /** Step 1: the anchor's mean confidence on the batch. */
  private anchorConfidence(x: tf.Tensor4D): number {
    const anchorConfidence = tf.tidy(() =>
      tf.mean(tf.max(tf.softmax(this.anchor.executor.logits(x, { hooks: this.anchor.batchStatisticsHooks() })), 1)),
    );
    const confidence = anchorConfidence.dataSync()[0]!;
    anchorConfidence.dispose();
    return confidence;
  }

  /** The teacher's prediction, as `step` returns it; the augmentation draws are not consumed. */
  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    const confidence = this.anchorConfidence(x);
    const augmented = confidence < this.thresholdFor(confidence, false);
    const rngState = this.augmenter.state;
    let target: tf.Tensor2D;
    try {
      target = this.teacherTarget(x, augmented);
    } finally {
      this.augmenter.state = rngState;
    }
    const probs = tf.softmax(target) as tf.Tensor2D;
    target.dispose();
    return probs;
  }

  /**
   * For steps the compute budget skips: the teacher on the clean batch, without the anchor pass
   * and the augmented views (which cost about as much as an update on hard batches).
   */
  predictCheap(x: tf.Tensor4D): tf.Tensor2D {
    this.ensureSource();
    return tf.tidy(() => tf.softmax(this.teacherTarget(x, false)) as tf.Tensor2D);
  }

  protected forward(x: tf.Tensor4D): StepResult {
    const c = this.config;
    const confidence = this.anchorConfidence(x);
    // A failed step commits nothing: the calibration and the augmentation draws are put back.
    const calibration = { ...this.calibration };
    const rngState = this.augmenter.state;
    const threshold = this.thresholdFor(confidence, true);
    const augmented = confidence < threshold;
    let target: tf.Tensor2D | undefined;
    let value: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap | undefined;
    let loss: number;
    try {
      const t = (target = this.teacherTarget(x, augmented));
      ({ value, grads } = tf.variableGrads(() => {
        const student = this.layers.executor.logits(x, { hooks: this.studentHooks });
        return tf.mean(tf.neg(tf.sum(tf.mul(tf.softmax(t), tf.logSoftmax(student)), 1))) as tf.Scalar;
      }, this.params));
      loss = value.dataSync()[0]!;
      this.adam.step(this.params.map((p) => grads![p.name]!));
      tf.dispose([value, grads]);
    } catch (e) {
      tf.dispose([target, value, grads]);
      this.calibration = calibration;
      this.augmenter.state = rngState;
      throw e;
    }
    emaFrom(this.teacherParams, this.params, c.emaMomentum);
    const restored = c.restoreProb > 0 ? restoreToSource(this.params, this.sourceParams, c.restoreProb, this.restoreRng) : 0;
    this.stepCount++;
    const probs = tf.tidy(() => tf.softmax(target)) as tf.Tensor2D;
    target.dispose();
    return {
      probs,
      stats: { loss, anchorConfidence: confidence, threshold, augmented: augmented ? 1 : 0, restored, paramCopyBytes: this.copyBytes },
    };
  }
}

const inUnit = (v: number) => Number.isFinite(v) && v >= 0 && v <= 1;

export const cottaStrategy: StrategyDefinition<'cotta', CottaOptions> = {
  name: 'cotta',
  description: 'CoTTA: EMA teacher, augmentation-averaged targets when unsure, stochastic restore (all weights, backprop).',
  needs: { batchNorm: false, gradients: true, layersModel: true },
  defaults: {
    lr: 1e-3,
    beta1: 0.9,
    emaMomentum: 0.999,
    restoreProb: 0.01,
    threshold: 'auto',
    augmentations: 32,
    horizontalFlip: true,
  },
  validate(config) {
    const bad = (name: string, value: unknown, expected: string) =>
      new InvalidOptionError(`cotta: option '${name}' is ${String(value)}; expected ${expected}.`);
    if (!(Number.isFinite(config.lr) && config.lr > 0)) throw bad('lr', config.lr, 'a number > 0');
    if (!(inUnit(config.beta1) && config.beta1 < 1)) throw bad('beta1', config.beta1, 'a number in [0, 1)');
    if (!inUnit(config.emaMomentum)) throw bad('emaMomentum', config.emaMomentum, 'a number in [0, 1]');
    if (!inUnit(config.restoreProb)) throw bad('restoreProb', config.restoreProb, 'a number in [0, 1]');
    if (config.threshold !== 'auto' && !(typeof config.threshold === 'number' && Number.isFinite(config.threshold) && config.threshold >= 0)) {
      throw bad('threshold', JSON.stringify(config.threshold), "'auto' (calibrated on the first batches) or a number >= 0 (0 never augments, > 1 always does)");
    }
    if (!(Number.isInteger(config.augmentations) && config.augmentations >= 1)) throw bad('augmentations', config.augmentations, 'an integer >= 1');
    if (typeof config.horizontalFlip !== 'boolean') throw bad('horizontalFlip', config.horizontalFlip, 'true or false');
  },
  create: (target, config, context) => new CottaStrategy(target, config, context),
};
