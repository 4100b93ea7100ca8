import type { MemoryFigures, MetricsRecord, StepMetrics } from './stepMetrics.js';

/** Options of {@link summarizeMetrics}. */
export interface SummarizeOptions {
  /** Summarise only the last `window` step records. Defaults to `Infinity` (all of them). */
  window?: number;
}

/** Windowed averages of an adapter's step records (see {@link summarizeMetrics}). */
export interface MetricsSummary {
  /** Step records in the window. */
  steps: number;
  /** Frames in the window (sum of batch sizes). */
  frames: number;
  /** Mean, median and 95th percentile of the step wall time, ms. */
  meanStepMs: number;
  p50StepMs: number;
  p95StepMs: number;
  /** Frames per second of adapter time: `frames / sum(stepMs)` (excludes time spent waiting for frames). */
  framesPerSecond: number;
  /** Frame-weighted mean entropy (nats) and mean max-probability. */
  meanEntropy: number;
  meanConfidence: number;
  /** Frame-weighted accuracy of the labelled steps in the window; absent when none had labels. */
  accuracy?: number;
  /** Summed predicted-class histogram. */
  classHistogram: number[];
  /** Mean of each strategy-specific stat over the steps that reported it. */
  stats: Record<string, number>;
  /** Totals at the end of the window: frames dropped and bad frames (from the step and stream records). */
  framesDropped: number;
  frameErrors: number;
  /** `tf.memory()` of the last record. */
  memory?: MemoryFigures;
}

/** Linear-interpolated quantile (numpy's default) of a sorted array. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Windowed averages over `adapter.metrics$` records: step time (mean, p50, p95), adapter
 * throughput, frame-weighted entropy, confidence and accuracy, mean strategy stats, and the
 * dropped / bad-frame totals.
 *
 * @example
 * // A rolling summary of the last 50 steps, every step:
 * adapter.metrics$.pipe(scan((acc, r) => [...acc.slice(-199), r], [] as MetricsRecord[]),
 *   map((records) => summarizeMetrics(records, { window: 50 })));
 */
export function summarizeMetrics(records: readonly MetricsRecord[], options: SummarizeOptions = {}): MetricsSummary {
  const window = options.window ?? Infinity;
  const allSteps = records.filter((r): r is StepMetrics => r.kind === 'step');
  const steps = Number.isFinite(window) ? allSteps.slice(Math.max(0, allSteps.length - window)) : allSteps;
  let frames = 0;
  let stepMs = 0;
  let entropy = 0;
  let confidence = 0;
  let labeled = 0;
  let correct = 0;
  const histogram: number[] = [];
  const statSums = new Map<string, { sum: number; n: number }>();
  for (const s of steps) {
    frames += s.batchSize;
    stepMs += s.stepMs;
    entropy += s.meanEntropy * s.batchSize;
    confidence += s.meanConfidence * s.batchSize;
    if (s.accuracy !== undefined) {
      labeled += s.batchSize;
      correct += s.accuracy * s.batchSize;
    }
    s.classHistogram.forEach((c, k) => (histogram[k] = (histogram[k] ?? 0) + c));
    for (const [key, value] of Object.entries(s.stats)) {
      const acc = statSums.get(key) ?? { sum: 0, n: 0 };
      acc.sum += value;
      acc.n++;
      statSums.set(key, acc);
    }
  }
  const sorted = steps.map((s) => s.stepMs).sort((a, b) => a - b);
  let framesDropped = 0;
  let frameErrors = 0;
  for (const r of records) {
    // Totals only grow: the largest seen is the latest.
    if (r.kind === 'step' || r.kind === 'frames-dropped') framesDropped = Math.max(framesDropped, r.framesDropped);
    if (r.kind === 'step' || r.kind === 'frame-error') frameErrors = Math.max(frameErrors, r.frameErrors);
  }
  const last = records[records.length - 1];
  return {
    steps: steps.length,
    frames,
    meanStepMs: steps.length > 0 ? stepMs / steps.length : NaN,
    p50StepMs: quantile(sorted, 0.5),
    p95StepMs: quantile(sorted, 0.95),
    framesPerSecond: stepMs > 0 ? (frames / stepMs) * 1000 : NaN,
    meanEntropy: frames > 0 ? entropy / frames : NaN,
    meanConfidence: frames > 0 ? confidence / frames : NaN,
    ...(labeled > 0 ? { accuracy: correct / labeled } : {}),
    classHistogram: histogram,
    stats: Object.fromEntries([...statSums].map(([k, v]) => [k, v.sum / v.n])),
    framesDropped,
    frameErrors,
    ...(last !== undefined ? { memory: last.memory } : {}),
  };
}
