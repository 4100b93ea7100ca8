import type { StepStats } from '../../strategies/strategy.js';

/** `tf.memory()` figures of the thread the adapter runs in (the worker's for a worker adapter). */
export interface MemoryFigures {
  numTensors: number;
  numBytes: number;
}

/** A frame's id in a stream: the caller's id, or its 0-based arrival index. */
export type FrameId = number | string;

/** One record of `adapter.metrics$` for a step, emitted after every step. */
export interface StepMetrics {
  kind: 'step';
  stepId: number;
  strategy: string;
  batchSize: number;
  /** Wall time of the step (forward + adaptation + reading the probabilities), ms. */
  stepMs: number;
  /** Mean softmax entropy of the returned predictions (nats). */
  meanEntropy: number;
  /** Mean max-probability of the returned predictions. */
  meanConfidence: number;
  /** How many frames of the batch were predicted as each class. */
  classHistogram: number[];
  /** Accuracy of the batch when labels were supplied. */
  accuracy?: number;
  /** Accuracy over every labelled frame this adapter has seen so far (present once a batch had labels). */
  runningAccuracy?: number;
  /** Labelled frames seen so far (the denominator of `runningAccuracy`). */
  labeledFrames: number;
  /** Frames dropped by backpressure in streams feeding this adapter, in total up to this step. */
  framesDropped: number;
  /** Bad frames (wrong shape, dtype, non-finite values) rejected so far, in total. */
  frameErrors: number;
  /** Strategy-specific figures (loss, BN drift, restored weights...). */
  stats: StepStats;
  /** `tf.memory()` after the step. */
  memory: MemoryFigures;
  /** What the step did (adapt, predict only, source model) and the totals of update steps run and skipped. */
  update: UpdateInfo;
}

/**
 * How one step produced its predictions: `'adapt'` (the strategy's update step), `'predict'`
 * (the latest state, no update: thinned by the budget, the shift detector says steady, or the
 * guard froze updates) or `'source'` (the source model: no shift detected, or the fallback after
 * a guard trip / non-finite output). Defined in `src/safety/`.
 */
export interface UpdateInfo {
  mode: 'adapt' | 'predict' | 'source';
  /** Why the step did not adapt (absent on `'adapt'` steps). */
  reason?: 'budget' | 'shift-none' | 'shift-steady' | 'guard-frozen' | 'guard-trip' | 'non-finite' | 'class-correlated' | 'iid-stream' | 'domain-mixed' | 'small-batch' | 'shift-far';
  /** Update steps run so far. */
  stepsRun: number;
  /** Steps so far that did not run the update (predict-only or source). */
  stepsSkipped: number;
  /**
   * The shift detector's moving BN-statistics distance to the source after this step, when one
   * runs (`shiftDetection`, the guard's unshifted-stream rule `minShift`, LAME's far-shift rule
   * `maxShift`); absent otherwise. `shift` records carry it only at state changes.
   */
  shiftDistance?: number;
  /** With a compute budget (`budget` option): the budget and what steps cost against it, after this step. */
  budget?: BudgetInfo;
}

/**
 * A step record's `update.budget`. The budget holds `msPerFrame` at or under `maxMsPerFrame` by
 * skipping updates; it cannot when a step without an update already costs more
 * (`floorMsPerFrame` above `maxMsPerFrame`: the strategy's prediction plus the guard's source pass),
 * and then runs no update at all. Raise the budget above the floor, or lower the cost of a step
 * (`docs/safe-adaptation.md`, "Budget at half of a strategy's adapt time").
 */
export interface BudgetInfo {
  /** The budget, `maxAdaptMsPerFrame`. */
  maxMsPerFrame: number;
  /** Step wall time per frame so far, over every step: what the budget bounds. */
  msPerFrame: number;
  /** Moving wall time per frame of the last steps that ran no update (~4 steps of memory); absent until one ran. */
  floorMsPerFrame?: number;
}

/**
 * A `metrics$` record for a step whose strategy output (probabilities or stats) was NaN or
 * infinite: the output was not passed on; the state was rolled back.
 */
export interface NonFiniteMetrics {
  kind: 'nonfinite';
  stepId: number;
  /** Which output was non-finite: the probabilities and/or named stats. */
  where: string[];
  /**
   * What the adapter did: restored the guard's last good state, or reset to the source state;
   * 'none' when the step was the source model's answer (the strategy did not run: its state is kept).
   */
  action: 'rollback' | 'reset' | 'none';
  /** Where the step's returned predictions came from instead. */
  predictions: 'source' | 'none';
  time: number;
  /** `tf.memory()` when the record was made. */
  memory: MemoryFigures;
}

/** A `metrics$` record for a guard trip: which signal tripped, its value and threshold, and what was done. */
export interface GuardMetrics {
  kind: 'guard';
  stepId: number;
  /** The signal that tripped (see `GuardOptions` in `src/safety/guard.ts`). */
  signal: 'entropy-collapse' | 'class-collapse' | 'source-disagreement' | 'reference-drift';
  /** The signal's value and the threshold it crossed. */
  value: number;
  threshold: number;
  /**
   * `'rollback'`: back to the last good state; `'reset'`: back to the source state;
   * `'freeze'`: back to source and no update steps for `frozenSteps` steps.
   */
  action: 'rollback' | 'reset' | 'freeze';
  /** Steps updates stay off after a `'freeze'` (0 otherwise). */
  frozenSteps: number;
  /** Trips so far (this one included). */
  trips: number;
  time: number;
  /** `tf.memory()` when the record was made. */
  memory: MemoryFigures;
}

/** A `metrics$` record for a change of the shift detector's state. */
export interface ShiftMetrics {
  kind: 'shift';
  stepId: number;
  /** `'none'`: in the source distribution (source model, no updates); `'adapting'`: shifted, updating; `'steady'`: shifted and stable (predict only). */
  from: 'none' | 'adapting' | 'steady';
  to: 'none' | 'adapting' | 'steady';
  /**
   * The BN-statistics distance to the source that decided it; 0 for the record a `reset()` or
   * `restore()` publishes when it puts the detector back to `'none'` (stepId: the next step's id).
   */
  distance: number;
  time: number;
  /** `tf.memory()` when the record was made. */
  memory: MemoryFigures;
}

/** One record of `adapter.metrics$` for a bad frame a stream rejected (the stream goes on). */
export interface FrameErrorMetrics {
  kind: 'frame-error';
  frameId: FrameId;
  /** The error's class name, e.g. `'InvalidInputError'`. */
  name: string;
  message: string;
  /** Bad frames rejected so far, in total (this one included). */
  frameErrors: number;
  /** `performance.now()` on the thread that rejected the frame, ms. */
  time: number;
  /** The adapter's last known `tf.memory()` figures. */
  memory: MemoryFigures;
}

/** One record of `adapter.metrics$` for frames a stream dropped under its backpressure policy. */
export interface FramesDroppedMetrics {
  kind: 'frames-dropped';
  frameIds: FrameId[];
  /** The backpressure policy that dropped them. */
  policy: 'drop-oldest' | 'latest';
  /** Frames dropped so far, in total (these included). */
  framesDropped: number;
  /** `performance.now()` on the thread that dropped the frames, ms. */
  time: number;
  /** The adapter's last known `tf.memory()` figures. */
  memory: MemoryFigures;
}

/**
 * One record of a worker adapter's `metrics$` when auto-resume replaced its worker: the old
 * worker died or hung, the new one continues from the latest snapshot.
 */
export interface WorkerRestartMetrics {
  kind: 'worker-restart';
  /** Why the old worker was replaced: it died (`'crashed'`) or a call timed out (`'timeout'`). */
  reason: 'crashed' | 'timeout';
  /** The fault's message. */
  message: string;
  /**
   * Steps contained in the snapshot the new worker was restored from (its next step id), or
   * null when no snapshot was taken yet (the new worker starts from the source model).
   */
  snapshotStep: number | null;
  /** Restarts of this adapter so far, this one included. */
  restarts: number;
  /** From the fault to the new worker being ready, ms. */
  restartMs: number;
  /** `performance.now()` on the calling thread when the new worker was ready, ms. */
  time: number;
  /** `tf.memory()` in the new worker after the restore. */
  memory: MemoryFigures;
}

/** Everything `adapter.metrics$` emits, discriminated by `kind`. */
export type MetricsRecord =
  | StepMetrics
  | FrameErrorMetrics
  | FramesDroppedMetrics
  | WorkerRestartMetrics
  | NonFiniteMetrics
  | GuardMetrics
  | ShiftMetrics;

/** What a stream reports to its adapter (`adapter.report`); the adapter adds totals, time and memory. */
export type StreamEvent =
  | { kind: 'frame-error'; frameId: FrameId; name: string; message: string }
  | { kind: 'frames-dropped'; frameIds: FrameId[]; policy: 'drop-oldest' | 'latest' };

/**
 * Counts of stream events for one adapter, turning a {@link StreamEvent} into its metrics
 * record. Shared by the in-thread and the worker adapter so both report the same totals.
 */
export class StreamCounters {
  framesDropped = 0;
  frameErrors = 0;

  /** The record for `event`, with updated totals. */
  record(event: StreamEvent, memory: MemoryFigures): FrameErrorMetrics | FramesDroppedMetrics {
    const time = performance.now();
    if (event.kind === 'frame-error') {
      this.frameErrors++;
      return { ...event, frameErrors: this.frameErrors, time, memory };
    }
    this.framesDropped += event.frameIds.length;
    return { ...event, frameIds: [...event.frameIds], framesDropped: this.framesDropped, time, memory };
  }
}

/** Mean entropy, mean confidence, labels and confidences of row-major probabilities. */
export function summarizeProbs(
  probs: Float32Array,
  numClasses: number,
): { labels: Int32Array; confidence: Float32Array; meanEntropy: number; meanConfidence: number; histogram: number[] } {
  const n = probs.length / numClasses;
  const labels = new Int32Array(n);
  const confidence = new Float32Array(n);
  const histogram = new Array<number>(numClasses).fill(0);
  let entropy = 0;
  let conf = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestP = -1;
    for (let k = 0; k < numClasses; k++) {
      const p = probs[i * numClasses + k]!;
      if (p > bestP) {
        bestP = p;
        best = k;
      }
      if (p > 0) entropy -= p * Math.log(p);
    }
    labels[i] = best;
    confidence[i] = bestP;
    histogram[best]!++;
    conf += bestP;
  }
  return { labels, confidence, meanEntropy: entropy / n, meanConfidence: conf / n, histogram };
}
