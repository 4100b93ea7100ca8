/**
 * BN statistics for the normalisation strategies (`bn-adapt`, `alpha-bn`, `tent`), with the
 * small-batch mode they share.
 *
 * Two ways to estimate a BN layer's test statistics (option `stats`), and a safe default between them:
 * - `'auto'` (default): `'batch'` for batches of at least `EMA_BELOW_BATCH` (16) frames,
 *   `'ema'` below, decided per step from the batch size. Batch statistics of a few frames are
 *   noise (the shipped model at batch 1 on the continual stream: bn-adapt 85.2% error against
 *   source 39.7; measured per batch size in docs/safe-adaptation.md). The moving statistics are
 *   state in this mode whatever the batch size (so snapshots have one layout); batch-mode steps
 *   leave them untouched. An explicit `'batch'` or `'ema'` always wins.
 * - `'batch'` (what the reference code does): the current batch's per-channel mean and
 *   biased variance; nothing is kept between batches.
 * - `'ema'` (for batch size 1 and small batches): exponential moving statistics, initialised to the
 *   source (moving) statistics. For a batch of n frames with moments (mu_b, var_b) and per-frame
 *   momentum m, the batch gets the weight w = 1 - (1 - m)^n (so a batch of n frames moves the
 *   estimate as much as n single frames), and
 *       mu  <- (1 - w) mu + w mu_b
 *       var <- (1 - w) var + w var_b + w (1 - w) (mu_b - mu_old)^2
 *   i.e. the mean and variance of the mixture of the old estimate and the batch (law of total
 *   variance). The last term is what makes single frames work: one frame's variance is only
 *   its spatial variance, and the spread of the frame means across frames must be added back,
 *   which a plain EMA of variances (RoTTA's RBN) misses. The current batch is included before it is
 *   normalised (as train-mode BN does), and the update is differentiable (Tent's gradient flows
 *   through the current batch's share).
 *
 * Why moving statistics and not a sliding window of recent frames: a window needs either W
 * forward passes per frame (W times the cost, which is the budget an edge device does not have)
 * or a per-layer buffer of per-frame moments (W x channels x 2 per layer, plus the
 * bookkeeping to snapshot it); both go stale as soon as Tent changes the weights. Moving
 * statistics cost two vectors per BN layer, one forward pass, and their memory (~1/m frames) is a
 * single documented number.
 *
 * Each step reports `bnDrift` (mean over BN layers and channels of |mu_used - mu_src| /
 * sqrt(var_src + eps): how far, in source standard deviations, the means used moved) and
 * `bnVarDrift` (mean of |ln((var_used + eps) / (var_src + eps))|).
 *
 * alpha-BN's mixing runs as `src/fused` `mixBnStats` (one WASM SIMD kernel on the wasm backend)
 * when the step is forward only; `mixMoments` (plain tfjs ops, same formula, same bits at alpha 0
 * and 1) when gradients must flow through it. With alpha = 1 (bn-adapt, Tent) there is no mixing.
 */
import * as tf from '../src/tf.js';
import { InvalidOptionError, UnsupportedModelError } from '../src/errors.js';
import { mixBnStats } from '../src/fused/index.js';
import { batchMoments, batchNormTrain, closedFormFits, emaMoments, normalizeWith, type ChannelMoments } from '../src/model/batchNorm.js';
import type { LayerHook } from '../src/model/executor.js';
import type { BatchNormInfo } from '../src/model/introspect.js';
import type { LayersTarget } from '../src/model/target.js';
import { deepCopy } from '../src/model/weights.js';

/** How BN statistics are estimated at test time (`'auto'`: by batch size, see `EMA_BELOW_BATCH`). */
export type BnStatsMode = 'auto' | 'batch' | 'ema';

/**
 * `stats: 'auto'` uses moving statistics (`'ema'`) for batches of fewer frames than this, and
 * the batch's statistics from this size up. Chosen on the benchmark (bn-adapt, continual stream,
 * batch sizes 1 to 64; docs/safe-adaptation.md): below 16 frames the batch statistics lose to
 * the moving ones.
 */
export const EMA_BELOW_BATCH = 16;

/** The small-batch options every normalisation strategy takes. */
export interface NormStatsOptions {
  /**
   * `'batch'`: the current batch's statistics (the reference behaviour; poor at batch size 1).
   * `'ema'`: moving statistics starting from the source ones, for single frames and small batches.
   * `'auto'`: `'ema'` for batches of fewer than `EMA_BELOW_BATCH` (16) frames, `'batch'` from
   * 16 up, decided at every step. Defaults to `'auto'`.
   */
  stats?: BnStatsMode;
  /**
   * Per-frame momentum of `stats: 'ema'`: each frame moves the statistics by this fraction
   * (a batch of n frames by 1 - (1 - m)^n); the estimate remembers about 1/m frames. Ignored in
   * `'batch'` mode. Defaults to 0.01 (about 100 frames: ~3 s of a 30 fps camera, short against a
   * domain of thousands of frames, long enough to average out single-frame noise).
   */
  statsMomentum?: number;
}

/** Defaults of {@link NormStatsOptions}. */
export const NORM_STATS_DEFAULTS: Readonly<Required<NormStatsOptions>> = Object.freeze({
  stats: 'auto',
  statsMomentum: 0.01,
});

const MODES: readonly BnStatsMode[] = ['auto', 'batch', 'ema'];

/** Throws {@link InvalidOptionError} naming a bad `stats` / `statsMomentum`. */
export function validateNormStats(strategy: string, config: Required<NormStatsOptions>): void {
  if (!MODES.includes(config.stats)) {
    throw new InvalidOptionError(
      `Strategy '${strategy}': option 'stats' is ${JSON.stringify(config.stats)}; valid values: ${MODES.map((m) => `'${m}'`).join(', ')}.`,
    );
  }
  const m = config.statsMomentum;
  if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0 || m > 1) {
    throw new InvalidOptionError(
      `Strategy '${strategy}': option 'statsMomentum' is ${String(m)}; it must be a number in (0, 1] (e.g. 0.01).`,
    );
  }
}

/** Throws {@link InvalidOptionError} unless `value` is a finite number in [lo, hi]. */
export function checkRange(strategy: string, option: string, value: unknown, lo: number, hi: number, hint: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
    throw new InvalidOptionError(`Strategy '${strategy}': option '${option}' is ${String(value)}; ${hint}.`);
  }
}

/**
 * alpha-BN's statistic mixing: (1 - alpha) * source + alpha * batch, for mean and variance alike.
 * alpha = 0 gives the source statistics and alpha = 1 the batch ones, bit for bit.
 */
export function mixMoments(source: ChannelMoments, batch: ChannelMoments, alpha: number): ChannelMoments {
  const mix = (s: tf.Tensor, b: tf.Tensor) => tf.add(tf.mul(s, 1 - alpha), tf.mul(b, alpha)) as tf.Tensor1D;
  return { mean: mix(source.mean, batch.mean), variance: mix(source.variance, batch.variance) };
}

/** Mean softmax entropy of a batch of logits, -sum p log p averaged over rows (differentiable). */
export function meanSoftmaxEntropy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.exp(logp), logp), 1))) as tf.Scalar;
  });
}

/** The BN layers of a target; throws {@link UnsupportedModelError} if there are none. */
export function requireBatchNorms(strategy: string, target: LayersTarget): BatchNormInfo[] {
  const bns = target.info.batchNorms;
  if (bns.length === 0) {
    throw new UnsupportedModelError(
      `Strategy '${strategy}' adapts BatchNormalization layers, and model '${target.model.name}' has none. ` +
        "Use a strategy that does not need BN (e.g. 'lame' or 'source'), or a model with BatchNormalization layers.",
    );
  }
  return bns;
}

interface Pending {
  bn: BatchNormInfo;
  used: ChannelMoments;
  ema?: ChannelMoments;
}

/**
 * The test-time BN statistics of one model: hooks that normalise every BN layer with
 * (1 - alpha) * source + alpha * estimate, the estimate being the batch's or the moving
 * statistics. One step: run the model with {@link hooks} (inside `tf.tidy` or `tf.variableGrads`),
 * then call {@link finish} (or {@link abort} on error) exactly once.
 */
export class BnStatistics {
  /** The moving statistics (modes `'ema'` and `'auto'`; empty in `'batch'` mode), for the strategy's state. */
  readonly variables = new Map<string, tf.Variable>();
  /** One hook per BN layer, keyed by layer name, for `ModelExecutor.run`. */
  readonly hooks: ReadonlyMap<string, LayerHook>;
  private readonly ema = new Map<string, { mean: tf.Variable; variance: tf.Variable }>();
  private pending: Pending[] = [];
  private readonly sourceCache = new Map<string, { meanId: object; varianceId: object; mean: Float32Array; variance: Float32Array }>();

  readonly mode: BnStatsMode;
  readonly momentum: number;
  readonly alpha: number;
  private readonly differentiable: boolean;

  /**
   * @param bns the BN layers to adapt.
   * @param options `mode` and `momentum` as in {@link NormStatsOptions}; `alpha` the weight of the
   *   estimate against the source statistics (1: the estimate only); `differentiable` whether
   *   gradients must flow through the statistics (Tent).
   */
  constructor(
    bns: readonly BatchNormInfo[],
    options: { mode: BnStatsMode; momentum: number; alpha: number; differentiable: boolean },
  ) {
    this.mode = options.mode;
    this.momentum = options.momentum;
    this.alpha = options.alpha;
    this.differentiable = options.differentiable;
    if (this.mode !== 'batch') {
      for (const bn of bns) {
        // deepCopy: own memory (a clone shares the source's buffer); the copy handle is freed here
        // and the variable keeps the data (leaking it was 2 tensors per BN layer per adapter).
        const mean = tf.tidy(() => tf.variable(deepCopy(bn.movingMean), false));
        const variance = tf.tidy(() => tf.variable(deepCopy(bn.movingVariance), false));
        this.ema.set(bn.name, { mean, variance });
        this.variables.set(`normStats/${bn.name}/mean`, mean);
        this.variables.set(`normStats/${bn.name}/variance`, variance);
      }
    }
    this.hooks = new Map(bns.map((bn) => [bn.name, this.hookFor(bn)]));
  }

  private hookFor(bn: BatchNormInfo): LayerHook {
    // Tent: one op with the closed-form BN backward (see batchNormTrain), on the batch's or the moving statistics.
    const fast = this.differentiable && this.alpha === 1;
    return ({ inputs }) => {
      const x = inputs[0]!;
      const moving = this.usesMovingStatistics(x.shape[0]!);
      const state = moving ? this.ema.get(bn.name) : undefined;
      const w = 1 - (1 - this.momentum) ** x.shape[0]!;
      if (fast && closedFormFits(bn, x)) {
        const { y, mean, variance } = batchNormTrain(x, bn.gamma!, bn.beta!, bn.epsilon, state !== undefined ? { ...state, weight: w } : undefined);
        const used = { mean: tf.keep(mean), variance: tf.keep(variance) };
        // With moving statistics the statistics used are the new moving ones (alpha is 1).
        this.pending.push({ bn, used, ...(state !== undefined ? { ema: used } : {}) });
        return y;
      }
      // Forward-only strategies use the fused SIMD kernels; differentiable ones the tfjs ops in
      // both step and predict (so the two agree bit for bit).
      let estimate = batchMoments(x, bn, !this.differentiable);
      let ema: ChannelMoments | undefined;
      if (state !== undefined) {
        ema = emaMoments(state, estimate, w);
        estimate = ema;
      }
      const used = this.mix(bn, estimate);
      // Kept beyond the caller's tidy until finish(): the drift figures and the moving-statistics update.
      this.pending.push({
        bn,
        used: { mean: tf.keep(used.mean), variance: tf.keep(used.variance) },
        ...(ema !== undefined ? { ema: { mean: tf.keep(ema.mean), variance: tf.keep(ema.variance) } } : {}),
      });
      // alpha 0 normalises with the source statistics: as the layer itself, bit for bit.
      return normalizeWith(x, bn, used.mean, used.variance, this.alpha === 0);
    };
  }

  /** Whether a batch of `n` frames is normalised with the moving statistics (`'ema'`, or `'auto'` below `EMA_BELOW_BATCH`). */
  usesMovingStatistics(n: number): boolean {
    return this.mode === 'ema' || (this.mode === 'auto' && n < EMA_BELOW_BATCH);
  }

  private mix(bn: BatchNormInfo, estimate: ChannelMoments): ChannelMoments {
    if (this.alpha === 1) return estimate;
    const source = { mean: bn.movingMean as tf.Tensor1D, variance: bn.movingVariance as tf.Tensor1D };
    if (this.differentiable) return mixMoments(source, estimate, this.alpha);
    const { mean, variance } = mixBnStats(source.mean, source.variance, estimate.mean, estimate.variance, this.alpha);
    return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }

  /**
   * Ends a step: commits the moving statistics, and returns `bnDrift` and `bnVarDrift`
   * followed by the values of `extra` scalars (read in the same device sync). Disposes `extra`.
   */
  finish(extra: tf.Scalar[] = []): { bnDrift: number; bnVarDrift: number; extra: number[] } {
    const pending = this.pending;
    this.pending = [];
    try {
      for (const p of pending) {
        if (p.ema === undefined) continue;
        const state = this.ema.get(p.bn.name)!;
        state.mean.assign(p.ema.mean);
        state.variance.assign(p.ema.variance);
      }
      // One device read for every layer's statistics and the extras; the drift is then plain JS
      // (eleven small kernels per BN layer before, most of a batch-1 step's overhead).
      const parts = [...pending.flatMap((p) => [p.used.mean, p.used.variance]), ...extra];
      let flat: Float32Array = new Float32Array(0);
      if (parts.length > 0) {
        const all = tf.tidy(() => tf.concat(parts.map((t) => tf.reshape(t, [-1]))));
        flat = all.dataSync() as Float32Array;
        all.dispose();
      }
      let at = 0;
      let drift = 0;
      let varDrift = 0;
      for (const { bn } of pending) {
        const src = this.sourceStatistics(bn);
        const c = src.mean.length;
        let d = 0;
        let vd = 0;
        for (let i = 0; i < c; i++) {
          const srcVar = src.variance[i]! + bn.epsilon;
          d += Math.abs(flat[at + i]! - src.mean[i]!) / Math.sqrt(srcVar);
          vd += Math.abs(Math.log((flat[at + c + i]! + bn.epsilon) / srcVar));
        }
        drift += c > 0 ? d / c : 0;
        varDrift += c > 0 ? vd / c : 0;
        at += 2 * c;
      }
      const n = pending.length;
      return { bnDrift: n > 0 ? drift / n : 0, bnVarDrift: n > 0 ? varDrift / n : 0, extra: Array.from(flat.slice(at)) };
    } finally {
      tf.dispose(extra);
      disposePending(pending);
    }
  }

  /**
   * The source (moving) statistics of `bn` as numbers, read once per tensor: a dataId never changes
   * its values, so a new dataId (the user set new weights) is read again.
   */
  private sourceStatistics(bn: BatchNormInfo): { mean: Float32Array; variance: Float32Array } {
    const cached = this.sourceCache.get(bn.name);
    if (cached !== undefined && cached.meanId === bn.movingMean.dataId && cached.varianceId === bn.movingVariance.dataId) return cached;
    const entry = {
      meanId: bn.movingMean.dataId,
      varianceId: bn.movingVariance.dataId,
      mean: bn.movingMean.dataSync() as Float32Array,
      variance: bn.movingVariance.dataSync() as Float32Array,
    };
    this.sourceCache.set(bn.name, entry);
    return entry;
  }

  /** Drops a step's pending statistics without committing them (the step failed). */
  abort(): void {
    disposePending(this.pending);
    this.pending = [];
  }

  /** The moving variances (modes `'ema'` and `'auto'`), which a restored state must keep non-negative. */
  varianceVariables(): tf.Variable[] {
    return [...this.ema.values()].map((s) => s.variance);
  }

  dispose(): void {
    this.abort();
    tf.dispose([...this.variables.values()]);
  }
}

function disposePending(pending: Pending[]): void {
  for (const p of pending) tf.dispose([p.used.mean, p.used.variance, ...(p.ema ? [p.ema.mean, p.ema.variance] : [])]);
}
