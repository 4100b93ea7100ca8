/**
 * The BN building blocks of src/model/batchNorm.ts against a float64 port of Keras' training-mode
 * BN: batch moments over every axis but the channel axis (last or not, on the tf.moments path and
 * on wasm's fused kernel), normalisation with and without gamma/beta (channel axis not last too,
 * where tf.batchNorm itself is wrong), the batch-statistics hook,
 * whether a gradient tape records, and the clean-up after a gradient computation that threw.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { batchMoments, batchStatisticsHook, disposeAbandonedTape, normalizeWith, tapeRecording } from '../../src/model/batchNorm.js';
import { inspectModel, type BatchNormInfo } from '../../src/model/introspect.js';

/** The only BN layer of a tiny model whose BN normalises `axis` of a [n, 3, 4, 5] input. */
function bnOf(axis: number, options: { scale?: boolean; center?: boolean } = {}): { info: BatchNormInfo; model: tf.LayersModel } {
  const input = tf.input({ shape: [3, 4, 5] });
  const bn = tf.layers.batchNormalization({ axis, epsilon: 0.01, ...options });
  const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(bn.apply(input))) as tf.SymbolicTensor });
  const info = inspectModel(model).batchNorms[0]!;
  // Non-trivial gamma and beta.
  const values = bn.weights.map((w, k) => tf.tidy(() => tf.randomUniform(w.read().shape, 0.5, 1.5, 'float32', 40 + k)));
  bn.setWeights(values);
  tf.dispose(values);
  return { info, model };
}

/** Float64 mean and biased variance over every axis but `axis` of x (shape [n, 3, 4, 5]). */
function moments64(x: Float32Array, shape: number[], axis: number): { mean: number[]; variance: number[] } {
  const C = shape[axis]!;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const sums = new Array<number>(C).fill(0);
  const sq = new Array<number>(C).fill(0);
  const count = x.length / C;
  for (let i = 0; i < x.length; i++) sums[Math.floor(i / strides[axis]!) % C]! += x[i]!;
  const mean = sums.map((s) => s / count);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / strides[axis]!) % C;
    sq[c]! += (x[i]! - mean[c]!) ** 2;
  }
  return { mean, variance: sq.map((s) => s / count) };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst, what).toBeLessThan(tol);
}

const SHAPE = [6, 3, 4, 5];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`BN building blocks (${backend})`, () => {
    it('batchMoments: per-channel mean and biased variance, channel axis last or not, fused or not', async () => {
      await initBackend({ backend });
      const x = tf.randomNormal(SHAPE, 0.3, 2, 'float32', 7);
      const data = x.dataSync() as Float32Array;
      for (const axis of [3, 1]) {
        const { info, model } = bnOf(axis);
        expect(info.axis).toBe(axis);
        const want = moments64(data, SHAPE, axis);
        for (const fused of [true, false]) {
          const before = tf.memory().numTensors;
          const m = batchMoments(x, info, fused);
          expectClose(m.mean.dataSync(), want.mean, 1e-5);
          expectClose(m.variance.dataSync(), want.variance, 1e-4);
          expect(m.mean.shape).toEqual([SHAPE[axis]]);
          tf.dispose([m.mean, m.variance]);
          expect(tf.memory().numTensors).toBe(before);
        }
        model.dispose();
      }
      x.dispose();
    });

    it('normalizeWith: (x - mean) / sqrt(var + eps) * gamma + beta per channel, with and without gamma/beta, equal to Keras training mode', async () => {
      await initBackend({ backend });
      const x = tf.randomNormal(SHAPE, -0.2, 1.5, 'float32', 8);
      const data = x.dataSync() as Float32Array;
      for (const axis of [3, 1]) {
        for (const options of [{}, { scale: false, center: false }, { scale: false }]) {
          const { info, model } = bnOf(axis, options);
          const { mean, variance } = moments64(data, SHAPE, axis);
          const gamma = info.gamma ? Array.from(info.gamma.dataSync()) : null;
          const beta = info.beta ? Array.from(info.beta.dataSync()) : null;
          const strides = SHAPE.map((_, i) => SHAPE.slice(i + 1).reduce((a, b) => a * b, 1));
          const want = Array.from(data, (v, i) => {
            const c = Math.floor(i / strides[axis]!) % SHAPE[axis]!;
            return ((v - mean[c]!) / Math.sqrt(variance[c]! + 0.01)) * (gamma?.[c] ?? 1) + (beta?.[c] ?? 0);
          });
          const y = tf.tidy(() => {
            const m = batchMoments(x, info, false);
            return normalizeWith(x, info, m.mean, m.variance);
          });
          expectClose(y.dataSync(), want, 1e-4, `normalizeWith, axis ${axis}, ${JSON.stringify(options)}`);
          // The hook gives the same, and so does the layer itself in training mode, channels last.
          // tfjs-layers 4.22 cannot run a BN without gamma or beta in training mode (it reads the
          // missing weight), and with the channel axis not last its result is wrong: tf.batchNorm's
          // kernels index the statistics by flat position modulo their length.
          const hooked = tf.tidy(() => batchStatisticsHook(info)({ inputs: [x], layer: info.layer } as never) as tf.Tensor);
          expectClose(hooked.dataSync(), want, 1e-4, `hook, axis ${axis}, ${JSON.stringify(options)}`);
          if (gamma !== null && beta !== null && axis === 3) {
            const keras = tf.tidy(() => info.layer.apply(x, { training: true }) as tf.Tensor);
            expectClose(keras.dataSync(), want, 1e-4, `layer, axis ${axis}`);
            keras.dispose();
          }
          tf.dispose([y, hooked]);
          model.dispose();
        }
      }
      x.dispose();
    });

    it('normalizeWith under a gradient tape, layers built without gamma, beta or both: the gradients of elementwise ops', async () => {
      await initBackend({ backend });
      const x = tf.randomNormal(SHAPE, -0.2, 1.5, 'float32', 9);
      const w = tf.randomNormal(SHAPE, 0, 1, 'float32', 10);
      for (const options of [{}, { scale: false }, { center: false }, { scale: false, center: false }]) {
        const { info, model } = bnOf(3, options);
        const vars = [info.gamma, info.beta].filter((v): v is tf.Variable => v !== null);
        const loss = (norm: (xx: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor) => tf.Tensor) => (xx: tf.Tensor) => {
          const m = batchMoments(xx, info, false);
          return tf.sum(tf.mul(norm(xx, m.mean, m.variance), w)) as tf.Scalar;
        };
        const ours = loss((xx, mean, variance) => normalizeWith(xx, info, mean, variance));
        const plain = loss((xx, mean, variance) => {
          let y = tf.mul(tf.sub(xx, mean), tf.rsqrt(tf.add(variance, 0.01)));
          if (info.gamma !== null) y = tf.mul(y, info.gamma);
          return info.beta !== null ? tf.add(y, info.beta) : y;
        });
        const what = JSON.stringify(options);
        const [gx, gxRef] = tf.tidy(() => [tf.grad(ours)(x), tf.grad(plain)(x)]);
        expectClose(gx!.dataSync(), gxRef!.dataSync(), 1e-4, `dx ${what}`);
        if (vars.length > 0) {
          const a = tf.variableGrads(() => ours(x), vars);
          const b = tf.variableGrads(() => plain(x), vars);
          for (const v of vars) expectClose(a.grads[v.name]!.dataSync(), b.grads[v.name]!.dataSync(), 1e-3, `d${v.name} ${what}`);
          tf.dispose([a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
        }
        tf.dispose([gx!, gxRef!]);
        model.dispose();
      }
      tf.dispose([x, w]);
    });
  });
}

describe('which moments path runs (wasm)', () => {
  it("channels last outside a tape: the fused kernel, no tfjs Mean; with fused false, inside a tape, or the channel axis not last: tf.moments", async () => {
    await initBackend({ backend: 'wasm' });
    const x = tf.randomNormal(SHAPE, 0, 1, 'float32', 9);
    const kernels = async (f: () => tf.Tensor[]): Promise<string[]> => {
      const info = await tf.profile(() => f());
      tf.dispose(info.result as tf.Tensor[]);
      return info.kernelNames;
    };
    const last = bnOf(3);
    const first = bnOf(1);
    const moments = (i: BatchNormInfo, fused?: boolean) => () => {
      const m = batchMoments(x, i, fused);
      return [m.mean, m.variance];
    };
    expect(await kernels(moments(last.info))).not.toContain('Mean');
    expect(await kernels(moments(last.info, false))).toContain('Mean');
    expect(await kernels(moments(first.info))).toContain('Mean');
    let underTape: string[] = [];
    const g = tf.grad((v: tf.Tensor) => {
      const m = batchMoments(v, last.info);
      underTape = tapeRecording() ? ['taped'] : [];
      return tf.sum(m.variance);
    });
    const profiled = await tf.profile(() => g(x));
    tf.dispose(profiled.result as tf.Tensor);
    expect(underTape).toEqual(['taped']);
    // The default under a tape is tf.moments (differentiable): its Mean runs.
    expect(profiled.kernelNames).toContain('Mean');
    last.model.dispose();
    first.model.dispose();
    x.dispose();
  });
});

describe('gradient tape state', () => {
  it('tapeRecording: false outside a gradient computation, true inside one, false inside a kernel', async () => {
    await initBackend({ backend: 'cpu' });
    expect(tapeRecording()).toBe(false);
    let inside: boolean | undefined;
    let inKernel: boolean | undefined;
    const g = tf.grad((x: tf.Tensor) => {
      inside = tapeRecording();
      const f = tf.customGrad(((v: tf.Tensor) => {
        inKernel = tf.engine().state.kernelDepth > 0 ? tapeRecording() : undefined;
        return { value: tf.mul(v, 2), gradFunc: (dy: tf.Tensor) => tf.mul(dy, 2) };
      }) as never);
      return tf.sum((f as (v: tf.Tensor) => tf.Tensor)(x));
    });
    const x = tf.ones([3]);
    tf.dispose(g(x));
    x.dispose();
    expect(inside).toBe(true);
    if (inKernel !== undefined) expect(inKernel).toBe(false);
    expect(tapeRecording()).toBe(false);
  });

  it('disposeAbandonedTape frees what a gradient computation that threw kept for its backward pass, and leaves a clean engine alone', async () => {
    await initBackend({ backend: 'cpu' });
    const x = tf.randomNormal([4, 5], 0, 1, 'float32', 3);
    const before = tf.memory().numTensors;
    const f = tf.customGrad(((v: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
      save([tf.square(v), tf.exp(v)]);
      return { value: tf.mul(v, 3), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
    }) as never) as (v: tf.Tensor) => tf.Tensor;
    expect(() =>
      tf.grad((v: tf.Tensor) => {
        f(v);
        throw new Error('boom in the forward pass');
      })(x),
    ).toThrow('boom in the forward pass');
    const leaked = tf.memory().numTensors - before;
    disposeAbandonedTape();
    expect(tf.memory().numTensors - before).toBeLessThan(Math.max(leaked, 1));
    expect(tf.memory().numTensors).toBe(before);
    // Nothing left to free: a second call changes nothing.
    disposeAbandonedTape();
    expect(tf.memory().numTensors).toBe(before);
    // While a tape records, it frees nothing: the backward pass still has its saved tensors.
    const grad = tf.grad((v: tf.Tensor) => {
      const y = f(v);
      disposeAbandonedTape();
      return tf.sum(y);
    })(x);
    // d/dv sum(3v) by the custom gradient dy * v^2 (dy = 1): the saved square, still alive.
    const want = (x.dataSync() as Float32Array).map((v) => v * v);
    expectClose(grad.dataSync(), want, 1e-5);
    grad.dispose();
    x.dispose();
  });
});
