/**
 * `cotta` on a small real ResNet (tests/helpers/models.ts), CPU backend unless stated.
 * Oracles: the source model run independently (batch-statistics BN via Keras training mode,
 * a different code path from the executor's hooks), hand-derived Adam first steps, and the
 * augmentation pipeline re-run with the strategy's seed.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CottaAugmenter } from '../../src/augment/index.js';
import { initBackend, InvalidOptionError } from '../../src/index.js';
import { createTarget, type LayersTarget } from '../../src/model/target.js';
import { disposeTensors } from '../../src/model/weights.js';
import { hashSeed } from '../../src/random.js';
import { modelVariables } from '../../strategies/baseStrategy.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';
import type { Strategy, StrategyState } from '../../strategies/strategy.js';
import { ModelCopy, trainableParameters } from '../../strategies/teacher.js';
import { expectFailedStepCommitsNothing } from '../helpers/failingStep.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE = [8, 8, 8, 1];
let WEIGHTS: Float32Array[] | null = null;

/** The same small ResNet (same weights) on every call, on the current backend. */
function tinyModel(): tf.LayersModel {
  const m = smallResNet([8, 8, 1], 5);
  if (WEIGHTS === null) {
    randomizeBatchNorms(m, 3);
    WEIGHTS = m.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  } else {
    const ws = m.getWeights().map((w, i) => tf.tensor(WEIGHTS![i]!, w.shape));
    m.setWeights(ws);
    tf.dispose(ws);
  }
  return m;
}

function create(model: tf.LayersModel, options: Record<string, unknown> = {}, seed = 0): Strategy {
  const def = getStrategy('cotta');
  return def.create(createTarget(model) as LayersTarget, resolveOptions(def, options) as never, { seed });
}

function run(s: Strategy, x: tf.Tensor4D): { probs: Float32Array; stats: Record<string, number> } {
  const { probs, stats } = s.step(x);
  const out = probs.dataSync().slice() as Float32Array;
  probs.dispose();
  return { probs: out, stats };
}

const values = (vars: Iterable<tf.Tensor>) => [...vars].map((v) => Array.from(v.dataSync()));

/** The source model's batch-statistics logits through Keras training mode on a throwaway copy (the oracle path). */
function sourceLogitsOracle(copy: ModelCopy, x: tf.Tensor): tf.Tensor2D {
  // The model ends in softmax: log(probs) are logits up to a per-row constant, which softmax ignores.
  return tf.log(copy.model.apply(x, { training: true }) as tf.Tensor2D);
}

/** Teacher state tensors from a snapshot (in the strategy's parameter order). */
function teacherOf(state: StrategyState): number[][] {
  return Object.entries(state.tensors)
    .filter(([k]) => k.startsWith('cotta/teacher/'))
    .map(([, t]) => Array.from(t.dataSync()));
}

describe('cotta', () => {
  const batches: tf.Tensor4D[] = [];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    for (let i = 0; i < 4; i++) {
      // Different contrasts give different anchor confidences.
      batches.push(tf.tidy(() => tf.mul(randomBatch(SHAPE, 10 + i), 0.4 + 0.4 * i) as tf.Tensor4D));
    }
  });
  afterEach(async () => {
    await tf.setBackend('wasm');
  });

  it('first step, augmented: prediction, anchor confidence, loss and Adam update match an independent oracle', () => {
    const model = tinyModel();
    const oracle = ModelCopy.of(model);
    const source = values(trainableParameters(model).values());
    const n = 3;
    const seed = 17;
    const s = create(model, { threshold: 2, augmentations: n, restoreProb: 0 }, seed);
    const x = batches[1]!;
    const { probs, stats } = run(s, x);
    expect(stats.augmented).toBe(1);
    expect(stats.restored).toBe(0);
    // Target: mean teacher (= source at step 1) logits over n views drawn with the strategy's augmentation seed.
    const aug = new CottaAugmenter({}, hashSeed(seed, 1));
    const target = tf.tidy(() => {
      const views = Array.from({ length: n }, () => sourceLogitsOracle(oracle, aug.augment(x)));
      return tf.softmax(tf.div(tf.addN(views), n));
    });
    Array.from(target.dataSync()).forEach((v, i) => expect(probs[i]).toBeCloseTo(v, 5));
    const clean = tf.tidy(() => tf.softmax(sourceLogitsOracle(oracle, x)));
    // The augmentation really changed the prediction, and the anchor confidence is the clean source one.
    expect(Math.max(...Array.from(clean.dataSync(), (v, i) => Math.abs(v - probs[i]!)))).toBeGreaterThan(1e-3);
    expect(stats.anchorConfidence).toBeCloseTo(tf.tidy(() => tf.mean(tf.max(clean, 1))).dataSync()[0]!, 5);
    // Loss and gradient of -sum softmax(target) log softmax(student), student = source.
    const params = [...oracle.parameters.values()];
    const { value, grads } = tf.variableGrads(() => {
      const logits = sourceLogitsOracle(oracle, x);
      return tf.mean(tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
    }, params);
    expect(stats.loss).toBeCloseTo(value.dataSync()[0]!, 5);
    // First bias-corrected Adam step: p -= lr * g / (|g| + 1e-8).
    const after = values(trainableParameters(model).values());
    let checked = 0;
    params.forEach((p, i) => {
      const g = grads[p.name]!.dataSync();
      source[i]!.forEach((v, k) => {
        // The step is +-lr whatever |g|: near g = 0 its sign depends on float summation order (the
        // wasm kernels against the oracle's ops), so only clearly non-zero gradients are compared.
        if (Math.abs(g[k]!) < 1e-4) return;
        expect(Math.abs(after[i]![k]! - (v - (1e-3 * g[k]!) / (Math.abs(g[k]!) + 1e-8)))).toBeLessThan(2e-5);
        checked++;
      });
    });
    expect(checked).toBeGreaterThan(500);
    tf.dispose([target, clean, value]);
    disposeTensors(grads);
    s.dispose();
    oracle.dispose();
  });

  it('first step, confident: the prediction is the clean teacher (batch-statistics source model)', () => {
    const model = tinyModel();
    const oracle = ModelCopy.of(model);
    const s = create(model, { threshold: 0 });
    const x = batches[0]!;
    const { probs, stats } = run(s, x);
    expect(stats.augmented).toBe(0);
    const want = tf.tidy(() => tf.softmax(sourceLogitsOracle(oracle, x)));
    Array.from(want.dataSync()).forEach((v, i) => expect(probs[i]).toBeCloseTo(v, 5));
    want.dispose();
    s.dispose();
    oracle.dispose();
  });

  it('takes the augmentation path exactly when the (frozen) anchor confidence is below the threshold', () => {
    const model = tinyModel();
    const oracle = ModelCopy.of(model);
    const conf = batches.map((x) => tf.tidy(() => tf.mean(tf.max(tf.softmax(sourceLogitsOracle(oracle, x)), 1)).dataSync()[0]!));
    const sorted = [...conf].sort((a, b) => a - b);
    expect(sorted[2]! - sorted[1]!).toBeGreaterThan(1e-4); // the threshold separates them robustly
    const threshold = (sorted[1]! + sorted[2]!) / 2;
    const s = create(model, { threshold, augmentations: 2 });
    let seenBoth = new Set<number>();
    for (let step = 0; step < 8; step++) {
      const i = step % 4;
      const { stats } = run(s, batches[i]!);
      // The anchor never adapts: its confidence is the source model's at every step.
      expect(stats.anchorConfidence).toBeCloseTo(conf[i]!, 5);
      expect(stats.augmented).toBe(conf[i]! < threshold ? 1 : 0);
      seenBoth.add(stats.augmented!);
    }
    expect(seenBoth.size).toBe(2);
    seenBoth = new Set();
    s.dispose();
    oracle.dispose();
  });

  it('restoreProb 1: the student equals the source after every step', () => {
    const model = tinyModel();
    const source = values(trainableParameters(model).values());
    const total = source.reduce((s, v) => s + v.length, 0);
    const s = create(model, { restoreProb: 1, threshold: 0, lr: 0.05 });
    for (let step = 0; step < 3; step++) {
      const { stats } = run(s, batches[step]!);
      expect(stats.restored).toBe(total);
      expect(values(trainableParameters(model).values())).toEqual(source);
    }
    // ... while the teacher moved (EMA of the updated student, before the restore).
    const snap = s.snapshot();
    expect(teacherOf(snap)).not.toEqual(source);
    disposeTensors(snap.tensors);
    s.dispose();
  });

  it('restoreProb 0.01 restores about 1% of the elements, seeded', () => {
    const model = tinyModel();
    const total = [...trainableParameters(model).values()].reduce((s, v) => s + v.size, 0);
    const s = create(model, { threshold: 0 });
    const counts = [0, 1, 2].map((i) => run(s, batches[i]!).stats.restored!);
    for (const c of counts) {
      expect(c).toBeGreaterThan(total * 0.01 - 4 * Math.sqrt(total * 0.01));
      expect(c).toBeLessThan(total * 0.01 + 4 * Math.sqrt(total * 0.01));
    }
    s.dispose();
  });

  it('EMA momentum 1 keeps the teacher fixed; momentum 0 makes it equal the student', () => {
    const model = tinyModel();
    const source = values(trainableParameters(model).values());
    const fixed = create(model, { emaMomentum: 1, threshold: 0, lr: 0.05 });
    for (let step = 0; step < 3; step++) {
      run(fixed, batches[step]!);
      const snap = fixed.snapshot();
      expect(teacherOf(snap)).toEqual(source);
      disposeTensors(snap.tensors);
    }
    expect(values(trainableParameters(model).values())).not.toEqual(source); // the student did move
    fixed.dispose();
    const model2 = tinyModel();
    const follow = create(model2, { emaMomentum: 0, restoreProb: 0, threshold: 0, lr: 0.05 });
    for (let step = 0; step < 3; step++) {
      run(follow, batches[step]!);
      const snap = follow.snapshot();
      expect(teacherOf(snap)).toEqual(values(trainableParameters(model2).values()));
      disposeTensors(snap.tensors);
    }
    follow.dispose();
  });

  it('two runs with the same seed give identical predictions; another seed differs', () => {
    const opts = { threshold: 2, augmentations: 3 };
    const go = (seed: number) => {
      const s = create(tinyModel(), opts, seed);
      const out = batches.map((x) => Array.from(run(s, x).probs));
      s.dispose();
      return out;
    };
    const a = go(5);
    expect(go(5)).toEqual(a);
    expect(go(6)).not.toEqual(a);
  });

  it('reset is exact and snapshot/restore replays the same continuation', () => {
    const model = tinyModel();
    const source = values(modelVariables(model).values());
    const s = create(model, { threshold: 2, augmentations: 2 });
    const first = batches.map((x) => Array.from(run(s, x).probs));
    s.reset();
    expect(values(modelVariables(model).values())).toEqual(source);
    expect(batches.map((x) => Array.from(run(s, x).probs))).toEqual(first);
    const snap = s.snapshot();
    const next = batches.map((x) => Array.from(run(s, x).probs));
    s.restore(snap);
    expect(batches.map((x) => Array.from(run(s, x).probs))).toEqual(next);
    disposeTensors(snap.tensors);
    s.dispose();
    expect(values(modelVariables(model).values())).toEqual(source);
  });

  it('reports the parameter copies it holds', () => {
    const model = tinyModel();
    const all = [...modelVariables(model).values()].reduce((s, v) => s + v.size, 0);
    const trainable = [...trainableParameters(model).values()].reduce((s, v) => s + v.size, 0);
    const s = create(model, { threshold: 0 });
    const { stats } = run(s, batches[0]!);
    // teacher + anchor (whole models), Adam m and v, and the exact-reset copy of the state
    // (student, teacher parameters, Adam moments).
    expect(stats.paramCopyBytes).toBe(4 * (2 * all + 2 * trainable + all + trainable + 2 * trainable));
    s.dispose();
  });

  it('does not leak tensors over many steps (both paths)', () => {
    const s = create(tinyModel(), { threshold: 0.5, augmentations: 2 });
    for (const x of batches) run(s, x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 12; i++) run(s, batches[i % 4]!);
    expect(tf.memory().numTensors).toBe(before);
    s.dispose();
  });

  it('rejects bad options with InvalidOptionError', () => {
    const def = getStrategy('cotta');
    expect(() => resolveOptions(def, { threshold: -1 })).toThrow(InvalidOptionError);
    expect(() => resolveOptions(def, { augmentations: 0 })).toThrow(/augmentations/);
    expect(() => resolveOptions(def, { emaMomentum: 1.5 })).toThrow(/emaMomentum/);
    expect(() => resolveOptions(def, { restoreProb: -0.1 })).toThrow(/restoreProb/);
    expect(() => resolveOptions(def, { lr: 0 })).toThrow(/lr/);
    expect(resolveOptions(def, {})).toEqual({
      lr: 1e-3, beta1: 0.9, emaMomentum: 0.999, restoreProb: 0.01, threshold: 'auto', augmentations: 32, horizontalFlip: true,
    });
  });

  it('matches between the wasm and cpu backends over several steps (augmentation, restore, EMA)', async () => {
    const opts = { threshold: 2, augmentations: 3, lr: 0.01 };
    const data = batches.slice(0, 3).map((b) => b.dataSync().slice());
    const go = async (backend: 'cpu' | 'wasm') => {
      await initBackend({ backend });
      const xs = data.map((d) => tf.tensor4d(d, SHAPE as never));
      const s = create(tinyModel(), opts, 3);
      const out = xs.map((x) => run(s, x));
      s.dispose();
      tf.dispose(xs);
      return out;
    };
    const cpu = await go('cpu');
    const wasm = await go('wasm');
    cpu.forEach((o, i) => {
      expect(wasm[i]!.stats.restored).toBe(o.stats.restored);
      o.probs.forEach((v, k) => expect(Math.abs(wasm[i]!.probs[k]! - v)).toBeLessThan(1e-4));
    });
  });

  it('a step that fails part-way rethrows its error, leaks no tensor and commits nothing (calibration and augmentation draws included)', async () => {
    await tf.setBackend('cpu');
    for (const where of ['forward', 'update'] as const) {
      const model = tinyModel();
      // threshold 'auto' calibrates on the first batches; 2 views so the augmented path runs.
      const s = create(model, { augmentations: 2, restoreProb: 0.5 });
      const x = randomBatch([4, 8, 8, 1], 60);
      run(s, x);
      expectFailedStepCommitsNothing(s, x, where);
      x.dispose();
      s.dispose();
      model.dispose();
    }
  });

  it('restoreProb 0 draws nothing from the restore generator; option bounds are exact', async () => {
    await tf.setBackend('cpu');
    const model = tinyModel();
    const s = create(model, { augmentations: 1, restoreProb: 0 });
    const start = s.snapshot();
    const x = randomBatch([4, 8, 8, 1], 62);
    run(s, x);
    run(s, x);
    const after = s.snapshot();
    expect(after.meta.restoreRng).toBe(start.meta.restoreRng);
    disposeTensors(start.tensors);
    disposeTensors(after.tensors);
    s.dispose();
    // With restoreProb > 0 the generator moves: the check above can fail.
    const moving = create(model, { augmentations: 1, restoreProb: 0.01 });
    const m0 = moving.snapshot();
    run(moving, x);
    const m1 = moving.snapshot();
    expect(m1.meta.restoreRng).not.toBe(m0.meta.restoreRng);
    disposeTensors(m0.tensors);
    disposeTensors(m1.tensors);
    moving.dispose();
    x.dispose();
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ beta1: 1 }, "cotta: option 'beta1' is 1; expected a number in [0, 1)."],
      [{ threshold: NaN }, "cotta: option 'threshold' is null; expected 'auto' (calibrated on the first batches) or a number >= 0 (0 never augments, > 1 always does)."],
      [{ threshold: Infinity }, "cotta: option 'threshold' is null; expected 'auto' (calibrated on the first batches) or a number >= 0 (0 never augments, > 1 always does)."],
      [{ threshold: '0.5' }, `cotta: option 'threshold' is "0.5"; expected 'auto' (calibrated on the first batches) or a number >= 0 (0 never augments, > 1 always does).`],
      [{ augmentations: 0 }, "cotta: option 'augmentations' is 0; expected an integer >= 1."],
    ];
    for (const [options, message] of bad) expect(() => create(model, options), JSON.stringify(options)).toThrow(new InvalidOptionError(message));
    for (const options of [{ beta1: 0 }, { threshold: 0 }, { augmentations: 1 }]) create(model, options).dispose();
    model.dispose();
  });
});
