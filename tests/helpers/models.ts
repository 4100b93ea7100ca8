/** Small real architectures built with tf.layers, shared by the tests. */
import * as tf from '@tensorflow/tfjs';

function convBn(x: tf.SymbolicTensor, filters: number, stride: number, name: string, kernel = 3): tf.SymbolicTensor {
  const c = tf.layers
    .conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: false, name: `${name}_conv` })
    .apply(x) as tf.SymbolicTensor;
  return tf.layers.batchNormalization({ name: `${name}_bn` }).apply(c) as tf.SymbolicTensor;
}

/** A small ResNet: stem, two residual stages (one with a projection shortcut), GAP, softmax dense. */
export function smallResNet(inputShape: [number, number, number] = [12, 12, 1], classes = 5): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  let x = tf.layers.reLU().apply(convBn(input, 8, 1, 'stem')) as tf.SymbolicTensor;
  // Identity block.
  let y = tf.layers.reLU().apply(convBn(x, 8, 1, 'b1a')) as tf.SymbolicTensor;
  y = convBn(y, 8, 1, 'b1b');
  x = tf.layers.reLU().apply(tf.layers.add().apply([x, y]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  // Down-sampling block with a 1x1 projection shortcut.
  y = tf.layers.reLU().apply(convBn(x, 12, 2, 'b2a')) as tf.SymbolicTensor;
  y = convBn(y, 12, 1, 'b2b');
  const s = convBn(x, 12, 2, 'b2s', 1);
  x = tf.layers.reLU().apply(tf.layers.add().apply([s, y]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, activation: 'softmax', name: 'logits' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'small_resnet' });
}

/** A MobileNetV2-style net: inverted residual blocks with depthwise convs, BN and relu6, logits output. */
export function mobileNetV2Style(inputShape: [number, number, number] = [12, 12, 3], classes = 4): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  const relu6 = () => tf.layers.reLU({ maxValue: 6 });
  let x = relu6().apply(convBn(input, 8, 2, 'stem')) as tf.SymbolicTensor;
  const block = (inp: tf.SymbolicTensor, expand: number, out: number, stride: number, name: string) => {
    const ch = inp.shape[3]!;
    let h = relu6().apply(convBn(inp, ch * expand, 1, `${name}_exp`, 1)) as tf.SymbolicTensor;
    h = tf.layers
      .depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `${name}_dw` })
      .apply(h) as tf.SymbolicTensor;
    h = relu6().apply(tf.layers.batchNormalization({ name: `${name}_dw_bn` }).apply(h) as tf.SymbolicTensor) as tf.SymbolicTensor;
    h = convBn(h, out, 1, `${name}_proj`, 1);
    return stride === 1 && ch === out ? (tf.layers.add().apply([inp, h]) as tf.SymbolicTensor) : h;
  };
  x = block(x, 2, 8, 1, 'ir1');
  x = block(x, 3, 12, 2, 'ir2');
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, name: 'logits' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'mobilenetv2_style' });
}

/** A plain Sequential CNN without BN, ending in a separate softmax Activation layer. */
export function plainCnn(inputShape: [number, number, number] = [12, 12, 1], classes = 3): tf.Sequential {
  return tf.sequential({
    name: 'plain_cnn',
    layers: [
      tf.layers.conv2d({ inputShape, filters: 6, kernelSize: 3, activation: 'relu', name: 'c1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 16, activation: 'relu', name: 'fc' }),
      tf.layers.dense({ units: classes, name: 'logits' }),
      tf.layers.activation({ activation: 'softmax', name: 'softmax' }),
    ],
  });
}

/** Gives every BN layer non-trivial source statistics and affine parameters, as a trained net has. */
export function randomizeBatchNorms(model: tf.LayersModel, seed = 1): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    // getWeights() returns the layer's own variables: read them, never dispose them.
    const ws = layer.getWeights();
    layer.setWeights(
      ws.map((w, i) =>
        tf.tidy(() => {
          const u = tf.randomUniform(w.shape, 0, 1, 'float32', s++);
          // By name, not position: a layer with `scale: false` or `center: false` has fewer weights,
          // and its moving variance must stay positive (createAdapter refuses a negative one).
          const name = layer.weights[i]!.originalName ?? layer.weights[i]!.name;
          if (name.endsWith('gamma')) return u.mul(0.5).add(0.75);
          if (name.endsWith('beta')) return u.sub(0.5).mul(0.2);
          if (name.endsWith('moving_mean')) return u.sub(0.5).mul(0.4);
          return u.mul(0.8).add(0.4); // moving variance
        }),
      ),
    );
  }
}

/** A deterministic batch in [0, 1]. */
export function randomBatch(shape: number[], seed = 7): tf.Tensor4D {
  return tf.randomUniform(shape, 0, 1, 'float32', seed) as unknown as tf.Tensor4D;


}

/** Max relative error |a-b| / max(|b|, floor) over two arrays. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), floor));
  return worst;
}
