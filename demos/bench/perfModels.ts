/**
 * The two models of `npm run bench:perf`, built with tf.layers and seeded initialisers (no
 * download, no training: speed does not depend on the weights' values, but BN statistics are
 * set to non-trivial seeded values so folding and batch statistics do real arithmetic).
 *
 * - `resnet14`: a CIFAR-style ResNet for 32x32x3: stem conv3x3(16)+BN+relu, three stages of two
 *   residual blocks (widths 16/32/64, stride 2 at the start of stages 2 and 3 with a 1x1 conv+BN
 *   projection shortcut), global average pooling, dense(10, softmax). 15 BN layers.
 * - `mobilenetv2`: Keras' MobileNetV2 (alpha 1, 224x224x3, 1000 classes), layer for layer as
 *   `keras.applications.MobileNetV2` builds it (ZeroPadding2D before stride-2 depthwise convs,
 *   BN epsilon 1e-3, ReLU(6)), 52 BN layers.
 *
 * @example
 * const model = buildPerfModel('resnet14');
 * 2 * countMacs(model); // FLOPs per image (countMacs in ./model.ts: conv, depthwise, dense)
 */
import * as tf from '@tensorflow/tfjs';

/** The models `bench:perf` knows. */
export const PERF_MODELS = ['resnet14', 'mobilenetv2'] as const;
export type PerfModelName = (typeof PERF_MODELS)[number];

/** A seeded He-normal initialiser factory: each call gives the next seed. */
function seededInit(seed: number): () => ReturnType<typeof tf.initializers.heNormal> {
  let s = seed * 1000;
  // tfjs draws a fresh random seed for a seed of 0 (`seed ? seed : Math.random()`): seed 0's first initialiser takes -1.
  return () => tf.initializers.heNormal({ seed: s++ || -1 });
}

/** A CIFAR-style ResNet-14 (see the file header). */
export function resnet14(seed = 1): tf.LayersModel {
  const init = seededInit(seed);
  const conv = (x: tf.SymbolicTensor, filters: number, k: number, stride: number, name: string) =>
    tf.layers
      .conv2d({ filters, kernelSize: k, strides: stride, padding: 'same', useBias: false, kernelInitializer: init(), name })
      .apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, name: string) =>
    tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, name: string) => tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;
  const block = (x: tf.SymbolicTensor, filters: number, stride: number, name: string) => {
    const inCh = x.shape[3]!;
    let y = relu(bn(conv(x, filters, 3, stride, `${name}_conv1`), `${name}_bn1`), `${name}_relu1`);
    y = bn(conv(y, filters, 3, 1, `${name}_conv2`), `${name}_bn2`);
    const sc = stride !== 1 || inCh !== filters ? bn(conv(x, filters, 1, stride, `${name}_sc_conv`), `${name}_sc_bn`) : x;
    return relu(tf.layers.add({ name: `${name}_add` }).apply([y, sc]) as tf.SymbolicTensor, `${name}_out`);
  };
  const input = tf.input({ shape: [32, 32, 3], name: 'image' });
  let x = relu(bn(conv(input, 16, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  [16, 32, 64].forEach((w, stage) => {
    for (let b = 0; b < 2; b++) x = block(x, w, stage > 0 && b === 0 ? 2 : 1, `s${stage + 1}b${b + 1}`);
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 999 }), name: 'logits' })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'resnet14' });
}

/** Keras' MobileNetV2 (alpha 1, 224x224x3), as `keras.applications.mobilenet_v2` builds it. */
export function mobileNetV2(seed = 1): tf.LayersModel {
  const init = seededInit(seed);
  const bn = (x: tf.SymbolicTensor, name: string) =>
    tf.layers.batchNormalization({ axis: -1, momentum: 0.999, epsilon: 1e-3, name }).apply(x) as tf.SymbolicTensor;
  const relu6 = (x: tf.SymbolicTensor, name: string) => tf.layers.reLU({ maxValue: 6, name }).apply(x) as tf.SymbolicTensor;
  const pointwise = (x: tf.SymbolicTensor, filters: number, name: string) =>
    tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: init(), name }).apply(x) as tf.SymbolicTensor;
  const block = (inp: tf.SymbolicTensor, expansion: number, filters: number, stride: number, id: number) => {
    const inCh = inp.shape[3]!;
    const prefix = id === 0 ? 'expanded_conv_' : `block_${id}_`;
    let x = inp;
    if (id > 0) x = relu6(bn(pointwise(x, expansion * inCh, `${prefix}expand`), `${prefix}expand_BN`), `${prefix}expand_relu`);
    // keras correct_pad for even sizes: pad one row/column at the bottom/right.
    if (stride === 2) x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${prefix}pad` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 1 ? 'same' : 'valid', useBias: false, depthwiseInitializer: init(), name: `${prefix}depthwise` })
      .apply(x) as tf.SymbolicTensor;
    x = relu6(bn(x, `${prefix}depthwise_BN`), `${prefix}depthwise_relu`);
    x = bn(pointwise(x, filters, `${prefix}project`), `${prefix}project_BN`);
    return inCh === filters && stride === 1 ? (tf.layers.add({ name: `${prefix}add` }).apply([inp, x]) as tf.SymbolicTensor) : x;
  };
  const input = tf.input({ shape: [224, 224, 3], name: 'input_1' });
  let x = tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init(), name: 'Conv1' }).apply(input) as tf.SymbolicTensor;
  x = relu6(bn(x, 'bn_Conv1'), 'Conv1_relu');
  // (expansion t, channels c, repeats n, first stride s), the MobileNetV2 paper's table 2.
  const stages: Array<[number, number, number, number]> = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  let id = 0;
  for (const [t, c, n, s] of stages) for (let i = 0; i < n; i++) x = block(x, t, c, i === 0 ? s : 1, id++);
  x = relu6(bn(pointwise(x, 1280, 'Conv_1'), 'Conv_1_bn'), 'out_relu');
  x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 1000, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 999 }), name: 'predictions' })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'mobilenetv2_1.00_224' });
}

/** Gives every BN layer seeded non-trivial statistics and affine parameters, as a trained net has. */
export function seedBatchNorms(model: tf.LayersModel, seed = 1): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.getWeights().map((w, i) =>
      tf.tidy(() => {
        const u = tf.randomUniform(w.shape, 0, 1, 'float32', s++);
        // gamma, beta, moving mean, moving variance
        return [u.mul(0.5).add(0.75), u.sub(0.5).mul(0.2), u.sub(0.5).mul(0.2), u.mul(0.5).add(0.75)][i]!;
      }),
    );
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** Builds a bench:perf model with seeded weights and BN statistics. */
export function buildPerfModel(name: PerfModelName, seed = 1): tf.LayersModel {
  const model = name === 'resnet14' ? resnet14(seed) : mobileNetV2(seed);
  seedBatchNorms(model, seed);
  return model;
}
