/**
 * The benchmark's source model: a small ResNet-style CNN with
 * BatchNormalization for 28x28x1 inputs in [0, 1].
 *
 * stem: conv3x3(16) + BN + relu
 * stage 1: residual block 16 ch, stride 1 (identity shortcut)
 * stage 2: residual block 32 ch, stride 2 (1x1 conv + BN shortcut)
 * stage 3: residual block 64 ch, stride 2 (1x1 conv + BN shortcut)
 * global average pooling, dense(10, softmax)
 *
 * A residual block is conv3x3-BN-relu-conv3x3-BN, plus the shortcut, add, relu.
 * 9 BN layers, 78,426 parameters, 9.35 M multiply-adds per image.
 *
 * @example
 * ```ts
 * const model = buildSourceModel({ seed: 1 });
 * model.predict(tf.zeros([1, 28, 28, 1]));
 * ```
 */
import * as tf from '@tensorflow/tfjs';

export interface SourceModelArgs {
  /** Seed of the weight initialisers. Defaults to 1. */
  seed?: number;
  /** Channels of the three stages. Defaults to [16, 32, 64]. */
  widths?: [number, number, number];
  /** Number of classes. Defaults to 10. */
  numClasses?: number;
}

/** Builds the (untrained) source architecture. */
export function buildSourceModel(args: SourceModelArgs = {}): tf.LayersModel {
  const seed = args.seed ?? 1;
  const [w1, w2, w3] = args.widths ?? [16, 32, 64];
  const numClasses = args.numClasses ?? 10;
  let s = seed * 1000;
  // tfjs draws a fresh random seed for a seed of 0 (`seed ? seed : Math.random()`): seed 0's first initialiser takes -1.
  const init = () => tf.initializers.heNormal({ seed: s++ || -1 });

  const conv = (x: tf.SymbolicTensor, filters: number, k: number, stride: number, name: string) =>
    tf.layers
      .conv2d({
        filters,
        kernelSize: k,
        strides: stride,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(),
        name,
      })
      .apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, name: string) =>
    tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, name: string) =>
    tf.layers.activation({ activation: 'relu', name }).apply(x) as tf.SymbolicTensor;

  const block = (x: tf.SymbolicTensor, filters: number, stride: number, name: string) => {
    const inCh = x.shape[x.shape.length - 1];
    let y = conv(x, filters, 3, stride, `${name}_conv1`);
    y = relu(bn(y, `${name}_bn1`), `${name}_relu1`);
    y = bn(conv(y, filters, 3, 1, `${name}_conv2`), `${name}_bn2`);
    let sc = x;
    if (stride !== 1 || inCh !== filters) {
      sc = bn(conv(x, filters, 1, stride, `${name}_sc_conv`), `${name}_sc_bn`);
    }
    const sum = tf.layers.add({ name: `${name}_add` }).apply([y, sc]) as tf.SymbolicTensor;
    return relu(sum, `${name}_out`);
  };

  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  let x = relu(bn(conv(input, w1, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  x = block(x, w1, 1, 'stage1');
  x = block(x, w2, 2, 'stage2');
  x = block(x, w3, 2, 'stage3');
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({
      units: numClasses,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: s++ }),
      name: 'logits',
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'fmnist_resnet_small' });
}

/**
 * Multiply-adds per image of a model's Conv2D, DepthwiseConv2D and Dense layers (BN, add,
 * relu and pooling are elementwise and excluded). FLOPs = 2 x MACs.
 */
export function countMacs(model: tf.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'Conv2D' || cls === 'DepthwiseConv2D') {
      const out = layer.outputShape as number[]; // [null, h, w, c]
      // Conv2D [kh, kw, in, out]; DepthwiseConv2D [kh, kw, in, multiplier]: one output per product.
      const k = (layer.getWeights()[0] as tf.Tensor).shape;
      macs += out[1] * out[2] * k[0]! * k[1]! * k[2]! * k[3]!;
    } else if (cls === 'Dense') {
      const k = (layer.getWeights()[0] as tf.Tensor).shape;
      macs += k[0]! * k[1]!;
    }
  }
  return macs;
}
