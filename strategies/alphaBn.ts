/**
 * `alpha-bn`: test-time batch statistics calibration. Per BN layer and per batch,
 *     mu = (1 - alpha) * mu_source + alpha * mu_batch,   var = (1 - alpha) * var_source + alpha * var_batch,
 * then normalisation with the source gamma/beta. Nothing accumulates between batches; forward only.
 *
 * Paper: You, Li, Zhao, "Test-time Batch Statistics Calibration for Covariate Shift" (2021).
 * Reference code: none official; this is the form every library uses (e.g. the `alpha_bn` /
 * `AlphaBatchNorm` module of mariodoebler/test-time-adaptation `methods/bn.py`, used by its
 * `BNTest`-style methods: `(1 - alpha) * source + alpha * batch` for mean and biased variance).
 *
 * Default alpha = 0.3: the value tuned in the reference setting closest to ours (CIFAR-10-C:
 * small images, 10 classes; 0.1 is the ImageNet batch-1 value, 0.2 the CIFAR-100-C one). It keeps
 * 70% of the source statistics, so a batch of a few frames cannot derail the model, while still
 * moving a third of the way to the shifted statistics. At batch size 1, combine it with
 * `stats: 'ema'` (the moving statistics of `strategies/normStats.ts`).
 *
 * Deviations: `stats: 'ema'` (optional, off by default) replaces the batch statistics with moving
 * statistics, so in that mode the estimate does accumulate across batches.
 */
import { ForwardNormStrategy } from './forwardNormStrategy.js';
import { checkRange, NORM_STATS_DEFAULTS, validateNormStats, type NormStatsOptions } from './normStats.js';
import type { StrategyDefinition } from './strategy.js';

/**
 * Options of `alpha-bn`.
 *
 * @example
 * await createAdapter(model, { strategy: 'alpha-bn', alpha: 0.3 });
 * // or, for single frames (moving statistics, mixed with the source ones; one adapter per model at a time):
 * // await createAdapter(model, { strategy: 'alpha-bn', stats: 'ema' });
 */
export interface AlphaBnOptions extends NormStatsOptions {
  /**
   * Weight of the test statistics against the source statistics, in [0, 1]: 0 is the source
   * model, 1 is `bn-adapt`. Defaults to 0.3 (the CIFAR-10-C value of the paper's authors; see the
   * file header).
   */
  alpha?: number;
}

/** The `alpha-bn` registry entry. */
export const alphaBnStrategy: StrategyDefinition<'alpha-bn', AlphaBnOptions> = {
  name: 'alpha-bn',
  description: 'alpha-BN: mix source and batch BN statistics, (1 - alpha) * source + alpha * batch (forward only).',
  needs: { batchNorm: true, gradients: false, layersModel: true },
  defaults: { alpha: 0.3, ...NORM_STATS_DEFAULTS },
  validate: (config) => {
    checkRange('alpha-bn', 'alpha', config.alpha, 0, 1, 'it must be a number in [0, 1] (0: source statistics, 1: batch statistics)');
    validateNormStats('alpha-bn', config);
  },
  create: (target, config, context) => new ForwardNormStrategy(alphaBnStrategy, target, config, context, config.alpha),
};
