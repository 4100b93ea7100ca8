/**
 * Fused ops: WASM SIMD path vs the plain-TS oracle (src/fused/oracle.ts), the
 * CPU path, and independent references (tfjs ops; a tfjs-ops port of
 * fiveai/LAME's laplacian_optimization for the LAME semantics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { registerEdgeKernels } from '../../src/backend/kernels/index.js';
import { createRng, emaUpdate, lameSolve, mixBnStats, softmaxEntropy, stochasticRestore, type LameAffinity } from '../../src/fused/index.js';
import { emaOracle, lameOracle, mixBnOracle, restoreOracle, softmaxEntropyOracle } from '../../src/fused/oracle.js';
import { mulberry32 } from '../../src/random.js';
import { lameCorrect } from '../../strategies/lame.js';
import { randn, relErr } from './helpers.js';

const shapes = [[7], [3, 5], [2, 3, 3, 4], [1], [33, 17]];

beforeAll(async () => {
  await tf.setBackend('wasm');
  await registerEdgeKernels();
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

describe('createRng', () => {
  it('is the same mulberry32 sequence as src/random.ts, and its state replays', () => {
    const a = createRng(123);
    const b = mulberry32(123);
    for (let i = 0; i < 50; i++) expect(a.next()).toBe(b());
    const s = a.state;
    const x = [a.next(), a.next()];
    a.state = s;
    expect([a.next(), a.next()]).toEqual(x);
  });
});

describe('emaUpdate', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: equals the oracle bit for bit`, async () => {
      await tf.setBackend(backend);
      const t0 = shapes.map((s, i) => randn(s.reduce((a, b) => a * b, 1), 10 + i));
      const s0 = shapes.map((s, i) => randn(s.reduce((a, b) => a * b, 1), 20 + i));
      const teacher = shapes.map((s, i) => tf.variable(tf.tensor(t0[i]!, s)));
      const student = shapes.map((s, i) => tf.tensor(s0[i]!, s));
      emaUpdate(teacher, student, 0.999);
      for (let i = 0; i < shapes.length; i++) expect(Array.from(await teacher[i]!.data())).toEqual(Array.from(emaOracle(t0[i]!, s0[i]!, 0.999)));
      tf.dispose([...teacher, ...student]);
    });
  }
  it('never writes into a dataId shared with another tensor', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor([1, 2, 3, 4, 5]);
    const v = tf.variable(tf.zeros([5]));
    v.assign(a); // v and a now share a's dataId
    emaUpdate([v], [tf.zeros([5])], 0.5);
    expect(Array.from(await a.data())).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(await v.data())).toEqual([0.5, 1, 1.5, 2, 2.5]);
    tf.dispose([a, v]);
  });
  it('updated conv / depthwise / dense weights are seen by tfjs-wasm (it caches packed weights per tensor id)', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const f = tf.variable(tf.ones([3, 3, 2, 2]));
    const w = tf.variable(tf.ones([2, 3]));
    const y0 = tf.conv2d(x, f as tf.Variable<tf.Rank.R4>, 1, 'same').dataSync()[5]!;
    const m0 = tf.matMul(tf.ones([1, 2]), w as tf.Variable<tf.Rank.R2>).dataSync()[0]!;
    emaUpdate([f, w], [tf.fill([3, 3, 2, 2], 3), tf.fill([2, 3], 3)], 0.5); // weights become 2
    expect(tf.conv2d(x, f as tf.Variable<tf.Rank.R4>, 1, 'same').dataSync()[5]).toBe(2 * y0);
    expect(tf.matMul(tf.ones([1, 2]), w as tf.Variable<tf.Rank.R2>).dataSync()[0]).toBe(2 * m0);
    tf.dispose([x, f, w]);
  });
  it('rejects mismatched sets with a message naming them', () => {
    expect(() => emaUpdate([tf.variable(tf.zeros([2]))], [tf.zeros([3])], 0.9)).toThrow(/teacher\[0\] has shape \[2\] but student\[0\] has shape \[3\]/);
  });
});

describe('stochasticRestore', () => {
  async function run(backend: 'cpu' | 'wasm', seed: number, p: number): Promise<{ data: number[][]; n: number; state: number }> {
    await tf.setBackend(backend);
    const vars = shapes.map((s, i) => tf.variable(tf.tensor(randn(s.reduce((a, b) => a * b, 1), 30 + i), s)));
    const src = shapes.map((s) => tf.zeros(s));
    const rng = createRng(seed);
    const n = stochasticRestore(vars, src, p, rng);
    const data = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
    tf.dispose([...vars, ...src]);
    return { data, n, state: rng.state };
  }
  it('the same seed gives the same mask, count and final rng state on wasm and cpu', async () => {
    const a = await run('wasm', 42, 0.3);
    const b = await run('cpu', 42, 0.3);
    expect(a.n).toBe(b.n);
    expect(a.n).toBeGreaterThan(0);
    expect(a.state).toBe(b.state);
    expect(a.data).toEqual(b.data);
    const c = await run('wasm', 43, 0.3);
    expect(c.data).not.toEqual(a.data);
  });
  it('equals the oracle; p = 0 restores nothing, p = 1 everything', async () => {
    await tf.setBackend('wasm');
    const cur = randn(1000, 5);
    const src = randn(1000, 6);
    const ref = restoreOracle(cur, src, 0.1, createRng(9));
    const v = tf.variable(tf.tensor(cur));
    expect(stochasticRestore([v], [tf.tensor(src)], 0.1, 9)).toBe(ref.restored);
    expect(Array.from(await v.data())).toEqual(Array.from(ref.out));
    expect(stochasticRestore([v], [tf.tensor(src)], 0, 1)).toBe(0);
    // p just below 1: ceil(p * 2^32) = 2^32, the vector path's threshold must not wrap to 0.
    const nearOne = 1 - 2 ** -40;
    expect(stochasticRestore([v], [tf.tensor(src)], nearOne, 3)).toBe(restoreOracle(cur, src, nearOne, createRng(3)).restored);
    expect(stochasticRestore([v], [tf.tensor(src)], 1, 1)).toBe(1000);
    expect(Array.from(await v.data())).toEqual(Array.from(src));
    v.dispose();
  });
});

describe('mixBnStats', () => {
  it('wasm equals the oracle', async () => {
    await tf.setBackend('wasm');
    const d = [0, 1, 2, 3].map((i) => randn(37, 40 + i));
    d[1] = d[1]!.map(Math.abs);
    d[3] = d[3]!.map(Math.abs);
    const r = mixBnStats(tf.tensor(d[0]!), tf.tensor(d[1]!), tf.tensor(d[2]!), tf.tensor(d[3]!), 0.1);
    const o = mixBnOracle(d[0]!, d[1]!, d[2]!, d[3]!, 0.1);
    expect(Array.from(await r.mean.data())).toEqual(Array.from(o.mean));
    expect(Array.from(await r.variance.data())).toEqual(Array.from(o.variance));
  });
});

describe('softmaxEntropy', () => {
  it('wasm equals the oracle and matches -sum(softmax * logSoftmax) from tfjs ops', async () => {
    await tf.setBackend('wasm');
    for (const [B, K] of [[1, 10], [16, 10], [5, 7], [3, 1000]] as const) {
      const z = randn(B * K, B + K, 4);
      const l = tf.tensor2d(z, [B, K]);
      const got = await softmaxEntropy(l).data();
      expect(relErr(got, softmaxEntropyOracle(z, B, K))).toBeLessThan(1e-6);
      const ref = await tf.neg(tf.sum(tf.mul(tf.softmax(l), tf.logSoftmax(l)), 1)).data();
      expect(relErr(got, ref)).toBeLessThan(1e-4);
    }
  });
  it('is stable for huge logits', async () => {
    await tf.setBackend('wasm');
    const h = await softmaxEntropy(tf.tensor2d([[1e4, 0, -1e4], [50, 50, 50]])).data();
    expect(h[0]).toBeCloseTo(0, 6);
    expect(h[1]).toBeCloseTo(Math.log(3), 5);
  });
  // Regression: 0 * -Infinity in the sum made a row with a -Infinity logit (a class of probability 0,
  // as a log-probability output gives) NaN, on wasm and in the oracle; its entropy is that of the rest.
  it('a -Infinity logit contributes nothing (wasm and oracle); NaN and +Infinity give NaN', async () => {
    const rows = [[-Infinity, 0, 0], [-Infinity, 1, 2, -Infinity, 3], [-Infinity, -Infinity, 5]];
    const expected = rows.map((r) => {
      const finite = r.filter((v) => v !== -Infinity);
      return softmaxEntropyOracle(Float32Array.from(finite), 1, finite.length)[0]!;
    });
    expect(expected[0]).toBeCloseTo(Math.log(2), 6);
    for (const backend of ['wasm', 'cpu'] as const) {
      await tf.setBackend(backend);
      for (let i = 0; i < rows.length; i++) {
        const got = softmaxEntropy(tf.tensor2d([rows[i]!])).dataSync()[0]!;
        expect(got, `${backend} row ${i}`).toBeCloseTo(expected[i]!, 6);
      }
      expect(Array.from(softmaxEntropy(tf.tensor2d([[NaN, 0, 1], [Infinity, 0, 1]])).dataSync())).toEqual([NaN, NaN]);
    }
  });
});

/** fiveai/LAME laplacian_optimization + affinities, ported with tfjs ops (a second, independent implementation). */
function lameTfRef(probs: tf.Tensor2D, feats: tf.Tensor2D, affinity: LameAffinity, knn: number, lambda: number, maxIter: number): Float32Array {
  return tf.tidy(() => {
    const B = probs.shape[0];
    const g = tf.matMul(feats, feats, false, true);
    const dist = tf.sqrt(tf.relu(tf.sub(2, tf.mul(2, g)))).mul(tf.sub(1, tf.eye(B))) as tf.Tensor2D;
    let W: tf.Tensor2D;
    if (affinity === 'knn') {
      const idx = tf.topk(tf.neg(dist), Math.min(knn + 1, B)).indices.slice([0, 1], [B, -1]);
      W = tf.sum(tf.oneHot(idx, B), 1) as tf.Tensor2D;
    } else if (affinity === 'rbf') {
      const kth = tf.neg(tf.topk(tf.neg(dist), Math.min(knn, B)).values).slice([0, Math.min(knn, B) - 1], [B, 1]);
      const sigma = tf.mean(kth);
      W = tf.exp(tf.div(tf.neg(tf.square(dist)), tf.mul(2, tf.square(sigma)))) as tf.Tensor2D;
    } else {
      W = g as tf.Tensor2D;
    }
    const unary = tf.neg(tf.log(tf.add(probs, 1e-10)));
    let Y = tf.softmax(tf.neg(unary)) as tf.Tensor2D;
    let oldE = Infinity;
    for (let i = 0; i < maxIter; i++) {
      const pairwise = tf.mul(lambda, tf.matMul(W, Y));
      Y = tf.softmax(tf.add(tf.neg(unary), pairwise)) as tf.Tensor2D;
      const E = tf.sum(tf.add(tf.sub(tf.mul(unary, Y), tf.mul(pairwise, Y)), tf.mul(Y, tf.log(tf.maximum(Y, 1e-20))))).dataSync()[0]!;
      if (i > 1 && Math.abs(E - oldE) <= 1e-8 * Math.abs(oldE)) break;
      oldE = E;
    }
    return Y.dataSync() as Float32Array;
  });
}

describe('lameSolve', () => {
  function batch(B: number, K: number, D: number, seed: number): { p: Float32Array; f: Float32Array } {
    const logits = randn(B * K, seed, 2);
    const p = new Float32Array(B * K);
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (p[b * K + k] = Math.exp(logits[b * K + k]!));
      for (let k = 0; k < K; k++) p[b * K + k]! /= s;
    }
    const f = randn(B * D, seed + 1);
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let d = 0; d < D; d++) n += f[b * D + d]! ** 2;
      for (let d = 0; d < D; d++) f[b * D + d]! /= Math.sqrt(n);
    }
    return { p, f };
  }
  for (const affinity of ['knn', 'rbf', 'linear'] as const) {
    it(`${affinity}: wasm equals the TS oracle, which follows the official algorithm (tfjs-ops port)`, async () => {
      const [B, K, D] = [16, 10, 24];
      const { p, f } = batch(B, K, D, 3);
      await tf.setBackend('wasm');
      const got = await lameSolve(tf.tensor2d(p, [B, K]), tf.tensor2d(f, [B, D]), { affinity }).data();
      const oracle = lameOracle(p, f, B, K, D, { affinity, k: 5, lambda: 1, maxIter: 100, tol: 1e-8 });
      expect(relErr(got, oracle.y)).toBeLessThan(1e-5);
      await tf.setBackend('cpu');
      const cpu = await lameSolve(tf.tensor2d(p, [B, K]), tf.tensor2d(f, [B, D]), { affinity }).data();
      expect(relErr(cpu, oracle.y)).toBe(0);
      // The official algorithm in float32 tfjs ops; affinity = 'linear' gives W = X X^T.
      const ref = lameTfRef(tf.tensor2d(p, [B, K]), tf.tensor2d(f, [B, D]), affinity, 5, 1, 100);
      expect(relErr(got, ref)).toBeLessThan(1e-3);
      // LAME changes the prediction: it is not the identity.
      expect(relErr(got, p)).toBeGreaterThan(1e-3);
    });
  }
  it('lambda != 1: wasm and the oracle stop where the lame strategy (reference energy, lambda squared) stops', async () => {
    const [B, K, D] = [24, 10, 16];
    const { p, f } = batch(B, K, D, 11);
    await tf.setBackend('wasm');
    for (const lambda of [0.5, 3]) {
      // A loose tol makes the stopping iteration depend on the energy's exact formula.
      const opts = { affinity: 'rbf' as const, k: 5, lambda, maxIter: 100, tol: 1e-3 };
      const ref = lameCorrect(tf.tensor2d(p, [B, K]), tf.tensor2d(f, [B, D]), opts);
      const oracle = lameOracle(p, f, B, K, D, opts);
      expect(oracle.iterations).toBe(ref.iterations);
      const refY = await ref.y.data();
      expect(relErr(oracle.y, refY)).toBeLessThan(1e-6);
      expect(relErr(await lameSolve(tf.tensor2d(p, [B, K]), tf.tensor2d(f, [B, D]), opts).data(), refY)).toBeLessThan(1e-5);
    }
  });
  it('defaults to the rbf affinity, as the lame strategy and the reference', async () => {
    await tf.setBackend('wasm');
    const { p, f } = batch(12, 6, 8, 13);
    const dflt = await lameSolve(tf.tensor2d(p, [12, 6]), tf.tensor2d(f, [12, 8])).data();
    expect(relErr(dflt, await lameSolve(tf.tensor2d(p, [12, 6]), tf.tensor2d(f, [12, 8]), { affinity: 'rbf' }).data())).toBe(0);
    expect(relErr(dflt, await lameSolve(tf.tensor2d(p, [12, 6]), tf.tensor2d(f, [12, 8]), { affinity: 'knn' }).data())).toBeGreaterThan(1e-4);
  });
  it('batch 1 returns p unchanged; k is clamped to batch - 1', async () => {
    await tf.setBackend('wasm');
    const { p, f } = batch(1, 4, 8, 5);
    expect(Array.from(await lameSolve(tf.tensor2d(p, [1, 4]), tf.tensor2d(f, [1, 8])).data())).toEqual(Array.from(p));
    const b3 = batch(3, 4, 8, 6);
    const y = await lameSolve(tf.tensor2d(b3.p, [3, 4]), tf.tensor2d(b3.f, [3, 8]), { affinity: 'knn', k: 10 }).data();
    expect(relErr(y, lameOracle(b3.p, b3.f, 3, 4, 8, { affinity: 'knn', k: 2, lambda: 1, maxIter: 100, tol: 1e-8 }).y)).toBeLessThan(1e-6);
  });
  it('identical features give no NaN (rbf sigma = 0 is guarded)', async () => {
    await tf.setBackend('wasm');
    const B = 6;
    const { p } = batch(B, 5, 4, 7);
    const f = new Float32Array(B * 4).fill(0.5);
    for (const affinity of ['rbf', 'knn', 'linear'] as const) {
      const y = await lameSolve(tf.tensor2d(p, [B, 5]), tf.tensor2d(f, [B, 4]), { affinity }).data();
      expect(y.every((v) => Number.isFinite(v))).toBe(true);
    }
  });
  it('rejects an unknown affinity with the valid choices', () => {
    expect(() => lameSolve(tf.ones([2, 2]) as tf.Tensor2D, tf.ones([2, 2]) as tf.Tensor2D, { affinity: 'cosine' as never })).toThrow(/Valid affinities: 'knn', 'rbf', 'linear'/);
  });
});
