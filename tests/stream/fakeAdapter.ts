/**
 * A fake adapter for marble tests: its step takes `stepMs` of virtual time on the test
 * scheduler (a real adapter's Promise would resolve outside virtual time). Its "model" is
 * hand-checkable: the probabilities of a frame are its pixels divided by their sum.
 */
import * as tf from '@tensorflow/tfjs';
import type { SchedulerLike } from 'rxjs';
import type { StepOutput } from '../../src/adapter.js';
import type { BatchInput, RawBatch } from '../../src/input.js';
import type { StreamEvent } from '../../src/metrics/stepMetrics.js';
import type { StreamAdapter } from '../../src/stream/types.js';

export interface FakeCall {
  time: number;
  batchSize: number;
  labels: number[] | undefined;
}

export class FakeAdapter implements StreamAdapter {
  readonly inputShape = [2, 2, 1] as const;
  readonly numClasses = 4;
  readonly calls: FakeCall[] = [];
  readonly reports: StreamEvent[] = [];
  private stepId = 0;

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly stepMs: number,
    /** Makes step `k` (0-based) fail with this error. */
    private readonly failAt: Map<number, Error> = new Map(),
  ) {}

  step(batch: BatchInput, labels?: ArrayLike<number>): PromiseLike<StepOutput> {
    const data = batch instanceof tf.Tensor ? (batch.dataSync() as Float32Array).slice() : (batch as RawBatch).data.slice();
    const n = data.length / 4;
    this.calls.push({ time: this.scheduler.now(), batchSize: n, labels: labels && Array.from(labels) });
    const stepId = this.stepId++;
    const failure = this.failAt.get(stepId);
    const probs = new Float32Array(data.length);
    const labelsOut = new Int32Array(n);
    const confidence = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const row = data.subarray(4 * i, 4 * i + 4);
      const sum = row.reduce((a, b) => a + b, 0);
      row.forEach((v, k) => (probs[4 * i + k] = v / sum));
      const best = probs.subarray(4 * i, 4 * i + 4);
      confidence[i] = Math.max(...best);
      labelsOut[i] = best.indexOf(confidence[i]!);
    }
    const out: StepOutput = { stepId, batchSize: n, numClasses: 4, probs, labels: labelsOut, confidence, stats: {}, stepMs: this.stepMs, update: { mode: 'adapt', stepsRun: stepId + 1, stepsSkipped: 0 } };
    return {
      then: <A, B>(onOk?: ((v: StepOutput) => A) | null, onErr?: ((e: unknown) => B) | null) => {
        this.scheduler.schedule(() => (failure ? onErr?.(failure) : onOk?.(out)), this.stepMs);
        return undefined as never;
      },
    };
  }

  report(event: StreamEvent): void {
    this.reports.push(event);
  }
}

/** A raw 2x2x1 frame whose pixels sum to 1, so its fake probabilities are its pixels. */
export function frame(...pixels: [number, number, number, number]): { data: Float32Array; shape: number[] } {
  return { data: new Float32Array(pixels), shape: [2, 2, 1] };
}
