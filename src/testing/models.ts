/**
 * The tiny models the conformance suite runs strategies on: a BatchNorm ResNet and a plain CNN
 * without BN. Weights are drawn from seeded generators, so every call builds a model with
 * exactly the same weights (two adapters can then be compared on two identical models).
 */
import * as tf from '../tf.js';
import { mulberry32 } from '../random.js';

/** A model the conformance suite runs a strategy on. */
export interface ConformanceModel {
  /** Short name used in check names, e.g. `'bn-resnet'`. */
  name: string;
  /** Builds a new model; every call must give the same architecture and bit-identical weights. */
  build(): tf.LayersModel;
  /** Input shape without the batch dimension. */
  inputShape: [number, number, number];
  /** Whether the model has BatchNormalization layers (strategies that need BN are run only on those). */
  batchNorm: boolean;
}

/** Overwrites every weight with seeded values (BN moving variances stay positive), so builds are reproducible. */
function seedWeights(model: tf.LayersModel, seed: number): tf.LayersModel {
  model.weights.forEach((w, i) => {
    const name = w.originalName ?? w.name;
    const value = tf.tidy(() => {
      const u = tf.randomUniform(w.shape as number[], 0, 1, 'float32', seed + i);
      if (name.endsWith('moving_variance')) return tf.add(tf.mul(u, 0.8), 0.4);
      if (name.endsWith('gamma')) return tf.add(tf.mul(u, 0.5), 0.75);
      if (name.endsWith('moving_mean') || name.endsWith('beta') || name.endsWith('bias')) return tf.mul(tf.sub(u, 0.5), 0.2);
      // Kernels: uniform in +-sqrt(6 / fan-in), He initialisation's variance.
      const fanIn = (w.shape as number[]).slice(0, -1).reduce((a, b) => a * b, 1);
      return tf.mul(tf.sub(u, 0.5), 2 * Math.sqrt(6 / fanIn));
    });
    w.write(value);
    value.dispose();
  });
  return model;
}

function convBn(x: tf.SymbolicTensor, filters: number, stride: number, name: string): tf.SymbolicTensor {
  const c = tf.layers
    .conv2d({ filters, kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `${name}_conv` })
    .apply(x) as tf.SymbolicTensor;
  return tf.layers.batchNormalization({ name: `${name}_bn` }).apply(c) as tf.SymbolicTensor;
}

/** A BN ResNet: conv-BN-ReLU stem, one residual block, a strided conv-BN, global pooling, softmax dense. 8x8x3 in, 4 classes. */
export function tinyBnResNet(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const stem = tf.layers.reLU().apply(convBn(input, 6, 1, 'stem')) as tf.SymbolicTensor;
  let y = tf.layers.reLU().apply(convBn(stem, 6, 1, 'res_a')) as tf.SymbolicTensor;
  y = convBn(y, 6, 1, 'res_b');
  let x = tf.layers.reLU().apply(tf.layers.add().apply([stem, y]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(convBn(x, 8, 2, 'down')) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax', name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return seedWeights(tf.model({ inputs: input, outputs: out, name: 'conformance_bn_resnet' }), 1000);
}

/** A CNN without BN: two convs, global pooling, a logits dense layer (no softmax). 8x8x3 in, 4 classes. */
export function tinyPlainCnn(): tf.LayersModel {
  const model = tf.sequential({
    name: 'conformance_plain_cnn',
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c2' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 4, name: 'logits' }),
    ],
  });
  return seedWeights(model, 2000);
}

/** The suite's default models: a BN ResNet and a plain CNN without BN. */
export const CONFORMANCE_MODELS: readonly ConformanceModel[] = [
  { name: 'bn-resnet', build: tinyBnResNet, inputShape: [8, 8, 3], batchNorm: true },
  { name: 'plain-cnn', build: tinyPlainCnn, inputShape: [8, 8, 3], batchNorm: false },
];

/** A tf.GraphModel the conformance suite runs output-level strategies on, with the `graphNodes` that name its outputs. */
export interface ConformanceGraphModel {
  /** Short name used in check names, e.g. `'graph-mlp'`. */
  name: string;
  /** Loads a new copy; every call gives bit-identical weights. */
  load(): Promise<tf.GraphModel>;
  /** Input shape without the batch dimension. */
  inputShape: [number, number, number];
  /** The `graphNodes` option `createAdapter` needs for it. */
  graphNodes: { outputNode: string; featuresNode: string; outputKind: 'logits' };
}

/** Pieces of a graph in the format `tensorflowjs_converter` writes (a GraphDef as JSON). */
export const graphDef = {
  /** A `tensorShape` / `shape` value ({ dim: [{ size }] }). */
  dim: (...sizes: number[]) => ({ dim: sizes.map((s) => ({ size: String(s) })) }),
  /** A weight node (its value comes from the weights manifest). */
  constant: (name: string, dtype: 'DT_FLOAT' | 'DT_INT32', shape: number[]) => ({
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: graphDef.dim(...shape) } }, dtype: { type: dtype } },
  }),
  /** The float32 `T` attribute most ops carry. */
  T: { T: { type: 'DT_FLOAT' } },
  /** Typed arrays, one after another, as one weight file's bytes. */
  weightBytes(parts: readonly ArrayBufferView[]): ArrayBuffer {
    const bytes = new Uint8Array(parts.reduce((n, a) => n + a.byteLength, 0));
    let offset = 0;
    for (const a of parts) {
      bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
      offset += a.byteLength;
    }
    return bytes.buffer;
  },
};

/** The weights of {@link mlpGraphArtifacts}, row-major. */
export interface MlpGraphWeights {
  w1: Float32Array; // [h * w * c, hidden]
  b1: Float32Array;
  w2: Float32Array; // [hidden, classes]
  b2: Float32Array;
}

/**
 * A frozen two-layer MLP graph in the format `tensorflowjs_converter` writes: `image` [-1, h, w, c]
 * -> Reshape -> MatMul -> BiasAdd -> Relu (`features`) -> MatMul -> BiasAdd (`logits`), and with
 * `softmax` a Softmax node `probs` after it. Its topology, weight specs and weight bytes.
 */
export function mlpGraphArtifacts(
  inputShape: readonly [number, number, number],
  w: MlpGraphWeights,
  softmax = false,
): { modelTopology: object; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  const { dim, constant, T } = graphDef;
  const inputs = inputShape[0] * inputShape[1] * inputShape[2];
  const [hidden, classes] = [w.b1.length, w.b2.length];
  const matmul = { ...T, transpose_a: { b: false }, transpose_b: { b: false } };
  const modelTopology = {
    node: [
      { name: 'image', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dim(-1, ...inputShape) } } },
      constant('flat_shape', 'DT_INT32', [2]),
      constant('w1', 'DT_FLOAT', [inputs, hidden]),
      constant('b1', 'DT_FLOAT', [hidden]),
      constant('w2', 'DT_FLOAT', [hidden, classes]),
      constant('b2', 'DT_FLOAT', [classes]),
      { name: 'flat', op: 'Reshape', input: ['image', 'flat_shape'], attr: { ...T, Tshape: { type: 'DT_INT32' } } },
      { name: 'fc1/MatMul', op: 'MatMul', input: ['flat', 'w1'], attr: matmul },
      { name: 'fc1/BiasAdd', op: 'BiasAdd', input: ['fc1/MatMul', 'b1'], attr: T },
      { name: 'features', op: 'Relu', input: ['fc1/BiasAdd'], attr: T },
      { name: 'fc2/MatMul', op: 'MatMul', input: ['features', 'w2'], attr: matmul },
      { name: 'logits', op: 'BiasAdd', input: ['fc2/MatMul', 'b2'], attr: T },
      ...(softmax ? [{ name: 'probs', op: 'Softmax', input: ['logits'], attr: T }] : []),
    ],
    library: {},
    versions: { producer: 1 },
  };
  const weightSpecs: tf.io.WeightsManifestEntry[] = [
    { name: 'flat_shape', shape: [2], dtype: 'int32' },
    { name: 'w1', shape: [inputs, hidden], dtype: 'float32' },
    { name: 'b1', shape: [hidden], dtype: 'float32' },
    { name: 'w2', shape: [hidden, classes], dtype: 'float32' },
    { name: 'b2', shape: [classes], dtype: 'float32' },
  ];
  return { modelTopology, weightSpecs, weightData: graphDef.weightBytes([Int32Array.from([-1, inputs]), w.w1, w.b1, w.w2, w.b2]) };
}

/**
 * A frozen graph in the format `tensorflowjs_converter` writes, loaded from memory: 8x8x3 in,
 * Reshape -> MatMul -> BiasAdd -> Relu (`features`, 8 units) -> MatMul -> BiasAdd (`logits`, 4
 * classes). Weights come from a seeded generator (uniform, He-scaled), so every load is bit-identical.
 */
export function tinyGraphMlp(): Promise<tf.GraphModel> {
  const [inputs, hidden, classes] = [8 * 8 * 3, 8, 4];
  const rand = mulberry32(3000); // the same draws on every load
  const uniform = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * 2 * scale);
  // Drawn in this order: w1, b1, w2, b2.
  const w1 = uniform(inputs * hidden, Math.sqrt(6 / inputs));
  const b1 = uniform(hidden, 0.1);
  const w2 = uniform(hidden * classes, Math.sqrt(6 / hidden));
  const b2 = uniform(classes, 0.1);
  return tf.loadGraphModel(tf.io.fromMemory({ ...mlpGraphArtifacts([8, 8, 3], { w1, b1, w2, b2 }), format: 'graph-model' }));
}

/** The suite's GraphModel: a two-layer MLP (see {@link tinyGraphMlp}). */
export const CONFORMANCE_GRAPH_MODEL: ConformanceGraphModel = {
  name: 'graph-mlp',
  load: tinyGraphMlp,
  inputShape: [8, 8, 3],
  graphNodes: { outputNode: 'logits', featuresNode: 'features', outputKind: 'logits' },
};
