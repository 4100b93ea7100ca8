/**
 * The shift detector on a model whose BN statistics are calibrated on a "source" distribution:
 * source frames run through the source model with no update step, shifted frames turn updates
 * on, and the return to source turns them off again (strategy reset); the distance matches a
 * float64 recomputation for the first BN layer's share.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, GUARD_DEFAULTS, initBackend, InvalidOptionError, UnsupportedModelError, type MetricsRecord } from '../../src/index.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { createTarget } from '../../src/model/target.js';
import { resolveShiftOptions, SHIFT_DEFAULTS, ShiftDetector } from '../../src/safety/shiftDetector.js';
import { createSourceModel } from '../../src/safety/sourceModel.js';
import { plainCnn, smallResNet } from '../helpers/models.js';

const SHAPE: [number, number, number] = [8, 8, 1];

/** Frames of the "source" distribution: uniform [0, 1) pixels. */
function sourceBatch(n: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** A shifted distribution: darker and noisier. */
function shiftedBatch(n: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(sourceBatch(n, seed), 0.3), tf.randomNormal([n, ...SHAPE], 0, 0.5, 'float32', seed + 1)) as tf.Tensor4D);
}

/** A model whose BN moving statistics are the statistics of the source distribution (as if trained on it). */
function calibratedModel(): tf.LayersModel {
  const m = smallResNet(SHAPE, 4);
  m.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 300 + i))));
  const exec = new ModelExecutor(m);
  const x = sourceBatch(512, 1);
  tf.tidy(() => {
    const hooks = new Map(
      exec.info.batchNorms.map((bn) => [
        bn.name,
        ({ inputs, original }: { inputs: tf.Tensor[]; original: () => tf.Tensor }) => {
          const { mean, variance } = tf.moments(inputs[0]!, [0, 1, 2]);
          bn.movingMean.assign(mean);
          bn.movingVariance.assign(variance);
          return original();
        },
      ]),
    );
    exec.logits(x, { hooks });
  });
  x.dispose();
  return m;
}

describe('shift detection', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('options: off by default, thresholds validated', () => {
    expect(resolveShiftOptions(undefined)).toBeNull();
    expect(resolveShiftOptions(true)).toEqual(SHIFT_DEFAULTS);
    expect(() => resolveShiftOptions({ onThreshold: 0.2, offThreshold: 0.4 })).toThrow(/offThreshold/);
    expect(() => resolveShiftOptions({ onTreshold: 1 })).toThrow(InvalidOptionError);
  });

  it('the state machine has hysteresis and a steady state', () => {
    const d = new ShiftDetector({ ...SHIFT_DEFAULTS, onThreshold: 1, offThreshold: 0.5, steadySteps: 3, steadyTolerance: 0.1 }, { batchNorms: [{}] } as never);
    expect(d.advance(0.9, true)).toBeNull(); // below on: stays none
    expect(d.advance(1.2, true)).toEqual({ from: 'none', to: 'adapting' });
    expect(d.advance(0.7, true)).toBeNull(); // between off and on: stays adapting (new anchor)
    expect(d.advance(0.72, true)).toBeNull();
    expect(d.advance(0.71, true)).toBeNull();
    expect(d.advance(0.7, true)).toEqual({ from: 'adapting', to: 'steady' });
    expect(d.advance(0.9, true)).toEqual({ from: 'steady', to: 'adapting' }); // left the band
    expect(d.advance(0.5, true)).toEqual({ from: 'adapting', to: 'none' });
  });

  it('a model without BN cannot use it', async () => {
    await expect(createAdapter(plainCnn(SHAPE, 3), { strategy: 'lame', shiftDetection: true })).rejects.toThrow(UnsupportedModelError);
  });

  it('source frames: source predictions, no update; shifted: updates on; back: off and reset', async () => {
    const m = calibratedModel();
    // The class-correlation detector off: it would answer these first batches with the source model too.
    const adapter = await createAdapter(m, { strategy: 'tent', guard: { classGate: 0 }, shiftDetection: { onThreshold: 0.6, offThreshold: 0.3, momentum: 0.5 } });
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    const modes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const x = sourceBatch(16, 10 + i);
      const expected = (m.predict(x) as tf.Tensor).dataSync();
      const out = await adapter.step(x);
      modes.push(out.update.mode);
      Array.from(out.probs).forEach((p, k) => expect(p).toBeCloseTo(expected[k]!, 5));
      x.dispose();
    }
    for (let i = 0; i < 4; i++) modes.push((await adapter.step(shiftedBatch(16, 20 + i))).update.mode);
    for (let i = 0; i < 4; i++) modes.push((await adapter.step(sourceBatch(16, 30 + i))).update.mode);
    expect(modes.slice(0, 4)).toEqual(['source', 'source', 'source', 'source']);
    expect(modes.slice(4, 8)).toEqual(['adapt', 'adapt', 'adapt', 'adapt']);
    expect(modes.slice(9)).toEqual(['source', 'source', 'source']);
    const shifts = records.filter((r) => r.kind === 'shift');
    expect(shifts.map((r) => r.kind === 'shift' && `${r.stepId}:${r.from}>${r.to}`)).toEqual(['4:none>adapting', expect.stringMatching(/^(8|9):adapting>none$/)]);
    // Every step says the distance after it (shift records only at state changes): the same value
    // as the shift record of its step, above onThreshold there and under offThreshold on the way back.
    const distances = records.flatMap((r) => (r.kind === 'step' ? [r.update.shiftDistance] : []));
    expect(distances).toHaveLength(12);
    for (const d of distances) expect(Number.isFinite(d) && d! >= 0).toBe(true);
    for (const r of shifts) if (r.kind === 'shift') expect(distances[r.stepId]).toBe(r.distance);
    expect(distances[4]).toBeGreaterThanOrEqual(0.6);
    expect(distances[11]).toBeLessThan(0.3);
    adapter.dispose();
    m.dispose();
    // No detector (guard off, no shiftDetection): no distance.
    const plain = await createAdapter(calibratedModel(), { strategy: 'tent', guard: false });
    const x = sourceBatch(16, 40);
    expect((await plain.step(x)).update).not.toHaveProperty('shiftDistance');
    plain.dispose();
    x.dispose();
  });

  it('reset() and restore() put an adapting detector back to none and say so in a shift record', async () => {
    const m = calibratedModel();
    const adapter = await createAdapter(m, { strategy: 'tent', guard: { classGate: 0 }, shiftDetection: { onThreshold: 0.6, offThreshold: 0.3, momentum: 0.5 } });
    const shifts: string[] = [];
    adapter.metrics$.subscribe((r) => r.kind === 'shift' && shifts.push(`${r.stepId}:${r.from}>${r.to}:${r.distance}`));
    const snap = await adapter.snapshot(); // step 0, detector at none
    for (let i = 0; i < 3; i++) await adapter.step(shiftedBatch(16, 40 + i));
    expect(shifts).toEqual([expect.stringMatching(/^0:none>adapting:/)]);
    await adapter.reset();
    expect(shifts.at(-1)).toBe('3:adapting>none:0');
    // Reset again with the detector at none: nothing to say.
    await adapter.reset();
    expect(shifts).toHaveLength(2);
    for (let i = 0; i < 2; i++) await adapter.step(shiftedBatch(16, 50 + i));
    expect(shifts.at(-1)).toMatch(/^3:none>adapting:/);
    await adapter.restore(snap);
    expect(shifts.at(-1)).toBe('0:adapting>none:0');
    adapter.dispose();
    m.dispose();
  });
});

describe('guard.minShift: the unshifted-stream rule, on by default', () => {
  it('source frames get the source answer (reason shift-none); shifted ones adapt; back to source resets; LAME is not gated', async () => {
    expect(GUARD_DEFAULTS.minShift).toBe(0.15);
    const m = calibratedModel();
    // Default guard (class-correlation detector off: it would answer these first batches with source too).
    const adapter = await createAdapter(m, { strategy: 'tent', guard: { classGate: 0 } });
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    const steps: string[] = [];
    const run = async (x: tf.Tensor4D) => {
      const out = await adapter.step(x);
      steps.push(`${out.update.mode}${out.update.reason !== undefined ? `:${out.update.reason}` : ''}`);
      return out;
    };
    for (let i = 0; i < 4; i++) {
      const x = sourceBatch(32, 40 + i);
      const expected = (m.predict(x) as tf.Tensor).dataSync();
      Array.from((await run(x)).probs).forEach((p, k) => expect(p).toBeCloseTo(expected[k]!, 5));
      x.dispose();
    }
    for (let i = 0; i < 4; i++) await run(shiftedBatch(32, 50 + i));
    for (let i = 0; i < 8; i++) await run(sourceBatch(32, 60 + i));
    expect(steps.slice(0, 4)).toEqual(Array(4).fill('source:shift-none'));
    expect(steps.slice(4, 8)).toEqual(Array(4).fill('adapt'));
    expect(steps.slice(-2)).toEqual(Array(2).fill('source:shift-none'));
    const shifts = records.filter((r) => r.kind === 'shift').map((r) => r.kind === 'shift' && `${r.from}>${r.to}`);
    expect(shifts).toEqual(['none>adapting', 'adapting>none']);
    adapter.dispose();
    // minShift 0 turns it off; an explicit shiftDetection replaces it; LAME is not gated by it.
    for (const [options, first] of [
      [{ strategy: 'tent', guard: { classGate: 0, minShift: 0 } }, 'adapt'],
      [{ strategy: 'tent', guard: { classGate: 0 }, shiftDetection: { onThreshold: 0, offThreshold: 0 } }, 'adapt'],
      [{ strategy: 'lame', guard: { classGate: 0 } }, 'adapt'],
    ] as const) {
      const a = await createAdapter(m, options as never);
      const x = sourceBatch(32, 70);
      expect((await a.step(x)).update.mode).toBe(first);
      x.dispose();
      a.dispose();
    }
    for (const guard of [{ minShift: -1 }, { minShift: Number.POSITIVE_INFINITY }]) {
      await expect(createAdapter(m, { strategy: 'tent', guard })).rejects.toBeInstanceOf(InvalidOptionError);
    }
    m.dispose();
  });
});

describe('guard.maxShift: LAME corrects only while the stream is near the source', () => {
  it('a batch at or beyond maxShift (the distance of a separate detector) gets the source answer (shift-far), the others LAME\'s correction', async () => {
    expect(GUARD_DEFAULTS.maxShift).toBe(0.8);
    const m = calibratedModel();
    const batches = [40, 41, 42].map((s) => sourceBatch(32, s)).concat([50, 52, 54].map((s) => shiftedBatch(32, s)), [60, 61].map((s) => sourceBatch(32, s)));
    // The distance after each batch, from a detector of its own on the source model.
    const source = await createSourceModel(createTarget(m));
    const oracle = new ShiftDetector({ ...SHIFT_DEFAULTS }, source);
    const distances: number[] = [];
    const sourceProbs: Float32Array[] = [];
    for (const x of batches) {
      const p = source.probs(x, oracle.hooks);
      sourceProbs.push((await p.data()) as Float32Array);
      p.dispose();
      await oracle.measure(true);
      distances.push(oracle.distance);
    }
    oracle.dispose();
    source.dispose();
    const maxShift = (Math.max(...distances.slice(0, 3)) + Math.min(...distances.slice(3, 6))) / 2;
    const far = distances.map((d) => d >= maxShift);
    expect(far).toEqual([false, false, false, true, true, true, false, false]);
    // LAME correcting every batch (both of its own gates off), guarded and not.
    const lame = { strategy: 'lame', classGate: 0, maxChanged: 1 } as const;
    const plain = await createAdapter(m, { ...lame, guard: false });
    const corrected: Float32Array[] = [];
    for (const x of batches) corrected.push((await plain.step(x)).probs);
    plain.dispose();
    const guarded = await createAdapter(m, { ...lame, guard: { classGate: 0, maxShift } });
    for (let i = 0; i < batches.length; i++) {
      const out = await guarded.step(batches[i]!);
      expect(out.update.mode).toBe(far[i] ? 'source' : 'adapt');
      if (far[i]) expect(out.update.reason).toBe('shift-far');
      const expected = far[i] ? sourceProbs[i]! : corrected[i]!;
      Array.from(out.probs).forEach((p, k) => expect(p).toBeCloseTo(expected[k]!, 5));
    }
    guarded.dispose();
    // The corrections differ from the source answers, so the check above can tell them apart.
    expect(Math.max(...Array.from(corrected[3]!, (v, k) => Math.abs(v - sourceProbs[3]![k]!)))).toBeGreaterThan(1e-3);
    // maxShift 0 turns the rule off; bad values are typed errors.
    const off = await createAdapter(m, { ...lame, guard: { classGate: 0, maxShift: 0 } });
    for (const x of batches) expect((await off.step(x)).update.mode).toBe('adapt');
    off.dispose();
    for (const guard of [{ maxShift: -1 }, { maxShift: Number.NaN }]) {
      await expect(createAdapter(m, { strategy: 'lame', guard })).rejects.toBeInstanceOf(InvalidOptionError);
    }
    tf.dispose(batches);
    m.dispose();
  });
});
