/**
 * Guarded LAME on a tf.GraphModel (the converter-style conv graph of tests/helpers/graphModel.ts).
 * With the guard on, LAME corrects the guard's source pass (`Strategy.stepOnSourcePass`; for a
 * graph target src/safety/sourceModel.ts `pass()` is the graph's own forward pass) instead of
 * running the model again. Checked here: on a class-correlated stream (runs of 4 batches of one
 * predicted class, where the guard lets LAME correct) every guarded step equals the guard-off
 * step on the same batch, and the graph runs once per step (counted on `model.execute`), also on
 * the guard's check steps; small batches (no source pass) run it once too, at most twice on check steps.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend } from '../../src/index.js';
import { CONV, loadConvGraphModel } from '../helpers/graphModel.js';

const P = CONV.prefix;
const graphNodes = { outputNode: `${P}/logits/BiasAdd`, featuresNode: `${P}/gap/Mean` };

describe('guarded LAME on a tf.GraphModel', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('gives guard-off LAME\'s answers and runs the graph once per step', async () => {
    const g = await loadConvGraphModel(7);
    let executions = 0;
    const execute = g.execute.bind(g);
    g.execute = ((...args: Parameters<typeof execute>) => {
      executions++;
      return execute(...args);
    }) as typeof g.execute;
    // Frames of varied colour, grouped by the class the graph predicts.
    const pool = tf.tidy(() => tf.add(tf.randomUniform([1200, CONV.H, CONV.H, CONV.C], 0, 1, 'float32', 11), tf.randomNormal([1200, 1, 1, CONV.C], 0, 3, 'float32', 12)));
    const predicted = tf.tidy(() => tf.argMax(execute(pool, graphNodes.outputNode) as tf.Tensor, 1).dataSync());
    const byClass = new Map<number, number[]>();
    predicted.forEach((c, i) => byClass.set(c, [...(byClass.get(c) ?? []), i]));
    const classes = [...byClass.values()].filter((idx) => idx.length >= 128);
    expect(classes.length).toBeGreaterThanOrEqual(2);
    // classGate 0, maxChanged 1: LAME's own gates off, so its answer depends on the batch alone.
    const options = { strategy: 'lame', graphNodes, classGate: 0, maxChanged: 1 } as const;
    const run = async (batch: number, steps: number): Promise<{ perStep: number[]; corrected: number }> => {
      const guarded = await createAdapter(g, options);
      const plain = await createAdapter(g, { ...options, guard: false });
      const perStep: number[] = [];
      let corrected = 0;
      for (let s = 0; s < steps; s++) {
        const idx = classes[Math.floor(s / 4) % classes.length]!;
        const start = (s * batch) % (idx.length - batch);
        const x = tf.gather(pool, idx.slice(start, start + batch)) as tf.Tensor4D;
        const before = executions;
        const a = await guarded.step(x);
        perStep.push(executions - before);
        const b = await plain.step(x);
        expect(a.update.mode, `step ${s}`).toBe('adapt');
        a.probs.forEach((v, i) => expect(Math.abs(v - b.probs[i]!), `step ${s}`).toBeLessThan(1e-6));
        expect(a.stats).toEqual(b.stats);
        corrected += a.stats.corrected ?? 0;
        x.dispose();
      }
      guarded.dispose();
      plain.dispose();
      return { perStep, corrected };
    };
    // Batches of 32: the class-correlation detector observes every batch through the source pass.
    const big = await run(32, 24);
    expect(big.perStep).toEqual(Array(24).fill(1));
    expect(big.corrected).toBe(24);
    // Batches of 8 are not observed (no source pass): LAME's own pass; on the guard's check steps
    // (every 8th) the source pass its comparison needs, which LAME then steps on (it ran twice).
    const small = await run(8, 16);
    expect(small.perStep).toEqual(Array(16).fill(1));
    // Under a budget no step can meet, every step after the first is a prediction: on the same
    // source pass too (it ran the source pass and then LAME's own pass), with predict()'s answer.
    const budgeted = await createAdapter(g, { ...options, budget: { maxAdaptMsPerFrame: 1e-6 } });
    const reference = await createAdapter(g, options);
    const idx = classes[0]!;
    for (let s = 0; s < 6; s++) {
      const x = tf.gather(pool, idx.slice(s * 32, s * 32 + 32)) as tf.Tensor4D;
      const expected = s === 0 ? null : await reference.predict(x);
      const before = executions;
      const out = await budgeted.step(x);
      expect(executions - before, `budget step ${s}`).toBe(1);
      if (s === 0) await reference.step(x);
      else {
        expect(out.update).toMatchObject({ mode: 'predict', reason: 'budget' });
        out.probs.forEach((v, i) => expect(Math.abs(v - expected!.probs[i]!), `budget step ${s}`).toBeLessThan(1e-6));
      }
      x.dispose();
    }
    budgeted.dispose();
    reference.dispose();
    pool.dispose();
    g.dispose();
  });
});
