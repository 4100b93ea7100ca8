/**
 * BN folding in the executor: a fixed-statistics pass with conv -> BN (-> relu/relu6) folded
 * into one fused op equals the unfolded pass (the layers' own computation) within 1e-5, on the
 * cpu backend (the oracle) and on wasm; the folded weights follow weight updates; hooks,
 * `training: true` and gradient tapes turn folding off; nothing leaks.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelExecutor, batchStatisticsHook, initBackend } from '../../src/index.js';
import { mobileNetV2Style, randomBatch, smallResNet } from '../helpers/models.js';

/** Seeded non-trivial BN parameters and statistics, by weight name (layers may lack gamma or beta). */
function randomizeBatchNorms(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.weights.map((w) =>
      tf.tidy(() => {
        const u = tf.randomUniform(w.read().shape, 0, 1, 'float32', s++);
        const n = w.originalName;
        if (n.endsWith('gamma')) return u.mul(0.5).add(0.75);
        if (n.endsWith('beta')) return u.sub(0.5).mul(0.2);
        if (n.endsWith('moving_mean')) return u.sub(0.5).mul(0.4);
        return u.mul(0.8).add(0.4);
      }),
    );
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/**
 * A Sequential CNN with conv -> BN -> Activation('relu') chains, a conv with its own bias, a
 * depthwise conv with multiplier 2 and a relu6 ReLU layer.
 */
function sequentialBnCnn(): tf.Sequential {
  return tf.sequential({
    name: 'seq_bn_cnn',
    layers: [
      tf.layers.conv2d({ inputShape: [12, 12, 2], filters: 6, kernelSize: 3, useBias: true, biasInitializer: 'randomNormal', name: 'c1' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.activation({ activation: 'relu', name: 'a1' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', name: 'dw' }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.reLU({ maxValue: 6, name: 'r6' }),
      tf.layers.conv2d({ filters: 5, kernelSize: 1, name: 'c2' }),
      tf.layers.batchNormalization({ name: 'bn3' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'logits' }),
    ],
  });
}

const CASES = [
  // stem, b1a, b1b, b2a, b2b, b2s: every conv is followed by its own BN.
  { name: 'small ResNet', build: () => smallResNet(), shape: [6, 12, 12, 1], groups: 6 },
  // stem, and exp / dw / proj of both blocks.
  { name: 'MobileNetV2-style', build: () => mobileNetV2Style(), shape: [5, 12, 12, 3], groups: 7 },
  { name: 'Sequential CNN', build: () => sequentialBnCnn(), shape: [4, 12, 12, 2], groups: 3 },
];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`BN folding on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend({ backend });
    });

    it('folds BN layers without scale or offset (gamma = 1, beta = 0) exactly as they compute', () => {
      const input = tf.input({ shape: [8, 8, 3] });
      let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, useBias: true, biasInitializer: 'randomNormal', name: 'c' }).apply(input) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization({ scale: false, name: 'bn_noscale' }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.depthwiseConv2d({ kernelSize: 3, name: 'dw' }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization({ center: false, name: 'bn_nocenter' }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(h) as tf.SymbolicTensor });
      randomizeBatchNorms(model, 8);
      const folded = new ModelExecutor(model);
      expect(folded.foldedGroups).toBe(2);
      const x = randomBatch([3, 8, 8, 3], 9);
      tf.tidy(() => {
        expect(maxAbsDiff(folded.logits(x), new ModelExecutor(model, { foldBatchNorm: false }).logits(x))).toBeLessThan(1e-5);
      });
      folded.dispose();
      x.dispose();
      model.dispose();
    });

    for (const c of CASES) {
      describe(c.name, () => {
        it('folds every conv -> BN chain and equals the unfolded pass within 1e-5 (logits, features, predict)', () => {
          const model = c.build();
          randomizeBatchNorms(model, 3);
          const folded = new ModelExecutor(model);
          const plain = new ModelExecutor(model, { foldBatchNorm: false });
          expect(folded.foldedGroups).toBe(c.groups);
          expect(plain.foldedGroups).toBe(0);
          const x = randomBatch(c.shape, 11);
          tf.tidy(() => {
            const a = folded.run(x);
            const b = plain.run(x);
            expect(maxAbsDiff(a.logits, b.logits)).toBeLessThan(1e-5);
            expect(maxAbsDiff(a.features, b.features)).toBeLessThan(1e-5);
            expect(maxAbsDiff(folded.predict(x), model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
          });
          folded.dispose();
          x.dispose();
          model.dispose();
        });

        it('runs no BatchNorm kernel when folded, and the layers\' own kernels when not', async () => {
          const model = c.build();
          randomizeBatchNorms(model, 4);
          const folded = new ModelExecutor(model);
          const x = randomBatch(c.shape, 12);
          const kernelsOf = async (f: () => tf.Tensor) => (await tf.profile(() => tf.tidy(f))).kernels.map((k) => k.name);
          const on = await kernelsOf(() => folded.logits(x));
          expect(on).not.toContain('FusedBatchNorm');
          expect(on.filter((k) => k === 'FusedConv2D' || k === 'FusedDepthwiseConv2D').length).toBe(c.groups);
          // training: true (Keras BN then uses batch statistics) runs the layers themselves.
          const off = await kernelsOf(() => folded.logits(x, { training: true }));
          expect(off).toContain('FusedBatchNorm');
          folded.dispose();
          x.dispose();
          model.dispose();
        });

        it('recomputes the folded weights when a conv or BN weight changes, and folds nothing under a hook, training or a tape', () => {
          const model = c.build();
          randomizeBatchNorms(model, 5);
          const folded = new ModelExecutor(model);
          const plain = new ModelExecutor(model, { foldBatchNorm: false });
          const x = randomBatch(c.shape, 13);
          const before = tf.tidy(() => folded.logits(x));
          // New BN statistics and a new conv kernel, written the way apps and strategies write them.
          randomizeBatchNorms(model, 99);
          const conv = model.layers.find((l) => l.getClassName() === 'Conv2D')!;
          const [k, ...rest] = conv.getWeights();
          const k2 = tf.mul(k!, 1.5);
          conv.setWeights([k2, ...rest]);
          k2.dispose();
          tf.tidy(() => {
            const a = folded.logits(x);
            expect(maxAbsDiff(a, before)).toBeGreaterThan(1e-3);
            expect(maxAbsDiff(a, plain.logits(x))).toBeLessThan(1e-5);
            // Hooked BN layers normalise with batch statistics: folding must step aside for them.
            const bn = folded.info.batchNorms;
            const hooks = new Map(bn.map((b) => [b.name, batchStatisticsHook(b)]));
            expect(maxAbsDiff(folded.logits(x, { hooks }), plain.logits(x, { hooks }))).toBeLessThan(1e-5);
            expect(maxAbsDiff(folded.logits(x, { training: true }), plain.logits(x, { training: true }))).toBeLessThan(1e-5);
          });
          // Under a tape the gradient reaches the conv kernels (it would not through cached folded weights).
          const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
          const grad = (e: ModelExecutor) => tf.variableGrads(() => tf.sum(tf.square(e.logits(x))) as tf.Scalar, vars);
          const ga = grad(folded);
          const gb = grad(plain);
          for (const v of vars) {
            expect(ga.grads[v.name]).toBeDefined();
            expect(maxAbsDiff(ga.grads[v.name]!, gb.grads[v.name]!)).toBeLessThan(1e-4);
          }
          tf.dispose([ga.value, gb.value, ...Object.values(ga.grads), ...Object.values(gb.grads), before]);
          folded.dispose();
          x.dispose();
          model.dispose();
        });

        it('leaks nothing: tensors stay flat over runs and weight updates, and dispose frees the cache', () => {
          const model = c.build();
          randomizeBatchNorms(model, 6);
          const x = randomBatch(c.shape, 14);
          // tfjs caches a few scalars on first use: warm up both paths with a throwaway executor.
          const warmup = new ModelExecutor(model);
          tf.dispose(tf.tidy(() => [warmup.logits(x), new ModelExecutor(model, { foldBatchNorm: false }).logits(x)]));
          warmup.dispose();
          const start = tf.memory().numTensors;
          const folded = new ModelExecutor(model);
          tf.dispose(tf.tidy(() => folded.logits(x)));
          const warm = tf.memory().numTensors;
          // Two cached tensors (filter, bias) per folded chain.
          expect(warm - start).toBe(2 * c.groups);
          for (let i = 0; i < 3; i++) {
            tf.dispose(tf.tidy(() => [folded.logits(x), folded.predict(x)]));
            randomizeBatchNorms(model, 20 + i);
          }
          tf.dispose(tf.tidy(() => folded.logits(x)));
          expect(tf.memory().numTensors).toBe(warm);
          folded.dispose();
          expect(tf.memory().numTensors).toBe(start);
          x.dispose();
          model.dispose();
        });
      });
    }
  });
}
