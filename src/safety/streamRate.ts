/**
 * The stream-level decision of the guard's stream detectors (class correlation, domain mixture):
 * the moving rate of chunks that showed the property, with hysteresis.
 *
 * The rate starts at a prior rate and moves with momentum `max(1/64, 1/(8 + t))` at the t-th
 * chunk: the mean of the chunks so far with the prior worth 8 chunks, then a memory of ~64 chunks.
 * The stream has the property from `enter` up and loses it below `exit`; it starts with it when
 * the prior rate is at least `enter`. The class-correlation detector starts from 0.5, with the
 * property: with no positive chunk the rate falls under the default exit, 0.25, at the 9th chunk
 * (~580 frames of 64-frame chunks), and until then the adapter answers with the source prediction, since the first
 * batches of a class-sorted stream are where batch statistics do their worst. The domain-mixture
 * detector starts from 0, without it: four positive chunks in a row reach 0.3.
 */

/** The class-correlation detector's prior rate, and the number of chunks a prior is worth. */
export const STREAM_RATE_PRIOR = Object.freeze({ rate: 0.5, chunks: 8 });
/** The per-chunk momentum of the rate once the prior has worn off (a memory of ~64 chunks). */
export const STREAM_RATE_MOMENTUM = 1 / 64;
/** Frames pooled into one chunk. */
export const STREAM_CHUNK = 64;

/**
 * The moving rate of positive chunks and the state it implies, and the count of frames pooled
 * into the chunk in progress (a detector folds a chunk's own statistic). Pure bookkeeping.
 */
export class StreamRate {
  /** The moving rate of positive chunks. */
  rate: number;
  /** Whether the stream currently counts as having the property. */
  active: boolean;
  /** Chunks observed, and how many were positive (since the start or the last `clear`). */
  chunks = 0;
  positiveChunks = 0;
  /** Frames pooled into the chunk in progress. */
  protected pooledFrames = 0;

  constructor(
    private readonly enter: number,
    private readonly exit: number,
    private readonly priorRate: number = STREAM_RATE_PRIOR.rate,
  ) {
    this.rate = priorRate;
    this.active = priorRate >= enter;
  }

  /** Whether any frame has been observed since the start (or the last `clear`). */
  get observed(): boolean {
    return this.chunks > 0 || this.pooledFrames > 0;
  }

  /** Pools n more frames into the chunk in progress; true once it holds `STREAM_CHUNK` or more (fold it, then {@link add}). */
  protected pool(n: number): boolean {
    this.pooledFrames += n;
    return this.pooledFrames >= STREAM_CHUNK;
  }

  /** Folds in one chunk (the one in progress is done); returns the state after it. */
  add(positive: boolean): boolean {
    this.pooledFrames = 0;
    this.chunks++;
    this.positiveChunks += positive ? 1 : 0;
    const m = Math.max(STREAM_RATE_MOMENTUM, 1 / (STREAM_RATE_PRIOR.chunks + this.chunks));
    this.rate = (1 - m) * this.rate + m * (positive ? 1 : 0);
    if (!this.active && this.rate >= this.enter) this.active = true;
    else if (this.active && this.rate < this.exit) this.active = false;
    return this.active;
  }

  clear(): void {
    this.rate = this.priorRate;
    this.active = this.priorRate >= this.enter;
    this.chunks = 0;
    this.positiveChunks = 0;
    this.pooledFrames = 0;
  }
}
