/**
 * The guard's class gate (`guard.classGate`): on real Fashion-MNIST test images and the shipped
 * model, a batch whose mean source prediction spreads over fewer than classGate x the stream's
 * classes is answered with the source model's prediction and no update (reason
 * 'class-correlated'). The ratio is recomputed here from a source adapter's probabilities with
 * LAME's statistic (`classGateRatio`), so the decision is checked against a second computation,
 * batch by batch; the other batches are plain bn-adapt's answers.
 */
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, GUARD_DEFAULTS, initBackend, type Adapter } from '../../src/index.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { classGateRatio, LAME_PRIOR_MOMENTUM } from '../../strategies/lame.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';
import { mulberry32 } from '../../src/random.js';

const B = 32;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('guard.classGate', () => {
  it('answers class-correlated batches with the source prediction, and adapts the others', async () => {
    const test = loadFashionMnist('test');
    const rand = mulberry32(3);
    const byClass = (c: number) => Array.from({ length: test.n }, (_, i) => i).filter((i) => test.labels[i] === c);
    const iid = () => Array.from({ length: B }, () => Math.floor(rand() * test.n));
    const oneClass = (c: number, k: number) => byClass(c).slice(k * B, (k + 1) * B);
    // i.i.d., i.i.d., class 1, class 1, i.i.d., class 7, i.i.d.
    const batches = [iid(), iid(), oneClass(1, 0), oneClass(1, 1), iid(), oneClass(7, 0), iid()];
    const gated: Adapter = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: { classGate: 0.6 } });
    const plain: Adapter = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: false });
    const source: Adapter = await createAdapter(await loadSourceModel(), { strategy: 'source', guard: false });
    try {
      let prior: Float32Array = new Float32Array(10);
      const decisions: string[] = [];
      for (const idx of batches) {
        const batch = { data: toFloat32(test, idx), shape: [B, 28, 28, 1] as [number, number, number, number] };
        const src = await source.step(batch);
        const gate = classGateRatio(src.probs, B, 10, prior, LAME_PRIOR_MOMENTUM);
        prior = gate.prior;
        const expectGated = !gate.first && gate.ratio < 0.6;
        const [g, p] = [await gated.step(batch), await plain.step(batch)];
        if (expectGated) {
          expect(g.update).toMatchObject({ mode: 'source', reason: 'class-correlated' });
          // The guard's own copy of the source model (BN folded or not: float rounding apart).
          expect(Math.max(...Array.from(g.probs, (v, i) => Math.abs(v - src.probs[i]!)))).toBeLessThan(1e-5);
          expect(Math.max(...Array.from(g.probs, (v, i) => Math.abs(v - p.probs[i]!)))).toBeGreaterThan(0.1); // not bn-adapt's
        } else {
          expect(g.update.mode).toBe('adapt');
          // bn-adapt keeps no state between batches: an adapted batch is plain bn-adapt's answer.
          expect(Array.from(g.probs)).toEqual(Array.from(p.probs));
        }
        decisions.push(`${gate.ratio.toFixed(2)}:${g.update.mode}`);
      }
      // The stream had what the test is about: the one-class batches gated, the i.i.d. ones not.
      expect(decisions.map((d) => d.split(':')[1])).toEqual(['adapt', 'adapt', 'source', 'source', 'adapt', 'source', 'adapt']);
    } finally {
      gated.dispose();
      plain.dispose();
      source.dispose();
    }
  });

  it('is off by default, and 0 <= classGate <= 1', async () => {
    expect(GUARD_DEFAULTS.classGate).toBe(0);
    const a = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: { classGate: 1.5 } }).catch((e: unknown) => e);
    expect((a as Error).name).toBe('InvalidOptionError');
  });
});
