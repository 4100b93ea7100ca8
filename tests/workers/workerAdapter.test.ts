/**
 * The worker adapter (worker_threads + Comlink, worker entry run from the TypeScript sources
 * through tsx's loader) against the in-thread adapter: same stream, strategy and seed give
 * identical predictions; a snapshot taken in the worker restores in-thread to identical
 * outputs; errors keep their class, name and message; terminate ends everything.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidInputError, InvalidOptionError, UnknownStrategyError, DisposedError, type Adapter } from '../../src/index.js';
import type { MetricsRecord } from '../../src/metrics/stepMetrics.js';
import { adapt } from '../../src/stream/adapt.js';
import type { FrameInput, StreamRecord } from '../../src/stream/types.js';
import { listStrategies } from '../../strategies/registry.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';
import { savedModel } from '../helpers/workerModels.js';

const SHAPE = [12, 12, 1] as const;
const STRATEGIES = (['bn-adapt', 'tent', 'roid'] as const).filter((s) => (listStrategies() as string[]).includes(s));

/** A seeded model: the same weights every call. */
function makeModel(): tf.LayersModel {
  const model = smallResNet([...SHAPE], 5);
  // Deterministic weights regardless of initialiser state.
  model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, "float32", 100 + i))));
  randomizeBatchNorms(model, 3);
  return model;
}

/** 26 frames: raw float32 pixels, with two bad ones in the stream (wrong shape at 5, NaN at 17). */
function frames(seed: number): FrameInput[] {
  const out: FrameInput[] = [];
  for (let i = 0; i < 26; i++) {
    const data = tf.tidy(() => tf.randomUniform([...SHAPE], 0, 1, 'float32', seed + i).dataSync() as Float32Array);
    if (i === 5) out.push({ data: data.slice(0, 100), shape: [10, 10, 1] });
    else if (i === 17) {
      data[3] = NaN;
      out.push({ data, shape: [...SHAPE] });
    } else out.push({ frame: { data, shape: [...SHAPE] }, trueLabel: i % 5 });
  }
  return out;
}

function runStream(adapter: Adapter, input: FrameInput[]): Promise<StreamRecord[]> {
  return lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: 8, maxWaitMs: Infinity, bufferSize: 64 }), toArray()));
}

describe('createWorkerAdapter (worker_threads)', () => {
  const open: WorkerAdapter[] = [];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await Promise.all(open.map((a) => a.terminate()));
  });

  for (const strategy of STRATEGIES) {
    it(`'${strategy}': the same stream gives identical predictions in-thread and in the worker`, async () => {
      const options = strategy === 'tent' ? { seed: 7, lr: 5e-3 } : { seed: 7 };
      const worker = await createWorkerAdapter({ model: makeModel(), strategy, ...options } as never);
      open.push(worker);
      expect(worker.backend.backend).toBe('wasm');
      expect(worker.inputShape).toEqual([...SHAPE]);
      expect(worker.numClasses).toBe(5);
      const local = await createAdapter(makeModel(), { strategy, ...options } as never);
      const workerMetrics: MetricsRecord[] = [];
      worker.metrics$.subscribe((m) => workerMetrics.push(m));

      const a = await runStream(local, frames(11));
      const b = await runStream(worker, frames(11));
      expect(b.map((r) => r.kind)).toEqual(a.map((r) => r.kind));
      expect(a.filter((r) => r.kind === 'prediction')).toHaveLength(24);
      const strip = (rs: StreamRecord[]) => rs.map((r) => (r.kind === 'prediction' ? { ...r, latencyMs: 0 } : r));
      // Bit-identical probabilities, labels, confidences, step ids and error records.
      expect(strip(b)).toEqual(strip(a));
      expect(a[5]).toMatchObject({ kind: 'error', frameId: 5, name: 'InvalidInputError' });
      expect(a[17]).toMatchObject({ kind: 'error', frameId: 17, name: 'InvalidInputError', message: expect.stringMatching(/NaN/) });
      if (strategy === 'tent') {
        // Tent changed the model: a second pass over the same frames predicts differently.
        const again = await runStream(local, frames(11));
        expect(strip(again)).not.toEqual(strip(a));
      }
      // The worker's metrics arrive on the main thread: 3 steps of 8 frames, 2 frame errors.
      await new Promise((r) => setTimeout(r, 50));
      const steps = workerMetrics.filter((m) => m.kind === 'step');
      expect(steps.map((m) => m.kind === 'step' && m.batchSize)).toEqual([8, 8, 8]);
      expect(workerMetrics.filter((m) => m.kind === 'frame-error').map((m) => m.kind === 'frame-error' && m.frameId)).toEqual([5, 17]);
      const last = steps[2]!;
      if (last.kind === 'step') {
        expect(last.frameErrors).toBe(2);
        expect(last.labeledFrames).toBe(24);
        expect(last.memory.numTensors).toBeGreaterThan(0);
      }
      local.dispose();
      await worker.terminate();
    });
  }

  it('a snapshot taken in the worker restores in-thread to identical outputs; predict agrees and updates nothing', async () => {
    const strategy = STRATEGIES.includes('tent' as never) ? ('tent' as const) : ('bn-adapt' as const);
    const options = strategy === 'tent' ? { seed: 3, lr: 1e-2 } : { seed: 3 };
    const worker = await createWorkerAdapter({ model: makeModel(), strategy, ...options } as never);
    open.push(worker);
    const batch = (seed: number) => tf.randomUniform([6, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    for (let i = 0; i < 4; i++) {
      const x = batch(20 + i);
      await worker.step(x);
      x.dispose();
    }
    const bytes = await worker.snapshot();
    const local = await createAdapter(makeModel(), { strategy, ...options } as never);
    await local.restore(bytes);
    const x = batch(99);
    // predict in the worker: the current state's predictions, no update (the steps below still agree).
    const wp = await worker.predict(x);
    const lp = await local.predict(x);
    expect(Array.from(wp.probs)).toEqual(Array.from(lp.probs));
    expect(wp.steps).toBe(4);
    const w = await worker.step(x);
    const l = await local.step(x);
    expect(Array.from(l.probs)).toEqual(Array.from(w.probs));
    expect(Array.from(wp.probs)).toEqual(Array.from(w.probs));
    expect(l.stepId).toBe(w.stepId);
    // And the state really moved away from the source (for tent): a fresh adapter differs.
    if (strategy === 'tent') {
      const fresh = await createAdapter(makeModel(), { strategy, ...options } as never);
      const f = await fresh.step(x);
      expect(Array.from(f.probs)).not.toEqual(Array.from(w.probs));
      fresh.dispose();
    }
    // The other way round: an in-thread snapshot restores in the worker.
    await local.step(x);
    const back = await local.snapshot();
    await worker.restore(back);
    const y = batch(100);
    expect(Array.from((await worker.step(y)).probs)).toEqual(Array.from((await local.step(y)).probs));
    x.dispose();
    y.dispose();
    local.dispose();
    await worker.terminate();
  });

  it('errors thrown in the worker arrive with their class, name and message; the worker goes on', async () => {
    const worker = await createWorkerAdapter({ model: makeModel(), strategy: 'source' });
    open.push(worker);
    const local = await createAdapter(makeModel(), { strategy: 'source' });
    const bad = { data: new Float32Array(10), shape: [1, ...SHAPE] };
    const [we, le] = await Promise.all([worker.step({ ...bad, data: bad.data.slice() }).catch((e: unknown) => e), local.step(bad).catch((e: unknown) => e)]);
    expect(we).toBeInstanceOf(InvalidInputError);
    expect((we as Error).name).toBe('InvalidInputError');
    expect((we as Error).message).toBe((le as Error).message);
    expect((we as Error).stack).toContain('[in the worker]');
    // Objects that are no batch (a labelled frame given to step, an unknown object) get the
    // in-thread message on the calling side too (it said "got [object Object].").
    for (const notABatch of [{ frame: bad, trueLabel: 1 }, { pixels: [1] }]) {
      const [w, l] = await Promise.all([worker.step(notABatch as never).catch((e: unknown) => e), local.step(notABatch as never).catch((e: unknown) => e)]);
      expect(w).toBeInstanceOf(InvalidInputError);
      expect((w as Error).message).toBe((l as Error).message);
    }
    const ok = await worker.step({ data: new Float32Array(144).fill(0.5), shape: [...SHAPE] });
    expect(ok.batchSize).toBe(1);
    const wrongStrategy = await createWorkerAdapter({ model: makeModel(), strategy: 'nope' as 'source' }).catch((e: unknown) => e);
    expect(wrongStrategy).toBeInstanceOf(UnknownStrategyError);
    expect((wrongStrategy as Error).message).toMatch(/Unknown strategy 'nope'. Valid strategies: 'source'/);
    const wrongOption = await createWorkerAdapter({ model: makeModel(), strategy: 'tent', learningRate: 1 } as never).catch((e: unknown) => e);
    expect(wrongOption).toBeInstanceOf(InvalidOptionError);
    expect((wrongOption as Error).message).toMatch(/Unknown option 'learningRate' for strategy 'tent'/);
    local.dispose();
    await worker.terminate();
  });

  it('copies input batches by default and transfers them on request, loads a model.json from disk, and terminate ends the worker', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-worker-'));
    const model = makeModel();
    const a = await savedModel(model);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weights));
    const worker = await createWorkerAdapter({ model: path.join(dir, 'model.json'), strategy: 'source' });
    open.push(worker);
    const local = await createAdapter(model, { strategy: 'source' });
    const data = tf.tidy(() => tf.randomUniform([3, ...SHAPE], 0, 1, 'float32', 5).dataSync() as Float32Array);
    const expected = await local.step({ data, shape: [3, ...SHAPE] });
    const sent = data.slice();
    const out = await worker.step({ data: sent, shape: [3, ...SHAPE] });
    // Copied by default: the caller's array is untouched.
    expect(Array.from(sent)).toEqual(Array.from(data));
    expect(Array.from(out.probs)).toEqual(Array.from(expected.probs));
    const transferring = await createWorkerAdapter({ model: path.join(dir, 'model.json'), strategy: 'source', transfer: true });
    open.push(transferring);
    const handed = data.slice();
    const out2 = await transferring.step({ data: handed, shape: [3, ...SHAPE] });
    expect(handed.byteLength).toBe(0); // transferred: detached on this side
    expect(Array.from(out2.probs)).toEqual(Array.from(expected.probs));
    await transferring.terminate();
    // The worker's tensors stay constant over many steps.
    const m0 = await worker.workerMemory();
    for (let i = 0; i < 50; i++) await worker.step({ data: data.slice(), shape: [3, ...SHAPE] });
    expect((await worker.workerMemory()).numTensors).toBe(m0.numTensors);
    let completed = false;
    worker.metrics$.subscribe({ complete: () => (completed = true) });
    await worker.terminate();
    expect(completed).toBe(true);
    const after = await worker.step({ data: data.slice(), shape: [3, ...SHAPE] }).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(DisposedError);
    local.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});
