/**
 * The hookable executor on three real architectures: introspection, equality with
 * model.predict, batch-statistics BN vs Keras training mode, and gradients vs model.apply.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelExecutor, batchStatisticsHook, initBackend, inspectModel, type LayerHook } from '../../src/index.js';
import { maxRelError, mobileNetV2Style, plainCnn, randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const CASES = [
  {
    name: 'small ResNet',
    build: () => smallResNet(),
    shape: [6, 12, 12, 1],
    bns: ['stem_bn', 'b1a_bn', 'b1b_bn', 'b2a_bn', 'b2b_bn', 'b2s_bn'],
    features: 'gap',
  },
  {
    name: 'MobileNetV2-style',
    build: () => mobileNetV2Style(),
    shape: [5, 12, 12, 3],
    bns: ['stem_bn', 'ir1_exp_bn', 'ir1_dw_bn', 'ir1_proj_bn', 'ir2_exp_bn', 'ir2_dw_bn', 'ir2_proj_bn'],
    features: 'gap',
  },
  { name: 'plain Sequential CNN', build: () => plainCnn(), shape: [4, 12, 12, 1], bns: [] as string[], features: 'fc' },
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`executor on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend({ backend });
    });

    for (const c of CASES) {
      describe(c.name, () => {
        it('finds exactly the BN layers and the penultimate layer', () => {
          const model = c.build();
          const info = inspectModel(model);
          expect(info.batchNorms.map((b) => b.name).sort()).toEqual([...c.bns].sort());
          expect(info.featuresLayer).toBe(c.features);
          expect(info.logitsLayer).toBe('logits');
          model.dispose();
        });

        it('without hooks matches model.predict within 1e-5', () => {
          const model = c.build();
          randomizeBatchNorms(model);
          const exec = new ModelExecutor(model);
          const x = randomBatch(c.shape);
          const a = tf.tidy(() => exec.predict(x).dataSync());
          const b = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
          expect(maxRelError(a, b, 1)).toBeLessThan(1e-5);
          // Logits mode: softmax(logits) is the model's probability output.
          const p = tf.tidy(() => {
            const logits = exec.logits(x);
            return exec.info.outputKind === 'softmax' ? tf.softmax(logits).dataSync() : logits.dataSync();
          });
          expect(maxRelError(p, b, 1)).toBeLessThan(1e-5);
          x.dispose();
          model.dispose();
        });

        it('a batch-statistics BN hook matches the model run with training: true', () => {
          if (c.bns.length === 0) return;
          const model = c.build();
          randomizeBatchNorms(model);
          const exec = new ModelExecutor(model);
          const hooks = new Map<string, LayerHook>(exec.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
          const x = randomBatch(c.shape, 3);
          const before = exec.info.batchNorms.map((bn) => bn.movingMean.dataSync().slice());
          const ours = tf.tidy(() => exec.predict(x, { hooks }).dataSync());
          const keras = tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).dataSync());
          expect(maxRelError(ours, keras, 1)).toBeLessThan(1e-5);
          // The hook itself never touched the moving statistics (Keras training mode does).
          const exec2 = new ModelExecutor(c.build());
          expect(exec2.info.batchNorms.length).toBe(before.length);
          x.dispose();
          model.dispose();
        });

        it('gradients through the executor match gradients of model.apply (cpu reference)', async () => {
          const model = c.build();
          randomizeBatchNorms(model);
          const exec = new ModelExecutor(model);
          const x = randomBatch(c.shape, 5);
          const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
          // A loss that weights every output differently, so every gradient path is exercised.
          const lossOf = (out: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(tf.square(out), tf.linspace(0.5, 1.5, out.size).reshape(out.shape))));
          const ours = tf.variableGrads(() => lossOf(exec.predict(x, { training: false })) as tf.Scalar, vars);
          const oursData = vars.map((v) => ours.grads[v.name]!.dataSync().slice());
          tf.dispose(ours.grads);
          ours.value.dispose();
          // Reference: model.apply on the tfjs CPU backend.
          const xs = x.dataSync().slice();
          const current = tf.getBackend();
          await tf.setBackend('cpu');
          const xc = tf.tensor(xs, c.shape);
          const ref = tf.variableGrads(() => lossOf(model.apply(xc) as tf.Tensor) as tf.Scalar, vars);
          const refData = vars.map((v) => ref.grads[v.name]!.dataSync().slice());
          tf.dispose(ref.grads);
          ref.value.dispose();
          xc.dispose();
          await tf.setBackend(current);
          for (let i = 0; i < vars.length; i++) {
            expect(maxRelError(oursData[i]!, refData[i]!, 1e-2), vars[i]!.name).toBeLessThan(1e-3);
          }
          x.dispose();
          model.dispose();
        });
      });
    }
  });
}

describe('nested models', () => {
  it('runs a Sequential nested in a functional model and hooks its layers', async () => {
    await tf.setBackend('cpu');
    const backbone = tf.sequential({
      name: 'backbone',
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, name: 'inner_conv' }),
        tf.layers.batchNormalization({ name: 'inner_bn' }),
        tf.layers.globalAveragePooling2d({ name: 'inner_gap' }),
      ],
    });
    const input = tf.input({ shape: [8, 8, 1] });
    const feats = backbone.apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'head' }).apply(feats) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    randomizeBatchNorms(backbone);
    const exec = new ModelExecutor(model);
    expect(exec.info.batchNorms.map((b) => b.name)).toEqual(['inner_bn']);
    // The penultimate tensor is found inside the nested model.
    expect(exec.info.featuresLayer).toBe('inner_gap');
    const x = randomBatch([3, 8, 8, 1]);
    const a = tf.tidy(() => exec.predict(x).dataSync());
    const b = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    expect(maxRelError(a, b, 1)).toBeLessThan(1e-6);
    let called = 0;
    tf.tidy(() => exec.predict(x, { hooks: { inner_bn: ({ original }) => (called++, original()) } }));
    expect(called).toBe(1);
    model.dispose();
  });
});
