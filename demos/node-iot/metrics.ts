/**
 * The IoT service's Prometheus metrics (prom-client), fed by `adapter.metrics$` records and
 * the service itself. Names follow Prometheus conventions (`_total` counters, base units:
 * seconds, bytes). Every record kind on `metrics$` is counted in `edge_tta_metrics_records_total{kind}`,
 * so kinds added later (budget...) show up without a change here; `guard` records also count in
 * `edge_tta_guard_events_total{action,signal}`, `shift` records set `edge_tta_shift_state{state}`,
 * and `edge_tta_shift_distance` follows each step's `update.shiftDistance`. Record fields become label values only through `labelValue`
 * (records cross a worker boundary). Node's process metrics (heap, RSS, CPU, event-loop lag, GC)
 * come from prom-client's default collectors.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsRecord } from '../../src/metrics/stepMetrics.js';
import { CLASS_NAMES } from '../../src/data/fashionMnist.js';

/** Step-time buckets (seconds): 1 ms to 5 s, enough for bn-adapt at batch 1 up to CoTTA at batch 64. */
const STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A label value from an untrusted record field: short, printable, or 'unknown'. */
const labelValue = (v: unknown): string => (typeof v === 'string' && /^[\w.:-]{1,48}$/.test(v) ? v : 'unknown');

/** The shift detector's states (`ShiftMetrics.from` / `to`). */
const SHIFT_STATES = ['none', 'adapting', 'steady'] as const;

/** How the start-up restore went: the snapshot restored, no snapshot, or one that could not be used (moved aside). */
export type RestoreResult = 'restored' | 'none' | 'rejected';
const RESTORE_RESULTS: readonly RestoreResult[] = ['restored', 'none', 'rejected'];

/** The service's registry and the metrics it exposes. */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly c: ReturnType<ServiceMetrics['make']>;
  /** Whether a shift record had a state outside SHIFT_STATES (from then on its `unknown` series is kept at 1 or 0 too). */
  private unknownShift = false;

  constructor(labels: { strategy: string; mode: 'worker' | 'in-thread' }) {
    collectDefaultMetrics({ register: this.registry });
    this.c = this.make();
    this.c.info.set({ strategy: labels.strategy, mode: labels.mode }, 1);
  }

  private make() {
    const registers = [this.registry];
    return {
      info: new Gauge({ name: 'edge_tta_service_info', help: 'Constant 1; labels say which strategy runs and where (worker or in-thread).', labelNames: ['strategy', 'mode'], registers }),
      steps: new Counter({ name: 'edge_tta_steps_total', help: 'Adaptation steps run by this process.', registers }),
      adapterSteps: new Gauge({ name: 'edge_tta_adapter_steps', help: "The adapter's step count: steps since source, including those restored from the snapshot.", registers }),
      restoredSteps: new Gauge({ name: 'edge_tta_restored_steps', help: 'Step count restored from the snapshot at start (0 when starting from source).', registers }),
      frames: new Counter({ name: 'edge_tta_frames_total', help: 'Frames predicted by adaptation steps.', registers }),
      cameraFrames: new Counter({ name: 'edge_tta_camera_frames_total', help: 'Frames the camera delivered.', labelNames: ['domain'], registers }),
      drops: new Counter({ name: 'edge_tta_frames_dropped_total', help: 'Frames dropped by backpressure (adaptation slower than the camera).', registers }),
      frameErrors: new Counter({ name: 'edge_tta_frame_errors_total', help: 'Bad frames rejected by the stream.', registers }),
      stepTime: new Histogram({ name: 'edge_tta_step_duration_seconds', help: 'Wall time of an adaptation step.', buckets: STEP_BUCKETS, registers }),
      batch: new Gauge({ name: 'edge_tta_batch_size', help: 'Frames in the last step.', registers }),
      entropy: new Gauge({ name: 'edge_tta_entropy_nats', help: 'Mean softmax entropy of the last step (nats).', registers }),
      confidence: new Gauge({ name: 'edge_tta_confidence', help: 'Mean max-probability of the last step.', registers }),
      accuracy: new Gauge({ name: 'edge_tta_running_accuracy', help: 'Accuracy over every labelled frame seen (the simulated camera knows the labels).', registers }),
      predictions: new Counter({ name: 'edge_tta_predictions_total', help: 'Predicted frames per class (a collapse shows as one class taking over).', labelNames: ['class'], registers }),
      tensors: new Gauge({ name: 'edge_tta_tensors', help: "Live tensors in the adapter's thread after the last step.", registers }),
      tensorBytes: new Gauge({ name: 'edge_tta_tensor_bytes', help: "Bytes of live tensors in the adapter's thread after the last step.", registers }),
      records: new Counter({ name: 'edge_tta_metrics_records_total', help: 'Records on adapter.metrics$, by kind (step, frames-dropped, frame-error, guard, ...).', labelNames: ['kind'], registers }),
      updates: new Counter({
        name: 'edge_tta_update_steps_total',
        help: "Steps by what the safety layer let them do (mode adapt / predict / source) and why (reason: class-correlated, guard-frozen, budget, ...; 'none' for a plain update).",
        labelNames: ['mode', 'reason'],
        registers,
      }),
      guard: new Counter({
        name: 'edge_tta_guard_events_total',
        help: 'Guard records on adapter.metrics$ (adaptation judged to go wrong), by action (rollback, reset, freeze) and the signal that tripped.',
        labelNames: ['action', 'signal'],
        registers,
      }),
      shiftState: new Gauge({
        name: 'edge_tta_shift_state',
        help: "The shift detector's state from its last shift record: 1 for the current state (none, adapting, steady), 0 for the others; absent until the first record.",
        labelNames: ['state'],
        registers,
      }),
      // Registered at the first shift record: a gauge without labels reads 0 until set, and 0 would
      // say "at the source" for a detector that has not reported (or does not exist).
      shiftDistance: new Gauge({ name: 'edge_tta_shift_distance', help: "The shift detector's moving BN-statistics distance to the source after the last step (a step's update.shiftDistance, or a shift record's distance); absent while no shift detector runs.", registers: [] }),
      // Registered at the first step with a budget (`--opt budget={"maxAdaptMsPerFrame":5}`): absent without one.
      budget: new Gauge({
        name: 'edge_tta_budget_ms_per_frame',
        help: "The compute budget against what steps cost, from each step's update.budget: figure max (maxAdaptMsPerFrame), measured (step time per frame so far) and floor (moving cost per frame of steps without an update; above max, the budget cannot be met); absent without a budget.",
        labelNames: ['figure'],
        registers: [],
      }),
      snapshotRestore: new Gauge({
        name: 'edge_tta_snapshot_restore',
        help: 'How the start-up restore went: 1 for the result (restored, none: no snapshot, rejected: unusable, moved aside), 0 for the others.',
        labelNames: ['result'],
        registers,
      }),
      snapshots: new Counter({ name: 'edge_tta_snapshots_total', help: 'Snapshots of the adapted state written to disk.', labelNames: ['result'], registers }),
      snapshotSteps: new Gauge({ name: 'edge_tta_snapshot_steps', help: 'Step count of the last snapshot written.', registers }),
      snapshotSeconds: new Histogram({ name: 'edge_tta_snapshot_duration_seconds', help: 'Time to take and write a snapshot.', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers }),
      requests: new Counter({ name: 'edge_tta_http_requests_total', help: 'HTTP requests by route and status.', labelNames: ['route', 'status'], registers }),
    };
  }

  /** Updates the metrics from one `metrics$` record. */
  observe(record: MetricsRecord): void {
    const kind: string = record.kind;
    this.c.records.inc({ kind: labelValue(kind) });
    if (record.kind === 'step') {
      this.c.steps.inc();
      this.c.adapterSteps.set(record.stepId + 1);
      this.c.frames.inc(record.batchSize);
      this.c.batch.set(record.batchSize);
      this.c.stepTime.observe(record.stepMs / 1000);
      if (Number.isFinite(record.meanEntropy)) this.c.entropy.set(record.meanEntropy);
      if (Number.isFinite(record.meanConfidence)) this.c.confidence.set(record.meanConfidence);
      if (record.runningAccuracy !== undefined) this.c.accuracy.set(record.runningAccuracy);
      record.classHistogram.forEach((n, k) => n > 0 && this.c.predictions.inc({ class: CLASS_NAMES[k] ?? String(k) }, n));
      this.c.tensors.set(record.memory.numTensors);
      this.c.tensorBytes.set(record.memory.numBytes);
      this.c.updates.inc({ mode: labelValue(record.update.mode), reason: labelValue(record.update.reason ?? 'none') });
      const distance: unknown = record.update.shiftDistance;
      if (typeof distance === 'number' && Number.isFinite(distance)) this.setShiftDistance(distance);
      this.setBudget(record.update.budget);
    } else if (record.kind === 'frames-dropped') {
      this.c.drops.inc(record.frameIds.length);
    } else if (record.kind === 'frame-error') {
      this.c.frameErrors.inc();
    } else if (kind === 'guard') {
      const r = record as unknown as { action?: unknown; signal?: unknown };
      this.c.guard.inc({ action: labelValue(r.action), signal: labelValue(r.signal) });
    } else if (kind === 'shift') {
      const r = record as unknown as { to?: unknown; distance?: unknown };
      const to = (SHIFT_STATES as readonly unknown[]).includes(r.to) ? (r.to as string) : 'unknown';
      if (to === 'unknown') this.unknownShift = true;
      for (const state of this.unknownShift ? [...SHIFT_STATES, 'unknown'] : SHIFT_STATES) this.c.shiftState.set({ state }, state === to ? 1 : 0);
      if (typeof r.distance === 'number' && Number.isFinite(r.distance)) this.setShiftDistance(r.distance);
    }
  }

  /** The distance gauge, registered at its first value (absent while no shift detector runs). */
  private setShiftDistance(distance: number): void {
    if (this.registry.getSingleMetric('edge_tta_shift_distance') === undefined) this.registry.registerMetric(this.c.shiftDistance);
    this.c.shiftDistance.set(distance);
  }

  /** The budget gauge's figures from a step's `update.budget` (records cross a worker boundary: only finite numbers are taken). */
  private setBudget(budget: unknown): void {
    if (typeof budget !== 'object' || budget === null) return;
    const b = budget as { maxMsPerFrame?: unknown; msPerFrame?: unknown; floorMsPerFrame?: unknown };
    const figures = { max: b.maxMsPerFrame, measured: b.msPerFrame, floor: b.floorMsPerFrame };
    for (const [figure, value] of Object.entries(figures)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      if (this.registry.getSingleMetric('edge_tta_budget_ms_per_frame') === undefined) this.registry.registerMetric(this.c.budget);
      this.c.budget.set({ figure }, value);
    }
  }

  cameraFrame(domain: string): void {
    this.c.cameraFrames.inc({ domain: labelValue(domain) });
  }

  /** The start-up restore: its result and the step count it restored (0 unless restored). */
  restored(steps: number, result: RestoreResult): void {
    this.c.restoredSteps.set(steps);
    this.c.adapterSteps.set(steps);
    for (const r of RESTORE_RESULTS) this.c.snapshotRestore.set({ result: r }, r === result ? 1 : 0);
  }

  snapshot(result: 'ok' | 'error', steps?: number, seconds?: number): void {
    this.c.snapshots.inc({ result });
    if (steps !== undefined) this.c.snapshotSteps.set(steps);
    if (seconds !== undefined) this.c.snapshotSeconds.observe(seconds);
  }

  request(route: string, status: number): void {
    this.c.requests.inc({ route, status: String(status) });
  }
}
