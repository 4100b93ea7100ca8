/**
 * A worker adapter's `metrics$` as the in-thread adapter's: a step's records are out before its
 * `step()` resolves, so `await adapter.step(b); adapter.dispose()` loses none. The records come
 * through a Comlink callback on a MessagePort of their own and the result on the worker's port:
 * without the worker waiting for the callback, about a third of them arrived after the result.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import type { MetricsRecord } from '../../src/metrics/stepMetrics.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { smallResNet } from '../helpers/models.js';

const SHAPE = [12, 12, 1] as const;

function batch(n: number, seed: number): { data: Float32Array; shape: number[] } {
  return { data: tf.tidy(() => tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', seed).dataSync() as Float32Array), shape: [n, ...SHAPE] };
}

describe('worker adapter metrics$ order', () => {
  let adapter: WorkerAdapter;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    adapter = await createWorkerAdapter({ model: smallResNet([...SHAPE], 5), strategy: 'bn-adapt', seed: 1 });
  });
  afterAll(async () => {
    await adapter?.terminate();
  });

  it("every step's record is on metrics$ when step() resolves, the last one too when terminate() follows at once", async () => {
    const records: MetricsRecord[] = [];
    let completed = false;
    adapter.metrics$.subscribe({ next: (m) => records.push(m), complete: () => (completed = true) });
    const missing: number[] = [];
    for (let i = 0; i < 40; i++) {
      const out = await adapter.step(batch(2, i));
      if (!records.some((m) => m.kind === 'step' && m.stepId === out.stepId)) missing.push(out.stepId);
    }
    expect(missing).toEqual([]);
    const last = await adapter.step(batch(2, 99));
    await adapter.terminate();
    expect(completed).toBe(true);
    expect(records.filter((m) => m.kind === 'step').map((m) => (m as { stepId: number }).stepId)).toEqual(Array.from({ length: last.stepId + 1 }, (_, i) => i));
  });

  it("a reset's shift record (back to 'none') is on metrics$ when reset() resolves", async () => {
    const shifting = await createWorkerAdapter({ model: smallResNet([...SHAPE], 5), strategy: 'bn-adapt', seed: 1, shiftDetection: true });
    try {
      const shifts: string[] = [];
      shifting.metrics$.subscribe((m) => m.kind === 'shift' && shifts.push(`${m.from}>${m.to}`));
      const late: number[] = [];
      for (let round = 0; round < 10; round++) {
        await shifting.step(batch(8, 200 + round)); // uniform frames are far from the model's BN statistics
        expect(shifts.at(-1), `round ${round}`).toBe('none>adapting');
        await shifting.reset();
        if (shifts.at(-1) !== 'adapting>none') late.push(round);
      }
      expect(late).toEqual([]);
    } finally {
      await shifting.terminate();
    }
  });
});
