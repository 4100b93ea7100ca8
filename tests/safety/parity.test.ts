/**
 * The guard (with its class-correlation and domain-mixture detectors), the shift detector and the budget work the same in-thread, in a worker
 * (createWorkerAdapter) and through adapt(): the same stream gives the same guard and shift
 * records and the same update modes; the budget thins update steps in all three. Plus the
 * budget's token bucket, hand-computed.
 */
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapt, createAdapter, initBackend, InvalidOptionError, type Adapter, type MetricsRecord } from '../../src/index.js';
import { ComputeBudget, resolveBudgetOptions } from '../../src/safety/budget.js';
import type { FrameInput } from '../../src/stream/types.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { streamFromSpec } from '../../src/data/streams.js';
import { mulberry32 } from '../../src/random.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';

const SHAPE: [number, number, number] = [8, 8, 1];
const BATCH = 8;

function model(): tf.LayersModel {
  const m = smallResNet(SHAPE, 4);
  m.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 200 + i))));
  randomizeBatchNorms(m, 5);
  return m;
}

/** 24 batches of 8 frames: the first 8 batches plain, then darker and noisier (a shift). */
function batches(): Float32Array[] {
  return Array.from({ length: 24 }, (_, i) =>
    tf.tidy(() => {
      const x = tf.randomUniform([BATCH, ...SHAPE], 0, 1, 'float32', 50 + i);
      return (i < 8 ? x : tf.add(tf.mul(x, 0.2), tf.randomNormal(x.shape, 0, 1, 'float32', 90 + i))).dataSync() as Float32Array;
    }),
  );
}

const OPTIONS = {
  strategy: 'tent' as const,
  optimizer: 'sgd' as const,
  lr: 5,
  smallBatchLr: 'fixed' as const, // the full rate at batches of 8: Tent collapses, the guard trips
  seed: 1,
  // Batches of 8 weigh 8/64 in the entropy average: a short memory so the collapse trips within the stream.
  guard: { checkEvery: 2, minFrames: 16, entropyMomentum: 0.01 },
  shiftDetection: { onThreshold: 0.4, offThreshold: 0.2, momentum: 0.5 },
};

/** What the safety layer did: its records (without times / memory) and each step's mode. */
function trace(records: MetricsRecord[]): string[] {
  return records.flatMap((r) => {
    if (r.kind === 'guard') return [`guard ${r.stepId} ${r.signal} ${r.action}`];
    if (r.kind === 'shift') return [`shift ${r.stepId} ${r.from}>${r.to}`];
    if (r.kind === 'nonfinite') return [`nonfinite ${r.stepId}`];
    if (r.kind === 'step') return [`step ${r.stepId} ${r.update.mode}${r.update.reason ? `:${r.update.reason}` : ''}`];
    return [];
  });
}

async function viaSteps(adapter: Adapter, data: Float32Array[], batch = BATCH, shape: [number, number, number] = SHAPE): Promise<string[]> {
  const records: MetricsRecord[] = [];
  adapter.metrics$.subscribe((r) => records.push(r));
  for (const d of data) await adapter.step({ data: d.slice(), shape: [batch, ...shape] });
  // A worker's records cross on their own channel and may land just after step() resolves:
  // wait (at most 10 s) for one step record per batch.
  const deadline = Date.now() + 10_000;
  while (records.filter((r) => r.kind === 'step').length < data.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return trace(records);
}

async function viaAdapt(adapter: Adapter, data: Float32Array[], batch = BATCH, shape: [number, number, number] = SHAPE): Promise<string[]> {
  const records: MetricsRecord[] = [];
  adapter.metrics$.subscribe((r) => records.push(r));
  const size = shape[0] * shape[1] * shape[2];
  const frames: FrameInput[] = data.flatMap((d) =>
    Array.from({ length: batch }, (_, k) => ({ data: d.slice(k * size, (k + 1) * size), shape: [...shape] })),
  );
  await lastValueFrom(from(frames).pipe(adapt(adapter, { batchSize: batch, maxWaitMs: Infinity, bufferSize: 4096 }), toArray()));
  return trace(records);
}

describe('the safety layer in-thread, in a worker and through adapt()', () => {
  const open: WorkerAdapter[] = [];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await Promise.all(open.map((a) => a.terminate()));
  });

  /**
   * The shipped model over `data` (batches of 32 Fashion-MNIST-size frames) in-thread, in a worker
   * and through adapt(): the worker's and adapt()'s traces must equal the in-thread one, returned.
   */
  async function shippedModelInAllThree(opts: { strategy: 'bn-adapt' | 'lame'; seed: number; guard: Record<string, number> }, data: Float32Array[]): Promise<string[]> {
    const shape: [number, number, number] = [28, 28, 1];
    const local = await createAdapter(await loadSourceModel(), opts);
    const expected = await viaSteps(local, data, 32, shape);
    local.dispose();
    const worker = await createWorkerAdapter({ model: await loadSourceModel(), ...opts });
    open.push(worker);
    expect(await viaSteps(worker, data, 32, shape)).toEqual(expected);
    const streamed = await createAdapter(await loadSourceModel(), opts);
    expect(await viaAdapt(streamed, data, 32, shape)).toEqual(expected);
    streamed.dispose();
    return expected;
  }

  it('the same guard and shift records and update modes', async () => {
    const data = batches();
    const local = await createAdapter(model(), OPTIONS);
    const expected = await viaSteps(local, data);
    local.dispose();
    // The stream exercises both: a shift turns updates on, the collapse trips the guard.
    expect(expected.filter((t) => t.startsWith('shift')).length).toBeGreaterThan(0);
    expect(expected.filter((t) => t.startsWith('guard')).length).toBeGreaterThan(0);
    const worker = await createWorkerAdapter({ model: model(), ...OPTIONS });
    open.push(worker);
    expect(await viaSteps(worker, data)).toEqual(expected);
    const streamed = await createAdapter(model(), OPTIONS);
    expect(await viaAdapt(streamed, data)).toEqual(expected);
    streamed.dispose();
  });

  it('the class-correlation detector decides the same in all three', { timeout: 120_000 }, async () => {
    // Real test images and the shipped model: 50 i.i.d. batches of 32. The stream starts
    // correlated (source answers) and turns i.i.d. after ~19 chunks of 64 frames.
    const test = loadFashionMnist('test');
    const rand = mulberry32(11);
    const data = Array.from({ length: 50 }, () => toFloat32(test, Array.from({ length: 32 }, () => Math.floor(rand() * test.n))));
    // Clean images: the guard's unshifted-stream rule (minShift) would answer them all with source.
    const expected = await shippedModelInAllThree({ strategy: 'bn-adapt', seed: 1, guard: { minShift: 0 } }, data);
    expect(expected[0]).toBe('step 0 source:class-correlated');
    expect(expected.at(-1)).toBe('step 49 adapt');
  });

  it('the domain-mixture detector decides the same in all three', { timeout: 120_000 }, async () => {
    // All fifteen corruptions shuffled together, batches of 32 (class-correlation detector off):
    // shifted from the first batch (the unshifted-stream rule turns updates on), adapted until
    // four 64-frame chunks in a row look mixed, then source answers.
    const data: Float32Array[] = [];
    for (const b of streamFromSpec('mixed', { seed: 3, perDomain: 20, batchSize: 32 })) if (b.shape[0] === 32) data.push(b.x);
    const expected = await shippedModelInAllThree({ strategy: 'bn-adapt', seed: 1, guard: { classGate: 0 } }, data);
    expect(expected.slice(0, 2)).toEqual(['shift 0 none>adapting', 'step 0 adapt']);
    expect(expected.at(-1)).toBe(`step ${data.length - 1} source:domain-mixed`);
  });

  it("LAME's far-shift rule (maxShift) decides the same in all three", { timeout: 120_000 }, async () => {
    // Contrast (distance ~1.6 from the source) then jpeg (~0.1), batches of 32, the
    // class-correlation detector off: source answers on contrast, corrections on jpeg.
    const data: Float32Array[] = [];
    for (const domain of ['contrast', 'jpeg_compression']) {
      for (const b of streamFromSpec(`single:${domain}`, { seed: 3, perDomain: 128, batchSize: 32 })) data.push(b.x);
    }
    const expected = await shippedModelInAllThree({ strategy: 'lame', seed: 1, guard: { classGate: 0 } }, data);
    expect(expected.slice(0, 4)).toEqual([0, 1, 2, 3].map((i) => `step ${i} source:shift-far`));
    expect(expected.slice(4)).toEqual([4, 5, 6, 7].map((i) => `step ${i} adapt`));
  });

  it('the budget thins update steps in all three', async () => {
    const data = batches();
    // A budget far below one update step's cost: after the first update, mostly predict-only steps.
    const opts = { strategy: 'tent' as const, seed: 1, guard: false as const, budget: { maxAdaptMsPerFrame: 0.05 } };
    const local = await createAdapter(model(), opts);
    const worker = await createWorkerAdapter({ model: model(), ...opts });
    open.push(worker);
    const streamed = await createAdapter(model(), opts);
    for (const t of [await viaSteps(local, data), await viaSteps(worker, data), await viaAdapt(streamed, data)]) {
      expect(t[0]).toBe('step 0 adapt');
      const skipped = t.filter((s) => s.endsWith('predict:budget')).length;
      expect(skipped).toBeGreaterThan(t.length / 2);
    }
    local.dispose();
    streamed.dispose();
  });
});

describe('ComputeBudget (token bucket, hand-computed)', () => {
  it('deposits budget x frames, withdraws measured time, caps the balance at one update', () => {
    const b = new ComputeBudget({ maxAdaptMsPerFrame: 1 });
    expect(b.allowUpdate(4)).toBe(true); // balance 4
    b.spend(10, 4, true); // -6, an update costs 10
    expect(b.allowUpdate(4)).toBe(false); // -2
    b.spend(1, 4, false); // -3
    expect(b.allowUpdate(4)).toBe(true); // 1
    b.spend(10, 4, true); // -9
    for (let i = 0; i < 5; i++) {
      b.allowUpdate(4);
      b.spend(0, 4, false);
    } // -9 + 20 = 11, capped at 10 at each deposit
    expect(b.allowUpdate(4)).toBe(true);
    expect(b.msPerFrame()).toBeCloseTo(21 / 32, 12);
    expect(resolveBudgetOptions(undefined)).toBeNull();
    expect(() => resolveBudgetOptions({ maxAdaptMsPerFrame: 0 })).toThrow(/maxAdaptMsPerFrame/);
    expect(() => resolveBudgetOptions({ fps: 30 })).toThrow(/budget/);
  });

  it('steps without an update before the first one bank no more than one deposit', () => {
    // 100 source answers at 1 ms of 4 ms deposited, then updates that cost 40 ms (10 deposits):
    // one update, then ~9 steps of repayment. Uncapped, the 300 ms banked bought 8 updates in a row.
    const b = new ComputeBudget({ maxAdaptMsPerFrame: 1 });
    for (let i = 0; i < 100; i++) {
      b.allowUpdate(4);
      b.spend(1, 4, false);
    }
    const updates: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const allowed = b.allowUpdate(4);
      updates.push(allowed);
      b.spend(allowed ? 40 : 1, 4, allowed);
    }
    // Balance 3 after the source answers; 4 - 40 = -36 after the update, then +3 per skipped step: -9.
    expect(updates).toEqual([true, ...Array<boolean>(9).fill(false)]);
    expect([b.allowUpdate(4), b.allowUpdate(4), b.allowUpdate(4)]).toEqual([false, false, true]); // -5, -1, 3
  });

  it('reports the budget, the cost so far, and the moving cost of steps without an update (the floor)', () => {
    const b = new ComputeBudget({ maxAdaptMsPerFrame: 1 });
    b.allowUpdate(4);
    b.spend(12, 4, true); // an update: no floor yet
    expect(b.info()).toEqual({ maxMsPerFrame: 1, msPerFrame: 3 });
    b.allowUpdate(4);
    b.spend(8, 4, false); // the first step without an update sets the floor: 2 ms per frame
    expect(b.info()).toEqual({ maxMsPerFrame: 1, msPerFrame: 20 / 8, floorMsPerFrame: 2 });
    b.allowUpdate(2);
    b.spend(12, 2, false); // 6 ms per frame: 2 + 0.25 x (6 - 2) = 3
    b.allowUpdate(4);
    b.spend(40, 4, true); // updates leave the floor as it was
    expect(b.info()).toEqual({ maxMsPerFrame: 1, msPerFrame: 72 / 14, floorMsPerFrame: 3 });
  });

  it('bad budgets are named with the value given (NaN and Infinity were shown as null)', () => {
    expect(() => resolveBudgetOptions({ maxAdaptMsPerFrame: Number.NaN })).toThrow("Option 'budget.maxAdaptMsPerFrame' is NaN");
    expect(() => resolveBudgetOptions({ maxAdaptMsPerFrame: Infinity })).toThrow("Option 'budget.maxAdaptMsPerFrame' is Infinity");
    expect(() => resolveBudgetOptions({ maxAdaptMsPerFrame: -1 })).toThrow("'budget.maxAdaptMsPerFrame' is -1");
    expect(() => resolveBudgetOptions({ maxAdaptMsPerFrame: '5' })).toThrow(`'budget.maxAdaptMsPerFrame' is "5"`);
    expect(() => resolveBudgetOptions({})).toThrow("'budget.maxAdaptMsPerFrame' is undefined");
    expect(() => resolveBudgetOptions({ maxAdaptMsPerFrame: 5, fps: 30 })).toThrow("Option 'budget' has no field 'fps'");
    for (const bad of [[], 5, 'fast', true]) expect(() => resolveBudgetOptions(bad)).toThrow(InvalidOptionError);
    expect(resolveBudgetOptions(null)).toBeNull();
    expect(resolveBudgetOptions({ maxAdaptMsPerFrame: 0.5 })).toEqual({ maxAdaptMsPerFrame: 0.5 });
  });
});
