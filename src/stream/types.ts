/** Types of the streaming pipeline (`adapt` and the frame conversions). */
import type * as tf from '../tf.js';
import type { Adapter, StepOutput } from '../adapter.js';
import type { BatchInput, Frame } from '../input.js';
import type { ResolvedPreprocess } from '../preprocess.js';
import type { FrameId } from '../metrics/stepMetrics.js';
import type { SchedulerLike } from 'rxjs';

export type { FrameId };

export type { Frame, ImageDataLike, RawFrame } from '../input.js';

/** A frame with its id and, in evaluation streams, its true class (feeds the accuracy metrics). */
export interface LabeledFrame {
  frame: Frame;
  /** Defaults to the frame's 0-based arrival index in the stream. */
  frameId?: FrameId;
  /** The true class, when known. Only batches whose every frame has one report accuracy. */
  trueLabel?: number;
}

/** What `adapt` accepts: a bare frame or a {@link LabeledFrame}. */
export type FrameInput = Frame | LabeledFrame;

/** An adapted prediction for one frame. */
export interface Prediction {
  kind: 'prediction';
  frameId: FrameId;
  /** Class probabilities of this frame. */
  probs: Float32Array;
  /** Arg-max class. */
  label: number;
  /** Max probability. */
  confidence: number;
  /** The adapter step that produced it. */
  stepId: number;
  /** From the frame's arrival in the operator to this record, ms (on the operator's scheduler clock). */
  latencyMs: number;
}

/**
 * A bad frame (wrong shape, dtype, non-finite values, a bad `trueLabel`), rejected before the
 * adapter saw it; or a frame of a batch the adapter refused (`InvalidInputError`) or that a worker
 * fault lost while the worker adapter resumes (`resume`). The stream goes on.
 */
export interface FrameErrorRecord {
  kind: 'error';
  frameId: FrameId;
  /** The error's class name, e.g. `'InvalidInputError'`. */
  name: string;
  message: string;
}

/** A frame dropped by the backpressure policy because adaptation was slower than the source. */
export interface DroppedFrameRecord {
  kind: 'dropped';
  frameId: FrameId;
  policy: 'drop-oldest' | 'latest';
}

/** Every frame that enters `adapt` leaves as exactly one of these, in frame order. */
export type StreamRecord = Prediction | FrameErrorRecord | DroppedFrameRecord;

/** What to do with frames that arrive faster than the adapter steps. */
export type BackpressurePolicy = 'buffer' | 'drop-oldest' | 'latest';

/** The part of an {@link Adapter} that `adapt` uses (an in-thread or a worker adapter). */
export interface StreamAdapter {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  step(batch: BatchInput, labels?: ArrayLike<number>): PromiseLike<StepOutput>;
  report?: Adapter['report'];
  /** The adapter's preprocessing; with `resize` set, frames of any size are accepted. */
  readonly preprocess?: Pick<ResolvedPreprocess, 'resize'>;
}

/** Options of `adapt`. */
export interface AdaptStreamOptions {
  /** Frames per adapter step. Defaults to 16. */
  batchSize?: number;
  /**
   * Longest a frame waits for its batch to fill, ms: when the oldest waiting frame has waited
   * this long, a smaller batch is sent. `Infinity` waits for full batches (the last batch is
   * sent when the source completes). Defaults to 100.
   */
  maxWaitMs?: number;
  /**
   * When frames arrive while a step runs and the waiting frames exceed the limit:
   * `'buffer'` errors the stream with a `BackpressureError` when more than `bufferSize` frames
   * wait; `'drop-oldest'` drops the oldest waiting frame beyond `bufferSize`; `'latest'` keeps
   * only the newest `batchSize` frames (lowest latency). Dropped frames are reported as
   * `'dropped'` records and on `adapter.metrics$`. Defaults to `'buffer'`.
   */
  backpressure?: BackpressurePolicy;
  /** Most frames that may wait for a step under `'buffer'` and `'drop-oldest'` (>= `batchSize`). Defaults to max(256, batchSize). */
  bufferSize?: number;
  /**
   * The operator owns tensor frames: it reads each into float32 pixels as it arrives and then
   * disposes it (also a rejected frame, and a frame arriving after the stream closed). Set false
   * to keep ownership of your tensors. Defaults to true.
   */
  disposeFrames?: boolean;
  /** Scheduler of the max-wait timer and the latency clock. Defaults to `asyncScheduler`. */
  scheduler?: SchedulerLike;
}
