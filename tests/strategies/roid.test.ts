/**
 * `roid` against hand-computed loss pieces and against an independent port of the official
 * `forward_and_adapt` on the tfjs cpu backend.
 *
 * The port (`referenceRun` below) shares no code with strategies/roid.ts: Keras training-mode BN
 * (`model.apply(x, {training: true})`, batch statistics) on a separate copy of the model instead of
 * the executor's BN hooks, its own float64 weights, SLR / SCE / prior correction written from
 * `utils/losses.py` and `roid.py`, its own Adam (PyTorch formula) and its own weight ensembling.
 * The augmented view is the one the strategy documents: one draw per step of
 * `CottaAugmenter(ROID_AUGMENT, hashSeed(seed, 1))` on the kept samples.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CottaAugmenter, ROID_AUGMENT } from '../../src/augment/index.js';
import { createAdapter, initBackend, InvalidOptionError, UnsupportedModelError } from '../../src/index.js';
import { createTarget, type LayersTarget } from '../../src/model/target.js';
import { disposeTensors } from '../../src/model/weights.js';
import { hashSeed } from '../../src/random.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';
import {
  priorCorrection,
  roidSampleWeights,
  softLikelihoodRatio,
  symmetricCrossEntropy,
  type RoidOptions,
  type RoidStrategy,
} from '../../strategies/roid.js';
import { loadMlpGraphModel, randomMlpWeights } from '../helpers/graphModel.js';
import { expectFailedStepCommitsNothing } from '../helpers/failingStep.js';
import { expectNonNegativeState } from '../helpers/nonNegativeState.js';
import { plainCnn, randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE: [number, number, number] = [8, 8, 3];
const CLASSES = 4;
let WEIGHTS: Float32Array[] | null = null;

/**
 * The same small ResNet (6 BN layers, residual adds, GAP, softmax dense; same weights) on every call.
 * Every BN is followed by a ReLU, so no BN parameter has a structurally zero gradient (a BN shift
 * cancelled by the next BN would leave Adam's first step g / (|g| + 1e-8) to rounding noise).
 */
function net(): tf.LayersModel {
  const m = smallResNet(SHAPE, CLASSES);
  if (WEIGHTS === null) {
    randomizeBatchNorms(m, 5);
    WEIGHTS = m.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  } else {
    const ws = m.getWeights().map((w, i) => tf.tensor(WEIGHTS![i]!, w.shape));
    m.setWeights(ws);
    tf.dispose(ws);
  }
  return m;
}

function create(model: tf.LayersModel, options: RoidOptions = {}, seed = 0): RoidStrategy {
  const def = getStrategy('roid');
  // The official step normalises with batch statistics; these batches are below EMA_BELOW_BATCH,
  // where the default `stats: 'auto'` would use moving ones.
  const resolved = resolveOptions(def, { stats: 'batch', ...options } as Record<string, unknown>);
  return def.create(createTarget(model) as LayersTarget, resolved as never, { seed }) as RoidStrategy;
}

/** The BN gamma/beta values of a model, in model order. */
const bnAffine = (m: tf.LayersModel) => m.weights.filter((w) => /gamma|beta/.test(w.name)).map((w) => Array.from(w.read().dataSync()));

/** A fixed sequence of batches in [0, 1] (the last one smaller). */
let BATCHES: Array<{ n: number; data: Float32Array }> = [];

interface StepRecord {
  loss: number;
  weights: number[];
  params: number[][];
  probs: number[];
}

const softmaxRows = (z: number[][]) =>
  z.map((r) => {
    const m = Math.max(...r);
    const e = r.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });

/** The official step, written out independently (see the file header). */
function referenceRun(o: Required<Pick<RoidOptions, 'weighting' | 'consistency' | 'priorCorrection' | 'weightEnsembling'>>, seed: number): StepRecord[] {
  const model = net();
  // Logits by hand: Keras training-mode BN up to the pooled features, then the dense kernel and bias
  // (the model's own output is the softmax).
  const features = tf.model({ inputs: model.inputs, outputs: model.getLayer('gap').output as tf.SymbolicTensor });
  const [kernel, bias] = model.getLayer('logits').getWeights();
  const logitsOf = (x: tf.Tensor4D) => tf.add(tf.matMul(features.apply(x, { training: true }) as tf.Tensor2D, kernel!), bias!) as tf.Tensor2D;
  const vars = model.weights.filter((w) => /gamma|beta/.test(w.name)).map((w) => w.read() as tf.Variable);
  const source = vars.map((v) => v.dataSync().slice());
  const m: tf.Tensor[] = vars.map((v) => tf.zerosLike(v));
  const v2: tf.Tensor[] = vars.map((v) => tf.zerosLike(v));
  let t = 0;
  let ema = new Array<number>(CLASSES).fill(1 / CLASSES);
  const aug = new CottaAugmenter(ROID_AUGMENT, hashSeed(seed, 1));
  const records: StepRecord[] = [];
  for (const { n, data } of BATCHES) {
    const x = tf.tensor4d(data, [n, ...SHAPE]);
    let weights: number[] = new Array<number>(n).fill(1);
    let kept = Array.from({ length: n }, (_, i) => i);
    let logitsVals: number[][] = [];
    const { value, grads } = tf.variableGrads(() => {
      const logits = logitsOf(x);
      logitsVals = logits.arraySync();
      const p = softmaxRows(logitsVals);
      if (o.weighting) {
        // weights_div = 1 - cosine_similarity(ema, p); weights_cert = -entropy; min-max each.
        const norm = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
        const div = p.map((r) => 1 - r.reduce((s, v, k) => s + v * ema[k]!, 0) / (norm(r) * norm(ema)));
        const cert = p.map((r) => r.reduce((s, v) => s + v * Math.log(v), 0));
        const mm = (a: number[]) => a.map((v) => (v - Math.min(...a)) / (Math.max(...a) - Math.min(...a)));
        const d = mm(div);
        const c = mm(cert);
        const mean = d.reduce((s, v) => s + v, 0) / n;
        weights = d.map((dv, i) => (dv < mean ? 0 : Math.exp((dv * c[i]!) / (1 / 3))));
        kept = d.flatMap((dv, i) => (dv < mean ? [] : [i]));
        ema = ema.map((e, k) => 0.9 * e + (0.1 * p.reduce((s, r) => s + r[k]!, 0)) / n);
      }
      // SLR: -(q * log(q / (1 - q) + 1e-5)).sum(1), q = clamp(softmax, 0, 0.99)
      const q = tf.clipByValue(tf.softmax(logits), 0, 0.99);
      const slr = tf.neg(tf.sum(tf.mul(q, tf.log(tf.add(tf.div(q, tf.sub(tf.onesLike(q), q)), 1e-5))), 1));
      const w = tf.tensor1d(weights);
      let loss = tf.div(tf.sum(tf.mul(slr, w)), n);
      if (o.consistency) {
        const rows = kept.map((i) => tf.slice(logits, [i, 0], [1, CLASSES]));
        const xe = tf.concat(rows, 0);
        const xa = logitsOf(aug.augment(tf.gather(x, kept) as tf.Tensor4D));
        // SymmetricCrossEntropy(alpha=0.5)(x=outputs_aug, x_ema=outputs[~mask])
        const sce = tf.sub(
          tf.mul(-0.5, tf.sum(tf.mul(tf.softmax(xe), tf.logSoftmax(xa)), 1)),
          tf.mul(0.5, tf.sum(tf.mul(tf.softmax(xa), tf.logSoftmax(xe)), 1)),
        );
        loss = tf.add(loss, tf.div(tf.sum(tf.mul(sce, tf.tensor1d(kept.map((i) => weights[i]!)))), n));
      }
      return loss as tf.Scalar;
    }, vars);
    // torch.optim.Adam(lr 1e-3, betas (0.9, 0.999), eps 1e-8)
    t++;
    tf.tidy(() =>
      vars.forEach((p, i) => {
        const g = grads[p.name]!;
        const mi = tf.add(tf.mul(m[i]!, 0.9), tf.mul(g, 0.1));
        const vi = tf.add(tf.mul(v2[i]!, 0.999), tf.mul(tf.square(g), 0.001));
        tf.dispose([m[i]!, v2[i]!]);
        m[i] = tf.keep(mi);
        v2[i] = tf.keep(vi);
        const step = tf.div(tf.div(mi, 1 - 0.9 ** t), tf.add(tf.sqrt(tf.div(vi, 1 - 0.999 ** t)), 1e-8));
        let next = tf.sub(p, tf.mul(step, 1e-3));
        // ema_update_model(model, src_model, 0.99)
        if (o.weightEnsembling) next = tf.add(tf.mul(next, 0.99), tf.mul(tf.tensor(source[i]!, p.shape), 0.01));
        p.assign(next);
      }),
    );
    let out = logitsVals;
    if (o.priorCorrection) {
      const p = softmaxRows(logitsVals);
      const prior = p[0]!.map((_, k) => p.reduce((s, r) => s + r[k]!, 0) / n);
      const smooth = Math.max(1 / n, 1 / CLASSES) / Math.max(...prior);
      const sp = prior.map((v) => (v + smooth) / (1 + smooth * CLASSES));
      out = logitsVals.map((r) => r.map((v, k) => v * sp[k]!));
    }
    records.push({ loss: value.dataSync()[0]!, weights, params: vars.map((p) => Array.from(p.dataSync())), probs: softmaxRows(out).flat() });
    tf.dispose([value, x]);
    tf.dispose(grads);
  }
  tf.dispose([...m, ...v2]);
  model.dispose();
  return records;
}

function strategyRun(options: RoidOptions, seed: number): StepRecord[] {
  const model = net();
  const s = create(model, options, seed);
  const records: StepRecord[] = [];
  for (const { n, data } of BATCHES) {
    const x = tf.tensor4d(data, [n, ...SHAPE]);
    const { probs, stats } = s.step(x);
    records.push({ loss: stats.loss!, weights: Array.from(s.lastWeights!), params: bnAffine(model), probs: Array.from(probs.dataSync()) });
    tf.dispose([x, probs]);
  }
  s.dispose();
  model.dispose();
  return records;
}

function expectNear(got: number[], want: number[], tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol));
}

describe('roid', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    BATCHES = [8, 8, 6].map((n, i) => tf.tidy(() => ({ n, data: randomBatch([n, ...SHAPE], 100 + i).dataSync().slice() as Float32Array })));
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('SLR, SCE, sample weights and prior correction match hand-computed values', () => {
    // p = [0.25, 0.75]: -(0.25 ln(1/3 + 1e-5) + 0.75 ln(3 + 1e-5)) = -0.549316...
    // logits [10, 0]: p0 = 0.9999546 is clipped to 0.99; p1 = 4.5398e-5: -(0.99 ln(99 + 1e-5) + p1 ln(p1 / (1 - p1) + 1e-5)).
    const slr = softLikelihoodRatio(tf.tensor2d([[0, Math.log(3)], [10, 0]]));
    expectNear(Array.from(slr.dataSync()), [-0.5493161, -4.5487238], 2e-6, 'slr');
    // SCE(x = [0, 0], x_ema = [ln 3, 0]) = 0.5 ln 2 - 0.25 (ln 0.75 + ln 0.25) = 0.7650677; symmetric at alpha 0.5.
    const sce = symmetricCrossEntropy(tf.tensor2d([[0, 0]]), tf.tensor2d([[Math.log(3), 0]]));
    expectNear(Array.from(sce.dataSync()), [0.7650677], 2e-6, 'sce');
    const sceSwapped = symmetricCrossEntropy(tf.tensor2d([[Math.log(3), 0]]), tf.tensor2d([[0, 0]]));
    expectNear(Array.from(sceSwapped.dataSync()), [0.7650677], 2e-6, 'sce swapped');
    // Weights against a uniform average: p = [.5 .5], [.9 .1], [.2 .8].
    // div = 1 - cos = [0, 0.2191312, 0.1425071] -> [0, 1, 0.6503277], mean 0.5501092 -> the first is masked.
    // -entropy = [-0.6931472, -0.3250830, -0.5004024] -> [0, 1, 0.5236716].
    // w = [0, exp(3), exp(3 * 0.6503277 * 0.5236716)] = [0, 20.0855369, 2.7778418].
    const w = roidSampleWeights([0.5, 0.5, 0.9, 0.1, 0.2, 0.8], 3, [0.5, 0.5], 1 / 3, 0.9);
    expect(w.mask).toEqual([true, false, false]);
    expectNear(Array.from(w.diversity), [0, 1, 0.6503277], 1e-6, 'diversity');
    expectNear(Array.from(w.certainty), [0, 1, 0.5236716], 1e-6, 'certainty');
    expectNear(Array.from(w.weights), [0, 20.0855369, 2.7778418], 1e-6, 'weights');
    // ema' = 0.9 * 0.5 + 0.1 * mean(p) = [0.5033333, 0.4966667].
    expectNear(Array.from(w.nextEma), [0.5033333, 0.4966667], 1e-6, 'ema');
    // A batch of one (constant diversity and certainty): nothing masked, weight exp(0) = 1.
    const one = roidSampleWeights([0.7, 0.3], 1, [0.5, 0.5], 1 / 3, 0.9);
    expect(one.mask).toEqual([false]);
    expect(Array.from(one.weights)).toEqual([1]);
    // Prior correction of [[2, 0], [0, 0]]: prior = [0.6903985, 0.3096015], smooth = 0.5 / 0.6903985,
    // prior' = [0.5777632, 0.4222368]; the logits are multiplied: [[1.1555265, 0], [0, 0]].
    const pc = priorCorrection(tf.tensor2d([[2, 0], [0, 0]]));
    expectNear(Array.from(pc.dataSync()), [1.1555265, 0, 0, 0], 2e-6, 'prior correction');
    tf.dispose([slr, sce, sceSwapped, pc]);
  });

  const VARIANTS: Array<[string, Required<Pick<RoidOptions, 'weighting' | 'consistency' | 'priorCorrection' | 'weightEnsembling'>>]> = [
    ['defaults', { weighting: true, consistency: true, priorCorrection: true, weightEnsembling: true }],
    ['every switch off', { weighting: false, consistency: false, priorCorrection: false, weightEnsembling: false }],
    ['weighting off, consistency on', { weighting: false, consistency: true, priorCorrection: true, weightEnsembling: true }],
  ];
  for (const [label, switches] of VARIANTS) {
    it(`matches the independent port of the official step over 3 batches (${label}): loss, weights, parameters, outputs within 1e-4`, () => {
      const seed = 3;
      const want = referenceRun(switches, seed);
      const got = strategyRun(switches, seed);
      want.forEach((w, step) => {
        const g = got[step]!;
        expect(Math.abs(g.loss - w.loss), `step ${step} loss ${g.loss} vs ${w.loss}`).toBeLessThanOrEqual(1e-4);
        expectNear(g.weights, w.weights, 1e-4 * Math.max(1, ...w.weights), `step ${step} weights`);
        g.params.forEach((p, i) => expectNear(p, w.params[i]!, 1e-4, `step ${step} param ${i}`));
        expectNear(g.probs, w.probs, 1e-4, `step ${step} probs`);
      });
      // The comparison is not vacuous: parameters moved, some samples were dropped when weighting.
      expect(Math.max(...got[2]!.params.flat().map((v, i) => Math.abs(v - got[0]!.params.flat()[i]!)))).toBeGreaterThan(1e-4);
      if (switches.weighting) expect(got.some((r) => r.weights.includes(0))).toBe(true);
    });
  }

  it('only BN gamma/beta change; snapshot/restore is bit-identical; reset equals a fresh strategy; dispose hands back the source', () => {
    const model = net();
    const before = model.weights.map((w) => Array.from(w.read().dataSync()));
    const s = create(model, {}, 9);
    const x = (i: number) => tf.tensor4d(BATCHES[i]!.data, [BATCHES[i]!.n, ...SHAPE]);
    const run = (i: number) => {
      const xi = x(i);
      const { probs, stats } = s.step(xi);
      const out = { probs: Array.from(probs.dataSync()), loss: stats.loss };
      tf.dispose([xi, probs]);
      return out;
    };
    run(0);
    model.weights.forEach((w, i) => {
      const changed = Array.from(w.read().dataSync()).some((v, j) => v !== before[i]![j]);
      expect(changed, w.name).toBe(/gamma|beta/.test(w.name));
    });
    const snap = s.snapshot();
    expect(Object.keys(snap.meta).sort()).toEqual(['adamStep', 'augmenter', 'classProbsEma']);
    expect(Object.keys(snap.meta.classProbsEma as object)).toEqual(['0', '1', '2', '3']);
    const a1 = run(1);
    const a2 = run(2);
    const after = bnAffine(model);
    s.restore(snap);
    expect(run(1)).toEqual(a1);
    expect(run(2)).toEqual(a2);
    expect(bnAffine(model)).toEqual(after);
    s.reset();
    const fresh = create(net(), {}, 9);
    const xf = x(0);
    const r = fresh.step(xf);
    expect(run(0).probs).toEqual(Array.from(r.probs.dataSync()));
    tf.dispose([xf, r.probs]);
    fresh.dispose();
    disposeTensors(snap.tensors);
    s.dispose();
    model.weights.forEach((w, i) => expect(Array.from(w.read().dataSync())).toEqual(before[i]));
    model.dispose();
  });

  it("stats: 'ema' keeps moving statistics for both passes in the state; restore replays bit-identically", () => {
    const model = net();
    const s = create(model, { stats: 'ema', statsMomentum: 0.05 }, 2);
    const run = (i: number) => {
      const x = tf.tensor4d(BATCHES[i]!.data, [BATCHES[i]!.n, ...SHAPE]);
      const { probs } = s.step(x);
      const out = Array.from(probs.dataSync());
      tf.dispose([x, probs]);
      return out;
    };
    run(0);
    const snap = s.snapshot();
    const names = Object.keys(snap.tensors);
    expect(names.filter((n) => n.startsWith('normStats/')).length).toBe(12); // 6 BN layers x (mean, variance)
    expect(names.filter((n) => n.startsWith('roid/aug/normStats/')).length).toBe(12);
    const a = run(1);
    expect(a.every(Number.isFinite)).toBe(true);
    s.restore(snap);
    expect(run(1)).toEqual(a);
    // The moving statistics moved away from the source ones (they are used, and updated).
    const bn = (s as unknown as { target: LayersTarget }).target.info.batchNorms[0]!;
    expect(snap.tensors[`normStats/${bn.name}/mean`]!.dataSync()).not.toEqual(bn.movingMean.dataSync());
    disposeTensors(snap.tensors);
    s.dispose();
    model.dispose();
  });

  it('does not leak tensors over steps, snapshots and resets', () => {
    const model = net();
    const s = create(model);
    const step = () => {
      const x = tf.tensor4d(BATCHES[0]!.data, [BATCHES[0]!.n, ...SHAPE]);
      const { probs } = s.step(x);
      tf.dispose([x, probs]);
    };
    step();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    disposeTensors(s.snapshot().tensors);
    s.reset();
    step();
    expect(tf.memory().numTensors).toBe(n0);
    const beforeDispose = tf.memory().numTensors;
    s.dispose();
    expect(tf.memory().numTensors).toBeLessThan(beforeDispose);
    model.dispose();
  });

  it('runs on the wasm backend (gradient kernels, one-hot row selection) like on cpu', async () => {
    const cpu = strategyRun({}, 4).map((r) => r.probs);
    await initBackend({ backend: 'wasm' });
    const wasm = strategyRun({}, 4).map((r) => r.probs);
    await tf.setBackend('cpu');
    // Not bit-equal: Adam's early steps (about lr * sign(g)) amplify the backends' rounding in small gradients.
    wasm.forEach((p, i) => expectNear(p, cpu[i]!, 1e-3, `step ${i} probs`));
  });

  it('bad options, models without BN and GraphModels get typed errors', async () => {
    for (const [options, message] of [
      [{ momentumSrc: 1.5 }, /'momentumSrc' is 1.5/],
      [{ temperature: 0 }, /'temperature' is 0/],
      [{ lr: -1 }, /'lr' is -1/],
      [{ weighting: 'yes' }, /'weighting' is yes.*true or false/],
      [{ stats: 'window' }, /'stats' is "window"/],
    ] as const) {
      const err = await createAdapter(net(), { strategy: 'roid', ...options } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(message);
    }
    const noBn = await createAdapter(plainCnn(), { strategy: 'roid' }).catch((e: unknown) => e);
    expect(noBn).toBeInstanceOf(UnsupportedModelError);
    const graph = await loadMlpGraphModel(randomMlpWeights(1));
    const onGraph = await createAdapter(graph, { strategy: 'roid', graphNodes: { outputNode: 'logits', featuresNode: 'features' } }).catch(
      (e: unknown) => e,
    );
    expect(onGraph).toBeInstanceOf(UnsupportedModelError);
    expect((onGraph as Error).message).toMatch(/'roid' needs a tf.LayersModel/);
    graph.dispose();
    const ok = await createAdapter(net(), { strategy: 'roid', priorCorrection: false, momentumSrc: 0.999 });
    expect((await ok.getConfig()).momentumSrc).toBe(0.999);
    ok.dispose();
  });
});

describe('roid: edges the reference comparison does not reach', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const batch = (n: number, seed: number) => randomBatch([n, ...SHAPE], seed);

  it('a probability of exactly 0 adds nothing to the entropy (0 ln 0 = 0), as torch.special.entr', () => {
    // -entropy = [0, -ln 2, -0.5004024]: the one-hot row is the most certain.
    const w = roidSampleWeights([1, 0, 0.5, 0.5, 0.2, 0.8], 3, [0.5, 0.5], 1 / 3, 0.9);
    expectNear(Array.from(w.certainty), [1, 0, 1 - 0.5004024 / Math.LN2], 1e-6, 'certainty');
    expect(Array.from(w.weights).every(Number.isFinite)).toBe(true);
  });

  it('trains only the BN parameters that exist; a model whose BN layers have neither is refused', () => {
    const build = (scale: boolean, center: boolean) =>
      tf.sequential({
        name: 'affine_test',
        layers: [
          tf.layers.conv2d({ inputShape: SHAPE, filters: 4, kernelSize: 3, name: 'c' }),
          tf.layers.batchNormalization({ scale, center, name: 'bn' }),
          tf.layers.reLU({ name: 'r' }),
          tf.layers.globalAveragePooling2d({ name: 'gap' }),
          tf.layers.dense({ units: CLASSES, name: 'logits' }),
        ],
      });
    const x = batch(8, 3);
    for (const [scale, center] of [[false, true], [true, false]] as const) {
      const model = build(scale, center);
      const before = model.getWeights().map((w) => Array.from(w.dataSync()));
      const s = create(model);
      tf.dispose(s.step(x).probs);
      tf.dispose(s.step(x).probs);
      // Only the one BN parameter the layer has moved.
      const moved = model.weights.filter((w, i) => Array.from(w.read().dataSync()).some((v, j) => v !== before[i]![j])).map((w) => w.originalName);
      expect(moved).toEqual([scale ? 'bn/gamma' : 'bn/beta']);
      s.dispose();
      model.dispose();
    }
    expect(() => create(build(false, false))).toThrow(
      new UnsupportedModelError(
        "Strategy 'roid' trains the BN scale and offset, and every BatchNormalization layer of model 'affine_test' was built with `scale: false, center: false`. Use 'bn-adapt' or 'alpha-bn' instead.",
      ),
    );
    expect(() => create(plainCnn(SHAPE, CLASSES))).toThrow(/^Strategy 'roid'/);
    x.dispose();
  });

  it('restore refuses a negative BN variance or Adam second moment, and only those', () => {
    const model = net();
    const s = create(model, { stats: 'ema' });
    for (let i = 0; i < 2; i++) {
      const x = batch(8, 20 + i);
      tf.dispose(s.step(x).probs);
      x.dispose();
    }
    const refused = expectNonNegativeState(s, 'roid', /moving_variance$|\/variance$|\/adam\/v\//);
    expect(refused.some((n) => n.startsWith('roid/adam/v/'))).toBe(true);
    expect(refused.some((n) => n.startsWith('roid/aug/'))).toBe(true);
    expect(refused.some((n) => n.endsWith('/variance') && !n.startsWith('roid/'))).toBe(true);
    s.dispose();
    model.dispose();
  });

  it('weight ensembling: off, momentumSrc changes nothing; on, it pulls the parameters toward the source', () => {
    const run = (options: RoidOptions) => {
      const model = net();
      const s = create(model, options);
      for (let i = 0; i < 2; i++) {
        const x = batch(8, 30 + i);
        tf.dispose(s.step(x).probs);
        x.dispose();
      }
      const params = bnAffine(model).flat();
      s.dispose();
      model.dispose();
      return params;
    };
    const source = bnAffine(net()).flat();
    const dist = (a: number[]) => Math.max(...a.map((v, i) => Math.abs(v - source[i]!)));
    expect(run({ weightEnsembling: false, momentumSrc: 0.5 })).toEqual(run({ weightEnsembling: false, momentumSrc: 0.99 }));
    const free = dist(run({ weightEnsembling: false }));
    const pulled = dist(run({ weightEnsembling: true, momentumSrc: 0.5 }));
    expect(free).toBeGreaterThan(1e-4);
    expect(pulled).toBeLessThan(0.75 * free);
  });

  it('steps on single frames (batch 1: the consistency loss on the one kept frame), on cpu and wasm', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await tf.setBackend(backend);
      const model = net();
      const s = create(model, { stats: 'ema' });
      const gammas = () => bnAffine(model).flat();
      const before = gammas();
      let kept = 0;
      for (let i = 0; i < 6; i++) {
        const x = batch(1, 60 + i);
        const { probs, stats } = s.step(x);
        expect(probs.shape, backend).toEqual([1, model.outputs[0]!.shape[1]]);
        expect(Math.abs(probs.sum().dataSync()[0]! - 1), backend).toBeLessThan(1e-5);
        kept += stats.kept!;
        tf.dispose([x, probs]);
      }
      expect(kept, backend).toBeGreaterThan(0); // some frames were kept and trained on
      expect(gammas(), backend).not.toEqual(before);
      s.dispose();
      model.dispose();
    }
    await tf.setBackend('cpu');
  });

  it("the 'kept' stat counts the samples the weighting keeps", () => {
    const model = net();
    const s = create(model);
    let dropped = false;
    for (let i = 0; i < 3; i++) {
      const x = batch(8, 40 + i);
      const { probs, stats } = s.step(x);
      const nonzero = Array.from(s.lastWeights!).filter((w) => w > 0).length;
      expect(stats.kept).toBe(nonzero);
      dropped ||= nonzero < 8;
      tf.dispose([x, probs]);
    }
    expect(dropped).toBe(true);
    s.dispose();
    model.dispose();
  });

  it('a step that fails part-way rethrows its error, leaks no tensor and commits nothing', () => {
    for (const where of ['forward', 'update'] as const) {
      const model = net();
      const s = create(model, { stats: 'ema' });
      const x = batch(8, 50);
      tf.dispose(s.step(x).probs);
      expectFailedStepCommitsNothing(s, x, where);
      x.dispose();
      s.dispose();
      model.dispose();
    }
  });
});
