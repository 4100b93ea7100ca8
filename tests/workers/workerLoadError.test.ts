/**
 * A Web Worker whose script cannot be loaded (a 404, a wrong URL, a Content-Security-Policy
 * refusal, a module import that fails): Chromium fires an `error` Event on the Worker with no
 * message (an `Event`, not an `ErrorEvent`). The adapter reported "The adapter's worker failed:
 * unknown error." with no hint; it now names the script's URL (when it created the worker itself)
 * and the fix (serve browser.worker.js, or the `worker` option; docs/packaging.md "Bundlers").
 *
 * The Web Worker is emulated as Chromium behaves for a script that failed to load: an
 * EventTarget that never answers and fires a bare `error` Event. Checked against Debian's Chromium
 * (playwright-core, 2026-12-02): a module worker on a URL answering 404, and one refused by the
 * page's `worker-src 'none'`, each fired `error` as an `Event` with no `message`.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, WorkerCrashedError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/createWorkerAdapter.js';
import { smallResNet } from '../helpers/models.js';

/** A Web Worker whose script failed to load: it records its URL, never answers, and fires `error`. */
class UnloadableWorker extends EventTarget {
  static created: string[] = [];
  terminated = false;
  constructor(url: URL | string, readonly options?: { type?: string }) {
    super();
    UnloadableWorker.created.push(String(url));
    setTimeout(() => this.dispatchEvent(new Event('error')), 20);
  }
  postMessage(): void {}
  terminate(): void {
    this.terminated = true;
  }
}

const original = (globalThis as { Worker?: unknown }).Worker;

describe("a Web Worker whose script fails to load: the error names the script and the fix, not 'unknown error'", () => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    model = smallResNet([8, 8, 1], 3);
  });
  afterEach(() => {
    (globalThis as { Worker?: unknown }).Worker = original;
    UnloadableWorker.created = [];
  });

  it('the worker the adapter creates: WorkerCrashedError naming the URL of browser.worker.js, the `worker` option and docs/packaging.md', async () => {
    (globalThis as { Worker?: unknown }).Worker = UnloadableWorker;
    const err = await createWorkerAdapter({ model, strategy: 'source', startTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    const url = UnloadableWorker.created[0]!;
    expect(url).toMatch(/\/workers\/browser\.worker\.js$/);
    const message = (err as Error).message;
    expect(message).not.toMatch(/unknown error/);
    expect(message).toContain(
      `The adapter's worker died while starting: The adapter's worker failed to load or run its script, edge-tta's worker entry browser.worker.js, at ${url} (unless a bundler emitted it elsewhere): the browser's error event has no message, as when a worker script cannot be loaded (a 404, a wrong URL, a Content-Security-Policy refusal, or a module it imports that fails).`,
    );
    expect(message).toContain('Serve browser.worker.js there, or bundle it as an entry of its own and pass `worker: () => new Worker(url, { type: \'module\' })` (docs/packaging.md, "Bundlers").');
  });

  it('a worker passed as `worker`: the message says to check the URL it was created with', async () => {
    const worker = new UnloadableWorker('https://example.test/app/wrong.js', { type: 'module' });
    const err = await createWorkerAdapter({ model, strategy: 'source', worker: worker as never, startTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toMatch(
      /^The adapter's worker died while starting: The worker you passed as `worker` failed to load or run its script: the browser's error event has no message, .*Check the URL it was created with: it must serve edge-tta's worker entry, browser\.worker\.js \(docs\/packaging\.md, "Bundlers"\)\.$/,
    );
    expect(worker.terminated).toBe(true);
  });

  it('an error event with a message (an uncaught error in a worker that loaded) keeps its message', async () => {
    const worker = new UnloadableWorker('https://example.test/app/edge-tta.worker.js');
    worker.dispatchEvent = function (this: UnloadableWorker, e: Event) {
      return EventTarget.prototype.dispatchEvent.call(this, e.type === 'error' ? Object.assign(new Event('error'), { message: 'Uncaught TypeError: x is not a function' }) : e);
    };
    const err = await createWorkerAdapter({ model, strategy: 'source', worker: worker as never, startTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toBe("The adapter's worker died while starting: The adapter's worker failed: Uncaught TypeError: x is not a function.");
  });
});
