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
 * chunks (`src/safety/streamRate.ts`: the mean of the chunks so far with a prior of 0.5 worth 8
 * chunks, then a 64-chunk memory) and calls the stream correlated from `correlationEnter` up,
 * i.i.d. again below `correlationExit`. It starts correlated: until the stream has shown ~9 chunks
 * (~580 frames) of evidence the adapter answers with the source prediction, since the first
 * batches of a class-sorted stream are where batch
 * statistics do their worst. Measured (500 images per domain, batch 64, `demos/bench/correlationPolicy.ts`):
 * on the i.i.d. continual stream 18% of chunks are concentrated (in bursts after domain changes),
 * class-sorted 76%, Dirichlet(0.1) 70%, all domains mixed with Dirichlet(0.1) labels 58%, all
 * domains mixed with i.i.d. labels 0%. The exit was 0.15 (~1,200 frames of startup) until the
 * domain-mixture detector (`src/safety/domainMixture.ts`) took over the stream that a shorter
 * startup let through, all domains mixed with Dirichlet labels; 0.25 halves the startup's cost.
 */
import { classGateRatio, LAME_PRIOR_MOMENTUM } from '../../strategies/lame.js';
import { STREAM_RATE_PRIOR, StreamRate } from './streamRate.js';

/** Thresholds of {@link ClassCorrelation} (the `guard` options of the same names). */
export interface ClassCorrelationOptions {
  /** A chunk is concentrated when its gate statistic is below this. */
  classGate: number;
  /** The stream turns correlated when the rate of concentrated chunks reaches this. */
  correlationEnter: number;
  /** ... and i.i.d. again when it falls below this. */
  correlationExit: number;
}

/** Stream-level class-correlation state of one adapter (its rate: {@link StreamRate}). Pure bookkeeping: no tensors. */
export class ClassCorrelation extends StreamRate {
  private prior: Float32Array;
  /** The pooled chunk: the sum of its frames' probabilities. */
  private sum: Float64Array;

  /**
   * @param priorMomentum Per-chunk momentum of the prior a chunk is compared with (LAME's, 0.3: a
   *   memory of ~3 chunks). The guard always uses the default; the replay script
   *   `demos/bench/correlationRate.ts` varies it (docs/safe-adaptation.md, "Short domains").
   */
  constructor(
    readonly options: ClassCorrelationOptions,
    private readonly numClasses: number,
    private readonly priorMomentum: number = LAME_PRIOR_MOMENTUM,
  ) {
    super(options.correlationEnter, options.correlationExit);
    this.prior = new Float32Array(numClasses);
    this.sum = new Float64Array(numClasses);
  }

  /** Whether the stream is currently taken as class-correlated. */
  get correlated(): boolean {
    return this.active;
  }

  /**
   * Whether the state rests on evidence: the prior's weight (8 chunks) has been matched by observed
   * chunks. Before, the state is the prior's (correlated); batches too small to be observed do not
   * follow it (a stream of mostly small batches would otherwise never leave the startup).
   */
  get settled(): boolean {
    return this.chunks >= STREAM_RATE_PRIOR.chunks;
  }

  /** Chunks observed that were concentrated (since the start or the last `clear`). */
  get concentratedChunks(): number {
    return this.positiveChunks;
  }

  /**
   * Observes one batch's source probabilities [n, K]; returns whether the stream is correlated
   * (as of the last complete chunk: a batch that completes one counts in it).
   */
  observe(sourceProbs: ArrayLike<number>, n: number): boolean {
    const k = this.numClasses;
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) this.sum[c] = this.sum[c]! + sourceProbs[i * k + c]!;
    if (!this.pool(n)) return this.correlated;
    const mean = Float64Array.from(this.sum, (v) => v / this.pooledFrames);
    this.sum.fill(0);
    const gate = classGateRatio(mean, 1, k, this.prior, this.priorMomentum);
    this.prior = gate.prior;
    return this.add(!gate.first && gate.ratio < this.options.classGate);
  }

  /** Back to the start of a stream (the user's `reset()` / `restore()`). */
  override clear(): void {
    super.clear();
    this.prior = new Float32Array(this.numClasses);
    this.sum.fill(0);
  }
}
