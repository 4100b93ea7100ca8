/**
 * Timeout options of the worker adapter: `setTimeout` fires after 1 ms for a delay above
 * 2^31 - 1 ms, so such a "practically never" timeout used to declare a healthy worker hung at
 * once (`timeoutMs: 3e9`: WorkerTimeoutError after a few ms, the adapter finished). Finite
 * values above the bound are refused with InvalidOptionError; the bound itself and Infinity work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidOptionError } from '../../src/index.js';
import { MAX_TIMEOUT_MS } from '../../workers/createWorkerAdapter.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { smallResNet } from '../helpers/models.js';

const SHAPE: [number, number, number] = [8, 8, 1];
const batch = (): { data: Float32Array; shape: number[] } => ({ data: new Float32Array(2 * 64).fill(0.5), shape: [2, ...SHAPE] });

describe('worker adapter timeout options', () => {
  let adapter: WorkerAdapter | undefined;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await adapter?.terminate();
  });

  it('refuses finite timeouts above 2^31 - 1 ms with InvalidOptionError (a timer would fire after 1 ms)', async () => {
    expect(MAX_TIMEOUT_MS).toBe(2 ** 31 - 1);
    for (const option of ['timeoutMs', 'startTimeoutMs'] as const) {
      for (const value of [3e9, MAX_TIMEOUT_MS + 1, Number.MAX_VALUE]) {
        const err = await createWorkerAdapter({ model: smallResNet(SHAPE, 3), strategy: 'source', [option]: value }).catch((e: unknown) => e);
        expect(err, `${option}: ${value}`).toBeInstanceOf(InvalidOptionError);
        expect((err as Error).message).toContain(`createWorkerAdapter: ${option} must be a positive number of milliseconds up to 2147483647`);
        expect((err as Error).message).toContain('Infinity for no timeout');
      }
    }
  });

  it('takes 2^31 - 1 and Infinity; a too large per-call timeout rejects that call only, and the adapter goes on', async () => {
    adapter = await createWorkerAdapter({ model: smallResNet(SHAPE, 3), strategy: 'tent', timeoutMs: MAX_TIMEOUT_MS, startTimeoutMs: Infinity });
    // With the default timer clamping, these steps would fail with WorkerTimeoutError after ~1 ms.
    const first = await adapter.step(batch());
    expect(first.labels).toHaveLength(2);
    expect(first.stepId).toBe(0);
    for (const timeoutMs of [3e9, MAX_TIMEOUT_MS + 1]) {
      const err = await adapter.step(batch(), undefined, { timeoutMs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(/^step: options\.timeoutMs must be a positive number of milliseconds up to 2147483647/);
      const perr = await adapter.predict(batch(), { timeoutMs }).catch((e: unknown) => e);
      expect(perr).toBeInstanceOf(InvalidOptionError);
    }
    // The refused calls never reached the worker: the next step is step 1, and bounds at the limit work.
    const next = await adapter.step(batch(), undefined, { timeoutMs: MAX_TIMEOUT_MS });
    expect(next.stepId).toBe(1);
    const inf = await adapter.step(batch(), undefined, { timeoutMs: Infinity });
    expect(inf.stepId).toBe(2);
  });
});
