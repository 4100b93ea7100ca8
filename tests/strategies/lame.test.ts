/**
 * LAME: the solver against an independent plain-TS (float64) port of fiveai/LAME
 * `src/adaptation/lame.py` (direct Euclidean distances, no Gram trick), the properties of
 * the bound optimisation, degenerate batches, the strategy on a LayersModel, and leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError } from '../../src/index.js';
import { Rng } from '../../src/random.js';
import { lameAffinity, lameCorrect, laplacianOptimization, type LameAffinity } from '../../strategies/lame.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';

type Mat = number[][];

interface OracleOptions {
  affinity: LameAffinity;
  k: number;
  lambda: number;
  maxIter: number;
  tol: number;
  sym?: boolean;
}

const softmaxRow = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

/** fiveai/LAME, line by line, in float64 with plain arrays. */
function oracleLame(p: Mat, feats: Mat, o: OracleOptions): { Y: Mat; W: Mat; sigma?: number; iterations: number; energies: number[] } {
  const N = p.length;
  const K = p[0]!.length;
  // F.normalize(feats, p=2, dim=-1)
  const X = feats.map((r) => {
    const n = Math.max(Math.sqrt(r.reduce((s, v) => s + v * v, 0)), 1e-12);
    return r.map((v) => v / n);
  });
  // torch.norm(X.unsqueeze(0) - X.unsqueeze(1), dim=-1, p=2)
  const dist = X.map((a) => X.map((b) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0))));
  let W: Mat;
  let sigma: number | undefined;
  if (o.affinity === 'linear') {
    W = X.map((a) => X.map((b) => a.reduce((s, v, i) => s + v * b[i]!, 0)));
  } else if (o.affinity === 'knn') {
    // topk(min(knn + 1, N), largest=False).indices[:, 1:]
    const nn = Math.min(o.k + 1, N);
    W = dist.map((row) => {
      const order = row
        .map((d, j) => [d, j] as const)
        .sort((a, b) => a[0] - b[0] || a[1] - b[1])
        .map((x) => x[1]);
      const w = new Array<number>(N).fill(0);
      for (const j of order.slice(0, nn).slice(1)) w[j] = 1;
      return w;
    });
  } else {
    // topk(min(k, N), largest=False).values[:, -1]; sigma = mean; exp(-d^2 / (2 sigma^2))
    const nn = Math.min(o.k, N);
    const kth = dist.map((row) => [...row].sort((a, b) => a - b)[nn - 1]!);
    const s = kth.reduce((a, b) => a + b, 0) / N;
    sigma = s;
    W = dist.map((row) => row.map((d) => Math.exp(-(d * d) / (2 * s * s))));
  }
  if (o.sym) {
    const W0 = W;
    W = W0.map((r, i) => r.map((v, j) => 0.5 * (v + W0[j]![i]!)));
  }
  // laplacian_optimization(unary, kernel)
  const unary = p.map((r) => r.map((v) => -Math.log(v + 1e-10)));
  let Y = unary.map((r) => softmaxRow(r.map((v) => -v)));
  const energies: number[] = [];
  let oldE = Infinity;
  let iterations = 0;
  for (let i = 0; i < o.maxIter; i++) {
    const pair = W.map((wr) => Array.from({ length: K }, (_, c) => o.lambda * wr.reduce((s, w, j) => s + w * Y[j]![c]!, 0)));
    Y = unary.map((u, r) => softmaxRow(u.map((v, c) => -v + pair[r]![c]!)));
    let E = 0;
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < K; c++) {
        const y = Y[r]![c]!;
        E += unary[r]![c]! * y - o.lambda * pair[r]![c]! * y + y * Math.log(Math.max(y, 1e-20));
      }
    }
    energies.push(E);
    iterations = i + 1;
    if (i > 1 && Math.abs(E - oldE) <= o.tol * Math.abs(oldE)) break;
    oldE = E;
  }
  return sigma === undefined ? { Y, W, iterations, energies } : { Y, W, sigma, iterations, energies };
}

/** A random problem: probabilities from logits of scale `temp`, clustered features. */
function randomProblem(seed: number, N: number, K: number, d: number, temp = 3): { p: Mat; feats: Mat } {
  const rng = new Rng(seed);
  const centres = Array.from({ length: 4 }, () => Array.from({ length: d }, () => rng.gaussian()));
  const feats = Array.from({ length: N }, () => {
    const c = centres[rng.int(0, 4)]!;
    return c.map((v) => v + 0.6 * rng.gaussian());
  });
  const p = Array.from({ length: N }, () => softmaxRow(Array.from({ length: K }, () => temp * rng.gaussian())));
  return { p, feats };
}

const toMat = (t: tf.Tensor2D): Mat => t.arraySync();
const maxAbsDiff = (a: Mat, b: Mat): number => Math.max(...a.flatMap((r, i) => r.map((v, j) => Math.abs(v - b[i]![j]!))));
const argmax = (r: number[]): number => r.indexOf(Math.max(...r));

function solve(p: Mat, feats: Mat, o: OracleOptions) {
  const pt = tf.tensor2d(p);
  const ft = tf.tensor2d(feats);
  const sol = lameCorrect(pt, ft, { affinity: o.affinity, k: o.k, lambda: o.lambda, maxIter: o.maxIter, tol: o.tol, forceSymmetry: o.sym ?? false });
  const Y = toMat(sol.y);
  tf.dispose([pt, ft, sol.y]);
  return { ...sol, Y };
}

const DEFAULTS: OracleOptions = { affinity: 'rbf', k: 5, lambda: 1, maxIter: 100, tol: 1e-8 };

describe('LAME solver', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('matches the float64 port of the official code on random problems (every affinity, symmetrised or not)', () => {
    let seed = 10;
    for (const affinity of ['rbf', 'knn', 'linear'] as const) {
      for (const sym of [false, true]) {
        for (const [N, K, d] of [
          [17, 10, 8], // odd N and K % 4 != 0 exercise the blocked product's remainders
          [40, 5, 24],
        ] as const) {
          const { p, feats } = randomProblem(seed++, N, K, d);
          const o = { ...DEFAULTS, affinity, sym };
          const ref = oracleLame(p, feats, o);
          // The affinity first (W is the only input of the iterations besides p).
          const ft = tf.tensor2d(feats);
          const { w, sigma } = lameAffinity(ft, { affinity, k: 5, forceSymmetry: sym });
          expect(maxAbsDiff(toMat(w), ref.W), `${affinity} W`).toBeLessThan(1e-6);
          if (affinity === 'rbf') expect(Math.abs(sigma! - ref.sigma!) / ref.sigma!).toBeLessThan(1e-5);
          else expect(sigma).toBeUndefined();
          tf.dispose([ft, w]);
          const got = solve(p, feats, o);
          expect(maxAbsDiff(got.Y, ref.Y), `${affinity} sym=${sym} N=${N} Y`).toBeLessThan(1e-6);
          // LAME changes predictions here (the comparison is not trivially Y = p).
          if (affinity === 'rbf' && !sym && N === 40) expect(maxAbsDiff(got.Y, p)).toBeGreaterThan(0.1);
          // Same stopping rule, same float64 iterations: the same iteration count (within one: the features are rounded to float32 here).
          expect(Math.abs(got.iterations - ref.iterations), `${affinity} sym=${sym} N=${N}: ${got.iterations} vs ${ref.iterations}`).toBeLessThanOrEqual(1);
          expect(Math.abs(got.energy - ref.energies.at(-1)!) / Math.abs(ref.energies.at(-1)!)).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('with lambda = 0 (W contributes nothing) the output equals p', () => {
    const { p, feats } = randomProblem(1, 24, 10, 16);
    for (const affinity of ['rbf', 'knn', 'linear'] as const) {
      const got = solve(p, feats, { ...DEFAULTS, affinity, lambda: 0 });
      expect(maxAbsDiff(got.Y, p)).toBeLessThan(1e-6);
      // Energy stops changing at once: the rule fires at the first allowed iteration (index 2).
      expect(got.iterations).toBe(3);
    }
  });

  it('with W = 0 the iterations return p', () => {
    const { p } = randomProblem(2, 12, 6, 4);
    const pt = tf.tensor2d(p);
    const w = tf.zeros([12, 12]) as tf.Tensor2D;
    const { y } = laplacianOptimization(pt, w);
    expect(maxAbsDiff(toMat(y), p)).toBeLessThan(1e-6);
    tf.dispose([pt, w, y]);
  });

  it('returns a fixed point of Y = softmax(log p + lambda W Y) within the tolerance', () => {
    for (const [affinity, lambda] of [
      ['rbf', 1],
      ['linear', 0.5],
      ['rbf', 2],
    ] as const) {
      const { p, feats } = randomProblem(3, 32, 10, 16);
      const got = solve(p, feats, { ...DEFAULTS, affinity, lambda });
      expect(got.iterations).toBeLessThan(100);
      const W = oracleLame(p, feats, { ...DEFAULTS, affinity, lambda, maxIter: 1 }).W;
      const next = p.map((pr, r) =>
        softmaxRow(pr.map((v, c) => Math.log(v + 1e-10) + lambda * W[r]!.reduce((s, w, j) => s + w * got.Y[j]![c]!, 0))),
      );
      expect(maxAbsDiff(next, got.Y), `${affinity} lambda=${lambda}`).toBeLessThan(1e-5);
      expect(maxAbsDiff(got.Y, p)).toBeGreaterThan(0.05);
    }
  });

  it('the energy decreases monotonically on random problems', () => {
    for (const [seed, affinity] of [
      [4, 'rbf'],
      [5, 'knn'],
      [6, 'linear'],
    ] as const) {
      const { p, feats } = randomProblem(seed, 48, 10, 16);
      const pt = tf.tensor2d(p);
      const ft = tf.tensor2d(feats);
      const { w } = lameAffinity(ft, { affinity });
      const { y, energies } = laplacianOptimization(pt, w);
      expect(energies.length).toBeGreaterThan(3);
      for (let i = 1; i < energies.length; i++) {
        expect(energies[i]!, `${affinity} iteration ${i}`).toBeLessThanOrEqual(energies[i - 1]! + 1e-6 * Math.abs(energies[i - 1]!));
      }
      expect(energies.at(-1)!).toBeLessThan(energies[0]!);
      tf.dispose([pt, ft, w, y]);
    }
  });

  it('resolves ambiguous predictions toward each feature cluster’s majority', () => {
    // Two tight clusters of 8 in 6-d; in cluster A 5 frames lean to class 0 and 3 to class 1
    // (0.55 / 0.45), cluster B the opposite. Source accuracy by cluster majority: 10/16.
    const rng = new Rng(11);
    const feats: Mat = [];
    const p: Mat = [];
    const truth: number[] = [];
    for (const [cluster, majority] of [
      [0, 0],
      [1, 1],
    ] as const) {
      for (let i = 0; i < 8; i++) {
        feats.push(Array.from({ length: 6 }, (_, j) => (j === cluster * 3 ? 1 : 0) + 0.05 * rng.gaussian()));
        const lean = i < 5 ? majority : 1 - majority;
        p.push(lean === 0 ? [0.55, 0.45] : [0.45, 0.55]);
        truth.push(majority);
      }
    }
    expect(p.filter((r, i) => argmax(r) === truth[i]).length).toBe(10);
    for (const affinity of ['rbf', 'knn'] as const) {
      const got = solve(p, feats, { ...DEFAULTS, affinity });
      expect(got.Y.map(argmax), affinity).toEqual(truth);
    }
  });
});

describe('LAME degenerate batches', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('batch size 1 returns p unchanged for every affinity (no NaN from a zero sigma)', () => {
    const p = [[0.7, 0.2, 0.1]];
    for (const affinity of ['rbf', 'knn', 'linear'] as const) {
      const got = solve(p, [[1, 2, 3]], { ...DEFAULTS, affinity });
      expect(got.Y[0]!.map((v) => Math.fround(v))).toEqual(p[0]!.map((v) => Math.fround(v)));
      expect(got.iterations).toBe(0);
    }
  });

  it('identical features: finite, normalised, every frame gets the same correction (sigma -> 0 limit)', () => {
    const rng = new Rng(12);
    const p = Array.from({ length: 10 }, () => softmaxRow([rng.gaussian(), rng.gaussian(), rng.gaussian()]));
    const f = Array.from({ length: 32 }, () => rng.gaussian());
    const feats = p.map(() => [...f]);
    for (const affinity of ['rbf', 'knn', 'linear'] as const) {
      const got = solve(p, feats, { ...DEFAULTS, affinity });
      for (const row of got.Y) {
        expect(row.every(Number.isFinite)).toBe(true);
        expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      }
      if (affinity === 'rbf') {
        expect(got.sigma).toBe(0);
        // W = all ones (every pair is a duplicate): the update is the oracle's with W = 1.
        const ref = oracleLame(p, feats, { ...DEFAULTS, affinity: 'linear' }); // linear on identical unit rows: W = 1
        expect(maxAbsDiff(got.Y, ref.Y)).toBeLessThan(1e-4);
      }
    }
  });

  it('two groups of exact duplicates: the rbf sigma -> 0 limit links only duplicates', () => {
    const feats = [[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]];
    const p = [[0.6, 0.4], [0.6, 0.4], [0.45, 0.55], [0.3, 0.7], [0.3, 0.7], [0.55, 0.45]];
    const { w, sigma } = lameAffinity(tf.tensor2d(feats), { affinity: 'rbf', k: 3 });
    expect(sigma).toBe(0);
    expect(toMat(w)).toEqual(feats.map((a) => feats.map((b) => (a[0] === b[0] ? 1 : 0))));
    w.dispose();
    const got = solve(p, feats, { ...DEFAULTS, k: 3 });
    expect(got.Y.map(argmax)).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('k larger than the batch is clipped as in the reference', () => {
    const { p, feats } = randomProblem(13, 4, 3, 5);
    for (const affinity of ['rbf', 'knn'] as const) {
      const o = { ...DEFAULTS, affinity, k: 50 };
      const got = solve(p, feats, o);
      const ref = oracleLame(p, feats, o);
      expect(got.Y.flat().every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(got.Y, ref.Y)).toBeLessThan(2e-4);
    }
  });

  it('an all-zero feature row (a dead ReLU output) is at distance 1 from every unit row, as in the reference', () => {
    const { p, feats } = randomProblem(14, 12, 4, 6);
    feats[3] = new Array<number>(6).fill(0);
    const ref = oracleLame(p, feats, DEFAULTS);
    const { w, sigma } = lameAffinity(tf.tensor2d(feats));
    expect(maxAbsDiff(toMat(w), ref.W)).toBeLessThan(1e-6);
    expect(Math.abs(sigma! - ref.sigma!)).toBeLessThan(1e-5);
    w.dispose();
    expect(maxAbsDiff(solve(p, feats, DEFAULTS).Y, ref.Y)).toBeLessThan(1e-6);
    // knn: the zero row is equidistant (1) from all others, a tie in the reference too;
    // it still gets exactly k neighbours, never itself, and the other rows are the reference's.
    const refKnn = oracleLame(p, feats, { ...DEFAULTS, affinity: 'knn' }).W;
    const knn = lameAffinity(tf.tensor2d(feats), { affinity: 'knn' }).w;
    const W = toMat(knn);
    knn.dispose();
    expect(W[3]!.reduce((a, b) => a + b, 0)).toBe(5);
    expect(W[3]![3]).toBe(0);
    for (let i = 0; i < 12; i++) if (i !== 3 && refKnn[i]![3] === 0) expect(W[i], `row ${i}`).toEqual(refKnn[i]);
  });

  it('knn with duplicates never picks the frame itself', () => {
    const feats = [[1, 0], [1, 0], [0, 1], [0.9, 0.1]];
    const { w } = lameAffinity(tf.tensor2d(feats), { affinity: 'knn', k: 1 });
    const W = toMat(w);
    w.dispose();
    for (let i = 0; i < 4; i++) expect(W[i]![i]).toBe(0);
    expect(W[0]).toEqual([0, 1, 0, 0]);
    expect(W[1]).toEqual([1, 0, 0, 0]);
  });
});

describe("strategy 'lame' on a LayersModel", () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('corrects model.predict with the penultimate (GAP) features, as the official algorithm does', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model);
    const before = model.weights.map((w) => Array.from(w.read().dataSync()));
    // The reference behaviour: every batch corrected (classGate 0, maxChanged 1; the gates are
    // tested in tests/safety/safeDefaults.test.ts), no guard (this random model is far from its
    // own BN statistics, where the guard answers with the source model: guard.maxShift).
    const adapter = await createAdapter(model, { strategy: 'lame', classGate: 0, maxChanged: 1, guard: false });
    expect(await adapter.getConfig()).toEqual({
      strategy: 'lame',
      affinity: 'rbf',
      k: 5,
      lambda: 1,
      maxIter: 100,
      tol: 1e-8,
      forceSymmetry: false,
      featuresLayer: '',
      classGate: 0,
      maxChanged: 1,
      guard: false,
    });
    const x = randomBatch([20, 12, 12, 1], 21);
    const out = await adapter.step(x);
    // Independent path: model.predict and a Keras sub-model ending at the GAP layer.
    const featModel = tf.model({ inputs: model.inputs, outputs: model.getLayer('gap').output as tf.SymbolicTensor });
    const p = tf.tidy(() => (model.predict(x) as tf.Tensor2D).arraySync());
    const feats = tf.tidy(() => (featModel.predict(x) as tf.Tensor2D).arraySync());
    const ref = oracleLame(p, feats, DEFAULTS);
    const got: Mat = Array.from({ length: 20 }, (_, i) => Array.from(out.probs.slice(i * 5, i * 5 + 5)));
    expect(maxAbsDiff(got, ref.Y)).toBeLessThan(2e-4);
    const changed = p.filter((r, i) => argmax(r) !== argmax(ref.Y[i]!)).length;
    expect(out.stats.changed).toBe(changed);
    expect(out.stats.iterations).toBeGreaterThanOrEqual(3);
    expect(Math.abs(out.stats.energy! - ref.energies.at(-1)!) / Math.abs(ref.energies.at(-1)!)).toBeLessThan(1e-3);
    expect(Math.abs(out.stats.sigma! - ref.sigma!)).toBeLessThan(1e-4);
    // The model is untouched.
    expect(model.weights.map((w) => Array.from(w.read().dataSync()))).toEqual(before);
    adapter.dispose();
    x.dispose();
  });

  it('featuresLayer names another layer; a bad name or bad option is an InvalidOptionError', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 3);
    const adapter = await createAdapter(model, { strategy: 'lame', featuresLayer: 'b2s_bn', affinity: 'knn', k: 3, classGate: 0, maxChanged: 1, guard: false });
    const x = randomBatch([10, 12, 12, 1], 22);
    const out = await adapter.step(x);
    const featModel = tf.model({ inputs: model.inputs, outputs: model.getLayer('b2s_bn').output as tf.SymbolicTensor });
    const p = tf.tidy(() => (model.predict(x) as tf.Tensor2D).arraySync());
    const feats = tf.tidy(() => (featModel.predict(x) as tf.Tensor).reshape([10, -1]).arraySync() as Mat);
    const ref = oracleLame(p, feats, { ...DEFAULTS, affinity: 'knn', k: 3 });
    const got: Mat = Array.from({ length: 10 }, (_, i) => Array.from(out.probs.slice(i * 5, i * 5 + 5)));
    expect(maxAbsDiff(got, ref.Y)).toBeLessThan(2e-4);
    adapter.dispose();
    x.dispose();

    const bad = [
      { featuresLayer: 'nope' },
      { affinity: 'cosine' },
      { k: 0 },
      { k: 2.5 },
      { lambda: -1 },
      { maxIter: 0 },
      { tol: Number.NaN },
      { classGate: -0.1 },
    ];
    for (const opts of bad) {
      const err = await createAdapter(model, { strategy: 'lame', ...(opts as object) }).catch((e: unknown) => e);
      expect(err, JSON.stringify(opts)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toContain(Object.keys(opts)[0] === 'featuresLayer' ? "'nope'" : `'${Object.keys(opts)[0]}'`);
    }
  });

  it('option bounds: each smallest valid value is accepted, and each invalid one named with its exact message', async () => {
    const model = smallResNet([12, 12, 1], 5);
    for (const opts of [{ k: 1 }, { maxIter: 1 }, { lambda: 0 }, { tol: 0 }, { classGate: 0 }, { forceSymmetry: true }]) {
      const adapter = await createAdapter(model, { strategy: 'lame', ...opts });
      expect(await adapter.getConfig(), JSON.stringify(opts)).toMatchObject(opts);
      adapter.dispose();
    }
    const bad: Array<[object, string]> = [
      [{ k: 0 }, "lame: option 'k' must be an integer >= 1; got 0."],
      [{ k: '3' }, "lame: option 'k' must be an integer >= 1; got 3."],
      [{ maxIter: 0.5 }, "lame: option 'maxIter' must be an integer >= 1; got 0.5."],
      [{ lambda: Infinity }, "lame: option 'lambda' must be a finite number >= 0; got Infinity."],
      [{ lambda: '1' }, "lame: option 'lambda' must be a finite number >= 0; got 1."],
      [{ lambda: -1e-9 }, "lame: option 'lambda' must be a finite number >= 0; got -1e-9."],
      [{ tol: -1 }, "lame: option 'tol' must be a number >= 0; got -1."],
      [{ tol: '0' }, "lame: option 'tol' must be a number >= 0; got 0."],
      [{ forceSymmetry: 1 }, "lame: option 'forceSymmetry' must be a boolean; got 1."],
      [{ classGate: Infinity }, "lame: option 'classGate' must be a finite number >= 0 (0 corrects every batch, the reference behaviour); got Infinity."],
      [{ classGate: NaN }, "lame: option 'classGate' must be a finite number >= 0 (0 corrects every batch, the reference behaviour); got NaN."],
      [{ classGate: '0.5' }, "lame: option 'classGate' must be a finite number >= 0 (0 corrects every batch, the reference behaviour); got 0.5."],
      [{ featuresLayer: 5 }, "lame: option 'featuresLayer' must be a layer name (string); got 5."],
      [{ affinity: 'cosine' }, "lame: option 'affinity' must be 'rbf', 'knn' or 'linear'; got 'cosine'."],
    ];
    for (const [opts, message] of bad) {
      const err = await createAdapter(model, { strategy: 'lame', ...(opts as object) }).catch((e: unknown) => e);
      expect(err, JSON.stringify(opts)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toBe(message);
    }
    model.dispose();
  });

  it('batch size 1 through the adapter returns the source probabilities', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 4);
    const adapter = await createAdapter(model, { strategy: 'lame', guard: false });
    const x = randomBatch([1, 12, 12, 1], 23);
    const out = await adapter.step(x);
    const p = tf.tidy(() => Array.from((model.predict(x) as tf.Tensor).dataSync()));
    for (let i = 0; i < 5; i++) expect(Math.abs(out.probs[i]! - p[i]!)).toBeLessThan(1e-6);
    expect(out.stats).toMatchObject({ iterations: 0, changed: 0 });
    adapter.dispose();
    x.dispose();
  });

  it('with classGate 0, every batch is corrected on its own; snapshot, restore and reset keep the model bit-identical', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 6);
    const bits = () => model.weights.map((w) => Array.from(new Uint32Array((w.read().dataSync() as Float32Array).slice().buffer)));
    const original = bits();
    const adapter = await createAdapter(model, { strategy: 'lame', affinity: 'knn', classGate: 0 });
    const a = randomBatch([12, 12, 12, 1], 31);
    const b = randomBatch([12, 12, 12, 1], 32);
    const first = await adapter.step(a);
    const snap = await adapter.snapshot();
    await adapter.step(b);
    await adapter.step(b);
    expect(Array.from((await adapter.step(a)).probs)).toEqual(Array.from(first.probs));
    await adapter.restore(snap);
    await adapter.reset();
    expect(Array.from((await adapter.step(a)).probs)).toEqual(Array.from(first.probs));
    expect(bits()).toEqual(original);
    adapter.dispose();
    expect(bits()).toEqual(original);
    tf.dispose([a, b]);
  });

  it('about 200 steps (67 per affinity) leave tf.memory().numTensors unchanged', async () => {
    const model = smallResNet([12, 12, 1], 5);
    randomizeBatchNorms(model, 5);
    for (const affinity of ['rbf', 'knn', 'linear'] as const) {
      const adapter = await createAdapter(model, { strategy: 'lame', affinity, featuresLayer: affinity === 'knn' ? 'gap' : '' });
      const x = randomBatch([8, 12, 12, 1], 24);
      await adapter.step(x); // warm-up (lazy kernel set-up, source copies)
      const before = tf.memory().numTensors;
      for (let i = 0; i < 200 / 3; i++) await adapter.step(x);
      expect(tf.memory().numTensors, affinity).toBe(before);
      adapter.dispose();
      x.dispose();
    }
  });
});

describe('LAME under the guard: one forward pass per step', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  /** Convolution kernels one call runs (each pass of the model runs each of its conv layers once). */
  async function convKernels(run: () => Promise<unknown>): Promise<number> {
    const prof = await tf.profile(async () => {
      await run();
    });
    return prof.kernels.filter((k) => /^(Fused)?Conv2D$|DepthwiseConv2d/.test(k.name)).length;
  }

  it("corrects the guard's source pass instead of running the model again: same answers up to float rounding, reset and memory as without the guard", async () => {
    // The shipped model on clean test images (near its source: the guard lets LAME correct);
    // guard.classGate 0 so that every batch is LAME's (no class-correlation verdict to wait for).
    const test = loadFashionMnist('test');
    const batches = Array.from({ length: 8 }, (_, b) => {
      const idx = Array.from({ length: 32 }, (_, k) => ((b * 32 + k) * 37) % test.n);
      return { data: toFloat32(test, idx), shape: [32, 28, 28, 1] as [number, number, number, number] };
    });
    const guarded = await createAdapter(await loadSourceModel(), { strategy: 'lame', guard: { classGate: 0 } });
    const plain = await createAdapter(await loadSourceModel(), { strategy: 'lame', guard: false });
    try {
      const first = await guarded.step(batches[0]!); // a guard check step (it runs the drift reference too)
      await plain.step(batches[0]!);
      let corrected = 0;
      for (const [i, b] of batches.slice(1).entries()) {
        let g!: Awaited<ReturnType<typeof guarded.step>>;
        const guardedConvs = await convKernels(async () => (g = await guarded.step(b)));
        let p!: Awaited<ReturnType<typeof plain.step>>;
        const plainConvs = await convKernels(async () => (p = await plain.step(b)));
        expect(g.update.mode, `batch ${i + 1}`).toBe('adapt');
        // One pass: the guard's (BN unfolded for its hooks), as many convolutions as LAME alone.
        expect(guardedConvs, `batch ${i + 1}`).toBe(plainConvs);
        expect(Math.max(...Array.from(g.probs, (v, j) => Math.abs(v - p.probs[j]!)))).toBeLessThan(1e-5);
        expect(g.stats.corrected).toBe(p.stats.corrected);
        corrected += g.stats.corrected!;
      }
      // Not only the source answer passed through: the class gate let some batches be corrected.
      expect(corrected).toBeGreaterThan(0);
      // The gate's stream prior was taken as source state before the first shared step changed it.
      await guarded.reset();
      expect(Array.from((await guarded.step(batches[0]!)).probs)).toEqual(Array.from(first.probs));
      const before = tf.memory().numTensors;
      for (const b of batches) await guarded.step(b);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      guarded.dispose();
      plain.dispose();
    }
  });
});
