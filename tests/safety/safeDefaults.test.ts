/**
 * The safe defaults (#15.3), each against hand-computed numbers: BN strategies switch to moving
 * statistics below EMA_BELOW_BATCH frames (`stats: 'auto'`, the user's explicit choice wins), LAME
 * corrects only class-correlated batches, CoTTA's threshold is calibrated online by the authors' rule.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError } from '../../src/index.js';
import { disposeTensors } from '../../src/model/weights.js';
import { EMA_BELOW_BATCH } from '../../strategies/normStats.js';
import { calibratedThreshold, COTTA_CALIBRATION_BATCHES } from '../../strategies/cotta.js';
import { classGateRatio, LAME_PRIOR_MOMENTUM } from '../../strategies/lame.js';
import { createStrategy, expectClose, stepFrames, tinyBatchMoments, tinyNet, tinyOracle } from '../strategies/normTinyNet.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const SOURCE = { mean: [0.5, 1.5], variance: [0.25, 1] }; // the tiny net's moving statistics

function frames(n: number, seed: number): number[][] {
  return Array.from({ length: n }, (_, i) => [Math.sin(seed + 1.3 * i) * 2, Math.cos(seed * 0.7 + i) + 1]);
}

describe("stats: 'auto' (the default of bn-adapt, alpha-bn, tent, roid)", () => {
  it(`is 'ema' below ${EMA_BELOW_BATCH} frames and 'batch' from ${EMA_BELOW_BATCH} up; batch steps leave the moving statistics alone`, () => {
    expect(EMA_BELOW_BATCH).toBe(16);
    const m = 0.1;
    const { s } = createStrategy('bn-adapt', tinyNet(), { statsMomentum: m });
    expect(s.getConfig()).toMatchObject({ stats: 'auto' });
    // Two frames: moving statistics, w = 1 - 0.9^2 = 0.19, mixing in the batch (law of total variance).
    const small = frames(2, 1);
    const b = tinyBatchMoments(small);
    const w = 1 - (1 - m) ** 2;
    const ema = {
      mean: SOURCE.mean.map((mu, c) => mu + w * (b.mean[c]! - mu)),
      variance: SOURCE.variance.map((v, c) => (1 - w) * v + w * b.variance[c]! + w * (1 - w) * (b.mean[c]! - SOURCE.mean[c]!) ** 2),
    };
    expectClose(stepFrames(s, small).probs, tinyOracle(small, ema).probs.flat(), 3e-6);
    // Sixteen frames: the batch's own statistics, the moving ones untouched.
    const big = frames(16, 2);
    expectClose(stepFrames(s, big).probs, tinyOracle(big, tinyBatchMoments(big)).probs.flat(), 3e-6);
    const snap = s.snapshot();
    expectClose(Array.from(snap.tensors['normStats/tiny_bn/mean']!.dataSync()), ema.mean, 1e-6);
    expectClose(Array.from(snap.tensors['normStats/tiny_bn/variance']!.dataSync()), ema.variance, 1e-6);
    disposeTensors(snap.tensors);
    s.dispose();
  });

  it("an explicit 'batch' or 'ema' wins at every batch size", () => {
    const small = frames(2, 3);
    const { s: batch } = createStrategy('bn-adapt', tinyNet(), { stats: 'batch' });
    expectClose(stepFrames(batch, small).probs, tinyOracle(small, tinyBatchMoments(small)).probs.flat(), 3e-6);
    batch.dispose();
    const big = frames(16, 4);
    const { s: ema } = createStrategy('bn-adapt', tinyNet(), { stats: 'ema', statsMomentum: 0.1 });
    // 16 frames on the moving statistics: w = 1 - 0.9^16 of the batch, the rest the source's.
    const b = tinyBatchMoments(big);
    const w = 1 - 0.9 ** 16;
    const used = {
      mean: SOURCE.mean.map((mu, c) => mu + w * (b.mean[c]! - mu)),
      variance: SOURCE.variance.map((v, c) => (1 - w) * v + w * b.variance[c]! + w * (1 - w) * (b.mean[c]! - SOURCE.mean[c]!) ** 2),
    };
    expectClose(stepFrames(ema, big).probs, tinyOracle(big, used).probs.flat(), 3e-6);
    ema.dispose();
  });
});

describe("CoTTA threshold: 'auto'", () => {
  it('the rule from the two lowest confidences equals the numpy quantile (hand-computed)', () => {
    // 16 values: position 0.05 * 15 = 0.75 between the two lowest, 0.6 and 0.8: 0.75; minus 0.05.
    expect(calibratedThreshold(16, 0.6, 0.8)).toBeCloseTo(0.6 + 0.75 * 0.2 - 0.05, 12);
    expect(calibratedThreshold(1, 0.9, 1)).toBeCloseTo(0.85, 12);
    expect(calibratedThreshold(3, 0.7, 0.9)).toBeCloseTo(0.7 + 0.1 * 0.2 - 0.05, 12);
    expect(COTTA_CALIBRATION_BATCHES).toBe(16);
  });

  it('calibrates on the first 16 batches (the threshold statistic follows the rule), then stays fixed; snapshot keeps it', async () => {
    const model = smallResNet([8, 8, 1], 4);
    randomizeBatchNorms(model, 3);
    const adapter = await createAdapter(model, { strategy: 'cotta', augmentations: 2, guard: false, seed: 1 });
    expect((await adapter.getConfig()).threshold).toBe('auto');
    const seen: number[] = [];
    let fixed = NaN;
    for (let i = 0; i < COTTA_CALIBRATION_BATCHES + 4; i++) {
      const x = randomBatch([4, 8, 8, 1], 50 + i);
      const out = await adapter.step({ data: x.dataSync() as Float32Array, shape: [4, 8, 8, 1] });
      x.dispose();
      if (i < COTTA_CALIBRATION_BATCHES) {
        seen.push(out.stats.anchorConfidence!);
        const sorted = [...seen].sort((a, b) => a - b);
        const expected = calibratedThreshold(seen.length, sorted[0]!, sorted[1] ?? 1);
        expect(out.stats.threshold).toBeCloseTo(expected, 6);
        expect(out.stats.augmented).toBe(out.stats.anchorConfidence! < expected ? 1 : 0);
        fixed = expected;
      } else {
        expect(out.stats.threshold).toBeCloseTo(fixed, 6);
      }
    }
    const snap = await adapter.snapshot();
    await adapter.reset();
    await adapter.restore(snap);
    const x = randomBatch([4, 8, 8, 1], 99);
    const out = await adapter.step({ data: x.dataSync() as Float32Array, shape: [4, 8, 8, 1] });
    x.dispose();
    expect(out.stats.threshold).toBeCloseTo(fixed, 6);
    adapter.dispose();
    model.dispose();
  });
});

describe('LAME classGate', () => {
  it('the ratio of effective classes, batch against the stream prior (hand-computed)', () => {
    expect(LAME_PRIOR_MOMENTUM).toBe(0.3);
    // First batch: no prior yet, ratio 1, the prior becomes the batch mean (0.5, 0.5).
    const first = classGateRatio([0.5, 0.5, 0.5, 0.5], 2, 2, [0, 0], 0.3);
    expect(first.ratio).toBe(1);
    expect(Array.from(first.prior)).toEqual([0.5, 0.5]);
    // Batch mean (0.9, 0.1): exp(H) = exp(-(0.9 ln 0.9 + 0.1 ln 0.1)) = 1.384145; the prior's is 2.
    const second = classGateRatio([0.9, 0.1, 0.9, 0.1], 2, 2, first.prior, 0.3);
    expect(second.ratio).toBeCloseTo(Math.exp(-(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1))) / 2, 6);
    expect(second.ratio).toBeCloseTo(0.692072, 5);
    expect(second.prior[0]).toBeCloseTo(0.7 * 0.5 + 0.3 * 0.9, 6);
    expect(second.prior[1]).toBeCloseTo(0.7 * 0.5 + 0.3 * 0.1, 6);
  });

  it('returns the source prediction unless the batch is more class-concentrated than the stream, then corrects it as LAME', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 8);
    const a = randomBatch([16, 12, 12, 1], 41);
    const b = randomBatch([16, 12, 12, 1], 42);
    const source = (x: tf.Tensor4D) => tf.tidy(() => (model.predict(x) as tf.Tensor2D).dataSync() as Float32Array);
    const pa = source(a);
    const pb = source(b);
    const { ratio } = classGateRatio(pb, 16, 5, classGateRatio(pa, 16, 5, new Float32Array(5), 0.3).prior, 0.3);
    const corrector = await createAdapter(model, { strategy: 'lame', classGate: 0, maxChanged: 1, guard: false });
    await corrector.step(a);
    const lameB = (await corrector.step(b)).probs;
    corrector.dispose();
    for (const [gate, corrected] of [[ratio + 1e-3, true], [ratio - 1e-3, false]] as const) {
      const adapter = await createAdapter(model, { strategy: 'lame', classGate: gate, maxChanged: 1, guard: false });
      const first = await adapter.step(a);
      expect(first.stats).toMatchObject({ corrected: 0, gateRatio: 1 }); // the first batch has no stream to compare with
      expectClose(Array.from(first.probs), Array.from(pa), 1e-6);
      const second = await adapter.step(b);
      expect(second.stats.gateRatio).toBeCloseTo(ratio, 5);
      expect(second.stats.corrected).toBe(corrected ? 1 : 0);
      expectClose(Array.from(second.probs), Array.from(corrected ? lameB : pb), 1e-6);
      adapter.dispose();
    }
    tf.dispose([a, b]);
    model.dispose();
  });
});

describe('LAME maxChanged', () => {
  it('a correction that changes more than maxChanged of the labels returns the source prediction; one within it is kept exactly', async () => {
    const model = smallResNet([12, 12, 1], 5);
    // Seeded weights, and frames at contrasts from -3 to 3, so that the source model predicts two classes and LAME changes 9 of 16 labels.
    model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 2500 + i))));
    randomizeBatchNorms(model, 8);
    const x = tf.tidy(() => tf.mul(randomBatch([16, 12, 12, 1], 45), tf.reshape(tf.linspace(-3, 3, 16), [16, 1, 1, 1]))) as tf.Tensor4D;
    const source = tf.tidy(() => (model.predict(x) as tf.Tensor2D).dataSync() as Float32Array);
    const argmax = (p: Float32Array, i: number) => Array.from(p.subarray(i * 5, i * 5 + 5)).indexOf(Math.max(...p.subarray(i * 5, i * 5 + 5)));
    const reference = await createAdapter(model, { strategy: 'lame', classGate: 0, maxChanged: 1, guard: false });
    const lame = (await reference.step(x)).probs;
    reference.dispose();
    let changed = 0;
    for (let i = 0; i < 16; i++) changed += +(argmax(lame, i) !== argmax(source, i));
    expect(changed).toBeGreaterThan(1);
    for (const [maxChanged, kept] of [[changed / 16, true], [(changed - 1) / 16, false]] as const) {
      const adapter = await createAdapter(model, { strategy: 'lame', classGate: 0, maxChanged, guard: false });
      const out = await adapter.step(x);
      expect(out.stats).toMatchObject(kept ? { corrected: 1, rejected: 0, changed } : { corrected: 0, rejected: 1, changed: 0 });
      expectClose(Array.from(out.probs), Array.from(kept ? lame : source), 1e-6);
      adapter.dispose();
    }
    for (const maxChanged of [-0.1, 1.5, Number.NaN, '0.5']) {
      await expect(createAdapter(model, { strategy: 'lame', maxChanged } as never)).rejects.toBeInstanceOf(InvalidOptionError);
    }
    x.dispose();
    model.dispose();
  });
});

describe('CoTTA and ViDA below 16 frames (minBatch)', () => {
  it('with the guard, a smaller batch gets the source prediction and no update; 16 frames adapt; guard off runs the step', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 9);
    const small = randomBatch([4, 12, 12, 1], 51);
    const full = randomBatch([EMA_BELOW_BATCH, 12, 12, 1], 52);
    const source = tf.tidy(() => (model.predict(small) as tf.Tensor2D).dataSync() as Float32Array);
    for (const strategy of ['cotta', 'vida'] as const) {
      const guarded = await createAdapter(model, { strategy, seed: 1, guard: { classGate: 0, mixtureGate: 0 } });
      const first = await guarded.step(small);
      expect(first.update).toMatchObject({ mode: 'source', reason: 'small-batch', stepsRun: 0, stepsSkipped: 1 });
      expectClose(Array.from(first.probs), Array.from(source), 1e-5);
      expect((await guarded.step(full)).update).toMatchObject({ mode: 'adapt', stepsRun: 1 });
      guarded.dispose();
      const plain = await createAdapter(model, { strategy, seed: 1, guard: false });
      const step = await plain.step(small);
      expect(step.update.mode).toBe('adapt');
      // Its own batch statistics of 4 frames: not the source prediction.
      expect(Math.max(...Array.from(step.probs, (v, i) => Math.abs(v - source[i]!)))).toBeGreaterThan(1e-3);
      plain.dispose();
    }
    tf.dispose([small, full]);
    model.dispose();
  });
});
