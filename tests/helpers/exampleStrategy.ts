import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError, type AdaptTarget, type StateSpec, type Strategy, type StrategyDefinition, type StrategyState } from '../../src/index.js';

/** Options of `prior-ema`. */
export interface PriorEmaOptions {
  /** Weight of each batch in the moving class prior, in (0, 1]. Defaults to 0.1. */
  momentum?: number;
}

/**
 * `prior-ema`: label-shift correction. It keeps a moving estimate of the class prior on the
 * test stream and reweights the model's probabilities by it: p'(y|x) is proportional to
 * p(y|x) * prior(y) (Saerens et al., "Adjusting the outputs of a classifier to new a priori
 * probabilities", 2002, with a uniform source prior; online: one moving-average update of the
 * prior per batch instead of EM to convergence). The model itself is never changed.
 */
class PriorEma implements Strategy<Required<PriorEmaOptions>> {
  readonly name = 'prior-ema';
  readonly needs = priorEma.needs;
  readonly streams = 'class-correlated'; // a label-shift correction: for batches of few classes
  private readonly prior: tf.Variable;

  constructor(
    private readonly target: AdaptTarget,
    private readonly config: Required<PriorEmaOptions>,
  ) {
    this.prior = tf.tidy(() => tf.variable(this.uniform(), false));
  }

  private uniform(): tf.Tensor1D {
    return tf.fill([this.target.numClasses], 1 / this.target.numClasses);
  }

  /** The corrected probabilities under the current prior; changes nothing. */
  predict(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const t = this.target;
      const logits = t.kind === 'layers' ? t.executor.logits(x) : t.run(x).logits;
      const p = tf.mul(tf.softmax(logits), this.prior);
      return tf.div(p, tf.sum(p, 1, true)) as tf.Tensor2D;
    });
  }

  /** Predicts with the current prior, then moves the prior towards this batch's mean prediction. */
  step(x: tf.Tensor4D) {
    const probs = this.predict(x);
    const m = this.config.momentum;
    const top = tf.tidy(() => {
      this.prior.assign(tf.add(tf.mul(this.prior, 1 - m), tf.mul(tf.mean(probs, 0), m)));
      return tf.max(this.prior);
    });
    const priorMax = top.dataSync()[0]!;
    top.dispose();
    return { probs, stats: { priorMax } };
  }

  reset(): void {
    tf.tidy(() => this.prior.assign(this.uniform()));
  }

  snapshot(): StrategyState {
    return { tensors: { prior: tf.clone(this.prior) }, meta: {} };
  }

  /** The adapter has checked the state against `stateSpec()` before calling this. */
  restore(state: StrategyState): void {
    this.prior.assign(state.tensors.prior!);
  }

  stateSpec(): StateSpec {
    return { tensors: new Map([['prior', { shape: [this.target.numClasses], dtype: 'float32', nonNegative: true }]]), meta: {} };
  }

  dispose(): void {
    this.prior.dispose();
  }

  getConfig(): Required<PriorEmaOptions> {
    return { ...this.config };
  }
}

/** The definition to pass to `registerStrategy` (and the default export, for a worker's `strategyModules`). */
export const priorEma: StrategyDefinition<'prior-ema', PriorEmaOptions> = {
  name: 'prior-ema',
  description: 'Label-shift correction: reweights predictions by a moving estimate of the class prior.',
  needs: { batchNorm: false, gradients: false, layersModel: false },
  defaults: { momentum: 0.1 },
  validate(config) {
    const m = config.momentum;
    if (typeof m !== 'number' || !(m > 0 && m <= 1)) {
      throw new InvalidOptionError(`prior-ema: option 'momentum' is ${String(m)}; it must be a number in (0, 1] (e.g. 0.1).`);
    }
  },
  create: (target, config) => new PriorEma(target, config),
};

export default priorEma;
