/**
 * Untrusted snapshots across the worker boundary (issue 14, reproduction 4): bytes rejected in
 * the worker arrive as InvalidSnapshotError (class and name, not a plain Error), and the
 * worker's state and tf.memory() are unchanged; a valid snapshot still restores.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidOptionError, InvalidSnapshotError, WorkerCrashedError } from '../../src/index.js';
import { injectWorkerFault } from '../../workers/createWorkerAdapter.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';
import { cloneHeader, joinSnapshot, splitSnapshot } from '../helpers/snapshotBytes.js';

/** A batch, and the adapter's snapshots after one step on it and after a second. */
async function twoStates(adapter: WorkerAdapter): Promise<{ x: { data: Float32Array; shape: number[] }; one: Uint8Array; two: Uint8Array }> {
  const x = { data: tf.tidy(() => tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 5).dataSync() as Float32Array), shape: [4, 8, 8, 1] };
  await adapter.step({ data: x.data.slice(), shape: x.shape });
  const one = await adapter.snapshot();
  await adapter.step({ data: x.data.slice(), shape: x.shape });
  return { x, one, two: await adapter.snapshot() };
}

describe('worker restore of untrusted bytes', () => {
  let adapter: WorkerAdapter | undefined;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await adapter?.terminate();
  });

  it('createWorkerAdapter(null) gives InvalidOptionError, not a TypeError', async () => {
    await expect(createWorkerAdapter(null as never)).rejects.toThrow(InvalidOptionError);
  });

  it('rejects with InvalidSnapshotError and changes nothing in the worker', async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    adapter = await createWorkerAdapter({ model, strategy: 'tent', seed: 2 });
    const x = { data: tf.tidy(() => tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 5).dataSync() as Float32Array), shape: [4, 8, 8, 1] };
    await adapter.step({ data: x.data.slice(), shape: x.shape });
    const snap = await adapter.snapshot();
    const mem = await adapter.workerMemory();
    const parts = splitSnapshot(snap);
    const h = cloneHeader(parts);
    (h.meta.meta as Record<string, unknown>).adamStep = 'x';
    // Not bytes at all, as from JavaScript: a function (which cannot even be cloned to the worker), an object, null, an array.
    const notBytes = [() => snap, { bytes: snap }, null, Array.from(snap)] as unknown as Uint8Array[];
    const cases = [snap.slice(0, snap.length - 4), new Uint8Array([1, 2, 3]), joinSnapshot(h, parts.data), joinSnapshot(null, parts.data, new TextEncoder().encode('{oops')), ...notBytes];
    for (const bytes of cases) {
      const err = await adapter.restore(bytes).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidSnapshotError);
      expect((err as Error).name).toBe('InvalidSnapshotError');
    }
    expect(await adapter.workerMemory()).toEqual(mem);
    expect(await adapter.snapshot()).toEqual(snap);
    await adapter.restore(snap);
    expect(await adapter.snapshot()).toEqual(snap);
  });

  it('auto-resume keeps its own copy of restored bytes given as a Node Buffer (whose slice() is a view)', async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const resuming = await createWorkerAdapter({ model, strategy: 'tent', seed: 2, resume: { snapshotEvery: 1000 } });
    try {
      const { x, one, two } = await twoStates(resuming);
      expect(two.length).toBe(one.length);
      expect(two).not.toEqual(one);
      const buf = Buffer.from(one);
      await resuming.restore(buf);
      // The caller reuses its buffer: the state to resume from must not change with it.
      buf.set(two);
      const restarted = new Promise<void>((resolve) => resuming.metrics$.subscribe((m) => m.kind === 'worker-restart' && resolve()));
      await injectWorkerFault(resuming, 'exit', 0);
      const err = await resuming.step({ data: x.data.slice(), shape: x.shape }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkerCrashedError);
      await restarted;
      expect(await resuming.snapshot()).toEqual(one);
    } finally {
      await resuming.terminate();
    }
  }, 300_000);

  it('restore takes the bytes when it is called, as a batch: a buffer reused before the call is sent does not change what is restored, or what a restart resumes from', async () => {
    // Before, the bytes were read when the call reached the front of the queue: a caller reusing
    // its buffer right after restore() (not awaited) had the worker restore the new content, while
    // auto-resume kept a copy of the old one, so a restart went back to a state never restored.
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    for (const resume of [undefined, { snapshotEvery: 1000 }]) {
      const w = await createWorkerAdapter({ model, strategy: 'tent', seed: 2, ...(resume !== undefined ? { resume } : {}) });
      try {
        const { x, one, two } = await twoStates(w);
        const buf = Buffer.from(one);
        // A step still running: the restore waits behind it while the caller reuses its buffer.
        const stepping = w.step({ data: x.data.slice(), shape: x.shape });
        const restoring = w.restore(buf);
        buf.set(two);
        await stepping;
        await restoring;
        expect(await w.snapshot(), `resume ${JSON.stringify(resume)}`).toEqual(one);
        if (resume !== undefined) {
          const restarted = new Promise<void>((r) => w.metrics$.subscribe((m) => m.kind === 'worker-restart' && r()));
          await injectWorkerFault(w, 'exit', 0);
          await w.step({ data: x.data.slice(), shape: x.shape }).catch(() => undefined);
          await restarted;
          expect(await w.snapshot()).toEqual(one);
        }
      } finally {
        await w.terminate();
      }
    }
  }, 300_000);
});
