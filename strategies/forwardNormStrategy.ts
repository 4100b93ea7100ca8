import * as tf from '../src/tf.js';
import type { AdaptTarget } from '../src/model/target.js';
import { BaseStrategy } from './baseStrategy.js';
import { BnStatistics, requireBatchNorms, type NormStatsOptions } from './normStats.js';
import type { StepResult, StrategyContext, StrategyDefinition } from './strategy.js';

/**
 * The forward-only BN strategies (`bn-adapt`, `alpha-bn`): every BN layer normalises with
 * (1 - alpha) * source + alpha * test statistics, the test statistics being the batch's or,
 * with `stats: 'ema'`, moving ones; nothing is trained. `bn-adapt` is alpha = 1.
 */
export class ForwardNormStrategy<C extends Required<NormStatsOptions>> extends BaseStrategy<C> {
  readonly name: string;
  readonly needs: StrategyDefinition['needs'];
  private readonly norm: BnStatistics;
  protected readonly stateMetaSchema = {};

  constructor(def: Pick<StrategyDefinition, 'name' | 'needs'>, target: AdaptTarget, config: C, context: StrategyContext, alpha: number) {
    super(target, config, context);
    this.name = def.name;
    this.needs = def.needs;
    this.norm = new BnStatistics(requireBatchNorms(def.name, this.layers), {
      mode: config.stats,
      momentum: config.statsMomentum,
      alpha,
      differentiable: false,
    });
  }

  protected override stateVariables(): Map<string, tf.Variable> {
    return new Map([...super.stateVariables(), ...this.norm.variables]);
  }

  protected override nonNegativeState(): tf.Variable[] {
    return [...super.nonNegativeState(), ...this.norm.varianceVariables()];
  }

  protected forward(x: tf.Tensor4D): StepResult {
    let probs: tf.Tensor2D;
    try {
      probs = tf.tidy(() => tf.softmax(this.layers.executor.logits(x, { hooks: this.norm.hooks })));
    } catch (e) {
      this.norm.abort();
      throw e;
    }
    const { bnDrift, bnVarDrift } = this.norm.finish();
    return { probs, stats: { bnDrift, bnVarDrift } };
  }

  /**
   * The step's prediction without committing anything: the same statistics (the batch's, or in
   * `'ema'` mode the moving ones with this batch included), but the moving statistics stay as
   * they were.
   */
  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    try {
      return tf.tidy(() => tf.softmax(this.layers.executor.logits(x, { hooks: this.norm.hooks })) as tf.Tensor2D);
    } finally {
      this.norm.abort();
    }
  }

  protected override onDispose(): void {
    this.norm.dispose();
  }
}
