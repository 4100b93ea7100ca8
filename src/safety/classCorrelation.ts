/**
 * The guard's class-correlation detector: tells a stream whose batches hold few classes at a time
 * (class-sorted video, a camera that sees one kind of object for a while, Dirichlet-sampled
 * labels) from an i.i.d. one, so that strategies normalising with the batch's statistics are not
 * run on it. A batch of one or two classes normalised with its own statistics loses exactly the
 * features that separate the classes: bn-adapt 57.8% error on the benchmark's class-sorted
 * stream against the source model's 39.7 (docs/safe-adaptation.md).
 *
 * Per chunk of at least 64 frames (one batch of 64 or more, or consecutive smaller batches pooled:
 * the statistic of 16 i.i.d. frames is too noisy: in a scratch trace on clean test images 42% of
 * batches of 16 fell under 0.8, none of 32 or more),
 * LAME's gate statistic on the source model's prediction: r = exp(H(chunk mean)) / exp(H(stream
 * prior)), the prior a moving mean of the earlier chunks' (`classGateRatio`). A chunk is
 * *concentrated* when r < `classGate`. One batch cannot tell a
 * concentrated batch from a domain change (the source model also predicts few classes for a batch
 * or two after one), but a stream can: the detector keeps the moving rate of concentrated
 * chunks (momentum `max(1/64, 1/(8 + t))` at the t-th chunk, starting from 0.5, i.e.
 * the mean of the chunks so far with a prior worth 8 chunks, then a 64-chunk memory) and calls
 * the stream correlated from `correlationEnter` up, i.i.d. again below `correlationExit`. It
 * starts correlated: until the stream has shown ~18 chunks (~1,200 frames) of evidence the adapter answers with
 * the source prediction, since the first batches of a class-sorted stream are where batch
 * statistics do their worst. Measured (500 images per domain, batch 64, `demos/bench/correlationPolicy.ts`):
 * on the i.i.d. continual stream 18% of chunks are concentrated (in bursts after domain changes),
 * class-sorted 76%, Dirichlet(0.1) 70%, all domains mixed with Dirichlet(0.1) labels 58%, all
 * domains mixed with i.i.d. labels 0%.
 */
import { classGateRatio, LAME_PRIOR_MOMENTUM } from '../../strategies/lame.js';

/** The rate of concentrated chunks a stream starts from, and the number of chunks that prior is worth. */
export const CORRELATION_PRIOR = Object.freeze({ rate: 0.5, chunks: 8 });
/** The per-chunk momentum of the rate once the prior has worn off (a memory of ~64 chunks). */
export const CORRELATION_MOMENTUM = 1 / 64;
/** Frames pooled into one observation of the gate statistic. */
export const CORRELATION_CHUNK = 64;

/** Thresholds of {@link ClassCorrelation} (the `guard` options of the same names). */
export interface ClassCorrelationOptions {
  /** A chunk is concentrated when its gate statistic is below this. */
  classGate: number;
  /** The stream turns correlated when the rate of concentrated chunks reaches this. */
  correlationEnter: number;
  /** ... and i.i.d. again when it falls below this. */
  correlationExit: number;
}

/** Stream-level class-correlation state of one adapter. Pure bookkeeping: no tensors. */
export class ClassCorrelation {
  /** The moving rate of concentrated chunks. */
  rate: number = CORRELATION_PRIOR.rate;
  /** Whether the stream is currently taken as class-correlated. */
  correlated = true;
  /** Chunks observed, and how many of them were concentrated (since the start or the last `clear`). */
  chunks = 0;
  concentratedChunks = 0;
  private prior: Float32Array;
  /** The pooled chunk: the sum of its frames' probabilities, and its frames. */
  private sum: Float64Array;
  private frames = 0;

  constructor(
    readonly options: ClassCorrelationOptions,
    private readonly numClasses: number,
  ) {
    this.prior = new Float32Array(numClasses);
    this.sum = new Float64Array(numClasses);
  }

  /** Whether any frame has been observed since the start (or the last `clear`). */
  get observed(): boolean {
    return this.chunks > 0 || this.frames > 0;
  }

  /**
   * Observes one batch's source probabilities [n, K]; returns whether the stream is correlated
   * (as of the last complete chunk: a batch that completes one counts in it).
   */
  observe(sourceProbs: ArrayLike<number>, n: number): boolean {
    const k = this.numClasses;
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) this.sum[c] = this.sum[c]! + sourceProbs[i * k + c]!;
    this.frames += n;
    if (this.frames < CORRELATION_CHUNK) return this.correlated;
    const mean = Float64Array.from(this.sum, (v) => v / this.frames);
    this.sum.fill(0);
    this.frames = 0;
    const gate = classGateRatio(mean, 1, k, this.prior, LAME_PRIOR_MOMENTUM);
    this.prior = gate.prior;
    const concentrated = !gate.first && gate.ratio < this.options.classGate ? 1 : 0;
    this.chunks++;
    this.concentratedChunks += concentrated;
    const m = Math.max(CORRELATION_MOMENTUM, 1 / (CORRELATION_PRIOR.chunks + this.chunks));
    this.rate = (1 - m) * this.rate + m * concentrated;
    if (!this.correlated && this.rate >= this.options.correlationEnter) this.correlated = true;
    else if (this.correlated && this.rate < this.options.correlationExit) this.correlated = false;
    return this.correlated;
  }

  /** Back to the start of a stream (the user's `reset()` / `restore()`). */
  clear(): void {
    this.prior = new Float32Array(this.numClasses);
    this.rate = CORRELATION_PRIOR.rate;
    this.chunks = 0;
    this.concentratedChunks = 0;
    this.sum.fill(0);
    this.frames = 0;
    this.correlated = true;
  }
}
