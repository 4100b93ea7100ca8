/**
 * "Adapt when shifted": a detector that turns update steps on when the stream leaves the source
 * distribution and off when it is back (or steady), so a device in steady conditions spends
 * nothing on updates.
 *
 * Signal: the distance of the stream's BN statistics to the source ones. Every step the batch
 * runs through the source model (`src/safety/sourceModel.ts`, which also gives the source
 * predictions); a hook on every BN layer takes the batch's per-channel moments and folds them
 * into moving statistics with a per-frame momentum (a batch of n frames weighs
 * 1 - (1 - m)^n, the mixture formula of `strategies/normStats.ts`, so single frames work). The
 * distance is the mean over BN layers and channels of
 *     |mu - mu_src| / sqrt(var_src + eps)  +  |ln((var + eps) / (var_src + eps))|
 * (`bnDrift + bnVarDrift` of the normalisation strategies).
 *
 * States, with hysteresis:
 * - `'none'` (the start): predictions come from the source model, no update step runs. Goes to
 *   `'adapting'` when the distance reaches `onThreshold`.
 * - `'adapting'`: the strategy's update steps run. Back to `'none'` (the strategy reset to its
 *   source state) when the distance falls to `offThreshold` or below; to `'steady'` when it
 *   has stayed within `steadyTolerance` (relative) of one value for `steadySteps` steps.
 * - `'steady'`: predict with the latest state, no updates (only if the strategy can predict
 *   without updating). Back to `'adapting'` when the distance leaves the tolerance band, to
 *   `'none'` at `offThreshold`.
 */
import * as tf from '../tf.js';
import { InvalidOptionError, UnsupportedModelError } from '../errors.js';
import { channelMomentsFused } from '../fused/index.js';
import { observeBnInput, type BnInputAffine, type LayerHook } from '../model/executor.js';
import type { BatchNormInfo } from '../model/introspect.js';
import type { SourceModel } from './sourceModel.js';

/** Options of the shift detector (adapter option `shiftDetection`); every field optional. */
export interface ShiftDetectionOptions {
  /** Distance at which updates turn on. Defaults to 0.5. */
  onThreshold?: number;
  /** Distance at or below which the stream counts as back to source. Defaults to 0.3. */
  offThreshold?: number;
  /** Per-frame momentum of the moving BN statistics (memory ~1/m frames). Defaults to 0.05. */
  momentum?: number;
  /** Steps within the tolerance band before `'steady'`. Defaults to 64. */
  steadySteps?: number;
  /** Relative half-width of the steady band. Defaults to 0.1. */
  steadyTolerance?: number;
}

/** The detector's defaults (docs/safe-adaptation.md has the runs that chose them). */
export const SHIFT_DEFAULTS: Readonly<Required<ShiftDetectionOptions>> = Object.freeze({
  onThreshold: 0.5,
  offThreshold: 0.3,
  momentum: 0.05,
  steadySteps: 64,
  steadyTolerance: 0.1,
});

/** Resolves the adapter option `shiftDetection` (`undefined`/`false`: off; `true`: defaults). */
export function resolveShiftOptions(value: unknown): Required<ShiftDetectionOptions> | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { ...SHIFT_DEFAULTS };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`Option 'shiftDetection' is ${JSON.stringify(value)}; pass true, or an object (${Object.keys(SHIFT_DEFAULTS).join(', ')}).`);
  }
  const valid = Object.keys(SHIFT_DEFAULTS);
  for (const key of Object.keys(value)) {
    if (!valid.includes(key)) throw new InvalidOptionError(`Option 'shiftDetection' has no field '${key}'. Its fields: ${valid.join(', ')}.`);
  }
  const c = { ...SHIFT_DEFAULTS } as Record<string, number>;
  for (const [k, v] of Object.entries(value)) if (v !== undefined) c[k] = v as number;
  for (const k of ['onThreshold', 'offThreshold', 'steadyTolerance'] as const) {
    if (typeof c[k] !== 'number' || !Number.isFinite(c[k]) || c[k]! < 0) throw new InvalidOptionError(`Option 'shiftDetection.${k}' is ${String(c[k])}; it must be a non-negative number (default ${SHIFT_DEFAULTS[k]}).`);
  }
  if (c.offThreshold! > c.onThreshold!) {
    throw new InvalidOptionError(`Option 'shiftDetection.offThreshold' (${c.offThreshold}) is above 'onThreshold' (${c.onThreshold}); it must be at most onThreshold.`);
  }
  if (typeof c.momentum !== 'number' || !(c.momentum > 0 && c.momentum <= 1)) throw new InvalidOptionError(`Option 'shiftDetection.momentum' is ${String(c.momentum)}; it must be in (0, 1] (default 0.05).`);
  if (!Number.isInteger(c.steadySteps) || c.steadySteps! < 1) throw new InvalidOptionError(`Option 'shiftDetection.steadySteps' is ${String(c.steadySteps)}; it must be a positive integer (default 64).`);
  return c as Required<ShiftDetectionOptions>;
}

/** The detector's state. */
export type ShiftState = 'none' | 'adapting' | 'steady';

/** The moving BN statistics of the stream on the source model, and the state machine above. */
export class ShiftDetector {
  state: ShiftState = 'none';
  /** The last distance measured. */
  distance = 0;
  /** Per BN layer, the stream's moving statistics (float64, on the CPU). */
  private readonly moving = new Map<string, { mean: Float64Array; variance: Float64Array }>();
  /** Per BN layer, the source statistics, read once at the first {@link measure}. */
  private sourceStats: Map<string, { mean: Float64Array; variance: Float64Array }> | null = null;
  /** The hooks a source pass runs with so the detector sees the batch (then call {@link measure}). */
  readonly hooks: ReadonlyMap<string, LayerHook>;
  /** The batch moments recorded by the hooks since the last {@link measure} (kept tensors). */
  private pending: { bn: BatchNormInfo; frames: number; mean: tf.Tensor1D; variance: tf.Tensor1D; affine: BnInputAffine | null }[] = [];
  private anchor = 0;
  private inBand = 0;

  constructor(
    readonly options: Required<ShiftDetectionOptions>,
    private readonly source: SourceModel,
  ) {
    if (source.batchNorms.length === 0) {
      throw new UnsupportedModelError("Option 'shiftDetection' measures BN statistics, and this model has no BatchNormalization layers (or is a tf.GraphModel). Turn it off for this model.");
    }
    this.hooks = new Map(source.batchNorms.map((bn) => [bn.name, this.hookFor(bn)]));
  }

  private hookFor(bn: BatchNormInfo): LayerHook {
    // An observer, so the source pass keeps the BN folded into its convolution: the moments are
    // then the folded output's, mapped back to the BN input's at measure() (affine per channel).
    return observeBnInput((x, affine) => {
      const axes = Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== bn.axis);
      // One read of x in edge-tta's SIMD kernel for NHWC BN (f64 sums), else tf.moments. The
      // moving statistics and the distance are computed at measure(), on the CPU: a few hundred
      // numbers, where tfjs ops cost a kernel launch each.
      const m = (bn.axis === x.rank - 1 ? channelMomentsFused(x) : null) ?? tf.moments(x, axes);
      this.pending.push({ bn, frames: x.shape[0]!, mean: tf.keep(m.mean as tf.Tensor1D), variance: tf.keep(m.variance as tf.Tensor1D), affine });
    });
  }

  /** The source model's BN statistics, as float64 (read once). */
  private async sourceStatistics(): Promise<Map<string, { mean: Float64Array; variance: Float64Array }>> {
    if (this.sourceStats === null) {
      const stats = new Map<string, { mean: Float64Array; variance: Float64Array }>();
      for (const bn of this.source.batchNorms) {
        stats.set(bn.name, { mean: Float64Array.from(await bn.movingMean.data()), variance: Float64Array.from(await bn.movingVariance.data()) });
      }
      this.sourceStats = stats;
    }
    return this.sourceStats;
  }

  /**
   * Folds the batch moments recorded since the last call into the moving statistics (a batch of n
   * frames weighs w = 1 - (1 - m)^n: mean += w d, variance = (1 - w) variance + w batch variance +
   * w (1 - w) d^2, d the batch mean minus the moving one) and returns the mean over the recorded
   * layers of each one's distance to the source statistics (see the file header).
   */
  private async fold(): Promise<number> {
    const pending = this.pending;
    this.pending = [];
    const source = await this.sourceStatistics();
    const joined = tf.concat(pending.flatMap((p) => [p.mean, p.variance]));
    for (const p of pending) tf.dispose([p.mean, p.variance]);
    let values: Float32Array;
    try {
      values = (await joined.data()) as Float32Array;
    } finally {
      joined.dispose();
    }
    let offset = 0;
    let total = 0;
    for (const { bn, frames, affine } of pending) {
      const C = bn.channels;
      const mean = Float64Array.from(values.subarray(offset, offset + C));
      const variance = Float64Array.from(values.subarray(offset + C, offset + 2 * C));
      offset += 2 * C;
      if (affine !== null) {
        // Recorded on the folded BN's output: the input's moments are its per-channel map.
        for (let c = 0; c < C; c++) {
          mean[c] = mean[c]! * affine.scale[c]! + affine.offset[c]!;
          variance[c] = variance[c]! * affine.scale[c]! ** 2;
        }
      }
      const prev = this.moving.get(bn.name);
      if (prev !== undefined) {
        const w = 1 - (1 - this.options.momentum) ** frames;
        for (let c = 0; c < C; c++) {
          const d = mean[c]! - prev.mean[c]!;
          mean[c] = prev.mean[c]! + w * d;
          variance[c] = prev.variance[c]! * (1 - w) + variance[c]! * w + d * d * w * (1 - w);
        }
      }
      this.moving.set(bn.name, { mean, variance });
      const src = source.get(bn.name)!;
      let meanShift = 0;
      let varShift = 0;
      for (let c = 0; c < C; c++) {
        const srcVar = src.variance[c]! + bn.epsilon;
        meanShift += Math.abs(mean[c]! - src.mean[c]!) / Math.sqrt(srcVar);
        varShift += Math.abs(Math.log((variance[c]! + bn.epsilon) / srcVar));
      }
      total += meanShift / C + varShift / C;
    }
    return total / pending.length;
  }

  /** The distance after the last source pass with {@link hooks}, and the state transition it causes (null if none). */
  async measure(canPredict: boolean): Promise<{ from: ShiftState; to: ShiftState } | null> {
    if (this.pending.length === 0) return null;
    this.distance = await this.fold();
    return this.advance(this.distance, canPredict);
  }

  /** The state machine on one distance; `canPredict` says whether `'steady'` is available. */
  advance(d: number, canPredict: boolean): { from: ShiftState; to: ShiftState } | null {
    const o = this.options;
    const from = this.state;
    let to = from;
    if (from === 'none') {
      if (d >= o.onThreshold) to = 'adapting';
    } else if (d <= o.offThreshold) {
      to = 'none';
    } else {
      const inBand = Math.abs(d - this.anchor) <= o.steadyTolerance * this.anchor;
      if (!inBand) {
        this.anchor = d;
        this.inBand = 0;
        if (from === 'steady') to = 'adapting';
      } else if (from === 'adapting' && ++this.inBand >= o.steadySteps && canPredict) {
        to = 'steady';
      }
    }
    if (to === from) return null;
    this.state = to;
    this.anchor = d;
    this.inBand = 0;
    return { from, to };
  }

  /** Whether a distance has been measured since the start (or the last `clear`): before, the state is the start's `'none'`, not a verdict. */
  get measured(): boolean {
    return this.moving.size > 0;
  }

  /** Drops the moments the hooks recorded since the last {@link measure} (a pass that failed part way). */
  discardPending(): void {
    for (const p of this.pending) tf.dispose([p.mean, p.variance]);
    this.pending = [];
  }

  /** Back to `'none'` with no history (the user's `reset()`). */
  clear(): void {
    this.moving.clear();
    this.discardPending();
    this.state = 'none';
    this.distance = 0;
    this.anchor = 0;
    this.inBand = 0;
  }

  dispose(): void {
    this.clear();
  }
}
