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
 *
 * Additions (not in the reference): `stats: 'ema'`, the small-batch mode of
 * `strategies/normStats.ts` (moving statistics for single frames; default off), and the step
 * statistics `bnDrift` / `bnVarDrift`.
 */
import { ForwardNormStrategy } from './forwardNormStrategy.js';
import { NORM_STATS_DEFAULTS, validateNormStats, type NormStatsOptions } from './normStats.js';
import type { StrategyDefinition } from './strategy.js';

/**
 * Options of `bn-adapt`: only the small-batch mode.
 *
 * @example
 * // One camera frame at a time:
 * await createAdapter(model, { strategy: 'bn-adapt', stats: 'ema', statsMomentum: 0.01 });
 */
export type BnAdaptOptions = NormStatsOptions;

/** The `bn-adapt` registry entry. */
export const bnAdaptStrategy: StrategyDefinition<'bn-adapt', BnAdaptOptions> = {
  name: 'bn-adapt',
  description: 'Test-time BN: normalise with the current batch statistics (forward only).',
  needs: { batchNorm: true, gradients: false, layersModel: true },
  defaults: { ...NORM_STATS_DEFAULTS },
  validate: (config) => validateNormStats('bn-adapt', config),
  create: (target, config, context) => new ForwardNormStrategy(bnAdaptStrategy, target, config, context, 1),
};
