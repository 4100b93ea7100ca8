/**
 * The guard's domain-mixture detector: tells a stream whose batches mix several domains at once
 * (a fleet of cameras feeding one model, frames from different lighting and weather shuffled
 * together) from one that meets one domain at a time, so that strategies normalising with the
 * batch's statistics are not run on it. Statistics of a mixed batch belong to no domain in it:
 * on the benchmark's `mixed` stream (all fifteen corruptions shuffled) bn-adapt's error is about
 * the source model's on average (39.2 against 39.7), but 6-8 points worse on the noise domains
 * and elastic, which the source model handled well (docs/safe-adaptation.md).
 *
 * Signal: how different the frames of a chunk are in texture energy. In the source model's pass,
 * for each BN layer of the first half of the network (rounded up; the layers that see the
 * corruption rather than the class), each frame's spatial variance of each channel's input, v.
 * Per chunk of at least 64 frames (batches of 16+ frames pooled), the statistic is the mean over
 * those layers of the mean over channels of the unbiased variance over frames of ln(v + epsilon),
 * epsilon the layer's own. It is scale-free (a contrast change adds a constant to ln v, so a
 * low-contrast domain is not mixed), and a mixed chunk's frames differ by more than their
 * classes: noise raises the variance of the first layers, blur and fog lower it. A chunk is
 * *mixed* when the statistic exceeds `mixtureGate`; the stream is mixed while the moving rate of
 * mixed chunks says so (`src/safety/streamRate.ts`, the class-correlation detector's rule and its
 * `correlationEnter` / `correlationExit` thresholds; it starts from a rate of 0, not mixed).
 *
 * Measured on the shipped model, 64-frame chunks, 500 images per domain
 * (`demos/bench/mixturePolicy.ts`, docs/safe-adaptation.md): median statistic 0.18 on the
 * continual stream (4% of chunks over 0.35, mostly chunks that straddle a domain change), 0.19
 * clean and gradual, 0.14 class-sorted, against 0.48 on `mixed` (93% over 0.35) and 0.42 on
 * mixed+Dirichlet(0.1); replayed, no single-domain stream is ever called mixed, and both mixed
 * ones are from their 4th or 5th chunk.
 */
import * as tf from '../tf.js';
import { frameChannelMomentsFused } from '../fused/index.js';
import { bnInputObserverOf, observeBnInput, type BnInputAffine, type LayerHook } from '../model/executor.js';
import type { BatchNormInfo } from '../model/introspect.js';
import { StreamRate } from './streamRate.js';

/**
 * The rate the detector starts from: a stream is taken as single-domain until four chunks in a
 * row (256 frames) say otherwise. A mixed batch costs little on average (bn-adapt's mean on the
 * mixed stream is the source's), unlike a class-sorted one, so the start is not protected.
 */
export const MIXTURE_PRIOR_RATE = 0;

/** Thresholds of {@link DomainMixture} (guard options). */
export interface DomainMixtureOptions {
  /** A chunk is mixed when its statistic exceeds this. */
  mixtureGate: number;
  /** The rate thresholds, shared with the class-correlation detector. */
  correlationEnter: number;
  correlationExit: number;
}

/** The BN layers the detector reads: the first half (rounded up) of those with spatial axes. */
export function mixtureLayers(batchNorms: readonly BatchNormInfo[]): BatchNormInfo[] {
  const spatial = batchNorms.filter((bn) => bn.inputRank >= 3);
  return spatial.slice(0, Math.ceil(spatial.length / 2));
}

/**
 * Stream-level domain-mixture state of one adapter (its rate: {@link StreamRate}). {@link hooks} record, on a source pass, each
 * frame's log spatial variances; {@link observe} folds them in.
 */
export class DomainMixture extends StreamRate {
  private readonly layers: BatchNormInfo[];
  /**
   * Per layer, the recorded [n, channels] spatial variances of the last pass (kept tensors; the
   * log is taken on the CPU), with the map back to the BN input's when they were recorded on a
   * folded BN's output (null: recorded on the input).
   */
  private pending: { variance: tf.Tensor2D; affine: BnInputAffine | null }[] = [];
  /** The pooled chunk: per layer and channel, the sums of ln v and of its square. */
  private sum: Float64Array[];
  private sumSq: Float64Array[];
  /** The statistic of the last complete chunk (NaN before the first). */
  lastStatistic = Number.NaN;

  constructor(
    readonly options: DomainMixtureOptions,
    batchNorms: readonly BatchNormInfo[],
  ) {
    super(options.correlationEnter, options.correlationExit, MIXTURE_PRIOR_RATE);
    this.layers = mixtureLayers(batchNorms);
    this.sum = this.layers.map((bn) => new Float64Array(bn.channels));
    this.sumSq = this.layers.map((bn) => new Float64Array(bn.channels));
  }

  /** Whether the model has a layer the detector can read. */
  get usable(): boolean {
    return this.layers.length > 0;
  }

  /** Whether the stream is currently taken as domain-mixed. */
  get mixed(): boolean {
    return this.active;
  }

  /**
   * Hooks for a source pass that record the frames' log variances, each calling `inner`'s hook
   * of the same layer if there is one, else the layer itself.
   */
  hooks(inner?: ReadonlyMap<string, LayerHook>): Map<string, LayerHook> {
    const out = new Map(inner ?? []);
    for (const bn of this.layers) {
      const then = inner?.get(bn.name);
      const thenObserver = bnInputObserverOf(then);
      // Observers both (or this one alone): the pass keeps the BN folded. Else wrap the inner hook.
      if (then === undefined || thenObserver !== null) {
        out.set(bn.name, observeBnInput((x, affine) => {
          this.record(bn, x, affine);
          thenObserver?.(x, affine);
        }));
      } else {
        out.set(bn.name, (ctx) => {
          this.record(bn, ctx.inputs[0]!, null);
          return then(ctx);
        });
      }
    }
    return out;
  }

  private record(bn: BatchNormInfo, x: tf.Tensor, affine: BnInputAffine | null): void {
    // One read per frame in edge-tta's SIMD kernel for NHWC BN, else tf.moments over the spatial axes.
    const fused = bn.axis === x.rank - 1 ? frameChannelMomentsFused(x) : null;
    if (fused !== null) {
      fused.mean.dispose();
      this.pending.push({ variance: tf.keep(fused.variance), affine });
      return;
    }
    const axes = Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== 0 && i !== bn.axis);
    this.pending.push({ variance: tf.keep(tf.tidy(() => tf.moments(x, axes).variance)) as tf.Tensor2D, affine });
  }

  /** Folds in the pass recorded last (n frames); returns whether the stream is mixed. */
  async observe(): Promise<boolean> {
    const pending = this.pending;
    this.pending = [];
    const variances = pending.map((p) => p.variance);
    if (pending.length !== this.layers.length) {
      tf.dispose(variances);
      return this.mixed;
    }
    const n = variances[0]!.shape[0];
    const joined = tf.concat(variances, 1);
    tf.dispose(variances);
    const values = (await joined.data()) as Float32Array;
    joined.dispose();
    const width = values.length / n;
    let offset = 0;
    this.layers.forEach((bn, l) => {
      const s = this.sum[l]!;
      const q = this.sumSq[l]!;
      const scale = pending[l]!.affine?.scale;
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < bn.channels; c++) {
          const recorded = values[i * width + offset + c]!;
          const v = Math.log((scale !== undefined ? recorded * scale[c]! ** 2 : recorded) + bn.epsilon);
          s[c] = s[c]! + v;
          q[c] = q[c]! + v * v;
        }
      }
      offset += bn.channels;
    });
    if (!this.pool(n)) return this.mixed;
    this.lastStatistic = this.chunkStatistic();
    this.resetSums();
    return this.add(this.lastStatistic > this.options.mixtureGate);
  }

  /** Mean over layers of the mean over channels of the unbiased variance of ln(v + eps) over the chunk's frames. */
  private chunkStatistic(): number {
    const f = this.pooledFrames;
    let total = 0;
    this.layers.forEach((bn, l) => {
      let layer = 0;
      for (let c = 0; c < bn.channels; c++) layer += Math.max(0, (this.sumSq[l]![c]! - this.sum[l]![c]! ** 2 / f) / (f - 1));
      total += layer / bn.channels;
    });
    return total / this.layers.length;
  }

  private resetSums(): void {
    for (const s of this.sum) s.fill(0);
    for (const q of this.sumSq) q.fill(0);
  }

  /** Drops the variances the hooks recorded since the last {@link observe} (a pass that failed part way). */
  discardPending(): void {
    tf.dispose(this.pending.map((p) => p.variance));
    this.pending = [];
  }

  /** Back to the start of a stream (the user's `reset()` / `restore()`). */
  override clear(): void {
    super.clear();
    this.discardPending();
    this.resetSums();
    this.lastStatistic = Number.NaN;
  }

  dispose(): void {
    this.clear();
  }
}
