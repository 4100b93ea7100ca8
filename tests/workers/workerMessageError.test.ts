/**
 * A message that cannot be deserialised (`messageerror`: in browsers e.g. an ArrayBuffer the
 * receiving side cannot allocate, or a SharedArrayBuffer across agent clusters) is a message
 * Comlink never sees: it listens for 'message' only. Before, nothing watched the event on either
 * side, so the call whose answer (or request) was lost stayed pending until its timeout (forever
 * with `timeoutMs: Infinity`) and was then reported as a hang. Now:
 * - on the calling side, `messageerror` on the Worker (Web Worker or worker_threads) fails the
 *   pending call at once with WorkerCrashedError and stops the worker (or, under `resume`,
 *   replaces it);
 * - in the worker, `messageerror` on its port (`self` / `parentPort`) makes the worker fail with
 *   an uncaught error, which the calling side reports as WorkerCrashedError.
 * The events are dispatched by the test (no runtime here makes deserialisation fail on demand):
 * on the calling side on the Worker object, in the worker through the fault hook.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, WorkerCrashedError } from '../../src/index.js';
import type { MetricsRecord } from '../../src/metrics/stepMetrics.js';
import { injectWorkerFault } from '../../workers/createWorkerAdapter.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { WORKER_MESSAGE_ERROR } from '../../workers/service.js';
import { smallResNet } from '../helpers/models.js';
import { settlesWithin } from '../helpers/settlesWithin.js';

const SHAPE = [8, 8, 1] as const;
const frame = () => ({ data: new Float32Array(64).fill(0.5), shape: [1, ...SHAPE] });

/** A worker_threads Worker on the dev entry. */
const devWorker = () => new Worker(new URL('../../workers/node.worker.dev.mjs', import.meta.url));

/**
 * A Web Worker as browsers have it (an EventTarget with postMessage, terminate and 'message' /
 * 'error' / 'messageerror' events), over a worker_threads Worker: the calling side takes the
 * Web Worker path (`addEventListener`), as in a browser.
 */
class WebWorkerLike extends EventTarget {
  readonly thread = devWorker();
  constructor() {
    super();
    this.thread.on('message', (data) => this.dispatchEvent(new MessageEvent('message', { data })));
    this.thread.on('error', (e) => this.dispatchEvent(Object.assign(new Event('error'), { message: e.message })));
  }
  postMessage(message: unknown, transfer: Transferable[] = []): void {
    this.thread.postMessage(message, transfer as never);
  }
  terminate(): Promise<number> {
    return this.thread.terminate();
  }
}

describe("a message that cannot be deserialised ('messageerror') fails the call, never leaves it pending", () => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    model = smallResNet([...SHAPE], 3);
  });

  it('calling side, worker_threads Worker: the pending call rejects with WorkerCrashedError at once and the worker is stopped', async () => {
    const worker = devWorker();
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const adapter = await createWorkerAdapter({ model, strategy: 'source', worker, timeoutMs: Infinity });
    await injectWorkerFault(adapter, 'never', 0); // the step's answer never comes: as if it was lost
    const step = adapter.step(frame());
    await new Promise((r) => setTimeout(r, 300));
    worker.emit('messageerror', new Error('Unable to deserialize cloned data.'));
    const err = await settlesWithin(step, 5_000, 'the step');
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as WorkerCrashedError).resuming).toBe(false);
    expect((err as Error).message).toMatch(/could not be deserialised \(messageerror\).*Unable to deserialize cloned data/);
    await exited; // stopped
    await expect(adapter.getConfig()).rejects.toBeInstanceOf(WorkerCrashedError);
    await adapter.terminate();
  });

  it('calling side, Web Worker: the same, through its messageerror event', async () => {
    const worker = new WebWorkerLike();
    const exited = new Promise((resolve) => worker.thread.once('exit', resolve));
    const adapter = await createWorkerAdapter({ model, strategy: 'source', worker: worker as never, timeoutMs: Infinity });
    expect((await adapter.step(frame())).labels).toHaveLength(1); // the Web Worker path works
    await injectWorkerFault(adapter, 'never', 0);
    const step = adapter.step(frame());
    await new Promise((r) => setTimeout(r, 300));
    worker.dispatchEvent(new MessageEvent('messageerror'));
    const err = await settlesWithin(step, 5_000, 'the step');
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toMatch(/could not be deserialised \(messageerror\)/);
    await exited;
    await adapter.terminate();
  });

  it('worker side: a call the worker cannot deserialise fails with WorkerCrashedError; under resume a new worker takes over', async () => {
    const adapter = await createWorkerAdapter({ model, strategy: 'bn-adapt', worker: devWorker, timeoutMs: Infinity, resume: { snapshotEvery: 1 } });
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    await adapter.step(frame());
    await injectWorkerFault(adapter, 'messageerror', 0);
    const err = await settlesWithin(adapter.step(frame()), 10_000, 'the step');
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as WorkerCrashedError).resuming).toBe(true);
    expect((err as Error).message).toContain(WORKER_MESSAGE_ERROR);
    // The adapter goes on in a new worker, from the snapshot after the first step.
    const out = await adapter.step(frame());
    expect(out.labels).toHaveLength(1);
    const restart = records.find((r) => r.kind === 'worker-restart');
    expect(restart).toMatchObject({ kind: 'worker-restart', reason: 'crashed', snapshotStep: 1, restarts: 1 });
    await adapter.terminate();
  }, 30_000);
});
