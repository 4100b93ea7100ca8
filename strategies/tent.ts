/**
 * `tent`: fully test-time adaptation by entropy minimisation. Every BN layer normalises with the
 * current batch's statistics; only the BN affine parameters (gamma, beta) are trained, online, one
 * optimiser step per batch on the mean softmax entropy of the batch's predictions.
 *
 * Paper: Wang, Shelhamer, Liu, Olshausen, Darrell, "Tent: Fully Test-Time Adaptation by Entropy
 * Minimization" (ICLR 2021).
 * Reference code: DequanWang/tent `tent.py` (`configure_model`: BN in train mode without running
 * statistics, only BN weight/bias require grad; `forward_and_adapt`: outputs = model(x),
 * loss = softmax_entropy(outputs).mean(0), backward, optimizer.step, zero_grad, return outputs)
 * and its CIFAR-10-C config (Adam, lr 1e-3, betas (0.9, 0.999), weight decay 0, steps 1,
 * not episodic).
 *
 * As in the reference, the returned prediction is the one of the forward pass that computed the
 * loss, i.e. before this batch's update. `predict` is that forward pass alone (current gamma/beta,
 * the batch's statistics), with no gradient, no optimiser step and no moving-statistics update, so
 * it returns exactly what `step` would.
 *
 * Deviations / additions:
 * - `optimizer: 'sgd'` is plain SGD (no momentum); the reference's ImageNet config uses SGD with
 *   momentum 0.9 (nesterov), which is not implemented here.
 * - `stats: 'ema'` (optional, off by default): the small-batch mode of `strategies/normStats.ts`
 *   (moving statistics, the current batch included; the gradient flows through its share).
 * - `smallBatchLr: 'scale'` (safe default, not in the reference): batches of n < 32 frames step
 *   with lr x 2n / 64, SAR's rule for Tent on small batches (mr-eggplant/SAR `main.py`). At batch
 *   1 the reference's full rate collapses Tent (continual stream, 500 per domain: 49.2% error,
 *   a domain 69 points worse than source); scaled, 24.3% with every domain within 0.4 of
 *   source or better. `'fixed'` is the reference.
 * - In batch mode the BN layers run as one op with the closed-form BN backward (`batchNormTrain`
 *   in `strategies/normStats.ts`): same values and gradients as autodiff, tested, faster.
 * - Adam's moments and step count are strategy state, so `snapshot`/`restore`/`reset` are exact
 *   (the reference re-creates the optimiser on reset).
 */
import * as tf from '../src/tf.js';
import { InvalidOptionError, UnsupportedModelError } from '../src/errors.js';
import { COUNTER } from '../src/model/stateSpec.js';
import { Adam } from './adam.js';
import { BaseStrategy } from './baseStrategy.js';
import {
  BnStatistics,
  checkRange,
  meanSoftmaxEntropy,
  NORM_STATS_DEFAULTS,
  requireBatchNorms,
  validateNormStats,
  type NormStatsOptions,
} from './normStats.js';
import type { AdaptTarget } from '../src/model/target.js';
import type { StepResult, StrategyContext, StrategyDefinition } from './strategy.js';

/** Tent's optimisers. */
export type TentOptimizer = 'adam' | 'sgd';

/**
 * Options of `tent`.
 *
 * @example
 * await createAdapter(model, { strategy: 'tent' }); // Adam, lr 1e-3
 * // or, SGD (one adapter per model at a time):
 * // await createAdapter(model, { strategy: 'tent', optimizer: 'sgd', lr: 2.5e-4 });
 */
export interface TentOptions extends NormStatsOptions {
  /** `'adam'` (PyTorch semantics) or `'sgd'` (plain, no momentum). Defaults to `'adam'` (the reference's CIFAR setting). */
  optimizer?: TentOptimizer;
  /** Learning rate. Defaults to 1e-3 (the reference's CIFAR-10-C value). */
  lr?: number;
  /** Adam's first-moment decay. Defaults to 0.9. Ignored by SGD. */
  beta1?: number;
  /** Adam's second-moment decay. Defaults to 0.999. Ignored by SGD. */
  beta2?: number;
  /**
   * `'scale'`: a batch of n < 32 frames steps with lr x 2n / 64 (SAR's rule for Tent on small
   * batches, mr-eggplant/SAR `main.py`: `(0.00025 / 64) * bs * 2 if bs < 32 else 0.00025`);
   * `'fixed'`: `lr` at every batch size (the reference). Defaults to `'scale'`: at batch 1 the
   * full rate collapses Tent on the benchmark (49.2% error against source 39.7; 24.3 scaled,
   * docs/safe-adaptation.md).
   */
  smallBatchLr?: 'scale' | 'fixed';
}

/** Below this many frames, `smallBatchLr: 'scale'` scales Tent's learning rate by 2n / 64 (SAR). */
export const SMALL_BATCH_LR_BELOW = 32;

class TentStrategy extends BaseStrategy<Required<TentOptions>> {
  readonly name = 'tent';
  readonly needs = tentStrategy.needs;
  private readonly norm: BnStatistics;
  private readonly params: tf.Variable[];
  private readonly adam: Adam | null;
  protected readonly stateMetaSchema = { adamStep: COUNTER };

  constructor(target: AdaptTarget, config: Required<TentOptions>, context: StrategyContext) {
    super(target, config, context);
    const bns = requireBatchNorms('tent', this.layers);
    this.norm = new BnStatistics(bns, { mode: this.config.stats, momentum: this.config.statsMomentum, alpha: 1, differentiable: true });
    this.params = bns.flatMap((bn) => [bn.gamma, bn.beta].filter((v): v is tf.Variable => v !== null));
    if (this.params.length === 0) {
      throw new UnsupportedModelError(
        `Strategy 'tent' trains the BN scale and offset, and every BatchNormalization layer of model '${this.layers.model.name}' ` +
          "was built with `scale: false, center: false`. Use 'bn-adapt' or 'alpha-bn' instead.",
      );
    }
    this.adam =
      this.config.optimizer === 'adam'
        ? new Adam(this.params, { lr: this.config.lr, beta1: this.config.beta1, beta2: this.config.beta2 })
        : null;
  }

  protected override stateVariables(): Map<string, tf.Variable> {
    return new Map([...super.stateVariables(), ...this.norm.variables, ...(this.adam?.stateVariables('tent/adam/') ?? [])]);
  }

  protected override nonNegativeState(): tf.Variable[] {
    return [...super.nonNegativeState(), ...this.norm.varianceVariables(), ...(this.adam?.secondMoments() ?? [])];
  }

  protected override stateMeta(): Record<string, unknown> {
    return { adamStep: this.adam?.t ?? 0 };
  }

  protected override restoreMeta(meta: Record<string, unknown>): void {
    if (this.adam !== null) this.adam.t = Number(meta.adamStep ?? 0);
  }

  protected forward(x: tf.Tensor4D): StepResult {
    // Set inside the gradient function; a holder, because TS does not see closure assignments.
    const out: { probs?: tf.Tensor2D } = {};
    let loss: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap = {};
    try {
      const result = tf.variableGrads(() => {
        const logits = this.layers.executor.logits(x, { hooks: this.norm.hooks });
        // The prediction of this forward pass, returned as the reference's forward_and_adapt does.
        out.probs = tf.keep(tf.softmax(logits));
        return meanSoftmaxEntropy(logits);
      }, this.params);
      loss = result.value;
      grads = result.grads;
      const g = this.params.map((p) => grads[p.name]!);
      const n = x.shape[0];
      const lr = this.config.smallBatchLr === 'scale' && n < SMALL_BATCH_LR_BELOW ? (this.config.lr * 2 * n) / 64 : this.config.lr;
      if (this.adam !== null) this.adam.step(g, lr);
      else {
        tf.tidy(() => this.params.forEach((p, i) => p.assign(tf.sub(p, tf.mul(g[i]!, lr)))));
      }
      tf.dispose(grads);
    } catch (e) {
      this.norm.abort();
      // A failed update (the optimiser's step) leaves the loss and the gradients to free too.
      tf.dispose([out.probs, loss, grads]);
      throw e;
    }
    const { bnDrift, bnVarDrift, extra } = this.norm.finish([loss]);
    return { probs: out.probs!, stats: { loss: extra[0]!, bnDrift, bnVarDrift } };
  }

  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    try {
      return tf.tidy(() => tf.softmax(this.layers.executor.logits(x, { hooks: this.norm.hooks })) as tf.Tensor2D);
    } finally {
      // Nothing is committed: the moving statistics ('ema' mode) stay as they were.
      this.norm.abort();
    }
  }

  protected override onDispose(): void {
    this.norm.dispose();
    this.adam?.dispose();
  }
}

const OPTIMIZERS: readonly TentOptimizer[] = ['adam', 'sgd'];

/** The `tent` registry entry. */
export const tentStrategy: StrategyDefinition<'tent', TentOptions> = {
  name: 'tent',
  description: 'Tent: batch-statistics BN, BN scale/offset trained online to minimise the prediction entropy.',
  needs: { batchNorm: true, gradients: true, layersModel: true },
  defaults: { optimizer: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, smallBatchLr: 'scale', ...NORM_STATS_DEFAULTS },
  validate: (config) => {
    if (!OPTIMIZERS.includes(config.optimizer)) {
      throw new InvalidOptionError(
        `Strategy 'tent': option 'optimizer' is ${JSON.stringify(config.optimizer)}; valid values: ${OPTIMIZERS.map((o) => `'${o}'`).join(', ')}.`,
      );
    }
    checkRange('tent', 'lr', config.lr, Number.MIN_VALUE, Infinity, 'it must be a positive finite number (e.g. 1e-3)');
    checkRange('tent', 'beta1', config.beta1, 0, 0.999999, 'it must be a number in [0, 1) (e.g. 0.9)');
    checkRange('tent', 'beta2', config.beta2, 0, 0.999999, 'it must be a number in [0, 1) (e.g. 0.999)');
    if (config.smallBatchLr !== 'scale' && config.smallBatchLr !== 'fixed') {
      throw new InvalidOptionError(`Strategy 'tent': option 'smallBatchLr' is ${JSON.stringify(config.smallBatchLr)}; valid values: 'scale', 'fixed'.`);
    }
    validateNormStats('tent', config);
  },
  create: (target, config, context) => new TentStrategy(target, config, context),
};
