/**
 * The guard's class-correlation detector (`guard.classGate`, `correlationEnter`, `correlationExit`):
 * - the pooling into chunks of 64 frames, the rate and the state transitions against the formula
 *   computed here by hand;
 * - on real Fashion-MNIST test images and the shipped model, an adapter with the default guard
 *   answers with the source model's prediction (reason 'class-correlated') exactly while a
 *   second computation of the detector (float64, from a source adapter's probabilities and
 *   LAME's gate statistic) says the stream is correlated, and is plain bn-adapt otherwise: an
 *   i.i.d. stream leaves the correlated start after the prior wears off, a one-class-at-a-time
 *   stream never does; LAME (`streams: 'class-correlated'`) the other way round.
 */
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, GUARD_DEFAULTS, initBackend, type Adapter } from '../../src/index.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { classGateRatio, LAME_PRIOR_MOMENTUM } from '../../strategies/lame.js';
import { ClassCorrelation } from '../../src/safety/classCorrelation.js';
import { STREAM_CHUNK, STREAM_RATE_MOMENTUM, STREAM_RATE_PRIOR } from '../../src/safety/streamRate.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';
import { mulberry32 } from '../../src/random.js';

const B = 32;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** A second computation of the detector: float64, written from the documented rule. */
class Oracle {
  rate = 0.5;
  correlated = true;
  t = 0;
  prior: Float32Array = new Float32Array(10);
  pooled: number[] = [];
  constructor(private readonly gate = 0.8, private readonly enter = 0.3, private readonly exit = 0.25) {}
  observe(probs: ArrayLike<number>, n: number): boolean {
    // Batches pooled into chunks of at least 64 frames.
    this.pooled.push(...Array.from(probs));
    if (this.pooled.length < 64 * 10) return this.correlated;
    const g = classGateRatio(this.pooled, this.pooled.length / 10, 10, this.prior, LAME_PRIOR_MOMENTUM);
    this.pooled = [];
    this.prior = g.prior;
    this.t++;
    const m = Math.max(1 / 64, 1 / (8 + this.t));
    this.rate = (1 - m) * this.rate + m * (!g.first && g.ratio < this.gate ? 1 : 0);
    if (!this.correlated && this.rate >= this.enter) this.correlated = true;
    else if (this.correlated && this.rate < this.exit) this.correlated = false;
    return this.correlated;
  }
}

describe('ClassCorrelation', () => {
  it('keeps the rate of concentrated batches as the hand-computed running mean, then a 64-batch memory', () => {
    expect(STREAM_RATE_PRIOR).toEqual({ rate: 0.5, chunks: 8 });
    expect(STREAM_RATE_MOMENTUM).toBe(1 / 64);
    expect(STREAM_CHUNK).toBe(64);
    const c = new ClassCorrelation({ classGate: 0.8, correlationEnter: 0.3, correlationExit: 0.15 }, 2);
    const rows = (n: number, p: [number, number]) => Array.from({ length: n }, () => p).flat();
    const uniform = rows(64, [0.5, 0.5]);
    const oneClass = (i: number) => rows(64, i % 2 === 0 ? [1, 0] : [0, 1]);
    // Smaller batches pool until 64 frames: nothing is observed before.
    expect(c.observe(rows(40, [1, 0]), 40)).toBe(true);
    expect(c.rate).toBe(0.5);
    // Chunk 1 (40 + 24 frames) has no prior to compare with: not concentrated. rate = (8 * 0.5 + 0) / 9.
    expect(c.observe(rows(24, [0, 1]), 24)).toBe(true);
    expect(c.rate).toBeCloseTo(4 / 9, 12);
    // Uniform batches against a uniform prior: ratio 1, not concentrated; the running mean is 4 / (8 + t).
    for (let t = 2; t <= 18; t++) {
      c.observe(uniform, 64);
      expect(c.rate).toBeCloseTo(4 / (8 + t), 12);
      expect(c.correlated).toBe(true); // 4 / 26 = 0.1538 >= 0.15 at t = 18
    }
    expect(c.observe(uniform, 64)).toBe(false); // 4 / 27 = 0.148 < 0.15: i.i.d.
    // One-class batches, the class alternating: exp(H) 1 against the prior's spread (a moving mean of
    // both classes, momentum 0.3): concentrated.
    let rate = c.rate;
    let t = 19;
    const entered: number[] = [];
    for (let i = 0; i < 40; i++) {
      t++;
      const m = Math.max(1 / 64, 1 / (8 + t));
      rate = (1 - m) * rate + m;
      if (c.observe(oneClass(i), 64)) entered.push(t);
      expect(c.rate).toBeCloseTo(rate, 12);
    }
    // Turns correlated at the first batch whose rate reaches 0.3, and stays.
    const first = entered[0]!;
    expect(entered).toEqual(Array.from({ length: 40 - (first - 20) }, (_, i) => first + i));
    // 1 + 17 + 1 uniform chunks, then 40 concentrated ones.
    expect([c.chunks, c.concentratedChunks]).toEqual([59, 40]);
    c.clear();
    expect([c.rate, c.correlated, c.chunks, c.concentratedChunks]).toEqual([0.5, true, 0, 0]);
  });

  it('rejects an exit above the enter threshold, and thresholds outside [0, 1]', async () => {
    expect([GUARD_DEFAULTS.classGate, GUARD_DEFAULTS.correlationEnter, GUARD_DEFAULTS.correlationExit]).toEqual([0.8, 0.3, 0.25]);
    for (const guard of [{ classGate: 1.5 }, { correlationExit: 0.4 }, { correlationEnter: -0.1 }]) {
      const a = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard }).catch((e: unknown) => e);
      expect((a as Error).name).toBe('InvalidOptionError');
    }
  });
});

describe('guard: class-correlated streams', () => {
  const test = loadFashionMnist('test');
  const rand = mulberry32(3);
  const byClass = Array.from({ length: 10 }, (_, c) => Array.from({ length: test.n }, (_, i) => i).filter((i) => test.labels[i] === c));
  const iid = () => Array.from({ length: B }, () => Math.floor(rand() * test.n));

  /**
   * Runs `strategy` with the default guard and without, and a source adapter, over `batches`;
   * checks every answer against the oracle's decision. bn-adapt answers with the source model
   * on correlated streams, LAME on i.i.d. ones (reason 'iid-stream').
   */
  async function run(batches: number[][], strategy: 'bn-adapt' | 'lame' = 'bn-adapt'): Promise<string[]> {
    // Clean images: the unshifted-stream rule (guard.minShift) is off to isolate this detector.
    const guarded: Adapter = await createAdapter(await loadSourceModel(), { strategy, guard: { minShift: 0 } });
    const plain: Adapter = await createAdapter(await loadSourceModel(), { strategy, guard: false });
    const source: Adapter = await createAdapter(await loadSourceModel(), { strategy: 'source', guard: false });
    const oracle = new Oracle();
    const modes: string[] = [];
    try {
      for (const idx of batches) {
        const batch = { data: toFloat32(test, idx), shape: [B, 28, 28, 1] as [number, number, number, number] };
        const src = await source.step(batch);
        const correlated = oracle.observe(src.probs, B);
        const [g, p] = [await guarded.step(batch), await plain.step(batch)];
        const bySource = strategy === 'lame' ? !correlated : correlated;
        if (bySource) {
          expect(g.update).toMatchObject({ mode: 'source', reason: correlated ? 'class-correlated' : 'iid-stream' });
          // The guard's own copy of the source model (BN folded or not: float rounding apart).
          expect(Math.max(...Array.from(g.probs, (v, i) => Math.abs(v - src.probs[i]!)))).toBeLessThan(1e-5);
        } else {
          expect(g.update.mode).toBe('adapt');
          // bn-adapt keeps no state between batches: an adapted batch is plain bn-adapt's answer.
          // LAME's only state is its gate's prior, the same while every batch has reached it; guarded,
          // it corrects the guard's source pass (BN not folded, for the hooks): float rounding apart.
          if (strategy === 'lame') {
            expect(Math.max(...Array.from(g.probs, (v, i) => Math.abs(v - p.probs[i]!)))).toBeLessThan(1e-5);
            expect(Array.from(g.labels)).toEqual(Array.from(p.labels));
          } else {
            expect(Array.from(g.probs)).toEqual(Array.from(p.probs));
          }
        }
        modes.push(g.update.mode);
      }
    } finally {
      guarded.dispose();
      plain.dispose();
      source.dispose();
    }
    return modes;
  }

  it('an i.i.d. stream starts on the source answer and turns to adaptation', async () => {
    // Chunks of two batches of 32. With no concentrated chunk the running mean 4 / (8 + t) falls
    // under 0.25 at chunk t = 9 (batch 18); a concentrated chunk or two delays that.
    const modes = await run(Array.from({ length: 80 }, iid));
    expect(modes[0]).toBe('source');
    expect(modes.slice(-5)).toEqual(Array(5).fill('adapt'));
  });

  it('a stream of one class at a time stays on the source answer', async () => {
    const modes = await run(Array.from({ length: 30 }, (_, k) => byClass[k % 10]!.slice(Math.floor(k / 10) * B, (Math.floor(k / 10) + 1) * B)));
    expect(modes).toEqual(Array(30).fill('source'));
  });

  it('LAME corrects on a correlated stream, and answers an i.i.d. one with the source model once the detector knows', async () => {
    const iidModes = await run(Array.from({ length: 80 }, iid), 'lame');
    expect(iidModes[0]).toBe('adapt');
    expect(iidModes.slice(-5)).toEqual(Array(5).fill('source'));
    const sortedModes = await run(Array.from({ length: 30 }, (_, k) => byClass[(k + 3) % 10]!.slice(Math.floor(k / 10) * B + 200, (Math.floor(k / 10) + 1) * B + 200)), 'lame');
    expect(sortedModes).toEqual(Array(30).fill('adapt'));
  });

  it('predict answers as step does: the source model during the startup (sourceAnswer), the strategy once the stream is known to be i.i.d.', async () => {
    const guarded = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: { minShift: 0 } });
    const source = await createAdapter(await loadSourceModel(), { strategy: 'source' });
    const plain = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: false });
    const batchOf = (idx: number[]) => ({ data: toFloat32(test, idx), shape: [idx.length, 28, 28, 1] as [number, number, number, number] });
    try {
      const first = batchOf(iid());
      // The startup: the detector takes the stream as class-correlated; a step would answer with the source model.
      const p = await guarded.predict(first);
      expect(p.sourceAnswer).toBe('class-correlated');
      // The source model (the guard's copy: the same weights, another execution path than `source`'s).
      const src = (await source.predict(first)).probs;
      expect(Math.max(...Array.from(p.probs, (v, i) => Math.abs(v - src[i]!)))).toBeLessThan(1e-5);
      const s = await guarded.step(first);
      expect(s.update).toMatchObject({ mode: 'source', reason: 'class-correlated' });
      // Up to float rounding: the step's source pass runs with the detectors' hooks (BN not folded).
      expect(Math.max(...Array.from(s.probs, (v, i) => Math.abs(v - p.probs[i]!)))).toBeLessThan(1e-5);
      expect(Array.from(s.labels)).toEqual(Array.from(p.labels));
      // bn-adapt's own prediction of that batch differs: the answer withheld is a different one.
      const own = await plain.predict(first);
      expect(Math.max(...Array.from(own.probs, (v, i) => Math.abs(v - p.probs[i]!)))).toBeGreaterThan(1e-3);
      // An i.i.d. stream: once the detector has left its startup, predict is bn-adapt's prediction.
      for (let i = 0; i < 40 && (await guarded.predict(first)).sourceAnswer !== undefined; i++) await guarded.step(batchOf(iid()));
      const later = batchOf(iid());
      const q = await guarded.predict(later);
      expect(q.sourceAnswer).toBeUndefined();
      expect(Array.from(q.probs)).toEqual(Array.from((await plain.predict(later)).probs));
      expect((await guarded.step(later)).update.mode).toBe('adapt');
    } finally {
      guarded.dispose();
      source.dispose();
      plain.dispose();
    }
  });

  it('a batch under 16 frames follows the state the larger ones set once it rests on evidence; a stream of small batches is not gated', async () => {
    const small = (idx: number[]) => ({ data: toFloat32(test, idx), shape: [idx.length, 28, 28, 1] as [number, number, number, number] });
    const mixedSizes = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: { minShift: 0 } });
    const smallOnly = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: { minShift: 0 } });
    try {
      // Before any observation the detector has nothing to say: a batch of 8 is adapted.
      expect((await mixedSizes.step(small(iid().slice(0, 8)))).update.mode).toBe('adapt');
      // One large batch: the detector's state is still its prior's (correlated), not evidence, so a
      // small batch does not follow it (a stream of mostly small batches would never adapt).
      expect((await mixedSizes.step(small(byClass[2]!.slice(0, B)))).update).toMatchObject({ mode: 'source', reason: 'class-correlated' });
      expect((await mixedSizes.step(small(byClass[2]!.slice(B, B + 8)))).update.mode).toBe('adapt');
      // Eight chunks of one class at a time (16 batches of 32, the class changing every batch): the
      // stream is correlated on evidence, and a small batch now gets the source answer too.
      for (let i = 0; i < 16; i++) await mixedSizes.step(small(byClass[(i + 3) % 10]!.slice(100, 100 + B)));
      expect((await mixedSizes.step(small(byClass[2]!.slice(B + 8, B + 16)))).update).toMatchObject({ mode: 'source', reason: 'class-correlated' });
      for (let i = 0; i < 5; i++) expect((await smallOnly.step(small(byClass[4]!.slice(8 * i, 8 * i + 8)))).update.mode).toBe('adapt');
    } finally {
      mixedSizes.dispose();
      smallOnly.dispose();
    }
  });
});
