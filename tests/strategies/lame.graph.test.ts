/**
 * LAME on a tf.GraphModel. The graph is hand-written in the tfjs graph-model JSON format
 * (a GraphDef: Placeholder -> Reshape -> MatMul -> BiasAdd -> Relu -> MatMul -> BiasAdd ->
 * Softmax, weights in `weightSpecs`/`weightData`) and loaded with `tf.loadGraphModel` from
 * memory, as a converted model would be. Expected values: the same network computed in plain
 * float64 TS from the weights, corrected by a float64 port of the official LAME loop
 * (independent of the strategy's code), and the same weights as a tf.LayersModel.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, UnsupportedModelError } from '../../src/index.js';
import { H, HID, IN, OUT, loadMlpGraphModel, randomMlpWeights, type MlpWeights } from '../helpers/graphModel.js';

type Weights = MlpWeights;
const randomWeights = randomMlpWeights;
const buildGraphModel = loadMlpGraphModel;

/** The same network as a LayersModel. */
function buildLayersModel(w: Weights): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [H, H, 1], name: 'flat' }),
      tf.layers.dense({ units: HID, activation: 'relu', name: 'fc1' }),
      tf.layers.dense({ units: OUT, name: 'fc2' }),
      tf.layers.activation({ activation: 'softmax', name: 'softmax' }),
    ],
  });
  model.getLayer('fc1').setWeights([tf.tensor2d(w.w1, [IN, HID]), tf.tensor1d(w.b1)]);
  model.getLayer('fc2').setWeights([tf.tensor2d(w.w2, [HID, OUT]), tf.tensor1d(w.b2)]);
  return model;
}

/** Forward pass in float64 TS: probabilities and the Relu features. */
function forwardTs(w: Weights, x: Float32Array, n: number): { p: number[][]; feats: number[][] } {
  const p: number[][] = [];
  const feats: number[][] = [];
  for (let b = 0; b < n; b++) {
    const h = Array.from({ length: HID }, (_, j) => {
      let s = w.b1[j]!;
      for (let i = 0; i < IN; i++) s += x[b * IN + i]! * w.w1[i * HID + j]!;
      return Math.max(0, s);
    });
    const z = Array.from({ length: OUT }, (_, k) => {
      let s = w.b2[k]!;
      for (let j = 0; j < HID; j++) s += h[j]! * w.w2[j * OUT + k]!;
      return s;
    });
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, c) => a + c, 0);
    p.push(e.map((v) => v / sum));
    feats.push(h);
  }
  return { p, feats };
}

/** fiveai/LAME with the default rbf affinity (k = 5), lambda = 1, 100 steps, float64. */
function oracleRbf(p: number[][], feats: number[][]): number[][] {
  const N = p.length;
  const X = feats.map((r) => {
    const nrm = Math.max(Math.sqrt(r.reduce((s, v) => s + v * v, 0)), 1e-12);
    return r.map((v) => v / nrm);
  });
  const dist = X.map((a) => X.map((b) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0))));
  const kk = Math.min(5, N);
  const sigma = dist.map((r) => [...r].sort((a, b) => a - b)[kk - 1]!).reduce((a, b) => a + b, 0) / N;
  const W = dist.map((r) => r.map((d) => Math.exp(-(d * d) / (2 * sigma * sigma))));
  const unary = p.map((r) => r.map((v) => -Math.log(v + 1e-10)));
  const sm = (z: number[]) => {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  let Y = unary.map((r) => sm(r.map((v) => -v)));
  let oldE = Infinity;
  for (let i = 0; i < 100; i++) {
    const pair = W.map((wr) => Array.from({ length: OUT }, (_, c) => wr.reduce((s, wv, j) => s + wv * Y[j]![c]!, 0)));
    Y = unary.map((u, r) => sm(u.map((v, c) => -v + pair[r]![c]!)));
    let E = 0;
    Y.forEach((row, r) => row.forEach((y, c) => (E += unary[r]![c]! * y - pair[r]![c]! * y + y * Math.log(Math.max(y, 1e-20)))));
    if (i > 1 && Math.abs(E - oldE) <= 1e-8 * Math.abs(oldE)) break;
    oldE = E;
  }
  return Y;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("strategy 'lame' on a tf.GraphModel", () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('the hand-written graph computes the network (sanity of the fixture)', async () => {
    const w = randomWeights(1);
    const graph = await buildGraphModel(w);
    const x = tf.randomUniform([6, H, H, 1], 0, 1, 'float32', 2);
    const [probs, feats] = graph.execute(x, ['probs', 'features']) as tf.Tensor[];
    const ref = forwardTs(w, x.dataSync() as Float32Array, 6);
    expect(maxAbsDiff(probs!.dataSync(), ref.p.flat())).toBeLessThan(1e-5);
    expect(maxAbsDiff(feats!.dataSync(), ref.feats.flat())).toBeLessThan(1e-5);
    tf.dispose([x, probs!, feats!]);
    graph.dispose();
  });

  for (const outputKind of ['logits', 'softmax'] as const) {
    it(`matches the official algorithm and the same weights as a LayersModel (outputNode gives ${outputKind})`, async () => {
      const w = randomWeights(3);
      const graph = await buildGraphModel(w);
      const layers = buildLayersModel(w);
      const outputNode = outputKind === 'logits' ? 'logits' : 'probs';
      // classGate 0, maxChanged 1: every batch corrected, as the official algorithm (the gates:
      // tests/safety/safeDefaults.test.ts); no guard on either (guard.maxShift reads BN layers, which only the LayersModel has).
      const onGraph = await createAdapter(graph, { strategy: 'lame', classGate: 0, maxChanged: 1, guard: false, graphNodes: { outputNode, featuresNode: 'features', outputKind } });
      const onLayers = await createAdapter(layers, { strategy: 'lame', classGate: 0, maxChanged: 1, guard: false });
      const source = await createAdapter(graph, { strategy: 'source', graphNodes: { outputNode, featuresNode: 'features', outputKind } });
      const x = tf.randomUniform([24, H, H, 1], 0, 1, 'float32', 4);
      const g = await onGraph.step(x);
      const l = await onLayers.step(x);
      const s = await source.step(x);
      const ref = forwardTs(w, x.dataSync() as Float32Array, 24);
      const expected = oracleRbf(ref.p, ref.feats).flat();
      expect(maxAbsDiff(g.probs, expected)).toBeLessThan(1e-5);
      expect(maxAbsDiff(l.probs, expected)).toBeLessThan(1e-5);
      // 'source' on the graph: the softmax of its logits (outputNode 'logits') or its own softmax.
      expect(maxAbsDiff(s.probs, ref.p.flat())).toBeLessThan(1e-5);
      // LAME did something: not the source output.
      expect(maxAbsDiff(g.probs, s.probs)).toBeGreaterThan(0.05);
      expect(g.stats.changed).toBe(Array.from(g.labels).filter((c, i) => c !== s.labels[i]).length);
      expect(g.stats.iterations).toBe(l.stats.iterations);
      for (const a of [onGraph, onLayers, source]) a.dispose();
      x.dispose();
      graph.dispose();
    });
  }

  it('a GraphModel without graphNodes, or with a layers-only option, fails clearly; no tensor leaks over 100 steps', async () => {
    const graph = await buildGraphModel(randomWeights(5));
    await expect(createAdapter(graph, { strategy: 'lame' })).rejects.toThrow(/graphNodes/);
    await expect(
      createAdapter(graph, { strategy: 'lame', featuresLayer: 'fc1', graphNodes: { outputNode: 'logits', featuresNode: 'features' } }),
    ).rejects.toThrow(/featuresNode/);
    await expect(
      createAdapter(graph, { strategy: 'bn-adapt', graphNodes: { outputNode: 'logits', featuresNode: 'features' } }),
    ).rejects.toBeInstanceOf(UnsupportedModelError);
    const adapter = await createAdapter(graph, { strategy: 'lame', graphNodes: { outputNode: 'logits', featuresNode: 'features' } });
    const x = tf.randomUniform([16, H, H, 1], 0, 1, 'float32', 6);
    await adapter.step(x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await adapter.step(x);
    expect(tf.memory().numTensors).toBe(before);
    adapter.dispose();
    x.dispose();
    graph.dispose();
  });
});
