/**
 * The metrics records travel from the worker on a MessagePort of their own, and the worker
 * answers a step only once the calling side has taken its records. Nothing watched that port's
 * `messageerror`: a record that could not be deserialised on the calling side was never taken,
 * so the step waited until its timeout (forever with `timeoutMs: Infinity`) and was then reported
 * as a hang; an answer the worker could not deserialise there, the same. Now, as for the main
 * channel: `messageerror` on the calling side's end fails the pending call at once with
 * WorkerCrashedError and stops the worker; on the worker's end, the worker fails with an uncaught
 * error, which the calling side reports as WorkerCrashedError.
 *
 * The events are dispatched by the test (no runtime here makes deserialisation fail on demand):
 * the calling side's end of the port is caught as it is created (`MessageChannel`), and the
 * record that "fails" is withheld from its 'message' listeners while `messageerror` is
 * dispatched in its place; in the worker through the fault hook.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, WorkerCrashedError } from '../../src/index.js';
import { injectWorkerFault } from '../../workers/createWorkerAdapter.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { smallResNet } from '../helpers/models.js';
import { settlesWithin } from '../helpers/settlesWithin.js';

const SHAPE = [8, 8, 1] as const;
const frame = () => ({ data: new Float32Array(64).fill(0.5), shape: [1, ...SHAPE] });
const devWorker = () => new Worker(new URL('../../workers/node.worker.dev.mjs', import.meta.url));

/** The calling side's end of each MessageChannel made, whose 'message' listeners can be made to miss messages. */
interface CaughtPort {
  port: MessagePort;
  /** While true, messages reach no 'message' listener (they "failed to deserialise"). */
  withhold: boolean;
  /** Resolves at the first message withheld. */
  withheld: Promise<void>;
}

const OriginalChannel = globalThis.MessageChannel;
const caught: CaughtPort[] = [];

function catchChannels(): void {
  globalThis.MessageChannel = class extends OriginalChannel {
    constructor() {
      super();
      let onWithheld = (): void => undefined;
      const entry: CaughtPort = { port: this.port1, withhold: false, withheld: new Promise<void>((r) => (onWithheld = r)) };
      caught.push(entry);
      const add = this.port1.addEventListener.bind(this.port1) as (type: string, listener: (e: Event) => void, options?: unknown) => void;
      (this.port1 as { addEventListener: unknown }).addEventListener = (type: string, listener: (e: Event) => void, options?: unknown) =>
        add(type, type !== 'message' ? listener : (e: Event) => (entry.withhold ? onWithheld() : listener(e)), options);
    }
  } as typeof MessageChannel;
}

describe("the metrics port: a record that cannot be deserialised ('messageerror') fails the call, never leaves it pending", () => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    model = smallResNet([...SHAPE], 3);
  });
  afterEach(() => {
    globalThis.MessageChannel = OriginalChannel;
    caught.length = 0;
  });

  it('calling side: the step waiting for its record rejects with WorkerCrashedError at once and the worker is stopped', async () => {
    catchChannels();
    const worker = devWorker();
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const adapter = await createWorkerAdapter({ model, strategy: 'source', worker, timeoutMs: Infinity });
    globalThis.MessageChannel = OriginalChannel;
    expect(caught).toHaveLength(1); // the metrics port, made for this worker
    expect((await adapter.step(frame())).labels).toHaveLength(1);
    const metrics = caught[0]!;
    metrics.withhold = true;
    const step = adapter.step(frame());
    await metrics.withheld; // the step's record arrived, and "could not be deserialised"
    metrics.port.dispatchEvent(new MessageEvent('messageerror', { data: new Error('Unable to deserialize cloned data.') }));
    const err = await settlesWithin(step, 5_000, 'the step');
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as WorkerCrashedError).resuming).toBe(false);
    expect((err as Error).message).toMatch(/a metrics record from the adapter's worker could not be deserialised \(messageerror on the metrics port\)/);
    await exited; // stopped
    await adapter.terminate();
  });

  it('worker side: an answer to a record the worker cannot deserialise fails the step with WorkerCrashedError; under resume a new worker takes over', async () => {
    const adapter = await createWorkerAdapter({ model, strategy: 'bn-adapt', worker: devWorker, timeoutMs: Infinity, resume: { snapshotEvery: 1 } });
    await adapter.step(frame());
    await injectWorkerFault(adapter, 'metrics-messageerror', 0);
    const err = await settlesWithin(adapter.step(frame()), 10_000, 'the step');
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as WorkerCrashedError).resuming).toBe(true);
    expect((err as Error).message).toMatch(/could not deserialise the calling side's answer to a metrics record \(messageerror on the metrics port\)/);
    expect((await adapter.step(frame())).labels).toHaveLength(1);
    await adapter.terminate();
  }, 30_000);
});
