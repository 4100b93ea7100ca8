/**
 * A converted-style tf.GraphModel in a worker: LAME (an output-level strategy, the one kind
 * that runs on GraphModels) gives the same predictions in the worker as in-thread, with the
 * model sent as graph-model artifacts or loaded by the worker from a model.json on disk.
 * The graph is a small hand-written GraphDef (Placeholder -> Reshape -> MatMul -> BiasAdd ->
 * Relu -> MatMul -> BiasAdd), the format `tensorflowjs_converter` writes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend } from '../../src/index.js';
import { Rng } from '../../src/random.js';
import { listStrategies } from '../../strategies/registry.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/index.js';

const H = 4;
const IN = H * H;
const HID = 8;
const OUT = 3;
const dim = (...sizes: number[]) => ({ dim: sizes.map((s) => ({ size: String(s) })) });
const constNode = (name: string, dtype: 'DT_FLOAT' | 'DT_INT32', shape: number[]) => ({
  name,
  op: 'Const',
  attr: { value: { tensor: { dtype, tensorShape: dim(...shape) } }, dtype: { type: dtype } },
});
const T = { T: { type: 'DT_FLOAT' } };

/** model.json content and weight bytes of the MLP graph with seeded weights. */
function graphArtifacts(seed: number): { modelJson: { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig; format: string }; weights: ArrayBuffer } {
  const rng = new Rng(seed);
  const f = (n: number, s: number) => Float32Array.from({ length: n }, () => s * rng.gaussian());
  const parts = [Int32Array.from([-1, IN]), f(IN * HID, 0.5), f(HID, 0.1), f(HID * OUT, 1), f(OUT, 0.1)];
  const bytes = new Uint8Array(parts.reduce((n, a) => n + a.byteLength, 0));
  let off = 0;
  for (const a of parts) {
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  const modelTopology = {
    node: [
      { name: 'image', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dim(-1, H, H, 1) } } },
      constNode('flat_shape', 'DT_INT32', [2]),
      constNode('w1', 'DT_FLOAT', [IN, HID]),
      constNode('b1', 'DT_FLOAT', [HID]),
      constNode('w2', 'DT_FLOAT', [HID, OUT]),
      constNode('b2', 'DT_FLOAT', [OUT]),
      { name: 'flat', op: 'Reshape', input: ['image', 'flat_shape'], attr: { ...T, Tshape: { type: 'DT_INT32' } } },
      { name: 'fc1/MatMul', op: 'MatMul', input: ['flat', 'w1'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
      { name: 'fc1/BiasAdd', op: 'BiasAdd', input: ['fc1/MatMul', 'b1'], attr: T },
      { name: 'features', op: 'Relu', input: ['fc1/BiasAdd'], attr: T },
      { name: 'fc2/MatMul', op: 'MatMul', input: ['features', 'w2'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
      { name: 'logits', op: 'BiasAdd', input: ['fc2/MatMul', 'b2'], attr: T },
    ],
    library: {},
    versions: { producer: 1 },
  };
  const weights: tf.io.WeightsManifestEntry[] = [
    { name: 'flat_shape', shape: [2], dtype: 'int32' },
    { name: 'w1', shape: [IN, HID], dtype: 'float32' },
    { name: 'b1', shape: [HID], dtype: 'float32' },
    { name: 'w2', shape: [HID, OUT], dtype: 'float32' },
    { name: 'b2', shape: [OUT], dtype: 'float32' },
  ];
  return { modelJson: { modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights }], format: 'graph-model' }, weights: bytes.buffer };
}

async function loadGraph(seed: number): Promise<tf.GraphModel> {
  const { modelJson, weights } = graphArtifacts(seed);
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
  );
}

const graphNodes = { outputNode: 'logits', featuresNode: 'features' };
const hasLame = (listStrategies() as string[]).includes('lame');

describe.skipIf(!hasLame)('createWorkerAdapter with a tf.GraphModel', () => {
  const open: WorkerAdapter[] = [];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await Promise.all(open.map((a) => a.terminate()));
  });

  it("'lame' predicts the same in the worker (model sent, and loaded from disk) as in-thread", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-graph-'));
    const { modelJson, weights } = graphArtifacts(5);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(weights));
    const sent = await createWorkerAdapter({ model: await loadGraph(5), strategy: 'lame', options: { graphNodes, seed: 2 } as never });
    const fromDisk = await createWorkerAdapter({ model: path.join(dir, 'model.json'), strategy: 'lame', options: { graphNodes, seed: 2 } as never });
    open.push(sent, fromDisk);
    const local = await createAdapter(await loadGraph(5), { strategy: 'lame', graphNodes, seed: 2 } as never);
    expect(sent.inputShape).toEqual([H, H, 1]);
    expect(sent.numClasses).toBe(OUT);
    const x = tf.randomUniform([12, H, H, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
    const expected = await local.step(x);
    for (const w of [sent, fromDisk]) {
      const got = await w.step(x);
      expect(Array.from(got.probs)).toEqual(Array.from(expected.probs));
    }
    // LAME really moved the predictions away from the model's own softmax ('source').
    const source = await createAdapter(await loadGraph(5), { strategy: 'source', graphNodes } as never);
    const plain = await source.step(x);
    expect(Array.from(plain.probs)).not.toEqual(Array.from(expected.probs));
    source.dispose();
    x.dispose();
    local.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});
