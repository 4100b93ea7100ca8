/**
 * ViDA on a small ResNet, on the cpu and wasm backends: HKA (hand values, both modes), the
 * uncertainty against a plain-TS oracle (unbiased variance of 10 augmented teacher passes),
 * the first step's prediction equal to bn-adapt's (fresh adapters are exact no-ops), EMA and
 * restore semantics at their extremes, adapters-only leaves the backbone bit-identical,
 * seeded runs identical, snapshot/reset exact, warmed-up weights load, no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CottaAugmenter } from '../../src/augment/index.js';
import { createAdapter, initBackend, InvalidOptionError } from '../../src/index.js';
import { batchStatisticsHook } from '../../src/model/batchNorm.js';
import type { LayerHook } from '../../src/model/executor.js';
import { createTarget, type LayersTarget } from '../../src/model/target.js';
import { disposeTensors } from '../../src/model/weights.js';
import { hashSeed } from '../../src/random.js';
import { modelVariables } from '../../strategies/baseStrategy.js';
import { resolveOptions } from '../../strategies/registry.js';
import type { Strategy } from '../../strategies/strategy.js';
import { hkaScales, vidaStrategy, type VidaOptions } from '../../strategies/vida.js';
import { injectVidaAdapters } from '../../strategies/vidaAdapters.js';
import { expectFailedStepCommitsNothing } from '../helpers/failingStep.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

function make(options: VidaOptions = {}, seed = 0, model = buildModel()): { strategy: Strategy; target: LayersTarget; model: tf.LayersModel } {
  const target = createTarget(model) as LayersTarget;
  const config = resolveOptions(vidaStrategy as never, options as Record<string, unknown>) as Required<VidaOptions>;
  return { strategy: vidaStrategy.create(target, config, { seed }), target, model };
}

/** The test net with fixed weights (smallResNet's initialisers are unseeded): seeded uniform kernels, randomised BN. */
function buildModel(): tf.LayersModel {
  const model = smallResNet();
  let s = 100;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D' && layer.getClassName() !== 'Dense') continue;
    layer.setWeights(layer.getWeights().map((w) => tf.tidy(() => tf.randomUniform(w.shape, -0.4, 0.4, 'float32', s++))));
  }
  randomizeBatchNorms(model);
  return model;
}

const values = (vars: tf.Variable[] | tf.LayerVariable[]) => vars.map((v) => Array.from(('read' in v ? v.read() : v).dataSync()));

describe('hkaScales (hand values)', () => {
  it("'paper' moves both scales in opposite directions around the threshold", () => {
    expect(hkaScales(0.08, 0.05, 'paper')).toEqual({ low: 1 - 0.08, high: 1 + 0.08 });
    expect(hkaScales(0.05, 0.05, 'paper')).toEqual({ low: 0.95, high: 1.05 }); // >= threshold
    expect(hkaScales(0.02, 0.05, 'paper')).toEqual({ low: 1.02, high: 0.98 });
  });
  it("'official' changes only s_low (the reference's if/elif)", () => {
    expect(hkaScales(0.08, 0.05, 'official')).toEqual({ low: 1 - 0.08, high: 1 });
    expect(hkaScales(0.02, 0.05, 'official')).toEqual({ low: 1.02, high: 1 });
  });
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`vida on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend({ backend });
    });
    afterAll(() => tf.disposeVariables());
    const x = () => randomBatch([8, 12, 12, 1], 17);

    it('uncertainty equals a plain-TS oracle; fresh adapters make step 1 predict exactly as bn-adapt', () => {
      const { strategy, target, model } = make({ augmentations: 10 }, 5);
      const batch = x();
      // Oracle: the same 10 augmentation draws, a batch-statistics BN model, float64 variance.
      const aug = new CottaAugmenter({ horizontalFlip: true }, hashSeed(5, 2));
      const hooks = new Map<string, LayerHook>(target.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
      const passes = Array.from({ length: 10 }, () => tf.tidy(() => Array.from(target.executor.logits(aug.augment(batch), { hooks }).dataSync())));
      const m = passes[0]!.length;
      let sum = 0;
      for (let j = 0; j < m; j++) {
        const col = passes.map((p) => p[j]!);
        const mean = col.reduce((a, b) => a + b, 0) / 10;
        sum += col.reduce((a, b) => a + (b - mean) ** 2, 0) / 9;
      }
      const expected = (0.1 * sum) / m;
      const bnAdapt = tf.tidy(() => Array.from(tf.softmax(target.executor.logits(batch, { hooks })).dataSync()));
      const { probs, stats } = strategy.step(batch);
      expect(stats.uncertainty).toBeGreaterThan(0);
      expect(Math.abs(stats.uncertainty! - expected)).toBeLessThan(1e-5 * Math.max(1, expected));
      expect(Array.from(probs.dataSync())).toEqual(bnAdapt);
      probs.dispose();
      batch.dispose();
      strategy.dispose();
      model.dispose();
    });

    // The cpu backend is ~50x slower here: it runs the oracle comparisons only.
    const wasmIt = backend === 'wasm' ? it : it.skip;

    wasmIt('HKA in a step: above the threshold s_high = 1+U, s_low = 1-U; below, the opposite; official moves s_low only', () => {
      const batch = x();
      const run = (options: VidaOptions) => {
        const { strategy, model } = make({ augmentations: 3, ...options }, 1);
        const { probs, stats } = strategy.step(batch);
        probs.dispose();
        strategy.dispose();
        model.dispose();
        return stats;
      };
      const above = run({ uncertaintyThreshold: 0 });
      expect(above.scaleHigh).toBeCloseTo(1 + above.uncertainty!, 12);
      expect(above.scaleLow).toBeCloseTo(1 - above.uncertainty!, 12);
      const below = run({ uncertaintyThreshold: 1e9 });
      expect(below.scaleHigh).toBeCloseTo(1 - below.uncertainty!, 12);
      expect(below.scaleLow).toBeCloseTo(1 + below.uncertainty!, 12);
      const official = run({ uncertaintyThreshold: 0, hka: 'official' });
      expect(official.scaleLow).toBeCloseTo(1 - official.uncertainty!, 12);
      expect(official.scaleHigh).toBe(1);
      batch.dispose();
    });

    wasmIt('adaptersOnly leaves every backbone weight (trainable or not) bit-identical and trains the adapters', () => {
      const { strategy, model } = make({ adaptersOnly: true, augmentations: 2, adapterLr: 1e-2, restoreProb: 0 }, 2);
      const before = values(model.weights);
      const snap0 = strategy.snapshot();
      const batch = x();
      for (let i = 0; i < 3; i++) strategy.step(batch).probs.dispose();
      expect(values(model.weights)).toEqual(before);
      const snap1 = strategy.snapshot();
      const ups = Object.keys(snap1.tensors).filter((k) => k.startsWith('vida/student/') && k.endsWith('/upHigh'));
      expect(ups.length).toBe(6);
      const changed = ups.filter((k) => tf.tidy(() => tf.any(tf.notEqual(snap1.tensors[k]!, snap0.tensors[k]!)).dataSync()[0] === 1));
      expect(changed.length).toBe(ups.length);
      disposeTensors(snap0.tensors);
      disposeTensors(snap1.tensors);
      batch.dispose();
      strategy.dispose();
      model.dispose();
    });

    wasmIt('full mode trains the backbone; emaMomentum 0 makes the teacher equal the student; restoreProb 1 restores everything', () => {
      const batch = x();
      {
        const { strategy, model } = make({ augmentations: 2, emaMomentum: 0, adapterEmaMomentum: 0, restoreProb: 0 }, 3);
        const before = values(model.trainableWeights);
        strategy.step(batch).probs.dispose();
        const after = values(model.trainableWeights);
        expect(after).not.toEqual(before);
        const snap = strategy.snapshot();
        const names = [...modelVariables(model).keys()];
        const teacher = names.map((name) => Array.from(snap.tensors[`vida/teacher/model/${name}`]!.dataSync()));
        // Trainable weights: teacher = student exactly; moving statistics untouched in both.
        expect(teacher).toEqual(values(model.weights));
        for (const name of Object.keys(snap.tensors).filter((k) => k.startsWith('vida/student/'))) {
          expect(Array.from(snap.tensors[name.replace('vida/student/', 'vida/teacher/')]!.dataSync())).toEqual(Array.from(snap.tensors[name]!.dataSync()));
        }
        disposeTensors(snap.tensors);
        strategy.dispose();
        model.dispose();
      }
      {
        const { strategy, model } = make({ augmentations: 2, restoreProb: 1 }, 3);
        const before = values(model.weights);
        const s0 = strategy.snapshot();
        strategy.step(batch).probs.dispose();
        expect(values(model.weights)).toEqual(before);
        const s1 = strategy.snapshot();
        for (const k of Object.keys(s0.tensors).filter((k) => k.startsWith('vida/student/'))) {
          expect(Array.from(s1.tensors[k]!.dataSync())).toEqual(Array.from(s0.tensors[k]!.dataSync()));
        }
        disposeTensors(s0.tensors);
        disposeTensors(s1.tensors);
        strategy.dispose();
        model.dispose();
      }
      batch.dispose();
    });

    wasmIt('seeded runs are identical, different seeds differ; snapshot/restore and reset are exact', () => {
      const batch = x();
      const run = (seed: number, steps = 3) => {
        const { strategy, model } = make({ augmentations: 3, lr: 1e-2, adapterLr: 1e-2 }, seed);
        const out: number[][] = [];
        for (let i = 0; i < steps; i++) {
          const r = strategy.step(batch);
          out.push(Array.from(r.probs.dataSync()), [r.stats.uncertainty!]);
          r.probs.dispose();
        }
        return { out, strategy, model };
      };
      const a = run(7);
      const b = run(7);
      const c = run(8);
      expect(b.out).toEqual(a.out);
      expect(c.out).not.toEqual(a.out);
      // Snapshot after 3 steps, take 2 more, restore, retake: same outputs.
      const snap = a.strategy.snapshot();
      const next = () => {
        const r = a.strategy.step(batch);
        const v = [Array.from(r.probs.dataSync()), [r.stats.uncertainty!]];
        r.probs.dispose();
        return v;
      };
      const first = [next(), next()];
      a.strategy.restore(snap);
      expect([next(), next()]).toEqual(first);
      disposeTensors(snap.tensors);
      // Reset: back to the start, replays the first run.
      a.strategy.reset();
      const replay: number[][] = [];
      for (let i = 0; i < 3; i++) {
        const r = a.strategy.step(batch);
        replay.push(Array.from(r.probs.dataSync()), [r.stats.uncertainty!]);
        r.probs.dispose();
      }
      expect(replay).toEqual(b.out);
      for (const r of [a, b, c]) {
        r.strategy.dispose();
        r.model.dispose();
      }
      batch.dispose();
    });

    wasmIt('loads warmed-up adapter weights (the restore target), rejects mismatched ones and bad options', () => {
      const model = buildModel();
      const target = createTarget(model) as LayersTarget;
      const warm = injectVidaAdapters(target.info, { highRank: 4, seed: 9 });
      for (const v of warm.variables().values()) v.assign(tf.tidy(() => tf.randomUniform(v.shape, -0.1, 0.1, 'float32', 4)));
      const bytes = warm.encode();
      const { strategy } = make({ highRank: 4, adapterWeights: bytes, augmentations: 2, restoreProb: 1 }, 0, model);
      strategy.step(randomBatch([4, 12, 12, 1])).probs.dispose();
      const snap = strategy.snapshot();
      for (const [name, v] of warm.variables()) expect(Array.from(snap.tensors[`vida/student/${name}`]!.dataSync())).toEqual(Array.from(v.dataSync()));
      disposeTensors(snap.tensors);
      strategy.dispose();
      expect(() => make({ highRank: 5, adapterWeights: bytes }, 0, model)).toThrow(/same 'layers', 'lowRank' and 'highRank'/);
      expect(() => resolveOptions(vidaStrategy as never, { hka: 'both' })).toThrow(InvalidOptionError);
      expect(() => resolveOptions(vidaStrategy as never, { augmentations: 1 })).toThrow(InvalidOptionError);
      expect(() => resolveOptions(vidaStrategy as never, { restoreProb: 2 })).toThrow(InvalidOptionError);
      warm.dispose();
      model.dispose();
    });

    wasmIt("through createAdapter: registered as 'vida', typed options, config JSON, snapshot bytes round-trip", async () => {
      const model = buildModel();
      const warm = injectVidaAdapters((createTarget(model) as LayersTarget).info, { highRank: 4, seed: 1 });
      const adapter = await createAdapter(model, { strategy: 'vida', augmentations: 2, highRank: 4, adapterWeights: warm.encode(), adaptersOnly: true, seed: 3 });
      const cfg = await adapter.getConfig();
      expect(cfg.strategy).toBe('vida');
      expect(cfg.adapterWeights).toMatch(/^\d+ bytes$/);
      expect(cfg.hka).toBe('paper');
      const batch = x();
      await adapter.step(batch);
      const bytes = await adapter.snapshot();
      const a = await adapter.step(batch);
      await adapter.restore(bytes);
      const b = await adapter.step(batch);
      expect(Array.from(b.probs)).toEqual(Array.from(a.probs));
      expect(b.stats.scaleLow).toBe(a.stats.scaleLow);
      adapter.dispose();
      warm.dispose();
      batch.dispose();
      model.dispose();
    });

    wasmIt('does not leak tensors over many steps (full and adapters-only)', () => {
      for (const adaptersOnly of [false, true]) {
        const { strategy, model } = make({ augmentations: 2, adaptersOnly }, 1);
        const batch = x();
        strategy.step(batch).probs.dispose();
        const n0 = tf.memory().numTensors;
        for (let i = 0; i < 8; i++) strategy.step(batch).probs.dispose();
        expect(tf.memory().numTensors).toBe(n0);
        batch.dispose();
        strategy.dispose();
        model.dispose();
      }
    });
  });
}

describe('vida: a failing step', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('rethrows its error, leaks no tensor and commits nothing (augmentation draws and HKA scales included)', () => {
    for (const [where, optimiser] of [['forward', 'adamBackbone'], ['update', 'adamBackbone']] as const) {
      const { strategy, model } = make({ augmentations: 3 }, 4);
      const x = randomBatch([8, 12, 12, 1], 61);
      tf.dispose(strategy.step(x).probs);
      expectFailedStepCommitsNothing(strategy, x, where, optimiser);
      x.dispose();
      strategy.dispose();
      model.dispose();
    }
  });
});

describe('vida: option bounds', () => {
  it('accepts each bound, and refuses each value just outside it with the exact message', () => {
    const ok: VidaOptions[] = [
      { lr: 0 }, { adapterLr: 0 }, { beta1: 0 }, { beta2: 0 }, { emaMomentum: 0 }, { emaMomentum: 1 }, { restoreProb: 1 },
      { adapterEmaMomentum: 0 }, { lowRank: 1 }, { highRank: 1 }, { augmentations: 2 }, { uncertaintyScale: 0 }, { uncertaintyThreshold: -1 },
    ];
    for (const o of ok) expect(() => resolveOptions(vidaStrategy as never, o as Record<string, unknown>), JSON.stringify(o)).not.toThrow();
    const msg = (name: string, v: string, hint: string) => `Strategy 'vida': option '${name}' is ${v}; ${hint}.`;
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ lr: -1e-9 }, msg('lr', '-1e-9', 'it must be a non-negative finite number (e.g. 1e-4)')],
      [{ adapterLr: Infinity }, msg('adapterLr', 'Infinity', 'it must be a non-negative finite number (e.g. 1e-4)')],
      [{ beta1: 1 }, msg('beta1', '1', 'it must be a number in [0, 1)')],
      [{ beta2: -0.1 }, msg('beta2', '-0.1', 'it must be a number in [0, 1)')],
      [{ beta2: '0.9' }, msg('beta2', '"0.9"', 'it must be a number in [0, 1)')],
      [{ emaMomentum: 1.01 }, msg('emaMomentum', '1.01', 'it must be a number in [0, 1]')],
      [{ adapterEmaMomentum: -0.5 }, msg('adapterEmaMomentum', '-0.5', 'it must be a number in [0, 1]')],
      [{ restoreProb: '0' }, msg('restoreProb', '"0"', 'it must be a number in [0, 1]')],
      [{ lowRank: 0 }, msg('lowRank', '0', 'it must be a positive integer')],
      [{ highRank: 1.5 }, msg('highRank', '1.5', 'it must be a positive integer')],
      [{ augmentations: 1 }, msg('augmentations', '1', 'it must be an integer >= 2 (a variance needs two passes)')],
      [{ uncertaintyScale: -1 }, msg('uncertaintyScale', '-1', 'it must be a non-negative number')],
      [{ uncertaintyScale: NaN }, msg('uncertaintyScale', 'NaN', 'it must be a non-negative number')],
      [{ uncertaintyThreshold: NaN }, msg('uncertaintyThreshold', 'NaN', 'it must be a finite number (e.g. 0.05)')],
      [{ hka: 'both' }, msg('hka', '"both"', "valid values: 'paper', 'official'")],
      [{ adaptersOnly: 1 }, msg('adaptersOnly', '1', 'it must be true or false')],
      [{ horizontalFlip: 'no' }, msg('horizontalFlip', '"no"', 'it must be true or false')],
      [{ adapterWeights: [1, 2] }, msg('adapterWeights', '"object"', 'it must be null or a Uint8Array from VidaAdapters.encode')],
    ];
    for (const [o, message] of bad) {
      expect(() => resolveOptions(vidaStrategy as never, o), JSON.stringify(o)).toThrow(new InvalidOptionError(message));
    }
  });
});
