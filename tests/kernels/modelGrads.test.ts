/**
 * Full gradients (tf.variableGrads over every trainable weight) of two real
 * tf.layers nets on 'wasm' vs the tfjs CPU backend, within 1e-3 relative error
 * per weight tensor: a MobileNetV2-style net (depthwise convs, BN, relu6,
 * residual adds) and the benchmark's small ResNet (3 stages of 16/32/64
 * channels, BN, residual adds, 28x28x1 input, GAP, dense).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerEdgeKernels } from '../../src/backend/kernels/index.js';
import { randn, relErr } from './helpers.js';

type S = tf.SymbolicTensor;

// Seeded weights: the same nets on every run (unseeded, a run now and then drew weights whose
// float noise in the deepest gradient sat just above the tolerance).
let seed = 0;
const init = () => tf.initializers.glorotUniform({ seed: ++seed });

function convBn(x: S, filters: number, kernel: number, stride: number, name: string): S {
  const c = tf.layers.conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: false, kernelInitializer: init(), name: `${name}_conv` }).apply(x) as S;
  return tf.layers.batchNormalization({ name: `${name}_bn` }).apply(c) as S;
}

/** The benchmark ResNet: 3 stages (16, 32, 64 channels), one basic block each, 28x28x1 input. */
export function benchResNet(): tf.LayersModel {
  seed = 100;
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.reLU().apply(convBn(input, 16, 3, 1, 'stem')) as S;
  for (const [i, ch] of [16, 32, 64].entries()) {
    const stride = i === 0 ? 1 : 2;
    let y = tf.layers.reLU().apply(convBn(x, ch, 3, stride, `s${i}a`)) as S;
    y = convBn(y, ch, 3, 1, `s${i}b`);
    const sc = stride === 1 && x.shape[3] === ch ? x : convBn(x, ch, 1, stride, `s${i}sc`);
    x = tf.layers.reLU().apply(tf.layers.add().apply([sc, y]) as S) as S;
  }
  x = tf.layers.globalAveragePooling2d({}).apply(x) as S;
  const out = tf.layers.dense({ units: 10, kernelInitializer: init(), name: 'fc' }).apply(x) as S;
  return tf.model({ inputs: input, outputs: out });
}

/** MobileNetV2-style: stem, inverted residual blocks (expand 1x1, depthwise 3x3, project 1x1), relu6, residual adds. */
export function mobileNetV2Style(size = 32): tf.LayersModel {
  seed = 200;
  const input = tf.input({ shape: [size, size, 3] });
  const relu6 = (t: S) => tf.layers.reLU({ maxValue: 6 }).apply(t) as S;
  let x = relu6(convBn(input, 16, 3, 2, 'stem'));
  const block = (inp: S, expand: number, out: number, stride: number, name: string): S => {
    const ch = inp.shape[3]!;
    let h = relu6(convBn(inp, ch * expand, 1, 1, `${name}_exp`));
    h = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init(), name: `${name}_dw` }).apply(h) as S;
    h = relu6(tf.layers.batchNormalization({ name: `${name}_dwbn` }).apply(h) as S);
    h = convBn(h, out, 1, 1, `${name}_proj`);
    return stride === 1 && ch === out ? (tf.layers.add().apply([inp, h]) as S) : h;
  };
  x = block(x, 1, 16, 1, 'b1');
  x = block(x, 6, 24, 2, 'b2');
  x = block(x, 6, 24, 1, 'b3');
  x = block(x, 6, 32, 2, 'b4');
  x = tf.layers.globalAveragePooling2d({}).apply(x) as S;
  const out = tf.layers.dense({ units: 10, kernelInitializer: init(), name: 'logits' }).apply(x) as S;
  return tf.model({ inputs: input, outputs: out });
}

/** variableGrads of a soft cross-entropy loss in training mode (batch-statistics BN), as name -> values. */
async function grads(model: tf.LayersModel, x: Float32Array, shape: number[], backend: 'cpu' | 'wasm'): Promise<Map<string, Float32Array>> {
  await tf.setBackend(backend);
  const { grads: g, value } = tf.variableGrads(() => {
    const logits = model.apply(tf.tensor(x, shape), { training: true }) as tf.Tensor2D;
    const target = tf.softmax(tf.tensor2d(randn(logits.size, 77), logits.shape as [number, number]));
    return tf.mean(tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  }, model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val));
  const out = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(g)) out.set(name, (await t.data()) as Float32Array);
  tf.dispose([value, ...Object.values(g)]);
  return out;
}

async function compare(model: tf.LayersModel, shape: number[]): Promise<void> {
  const x = randn(shape.reduce((a, b) => a * b, 1), 3);
  const ref = await grads(model, x, shape, 'cpu');
  const got = await grads(model, x, shape, 'wasm');
  expect(got.size).toBe(model.trainableWeights.length);
  // Relative to each tensor's own scale, floored at 1e-3 of the model's largest gradient: some
  // gradients are mathematically zero (e.g. the beta of a BN whose output reaches the loss only
  // through a linear layer and another batch-statistics BN: b1_proj_bn/beta is ~1e-9 on both
  // backends), and their float noise is not a relative error.
  const globalMax = Math.max(...[...ref.values()].map((r) => r.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  for (const [name, r] of ref) {
    const g = got.get(name)!;
    const own = r.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const err = relErr(g, r) * (own === 0 ? 1 : own) / Math.max(own, 1e-3 * globalMax);
    expect(err, name).toBeLessThan(1e-3);
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await registerEdgeKernels();
});

// Sizes are kept small: the CPU backend (the reference) runs convolution gradients at ~10 MFLOP/s.
describe('full gradients, wasm vs cpu', () => {
  it('MobileNetV2-style net (depthwise, BN, relu6, residual adds), batch 2, 24x24x3', async () => {
    await tf.setBackend('cpu');
    const model = mobileNetV2Style(24);
    await compare(model, [2, 24, 24, 3]);
    model.dispose();
  });
  it('MobileNetV2-style net at batch 1', async () => {
    await tf.setBackend('cpu');
    const model = mobileNetV2Style(24);
    await compare(model, [1, 24, 24, 3]);
    model.dispose();
  });
  it('small ResNet (16/32/64, BN, residual adds), batch 1, 28x28x1', async () => {
    await tf.setBackend('cpu');
    const model = benchResNet();
    await compare(model, [1, 28, 28, 1]);
    model.dispose();
  });
});
