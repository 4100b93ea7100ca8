/**
 * A tiny hand-written tfjs graph model, in the format `tensorflowjs_converter` writes
 * (a GraphDef as JSON + a weights manifest): Placeholder [n, 4, 4, 1] -> Reshape -> MatMul ->
 * BiasAdd -> Relu ('features') -> MatMul -> BiasAdd ('logits') -> Softmax ('probs').
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/random.js';

export const H = 4;
export const IN = H * H;
export const HID = 8;
export const OUT = 3;

/** The MLP's weights, row-major. */
export interface MlpWeights {
  w1: Float32Array; // [IN, HID]
  b1: Float32Array;
  w2: Float32Array; // [HID, OUT]
  b2: Float32Array;
}

export function randomMlpWeights(seed: number): MlpWeights {
  const rng = new Rng(seed);
  const f = (n: number, s: number) => Float32Array.from({ length: n }, () => s * rng.gaussian());
  return { w1: f(IN * HID, 0.5), b1: f(HID, 0.1), w2: f(HID * OUT, 1), b2: f(OUT, 0.1) };
}

const dim = (...sizes: number[]) => ({ dim: sizes.map((s) => ({ size: String(s) })) });
const constNode = (name: string, dtype: 'DT_FLOAT' | 'DT_INT32', shape: number[]) => ({
  name,
  op: 'Const',
  attr: { value: { tensor: { dtype, tensorShape: dim(...shape) } }, dtype: { type: dtype } },
});
const T = { T: { type: 'DT_FLOAT' } };

/** model.json content (graph-model format) and the weight bytes of the MLP. */
export function mlpGraphArtifacts(w: MlpWeights): {
  modelJson: { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig; format: string };
  weights: ArrayBuffer;
} {
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
      { name: 'probs', op: 'Softmax', input: ['logits'], attr: T },
    ],
    library: {},
    versions: { producer: 1 },
  };
  const weightSpecs: tf.io.WeightsManifestEntry[] = [
    { name: 'flat_shape', shape: [2], dtype: 'int32' },
    { name: 'w1', shape: [IN, HID], dtype: 'float32' },
    { name: 'b1', shape: [HID], dtype: 'float32' },
    { name: 'w2', shape: [HID, OUT], dtype: 'float32' },
    { name: 'b2', shape: [OUT], dtype: 'float32' },
  ];
  const parts = [Int32Array.from([-1, IN]), w.w1, w.b1, w.w2, w.b2];
  const bytes = new Uint8Array(parts.reduce((n, a) => n + a.byteLength, 0));
  let off = 0;
  for (const a of parts) {
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  return {
    modelJson: { modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }], format: 'graph-model' },
    weights: bytes.buffer,
  };
}

/** The MLP as a tf.GraphModel loaded from memory. */
export function loadMlpGraphModel(w: MlpWeights): Promise<tf.GraphModel> {
  const { modelJson, weights } = mlpGraphArtifacts(w);
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0]!.weights,
      weightData: weights,
      format: 'graph-model',
    }),
  );
}
