/**
 * The guard's signals and escalation (hand-computed), option validation, non-finite outputs
 * (#14.6: detected, reported, never passed on, state rolled back), and a collapsing Tent caught
 * and reset, with the guard off for contrast.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError, type MetricsRecord } from '../../src/index.js';
import { effectiveClasses, Guard, GUARD_DEFAULTS, resolveGuardOptions } from '../../src/safety/guard.js';
import { decodeState } from '../../src/model/weights.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE: [number, number, number] = [8, 8, 1];

function model(): tf.LayersModel {
  const m = smallResNet(SHAPE, 4);
  m.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 200 + i))));
  randomizeBatchNorms(m, 5);
  return m;
}

describe('Guard signals (hand-computed)', () => {
  it('effectiveClasses is exp(entropy) of the histogram', () => {
    expect(effectiveClasses([5, 0, 0])).toBeCloseTo(1, 12);
    expect(effectiveClasses([2, 2, 2, 2])).toBeCloseTo(4, 12);
    // p = (3/4, 1/4): H = -(.75 ln .75 + .25 ln .25) = 0.5623351446
    expect(effectiveClasses([3, 1])).toBeCloseTo(Math.exp(0.5623351446188083), 10);
  });

  it('entropy collapse: the moving average of entropy / ln(C) trips below minEntropy', () => {
    const g = new Guard({ ...GUARD_DEFAULTS, minEntropy: 0.1, entropyMomentum: 0.5 }, 4);
    const ln4 = Math.log(4);
    expect(g.observe(0, 0.44 * ln4)).toBeNull(); // avg 0.44
    expect(g.observe(1, 0)).toBeNull(); // 0.22
    expect(g.observe(2, 0)).toBeNull(); // 0.11
    const trip = g.observe(3, 0); // 0.055
    expect(trip).toMatchObject({ signal: 'entropy-collapse', threshold: 0.1, action: 'rollback', trips: 1 });
    expect(trip!.value).toBeCloseTo(0.055, 12);
  });

  it('entropy collapse at batch 1: averaged over frames, so confident single frames do not trip it, and a collapse still does', () => {
    const ln10 = Math.log(10);
    // One uncertain frame (0.4) in six, the others certain: a mean of 0.067, above minEntropy 0.02.
    const healthy = new Guard({ ...GUARD_DEFAULTS }, 10);
    for (let step = 0; step < 600; step++) expect(healthy.observe(step, (step % 6 === 0 ? 0.4 : 0) * ln10, undefined, 1)).toBeNull();
    // Per step (the old average, as a batch of 64 each), the same frames trip it within six steps.
    const perStep = new Guard({ ...GUARD_DEFAULTS }, 10);
    let tripped = -1;
    for (let step = 0; step < 12 && tripped < 0; step++) if (perStep.observe(step, (step % 6 === 0 ? 0.4 : 0) * ln10) !== null) tripped = step;
    expect(tripped).toBeGreaterThan(0);
    // Every frame certain: no trip before minFrames (64) frames, a trip right after.
    const collapsed = new Guard({ ...GUARD_DEFAULTS }, 10);
    for (let step = 0; step < 63; step++) expect(collapsed.observe(step, 0, undefined, 1)).toBeNull();
    expect(collapsed.observe(63, 0, undefined, 1)).toMatchObject({ signal: 'entropy-collapse' });
  });

  it('class collapse compares with the source on the same frames; class-correlated frames do not trip it', () => {
    const g = new Guard({ ...GUARD_DEFAULTS, minFrames: 8, window: 8 }, 4);
    // Source predicts one class on all frames (class-sorted batch), adapted too: ratio 1.
    expect(g.observe(7, 1, { adapted: [2, 2, 2, 2, 2, 2, 2, 2], source: [2, 2, 2, 2, 2, 2, 2, 2] })).toBeNull();
    // Source spreads over 4 classes evenly, adapted all class 0: ratio 1/4 < 0.5.
    const trip = g.observe(15, 1, { adapted: [0, 0, 0, 0, 0, 0, 0, 0], source: [0, 1, 2, 3, 0, 1, 2, 3] });
    expect(trip).toMatchObject({ signal: 'class-collapse', threshold: 0.5 });
    expect(trip!.value).toBeCloseTo(0.25, 12);
  });

  it('disagreement with the source trips above maxDisagreement', () => {
    const g = new Guard({ ...GUARD_DEFAULTS, minFrames: 4, window: 4, maxDisagreement: 0.7 }, 4);
    const trip = g.observe(7, 1, { adapted: [1, 0, 3, 2], source: [0, 1, 2, 3] });
    expect(trip).toMatchObject({ signal: 'source-disagreement', value: 1, threshold: 0.7 });
  });

  it('reference drift: agreement with the reference below its baseline minus maxAgreementDrop resets to source', () => {
    const g = new Guard({ ...GUARD_DEFAULTS, window: 8, maxAgreementDrop: 0.2, minReferenceAgreement: 0.75 }, 4);
    const src = [0, 1, 2, 3];
    // First batch 4/4 with the reference: the signal is on, baseline 1.
    expect(g.observe(0, 1, { adapted: [0, 1, 2, 3], source: src, reference: [0, 1, 2, 3] })).toBeNull();
    expect(g.referenceSignal).toBe(true);
    expect(g.signals().referenceBaseline).toBe(1);
    // Last 8 frames: 4 + 3 agree = 0.875, not below 1 - 0.2 = 0.8.
    expect(g.observe(8, 1, { adapted: [0, 1, 2, 0], source: src, reference: [0, 1, 2, 3] })).toBeNull();
    // Last 8 frames: 3 + 2 agree = 0.625 < 0.8.
    const trip = g.observe(16, 1, { adapted: [0, 1, 0, 0], source: src, reference: [0, 1, 2, 3] });
    expect(trip).toMatchObject({ signal: 'reference-drift', action: 'reset' });
    expect(trip!.value).toBeCloseTo(0.625, 12);
    expect(trip!.threshold).toBeCloseTo(0.8, 12);
    // The trip clears the baseline: it is measured again from the reset state.
    expect(g.signals().referenceBaseline).toBeNull();
  });

  it('reference drift is off when the first compared batch disagrees with the reference (LAME, source, alpha-BN)', () => {
    const g = new Guard({ ...GUARD_DEFAULTS, window: 4, maxAgreementDrop: 0.1, minReferenceAgreement: 0.9 }, 4);
    // 3/4 = 0.75 < 0.9: off for good; later disagreement does not trip it.
    expect(g.observe(0, 1, { adapted: [0, 1, 2, 0], source: [0, 1, 2, 3], reference: [0, 1, 2, 3] })).toBeNull();
    expect(g.referenceSignal).toBe(false);
    for (let step = 8; step < 64; step += 8) {
      expect(g.observe(step, 1, { adapted: [3, 3, 3, 3], source: [3, 3, 3, 3], reference: [0, 1, 2, 0] })).toBeNull();
    }
    expect(g.signals().referenceAgreement).toBeNull();
    g.clear();
    expect(g.referenceSignal).toBeNull();
  });

  it('escalates: rollback, then reset within escalateSteps, then freeze after freezeAfter trips (doubling)', () => {
    const g = new Guard({ ...GUARD_DEFAULTS, minEntropy: 0.5, escalateSteps: 10, freezeAfter: 3, freezeWindow: 100, freezeSteps: 20 }, 4);
    expect(g.observe(0, 0)).toMatchObject({ action: 'rollback', frozenSteps: 0 });
    expect(g.observe(50, 0)).toMatchObject({ action: 'rollback' }); // 50 steps after the last trip
    expect(g.observe(55, 0)).toMatchObject({ action: 'freeze', frozenSteps: 20, trips: 3 }); // 3rd trip in 100 steps
    expect(g.frozen(75)).toBe(true);
    expect(g.frozen(76)).toBe(false);
    expect(g.observe(200, 0)).toMatchObject({ action: 'rollback' }); // earlier trips left the window
    expect(g.observe(205, 0)).toMatchObject({ action: 'reset' }); // within escalateSteps
    expect(g.observe(207, 0)).toMatchObject({ action: 'freeze', frozenSteps: 40 });
    g.clear();
    expect(g.frozen(210)).toBe(false);
    expect(g.trips).toBe(0);
  });
});

describe('guard options', () => {
  it('false turns it off, true / undefined give the defaults, bad values are named', () => {
    expect(resolveGuardOptions(false)).toBeNull();
    expect(resolveGuardOptions(undefined)).toEqual(GUARD_DEFAULTS);
    expect(resolveGuardOptions({ minEntropy: 0.1 })).toEqual({ ...GUARD_DEFAULTS, minEntropy: 0.1 });
    // A strategy's own defaults apply under the user's fields.
    expect(resolveGuardOptions(undefined, 'cotta')).toEqual({ ...GUARD_DEFAULTS, maxAgreementDrop: 0.2 });
    expect(resolveGuardOptions({ minEntropy: 0.1 }, 'cotta')).toEqual({ ...GUARD_DEFAULTS, minEntropy: 0.1, maxAgreementDrop: 0.2 });
    expect(resolveGuardOptions({ maxAgreementDrop: 0.05 }, 'cotta')).toEqual({ ...GUARD_DEFAULTS, maxAgreementDrop: 0.05 });
    expect(resolveGuardOptions(undefined, 'tent')).toEqual(GUARD_DEFAULTS);
    expect(resolveGuardOptions(undefined, 'toString')).toEqual(GUARD_DEFAULTS);
    expect(() => resolveGuardOptions({ minEntropie: 0.1 })).toThrow(/no field 'minEntropie'/);
    expect(() => resolveGuardOptions({ checkEvery: 0 })).toThrow(/guard.checkEvery/);
    expect(() => resolveGuardOptions({ maxDisagreement: 2 })).toThrow(InvalidOptionError);
    expect(() => resolveGuardOptions('on')).toThrow(InvalidOptionError);
  });

  it('NaN, Infinity, negative and non-number values are named, for every field', () => {
    for (const key of Object.keys(GUARD_DEFAULTS)) {
      for (const bad of [Number.NaN, Infinity, -1, '0.5', null]) {
        expect(() => resolveGuardOptions({ [key]: bad }), `${key}: ${String(bad)}`).toThrow(InvalidOptionError);
        expect(() => resolveGuardOptions({ [key]: bad }), `${key}: ${String(bad)}`).toThrow(`guard.${key}`);
      }
    }
  });

  it('pairs that would switch a signal off for good are refused, naming both fields', () => {
    // window < minFrames: the window never holds minFrames compared frames, so class collapse and
    // disagreement could never trip (before: accepted, and a collapsed model went unnoticed).
    expect(() => resolveGuardOptions({ window: 32 })).toThrow(/guard.minFrames.*guard.window/);
    expect(() => resolveGuardOptions({ minFrames: 300 })).toThrow(InvalidOptionError);
    expect(resolveGuardOptions({ window: 32, minFrames: 32 })).toMatchObject({ window: 32, minFrames: 32 });
    // freezeAfter > freezeWindow: at most one trip a step, so the freeze could never come.
    expect(() => resolveGuardOptions({ freezeWindow: 2 })).toThrow(/guard.freezeAfter.*guard.freezeWindow/);
    expect(resolveGuardOptions({ freezeWindow: 3 })).toMatchObject({ freezeWindow: 3 });
    // correlationEnter 0: every stream correlated and mixed for good, unless both detectors are off.
    expect(() => resolveGuardOptions({ correlationEnter: 0, correlationExit: 0 })).toThrow(/guard.correlationEnter/);
    expect(() => resolveGuardOptions({ correlationEnter: 0, correlationExit: 0, classGate: 0 })).toThrow(/guard.mixtureGate/);
    expect(resolveGuardOptions({ correlationEnter: 0, correlationExit: 0, classGate: 0, mixtureGate: 0 })).not.toBeNull();
    expect(() => resolveGuardOptions({ correlationExit: 0.31 })).toThrow(/guard.correlationExit/);
  });

  it('window < minFrames really disabled class collapse (why it is refused)', () => {
    const collapsed = (g: Guard): string | null => {
      for (let s = 0; s < 100; s++) {
        const trip = g.observe(s, Math.log(4), { adapted: new Array(16).fill(0), source: Array.from({ length: 16 }, (_, i) => i % 4) }, 16);
        if (trip !== null) return trip.signal;
      }
      return null;
    };
    expect(collapsed(new Guard({ ...GUARD_DEFAULTS, window: 32 }, 4))).toBeNull();
    expect(collapsed(new Guard({ ...GUARD_DEFAULTS, window: 64 }, 4))).toBe('class-collapse');
  });
});

describe('the guard in createAdapter', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a source answer that is not finite (frames of huge values) keeps the strategy state: it did not run', async () => {
    const m = model();
    // CoTTA answers batches under 16 frames with the source model ('small-batch').
    const adapter = await createAdapter(m, { strategy: 'cotta', seed: 1, augmentations: 2, threshold: 2, guard: { checkEvery: 1 } });
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    await adapter.step(randomBatch([16, ...SHAPE], 3));
    await adapter.step(randomBatch([16, ...SHAPE], 4));
    const adapted = await adapter.snapshot();
    const huge = { data: new Float32Array(4 * 64).fill(3e38), shape: [4, ...SHAPE] };
    const out = await adapter.step(huge);
    expect(out.update).toMatchObject({ mode: 'source', reason: 'non-finite' });
    expect(records.filter((r) => r.kind === 'nonfinite')).toMatchObject([{ action: 'none', predictions: 'none' }]);
    expect(Array.from(out.probs).every(Number.isFinite)).toBe(true);
    // The adapted state is kept, not rolled back to an older copy or reset to source.
    const after = await adapter.snapshot();
    expect(decodeState(after).tensors).toEqual(decodeState(adapted).tensors);
    adapter.dispose();
    m.dispose();
  });

  for (const guard of [true, false]) {
    it(`non-finite outputs (guard ${guard ? 'on' : 'off'}): reported, never passed on, state rolled back`, async () => {
      const m = model();
      const x = randomBatch([6, ...SHAPE], 11);
      const sourceProbs = (m.predict(x) as tf.Tensor).dataSync();
      const adapter = await createAdapter(m, { strategy: 'tent', guard: guard ? { checkEvery: 2 } : false });
      const records: MetricsRecord[] = [];
      adapter.metrics$.subscribe((r) => records.push(r));
      for (let i = 0; i < 3; i++) await adapter.step(x);
      const goodKernel = m.getLayer('logits').getWeights()[0]!.dataSync().slice();
      // Poison the adapted weights: every later output is NaN until the state is rolled back.
      const kernel = m.getLayer('logits').getWeights()[0]!;
      m.getLayer('logits').setWeights([tf.fill(kernel.shape, NaN), m.getLayer('logits').getWeights()[1]!]);
      const out = await adapter.step(x);
      const nonFinite = records.filter((r) => r.kind === 'nonfinite');
      expect(nonFinite).toHaveLength(1);
      expect(nonFinite[0]).toMatchObject({ stepId: 3, where: ['probs', 'stats.loss'], action: guard ? 'rollback' : 'reset', predictions: 'source' });
      expect(out.update).toMatchObject({ mode: 'source', reason: 'non-finite' });
      // The returned predictions are the source model's, not NaN / label 0 / confidence -1.
      expect(Array.from(out.probs).every(Number.isFinite)).toBe(true);
      Array.from(out.probs).forEach((p, i) => expect(p).toBeCloseTo(sourceProbs[i]!, 5));
      const step = records.filter((r) => r.kind === 'step').at(-1)!;
      expect(step.kind === 'step' && step.meanEntropy > 0).toBe(true);
      // State rolled back: to the last good copy (step 1, a check step) with the guard, to source without.
      const kernelNow = m.getLayer('logits').getWeights()[0]!.dataSync();
      expect(Array.from(kernelNow).every(Number.isFinite)).toBe(true);
      if (!guard) expect(Array.from(kernelNow)).toEqual(Array.from((model().getLayer('logits').getWeights()[0]!).dataSync()));
      else expect(Array.from(kernelNow)).toEqual(Array.from(goodKernel)); // tent does not train the dense kernel
      const next = await adapter.step(x);
      expect(next.update.mode).toBe('adapt');
      expect(Array.from(next.probs).every(Number.isFinite)).toBe(true);
      adapter.dispose();
      m.dispose();
    });
  }
});

describe('predict on non-finite outputs', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const guard of [true, false]) {
    it(`never passes NaN on (guard ${guard ? 'on: the source copy answers' : 'off: uniform'}), changes no state, and says so in fallback`, async () => {
      const m = model();
      const x = randomBatch([6, ...SHAPE], 12);
      const sourceProbs = (m.predict(x) as tf.Tensor).dataSync();
      const adapter = await createAdapter(m, { strategy: 'tent', guard: guard ? {} : false });
      const finite = await adapter.predict(x);
      expect(finite.fallback).toBeUndefined();
      expect(Array.from(finite.probs).every(Number.isFinite)).toBe(true);
      const [kernel, bias] = m.getLayer('logits').getWeights();
      m.getLayer('logits').setWeights([tf.fill(kernel!.shape, NaN), bias!]);
      const out = await adapter.predict(x);
      expect(out.fallback).toBe(guard ? 'source' : 'none');
      expect(Array.from(out.probs).every(Number.isFinite)).toBe(true);
      if (guard) Array.from(out.probs).forEach((p, i) => expect(p).toBeCloseTo(sourceProbs[i]!, 5));
      else expect(Array.from(out.probs)).toEqual(new Array(out.probs.length).fill(Math.fround(1 / adapter.numClasses)));
      expect(Array.from(out.confidence).every((c) => c >= 0)).toBe(true);
      // A predict rolls nothing back: the poisoned kernel is still there for the next step to catch.
      expect(Array.from(m.getLayer('logits').getWeights()[0]!.dataSync()).every(Number.isNaN)).toBe(true);
      adapter.dispose();
      m.dispose();
    });
  }
});

describe('a collapsing Tent', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('is caught (entropy collapse), rolled back, reset, then frozen at its source state (= bn-adapt); without the guard it predicts one class', async () => {
    const run = async (guard: false | object) => {
      const m = model();
      const tensorsBefore = tf.memory().numTensors;
      const adapter = await createAdapter(m, { strategy: 'tent', optimizer: 'sgd', lr: 5, guard });
      const records: MetricsRecord[] = [];
      adapter.metrics$.subscribe((r) => records.push(r));
      const hist = [0, 0, 0, 0];
      let lastProbs: Float32Array = new Float32Array();
      // 80 batches of 16 frames: the entropy average weighs each as 16/64 of a batch of 64 and
      // trips after 64 frames, so each trip needs at least four steps.
      for (let i = 0; i < 80; i++) {
        const x = randomBatch([16, ...SHAPE], 100 + i);
        const out = await adapter.step(x);
        x.dispose();
        if (i >= 70) out.labels.forEach((l) => hist[l]!++);
        lastProbs = out.probs;
      }
      adapter.dispose();
      expect(tf.memory().numTensors).toBe(tensorsBefore); // rollbacks, resets and freezes leak nothing
      m.dispose();
      return { records, hist, lastProbs };
    };
    const off = await run(false);
    expect(off.records.filter((r) => r.kind !== 'step')).toEqual([]);
    expect(Math.max(...off.hist)).toBe(160); // one class for the last 10 batches
    // The class-correlation detector off: on random frames it would answer with the source model.
    const on = await run({ classGate: 0 });
    const trips = on.records.filter((r) => r.kind === 'guard');
    expect(trips.map((r) => r.kind === 'guard' && `${r.signal}:${r.action}`)).toEqual([
      'entropy-collapse:rollback',
      'entropy-collapse:reset',
      'entropy-collapse:freeze',
    ]);
    const steps = on.records.filter((r) => r.kind === 'step');
    expect(steps.slice(-10).every((r) => r.kind === 'step' && r.update.mode === 'predict' && r.update.reason === 'guard-frozen')).toBe(true);
    // Frozen at its source state, Tent predicts as bn-adapt does.
    const m = model();
    const bn = await createAdapter(m, { strategy: 'bn-adapt', guard: false });
    const x = randomBatch([16, ...SHAPE], 179);
    const expected = (await bn.step(x)).probs;
    Array.from(on.lastProbs).forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 5));
    x.dispose();
    bn.dispose();
    m.dispose();
  });
});

describe('the source strategy and the guard', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('source carries no guard (nothing to watch or roll back): no source copy of the weights', async () => {
    const counts: number[] = [];
    for (const guard of [undefined, false]) {
      const m = model();
      const before = tf.memory().numTensors;
      const adapter = await createAdapter(m, { strategy: 'source', ...(guard === undefined ? {} : { guard }) });
      counts.push(tf.memory().numTensors - before);
      adapter.dispose();
      m.dispose();
    }
    // The default guard would hold a clone of every weight (the guard's source model).
    expect(counts[0]).toBe(counts[1]);
    // Its options are still checked.
    const m = model();
    await expect(createAdapter(m, { strategy: 'source', guard: { classGate: -1 } })).rejects.toThrow(InvalidOptionError);
    m.dispose();
  });
});
