/**
 * Worker faults (issue 14, reproduction 8): a worker that never answers, spins in a
 * synchronous endless loop, throws an uncaught error or exits. Calls time out or fail with
 * typed errors, terminate() stops even a spinning thread, and with auto-resume a stream
 * through adapt() goes on from the latest snapshot: its later predictions equal an
 * uninterrupted in-thread run restored from the same snapshot. Faults are injected through the
 * worker service's internal test hook (`injectWorkerFault`, not exported by the package).
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createAdapter,
  DisposedError,
  initBackend,
  WorkerCrashedError,
  WorkerTerminatedError,
  WorkerTimeoutError,
  type Adapter,
  type StepOutput,
} from '../../src/index.js';
import type { MetricsRecord, WorkerRestartMetrics } from '../../src/metrics/stepMetrics.js';
import { adapt } from '../../src/stream/adapt.js';
import type { FrameInput, Prediction, StreamRecord } from '../../src/stream/types.js';
import { injectWorkerFault } from '../../workers/createWorkerAdapter.js';
import { createWorkerAdapter } from '../../workers/node.js';
import type { InjectedFault } from '../../workers/protocol.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE = [12, 12, 1] as const;
const OPTIONS = { seed: 7, lr: 5e-3 };
const BATCH = 4;

function makeModel(): tf.LayersModel {
  const model = smallResNet([...SHAPE], 5);
  model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 100 + i))));
  randomizeBatchNorms(model, 3);
  return model;
}

function frameData(n: number, seed: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => tf.tidy(() => tf.randomUniform([...SHAPE], 0, 1, 'float32', seed + i).dataSync() as Float32Array));
}

/** Batch `b` of the stream (frames b*BATCH ...), as the adapt operator packs it. */
function batchOf(data: Float32Array[], b: number): { data: Float32Array; shape: number[] } {
  const size = data[0]!.length;
  const out = new Float32Array(BATCH * size);
  for (let k = 0; k < BATCH; k++) out.set(data[b * BATCH + k]!, k * size);
  return { data: out, shape: [BATCH, ...SHAPE] };
}

function runStream(adapter: Adapter, data: Float32Array[]): Promise<StreamRecord[]> {
  const input: FrameInput[] = data.map((d) => ({ data: d.slice(), shape: [...SHAPE] }));
  return lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: BATCH, maxWaitMs: Infinity, bufferSize: Infinity }), toArray()));
}

/** A worker on the dev entry whose 'exit' we can watch. */
function devWorker(): { worker: Worker; exited: Promise<number> } {
  const worker = new Worker(new URL('../../workers/node.worker.dev.mjs', import.meta.url));
  return { worker, exited: new Promise((resolve) => worker.once('exit', resolve)) };
}

describe('worker faults', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a step that never answers rejects with WorkerTimeoutError after its timeout; without resume the adapter is finished', async () => {
    const adapter = await createWorkerAdapter({ model: makeModel(), strategy: 'tent', ...OPTIONS, timeoutMs: 60_000 });
    let completed = false;
    adapter.metrics$.subscribe({ complete: () => (completed = true) });
    const [x] = frameData(1, 3);
    await adapter.step({ data: x!.slice(), shape: [...SHAPE] });
    await injectWorkerFault(adapter, 'never', 0);
    const t0 = performance.now();
    // A per-call timeout overrides the adapter's 60 s.
    const err = await adapter.step({ data: x!.slice(), shape: [...SHAPE] }, undefined, { timeoutMs: 800 }).catch((e: unknown) => e);
    const waited = performance.now() - t0;
    expect(err).toBeInstanceOf(WorkerTimeoutError);
    expect((err as WorkerTimeoutError).resuming).toBe(false);
    expect((err as Error).message).toMatch(/did not settle within 800 ms \(timeoutMs\).*resume: \{ snapshotEvery \}/);
    expect(waited).toBeGreaterThanOrEqual(790);
    expect(waited).toBeLessThan(10_000);
    expect(completed).toBe(true);
    // The adapter is finished: later calls reject at once with the same typed error.
    await expect(adapter.snapshot()).rejects.toBeInstanceOf(WorkerTimeoutError);
    await adapter.terminate();
    await expect(adapter.step({ data: x!.slice(), shape: [...SHAPE] })).rejects.toBeInstanceOf(DisposedError);
  });

  it('terminate() stops a worker spinning in a synchronous endless loop, rejects every pending call with WorkerTerminatedError, and resolves', async () => {
    const { worker, exited } = devWorker();
    let exitCode: number | null = null;
    void exited.then((c) => (exitCode = c));
    const adapter = await createWorkerAdapter({ model: makeModel(), strategy: 'bn-adapt', worker, timeoutMs: Infinity });
    const [x] = frameData(1, 5);
    await injectWorkerFault(adapter, 'spin', 0);
    const spinning = adapter.step({ data: x!.slice(), shape: [...SHAPE] }).catch((e: unknown) => e);
    const queued = adapter.snapshot().catch((e: unknown) => e);
    // Give the step time to reach the worker and start spinning.
    await new Promise((r) => setTimeout(r, 1500));
    expect(exitCode).toBeNull();
    const t0 = performance.now();
    await adapter.terminate();
    const [a, b] = await Promise.all([spinning, queued]);
    expect(a).toBeInstanceOf(WorkerTerminatedError);
    expect(b).toBeInstanceOf(WorkerTerminatedError);
    // The thread really stopped (worker_threads 'exit' fired), quickly.
    await exited;
    expect(exitCode).not.toBeNull();
    expect(performance.now() - t0).toBeLessThan(10_000);
    // A second terminate resolves too.
    await adapter.terminate();
  });

  it('an uncaught error in the worker fails the pending call with WorkerCrashedError', async () => {
    const adapter = await createWorkerAdapter({ model: makeModel(), strategy: 'source' });
    const [x] = frameData(1, 9);
    await injectWorkerFault(adapter, 'throw', 0);
    const err = await adapter.step({ data: x!.slice(), shape: [...SHAPE] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toMatch(/Injected uncaught error in the worker/);
    await expect(adapter.getConfig()).rejects.toBeInstanceOf(WorkerCrashedError);
    await adapter.terminate();
  });

  it('terminate() during a restart stops the new worker even while it restores the snapshot', async () => {
    // Workers from a factory; the test sees when the restart sends the snapshot to the new one.
    const exits: boolean[] = [];
    let onRestore: (() => void) | null = null;
    const factory = (): Worker => {
      const { worker, exited } = devWorker();
      const k = exits.push(false) - 1;
      void exited.then(() => (exits[k] = true));
      const post = worker.postMessage.bind(worker);
      worker.postMessage = ((msg: { type?: string; path?: string[] }, transfer?: never) => {
        post(msg, transfer);
        if (msg?.type === 'APPLY' && msg.path?.[0] === 'restore') onRestore?.();
      }) as typeof worker.postMessage;
      return worker;
    };
    const adapter = await createWorkerAdapter({ model: makeModel(), strategy: 'tent', ...OPTIONS, resume: { snapshotEvery: 1 }, worker: factory });
    const [x] = frameData(1, 11);
    await adapter.step({ data: x!.slice(), shape: [...SHAPE] });
    await injectWorkerFault(adapter, 'exit', 0);
    const restoring = new Promise<void>((r) => (onRestore = r));
    const err = await adapter.step({ data: x!.slice(), shape: [...SHAPE] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    await restoring;
    await adapter.terminate();
    // Both threads are gone once terminate() resolved: the crashed one and the one restoring.
    expect(exits).toEqual([true, true]);
    await expect(adapter.step({ data: x!.slice(), shape: [...SHAPE] })).rejects.toBeInstanceOf(DisposedError);
  });

  const cases: { fault: InjectedFault; afterSteps: number; snapshotEvery: number; error: string; reason: string; timeoutMs?: number }[] = [
    // Steps 0-6 succeed, snapshots after 3 and 6 steps; the 8th step (batch 7) kills the worker.
    { fault: 'exit', afterSteps: 7, snapshotEvery: 3, error: 'WorkerCrashedError', reason: 'crashed' },
    // Steps 0-4 succeed, snapshots after 2 and 4 steps; the 6th step (batch 5) spins until its timeout.
    { fault: 'spin', afterSteps: 5, snapshotEvery: 2, error: 'WorkerTimeoutError', reason: 'timeout', timeoutMs: 8000 },
  ];
  for (const c of cases) {
    it(`auto-resume after '${c.fault}' mid-stream: lost frames get ${c.error} records, later predictions equal a run restored from the same snapshot`, async () => {
      const data = frameData(48, 40);
      const adapter = await createWorkerAdapter({
        model: makeModel(),
        strategy: 'tent',
        ...OPTIONS,
        resume: { snapshotEvery: c.snapshotEvery },
        ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
      });
      const metrics: MetricsRecord[] = [];
      adapter.metrics$.subscribe((m) => metrics.push(m));
      await injectWorkerFault(adapter, c.fault, c.afterSteps);
      const records = await runStream(adapter, data);

      const lost = c.afterSteps; // the batch whose step faulted
      const snapshotStep = Math.floor(lost / c.snapshotEvery) * c.snapshotEvery;
      expect(records).toHaveLength(48);
      records.forEach((r, i) => {
        if (Math.floor(i / BATCH) === lost) expect(r).toMatchObject({ kind: 'error', frameId: i, name: c.error });
        else expect(r.kind).toBe('prediction');
      });
      const restarts = metrics.filter((m): m is WorkerRestartMetrics => m.kind === 'worker-restart');
      expect(restarts).toHaveLength(1);
      expect(restarts[0]).toMatchObject({ reason: c.reason, snapshotStep, restarts: 1 });
      expect(metrics.filter((m) => m.kind === 'frame-error')).toHaveLength(BATCH);

      // The reference: in-thread, the first `snapshotStep` batches, a snapshot, and an
      // uninterrupted run restored from it over the batches after the lost one.
      const first = await createAdapter(makeModel(), { strategy: 'tent', ...OPTIONS });
      const before: StepOutput[] = [];
      for (let b = 0; b < snapshotStep; b++) before.push(await first.step(batchOf(data, b)));
      const snapshot = await first.snapshot();
      first.dispose();
      const resumed = await createAdapter(makeModel(), { strategy: 'tent', ...OPTIONS });
      await resumed.restore(snapshot);
      const after: StepOutput[] = [];
      for (let b = lost + 1; b < 12; b++) after.push(await resumed.step(batchOf(data, b)));
      resumed.dispose();

      const predictions = (from: number, to: number) =>
        records.slice(from * BATCH, to * BATCH).map((r) => {
          const p = r as Prediction;
          return { stepId: p.stepId, probs: Array.from(p.probs) };
        });
      const expected = (outs: StepOutput[]) =>
        outs.flatMap((o) => Array.from({ length: BATCH }, (_, k) => ({ stepId: o.stepId, probs: Array.from(o.probs.slice(k * 5, (k + 1) * 5)) })));
      // Before the fault the worker matched the in-thread run, and after it the resumed run, bit for bit.
      expect(predictions(0, snapshotStep)).toEqual(expected(before));
      expect(predictions(lost + 1, 12)).toEqual(expected(after));
      // Step ids go on from the snapshot's.
      expect(after[0]!.stepId).toBe(snapshotStep);
      await adapter.terminate();
      // Two worker starts: about 30 s on a free machine, several times that when oversubscribed.
    }, 300_000);
  }
});
