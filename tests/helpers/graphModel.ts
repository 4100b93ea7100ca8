/**
 * A tiny hand-written tfjs graph model, in the format `tensorflowjs_converter` writes
 * (a GraphDef as JSON + a weights manifest): Placeholder [n, 4, 4, 1] -> Reshape -> MatMul ->
 * BiasAdd -> Relu ('features') -> MatMul -> BiasAdd ('logits') -> Softmax ('probs').
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/random.js';
import { graphDef, mlpGraphArtifacts as mlpGraph } from '../../src/testing/models.js';

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

const { dim, constant: constNode, T } = graphDef;

/** model.json content (graph-model format) and the weight bytes of the MLP. */
export function mlpGraphArtifacts(w: MlpWeights): {
  modelJson: { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig; format: string };
  weights: ArrayBuffer;
} {
  // The conformance suite's MLP graph builder, at this helper's sizes, with a Softmax node 'probs'.
  const { modelTopology, weightSpecs, weightData } = mlpGraph([H, H, 1], w, true);
  return { modelJson: { modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }], format: 'graph-model' }, weights: weightData };
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

/**
 * A second kind of graph, named as `tensorflowjs_converter` names a converted Keras model:
 * input_1 [n, 8, 8, 3] -> Conv2D 3x3 (4 filters, SAME) -> BiasAdd -> Relu -> Mean over h, w
 * ('.../gap/Mean', the features) -> MatMul -> BiasAdd ('.../logits/BiasAdd', 5 classes) ->
 * Softmax -> Identity (the graph's output, a softmax as in most converted classifiers). Two nodes
 * beside the path: 'logits_batch_mean', the logits' mean over the batch ([1, 5] for any batch),
 * and 'logits_class_mean', their mean over the classes ([batch, 1], as a one-score classifier).
 */
export const CONV = { H: 8, C: 3, FILTERS: 4, CLASSES: 5, prefix: 'StatefulPartitionedCall/model' } as const;

/** model.json content and weight bytes of the conv graph (`batch`: the input's batch dimension, -1 free). */
export function convGraphArtifacts(seed: number, batch = -1): ReturnType<typeof mlpGraphArtifacts> {
  const { H: S, C, FILTERS: F, CLASSES: K, prefix: P } = CONV;
  const rng = new Rng(seed);
  const f = (n: number, s: number) => Float32Array.from({ length: n }, () => s * rng.gaussian());
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const list = (...v: number[]) => ({ list: { i: v.map(String) } });
  const node = [
    { name: 'input_1', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dim(batch, S, S, C) } } },
    constNode(`${P}/conv/Conv2D/ReadVariableOp`, 'DT_FLOAT', [3, 3, C, F]),
    constNode(`${P}/conv/BiasAdd/ReadVariableOp`, 'DT_FLOAT', [F]),
    constNode(`${P}/gap/Mean/reduction_indices`, 'DT_INT32', [2]),
    constNode(`${P}/logits/MatMul/ReadVariableOp`, 'DT_FLOAT', [F, K]),
    constNode(`${P}/logits/BiasAdd/ReadVariableOp`, 'DT_FLOAT', [K]),
    {
      name: `${P}/conv/Conv2D`,
      op: 'Conv2D',
      input: ['input_1', `${P}/conv/Conv2D/ReadVariableOp`],
      attr: { ...T, strides: list(1, 1, 1, 1), dilations: list(1, 1, 1, 1), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') } },
    },
    { name: `${P}/conv/BiasAdd`, op: 'BiasAdd', input: [`${P}/conv/Conv2D`, `${P}/conv/BiasAdd/ReadVariableOp`], attr: T },
    { name: `${P}/conv/Relu`, op: 'Relu', input: [`${P}/conv/BiasAdd`], attr: T },
    { name: `${P}/gap/Mean`, op: 'Mean', input: [`${P}/conv/Relu`, `${P}/gap/Mean/reduction_indices`], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
    { name: `${P}/logits/MatMul`, op: 'MatMul', input: [`${P}/gap/Mean`, `${P}/logits/MatMul/ReadVariableOp`], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: `${P}/logits/BiasAdd`, op: 'BiasAdd', input: [`${P}/logits/MatMul`, `${P}/logits/BiasAdd/ReadVariableOp`], attr: T },
    { name: `${P}/probs/Softmax`, op: 'Softmax', input: [`${P}/logits/BiasAdd`], attr: T },
    { name: 'Identity', op: 'Identity', input: [`${P}/probs/Softmax`], attr: T },
    constNode('batch_axis', 'DT_INT32', [1]),
    { name: 'logits_batch_mean', op: 'Mean', input: [`${P}/logits/BiasAdd`, 'batch_axis'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: true } } },
    constNode('class_axis', 'DT_INT32', [1]),
    { name: 'logits_class_mean', op: 'Mean', input: [`${P}/logits/BiasAdd`, 'class_axis'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: true } } },
  ];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [
    { name: `${P}/conv/Conv2D/ReadVariableOp`, shape: [3, 3, C, F], dtype: 'float32' },
    { name: `${P}/conv/BiasAdd/ReadVariableOp`, shape: [F], dtype: 'float32' },
    { name: `${P}/gap/Mean/reduction_indices`, shape: [2], dtype: 'int32' },
    { name: `${P}/logits/MatMul/ReadVariableOp`, shape: [F, K], dtype: 'float32' },
    { name: `${P}/logits/BiasAdd/ReadVariableOp`, shape: [K], dtype: 'float32' },
    { name: 'batch_axis', shape: [1], dtype: 'int32' },
    { name: 'class_axis', shape: [1], dtype: 'int32' },
  ];
  const parts = [f(3 * 3 * C * F, 0.5), f(F, 0.1), Int32Array.from([1, 2]), f(F * K, 1), f(K, 0.1), Int32Array.from([0]), Int32Array.from([1])];
  return {
    modelJson: { modelTopology: { node, library: {}, versions: { producer: 1 } }, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }], format: 'graph-model' },
    weights: graphDef.weightBytes(parts),
  };
}

/** The conv graph as a tf.GraphModel loaded from memory. */
export function loadConvGraphModel(seed: number, batch = -1): Promise<tf.GraphModel> {
  const { modelJson, weights } = convGraphArtifacts(seed, batch);
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
  );
}

