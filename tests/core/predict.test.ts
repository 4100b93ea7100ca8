/**
 * `adapter.predict`: the predictions of the current adapted state with no update. For every
 * built-in strategy: predict gives bit for bit what step gives on the same batch at the same
 * state (each strategy's paper predicts with the output its step returns), and it changes
 * nothing: an adapter that predicted between its steps takes exactly the steps (and ends in
 * exactly the state) of an adapter that never predicted. No tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, type Adapter } from '../../src/index.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

function makeModel(): tf.LayersModel {
  const model = smallResNet([12, 12, 1], 5);
  model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 100 + i))));
  randomizeBatchNorms(model, 3);
  return model;
}

const batch = (seed: number, n = 6) => tf.randomUniform([n, 12, 12, 1], 0, 1, 'float32', seed) as tf.Tensor4D;

// Options that make every part of each strategy run: CoTTA augments (threshold above 1), ViDA's
// uncertainty passes are few to keep the test fast, Tent's lr is large enough to move.
const CASES: Array<[string, Record<string, unknown>]> = [
  ['source', {}],
  ['bn-adapt', {}],
  ['bn-adapt', { stats: 'ema', statsMomentum: 0.2 }],
  ['alpha-bn', { alpha: 0.5 }],
  ['tent', { lr: 1e-2 }],
  ['tent', { lr: 1e-2, stats: 'ema', statsMomentum: 0.2 }],
  // The random model is far from its own BN statistics, where the guard answers LAME with the source model (maxShift).
  ['lame', { guard: { maxShift: 0 } }],
  // Small test batches: the guard would answer CoTTA and ViDA with the source model (minBatch).
  ['cotta', { threshold: 2, augmentations: 3, restoreProb: 0.1, guard: false }],
  ['cotta', { threshold: 0, guard: false }],
  ['vida', { augmentations: 3, lr: 1e-3, adapterLr: 1e-3, guard: false }],
  ['roid', { lr: 1e-2 }],
];

describe('adapter.predict', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const [strategy, options] of CASES) {
    it(`'${strategy}' ${JSON.stringify(options)}: predict equals step's output and leaves the state unchanged`, async () => {
      const make = () => createAdapter(makeModel(), { strategy, seed: 5, ...options } as never);
      const probed: Adapter = await make();
      const plain: Adapter = await make();
      const xs = [batch(1), batch(2), batch(3)];
      await probed.step(xs[0]!);
      await plain.step(xs[0]!);
      // One predict first: a pass may build a cache once (guarded LAME's first step, a guard check
      // step, corrects the source pass, so its own pass's folded conv-BN weights come at predict).
      await probed.predict(xs[0]!);
      const before = tf.memory().numTensors;
      const p = await probed.predict(xs[1]!);
      const again = await probed.predict(xs[1]!);
      expect(tf.memory().numTensors).toBe(before);
      expect(p.steps).toBe(1);
      expect(p.batchSize).toBe(6);
      expect(Array.from(again.probs)).toEqual(Array.from(p.probs));
      const s = await probed.step(xs[1]!);
      const sPlain = await plain.step(xs[1]!);
      // What the paper predicts at this state is what the step returns.
      expect(Array.from(p.probs)).toEqual(Array.from(s.probs));
      expect(Array.from(p.labels)).toEqual(Array.from(s.labels));
      // Predicting changed nothing: same step outputs, same stats, same ids, same state bytes.
      expect(Array.from(s.probs)).toEqual(Array.from(sPlain.probs));
      expect(s.stats).toEqual(sPlain.stats);
      expect(s.stepId).toBe(sPlain.stepId);
      await probed.predict(xs[2]!);
      const t = await probed.step(xs[2]!);
      const tPlain = await plain.step(xs[2]!);
      expect(Array.from(t.probs)).toEqual(Array.from(tPlain.probs));
      expect(Array.from(await probed.snapshot())).toEqual(Array.from(await plain.snapshot()));
      // A step really changes adaptive strategies' predictions (so the test can see a change).
      if (['tent', 'cotta', 'vida'].includes(strategy)) {
        const after = await probed.predict(xs[1]!);
        expect(Array.from(after.probs)).not.toEqual(Array.from(p.probs));
      }
      tf.dispose(xs);
      probed.dispose();
      plain.dispose();
    });
  }
});
