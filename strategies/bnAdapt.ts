/**
 * `bn-adapt`: test-time normalisation. Every BatchNormalization layer normalises with the
 * statistics of the current batch instead of the source (moving) statistics; the affine
 * parameters stay the source ones. Forward only, nothing accumulates between batches.
 *
 * Paper: Schneider et al., "Improving robustness against common corruptions by covariate
 * shift adaptation" (NeurIPS 2020); Nado et al., "Evaluating prediction-time batch
 * normalization for robustness under covariate shift" (2020).
 * Reference code: mariodoebler/test-time-adaptation `methods/norm.py` (BN in train mode,
 * momentum None, i.e. pure batch statistics).
 */
import * as tf from '@tensorflow/tfjs';
import { batchStatisticsHook } from '../src/model/batchNorm.js';
import type { LayerHook } from '../src/model/executor.js';
import { BaseStrategy } from './baseStrategy.js';
import type { StepResult, StrategyDefinition } from './strategy.js';

/** `bn-adapt` has no options. */
export type BnAdaptOptions = Record<never, never>;

class BnAdaptStrategy extends BaseStrategy<BnAdaptOptions> {
  readonly name = 'bn-adapt';
  readonly needs = bnAdaptStrategy.needs;
  private readonly hooks = new Map<string, LayerHook>(
    this.layers.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]),
  );

  protected forward(x: tf.Tensor4D): StepResult {
    const probs = tf.tidy(() => tf.softmax(this.layers.executor.logits(x, { hooks: this.hooks })));
    return { probs, stats: {} };
  }
}

export const bnAdaptStrategy: StrategyDefinition<'bn-adapt', BnAdaptOptions> = {
  name: 'bn-adapt',
  description: 'Test-time BN: normalise with the current batch statistics (forward only).',
  needs: { batchNorm: true, gradients: false, layersModel: true },
  defaults: {},
  create: (target, config, context) => new BnAdaptStrategy(target, config, context),
};
