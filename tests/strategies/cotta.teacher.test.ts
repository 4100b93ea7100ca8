/** strategies/teacher.ts (ModelCopy, EMA, restore) and src/confidenceThreshold.ts against hand-computed values. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { cottaThreshold, quantile } from '../../src/confidenceThreshold.js';
import { InvalidInputError, InvalidOptionError, UnsupportedModelError } from '../../src/errors.js';
import { createRng } from '../../src/fused/index.js';
import { initBackend } from '../../src/index.js';
import { batchStatisticsHook } from '../../src/model/batchNorm.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { emaFrom, ModelCopy, restoreToSource, trainableParameters } from '../../strategies/teacher.js';
import { mobileNetV2Style, randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const arr = (t: tf.Tensor) => Array.from(t.dataSync());

describe('ModelCopy and the mean-teacher updates', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('refuses a model whose config does not rebuild the same weights (shape, trainable flag, count)', () => {
    // A custom layer whose weights depend on constructor arguments that getConfig leaves out:
    // rebuilt from its config, it gets the defaults (2 units, a trainable kernel, an extra weight).
    interface Args {
      units?: number;
      trainableKernel?: boolean;
      extraWeight?: boolean;
    }
    class ConfiglessDense extends tf.layers.Layer {
      static className = 'ConformanceConfiglessDense';
      private readonly units: number;
      private readonly trainableKernel: boolean;
      private readonly extraWeight: boolean;
      constructor(args: Args & { name?: string } = {}) {
        super({ name: args.name });
        this.units = args.units ?? 2;
        this.trainableKernel = args.trainableKernel ?? true;
        this.extraWeight = args.extraWeight ?? true;
      }
      override build(inputShape: tf.Shape): void {
        this.addWeight('kernel', [inputShape[inputShape.length - 1]!, this.units], 'float32', tf.initializers.ones(), undefined, this.trainableKernel);
        if (this.extraWeight) this.addWeight('extra', [1], 'float32', tf.initializers.zeros());
        this.built = true;
      }
      override computeOutputShape(inputShape: tf.Shape): tf.Shape {
        return [inputShape[0]!, this.units];
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        const x = Array.isArray(inputs) ? inputs[0]! : inputs;
        return tf.matMul(x as tf.Tensor2D, this.weights[0]!.read() as tf.Tensor2D);
      }
    }
    tf.serialization.registerClass(ConfiglessDense);
    const build = (args: Args) => {
      const input = tf.input({ shape: [3] });
      const out = new ConfiglessDense({ ...args, name: 'configless' }).apply(input) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out, name: 'configless_model' });
    };
    // The default arguments rebuild the same weights: the copy works.
    const fine = build({});
    ModelCopy.of(fine).dispose();
    for (const [args, message] of [
      [{ units: 3 }, /does not have the same weights as the model \(at 'configless\/kernel'\)/],
      // Same shapes, only the kernel's trainable flag differs (no extra weight, or the order of weights would differ first).
      [{ trainableKernel: false, extraWeight: false }, /does not have the same weights as the model \(at 'configless\/kernel'\)/],
      [{ extraWeight: false }, /has 2 weights; the model has 1/],
    ] as const) {
      const model = build(args);
      const before = tf.memory().numTensors;
      expect(() => ModelCopy.of(model)).toThrow(UnsupportedModelError);
      expect(() => ModelCopy.of(model)).toThrow(message);
      // The half-built copy is disposed.
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    }
    fine.dispose();
    // A custom layer that is not registered cannot be rebuilt from its config at all.
    class Unregistered extends ConfiglessDense {
      static override className = 'ConformanceUnregisteredLayer';
    }
    const input = tf.input({ shape: [3] });
    const odd = tf.model({ inputs: input, outputs: new Unregistered({ name: 'odd' }).apply(input) as tf.SymbolicTensor, name: 'odd_model' });
    expect(() => ModelCopy.of(odd)).toThrow(UnsupportedModelError);
    expect(() => ModelCopy.of(odd)).toThrow(/Could not copy model 'odd_model' from its config \(.+\)\. Register custom layers with tf\.serialization\.registerClass/s);
    odd.dispose();
  });

  it('copies a model: same predictions, aligned names, own memory', () => {
    for (const model of [smallResNet([8, 8, 1], 4), mobileNetV2Style([8, 8, 3], 3)]) {
      randomizeBatchNorms(model, 2);
      const x = randomBatch([3, ...model.inputs[0]!.shape.slice(1)] as number[]);
      const copy = ModelCopy.of(model);
      expect(arr(tf.tidy(() => copy.model.predict(x) as tf.Tensor))).toEqual(arr(tf.tidy(() => model.predict(x) as tf.Tensor)));
      expect([...copy.parameters.keys()]).toEqual([...trainableParameters(model).keys()]);
      expect(copy.variables.size).toBe(model.weights.length);
      // Writing the source does not write the copy.
      const before = arr(copy.parameters.values().next().value!);
      const first = trainableParameters(model).values().next().value!;
      first.assign(tf.add(first, 1));
      expect(arr(copy.parameters.values().next().value!)).toEqual(before);
      const n = tf.memory().numTensors;
      copy.dispose();
      expect(tf.memory().numTensors).toBe(n - model.weights.length);
      tf.dispose(x);
    }
  });

  it('batchStatisticsHooks normalise the copy with batch statistics (equals Keras training mode)', () => {
    const model = smallResNet([8, 8, 1], 4);
    randomizeBatchNorms(model, 5);
    const x = randomBatch([6, 8, 8, 1]);
    const copy = ModelCopy.of(model);
    const viaHooks = tf.tidy(() => arr(tf.softmax(copy.executor.logits(x, { hooks: copy.batchStatisticsHooks() }))));
    const other = ModelCopy.of(model);
    const viaTraining = tf.tidy(() => arr(other.model.apply(x, { training: true }) as tf.Tensor));
    other.dispose();
    viaHooks.forEach((v, i) => expect(v).toBeCloseTo(viaTraining[i]!, 5));
    copy.dispose();
    x.dispose();
  });

  it('emaFrom and restoreToSource compute the hand-derived values', () => {
    const t = [tf.variable(tf.tensor1d([1, 2, 3])), tf.variable(tf.tensor1d([10]))];
    const s = [tf.tensor1d([3, 2, 1]), tf.tensor1d([0])];
    emaFrom(t, s, 0.75);
    expect(arr(t[0]!)).toEqual([1.5, 2, 2.5]);
    expect(arr(t[1]!)).toEqual([7.5]);
    // p = 1 restores everything, p = 0 nothing; the count is returned.
    expect(restoreToSource(t, s, 1, createRng(1))).toBe(4);
    expect(arr(t[0]!)).toEqual([3, 2, 1]);
    t[0]!.assign(tf.tensor1d([5, 5, 5]));
    expect(restoreToSource(t, s, 0, createRng(1))).toBe(0);
    expect(arr(t[0]!)).toEqual([5, 5, 5]);
    // p = 0.5 with a known generator: element i is restored iff its draw is < 0.5.
    const rng = createRng(9);
    const draws = Array.from({ length: 4 }, () => rng.next());
    const restored = restoreToSource(t, s, 0.5, createRng(9));
    expect(restored).toBe(draws.filter((u) => u < 0.5).length);
    expect(arr(t[0]!)).toEqual([0, 1, 2].map((i) => (draws[i]! < 0.5 ? [3, 2, 1][i] : 5)));
    tf.dispose([...t, ...s]);
  });
});

describe('cottaThreshold (5% quantile of source confidence minus 0.05)', () => {
  it('quantile interpolates like numpy', () => {
    // numpy.quantile([1, 2, 3, 4, 5], 0.05) = 1.2; ([0.5, 0.9], 0.25) = 0.6
    expect(quantile([5, 1, 4, 2, 3], 0.05)).toBeCloseTo(1.2, 12);
    expect(quantile([0.9, 0.5], 0.25)).toBeCloseTo(0.6, 12);
    expect(() => quantile([], 0.5)).toThrow(InvalidInputError);
  });

  it('takes the quantile of per-batch (or per-image) max-probability of the batch-statistics model', () => {
    const model = smallResNet([8, 8, 1], 4);
    randomizeBatchNorms(model, 7);
    const x = randomBatch([40, 8, 8, 1], 3);
    const exec = new ModelExecutor(model);
    const hooks = new Map(exec.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
    // Oracle: batches of 8 -> 5 batch means; images -> 40 values.
    const perImage = tf.tidy(() =>
      [0, 1, 2, 3, 4].flatMap((b) => arr(tf.max(tf.softmax(exec.logits(tf.slice(x, [b * 8], [8]), { hooks })), 1))),
    );
    const perBatch = [0, 1, 2, 3, 4].map((b) => perImage.slice(b * 8, b * 8 + 8).reduce((s, v) => s + v, 0) / 8);
    const r = cottaThreshold(model, x, { batchSize: 8 });
    Array.from(r.confidences).forEach((v, i) => expect(v).toBeCloseTo(perBatch[i]!, 5));
    expect(r.threshold).toBeCloseTo(quantile(perBatch, 0.05) - 0.05, 5);
    const ri = cottaThreshold(model, x, { batchSize: 8, per: 'image', quantile: 0.5, margin: 0 });
    expect(ri.confidences.length).toBe(40);
    expect(ri.threshold).toBeCloseTo(quantile(perImage, 0.5), 5);
    expect(() => cottaThreshold(model, x, { batchSize: 64 })).toThrow(InvalidInputError);
    expect(() => cottaThreshold(model, x, { quantile: 2 })).toThrow(InvalidOptionError);
    x.dispose();
  });
});
