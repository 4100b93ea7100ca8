/**
 * Hostile model weights refused by createAdapter (src/model/finiteWeights.ts): a BatchNormalization
 * layer whose moving variance + epsilon is not > 0, or whose epsilon is not > 0. Before, such a
 * model was accepted and every prediction through the layer's moving statistics was NaN. (NaN and
 * infinite weights: tests/workers/workerModelLoad.test.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidModelError } from '../../src/index.js';
import { mobileNetV2Style, randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

/** `model` with seeded BN statistics, and channel 2 of `layer`'s moving variance set to `value`. */
function withVariance(model: tf.LayersModel, layer: string, value: number): tf.LayersModel {
  randomizeBatchNorms(model);
  setVariance(model, layer, 2, value);
  return model;
}

function setVariance(model: tf.LayersModel, layer: string, index: number, value: number): void {
  const v = model.getLayer(layer).weights.find((w) => w.name.includes('moving_variance'))!;
  const values = v.read().dataSync().slice();
  values[index] = value;
  v.write(tf.tensor(values, v.shape as number[]));
}

async function refusal(model: tf.LayersModel, strategy: string): Promise<Error> {
  const mem = tf.memory().numTensors;
  const err = (await createAdapter(model, { strategy } as never).catch((e: unknown) => e)) as Error;
  expect(err).toBeInstanceOf(InvalidModelError);
  expect(err.name).toBe('InvalidModelError');
  expect(tf.memory().numTensors).toBe(mem); // nothing kept
  return err;
}

const FIX = 'The model file is corrupt or was not made by training (a trained layer has epsilon > 0 and moving variances >= 0): load an intact copy of the model.';

describe('createAdapter refuses BN layers that divide by sqrt(<= 0)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a moving variance with variance + epsilon < 0: InvalidModelError naming the layer, the index and the value, for every strategy; the repaired model is accepted', async () => {
    // A projection BN (no ReLU after it: on wasm a ReLU turns NaN into 0, hiding it).
    const model = withVariance(mobileNetV2Style([8, 8, 3], 4), 'ir2_proj_bn', -0.5);
    const x = randomBatch([4, 8, 8, 3], 3);
    // What the adapter would have run on: the source model's predictions are NaN.
    expect(Array.from((model.predict(x) as tf.Tensor).dataSync()).every(Number.isNaN)).toBe(true);
    for (const strategy of ['source', 'lame', 'bn-adapt', 'tent']) {
      const err = await refusal(model, strategy);
      expect(err.message).toBe(
        "createAdapter: the BatchNormalization layer 'ir2_proj_bn' has a moving variance of -0.5 at index 2 (1 of 12 channels), and a variance must be >= 0: " +
          `where moving variance + epsilon (0.001) is <= 0 every prediction through that layer's moving statistics is NaN or infinite, and no snapshot of such a state restores. ${FIX}`,
      );
    }
    // The refused adapters took no lease on the model: repaired, it gets an adapter, with finite outputs.
    setVariance(model, 'ir2_proj_bn', 2, 0.5);
    const adapter = await createAdapter(model, { strategy: 'source' });
    expect((await adapter.step(x)).probs.every(Number.isFinite)).toBe(true);
    adapter.dispose();
    x.dispose();
  });

  it('counts every bad channel and names the first; a BN layer inside a nested model is checked too', async () => {
    const model = withVariance(smallResNet([8, 8, 1], 3), 'b2s_bn', -3);
    setVariance(model, 'b2s_bn', 7, -1);
    expect((await refusal(model, 'source')).message).toMatch(/^createAdapter: the BatchNormalization layer 'b2s_bn' has a moving variance of -3 at index 2 \(2 of 12 channels\)/);
    // The same net as a layer of an outer model.
    const input = tf.input({ shape: [8, 8, 1] });
    const outer = tf.model({ inputs: input, outputs: model.apply(input) as tf.SymbolicTensor });
    expect((await refusal(outer, 'source')).message).toMatch(/^createAdapter: the BatchNormalization layer 'b2s_bn' has a moving variance of -3 at index 2/);
  });

  it('the boundary is 0: -epsilon (NaN or infinite predictions) and -epsilon / 2 (finite, but its snapshots would not restore) are refused, 0 is not', async () => {
    // tfjs adds the float32 epsilon: at variance -fround(epsilon) the sum is 0, and the channel infinite or NaN.
    for (const epsilon of [1e-3, 1e-5]) {
      const input = tf.input({ shape: [4, 4, 2] });
      const bn = tf.layers.batchNormalization({ epsilon, name: 'bn' }).apply(input) as tf.SymbolicTensor;
      const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(tf.layers.flatten().apply(bn) as tf.SymbolicTensor) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: out });
      const x = randomBatch([2, 4, 4, 2], 5);
      setVariance(model, 'bn', 1, -Math.fround(epsilon));
      expect(Array.from((model.predict(x) as tf.Tensor).dataSync()).every(Number.isFinite)).toBe(false);
      expect((await refusal(model, 'source')).message).toContain(`has a moving variance of ${-Math.fround(epsilon)} at index 1 (1 of 2 channels), and a variance must be >= 0`);
      // Between -epsilon and 0 the predictions are finite, but restore() refuses a negative variance: refused too.
      setVariance(model, 'bn', 1, -epsilon / 2);
      expect(Array.from((model.predict(x) as tf.Tensor).dataSync()).every(Number.isFinite)).toBe(true);
      expect((await refusal(model, 'bn-adapt')).message).toContain('at index 1 (1 of 2 channels), and a variance must be >= 0');
      setVariance(model, 'bn', 1, 0);
      const adapter = await createAdapter(model, { strategy: 'bn-adapt' });
      expect((await adapter.step(x)).probs.every(Number.isFinite)).toBe(true);
      // A variance of 0 snapshots and restores.
      await adapter.restore(await adapter.snapshot());
      adapter.dispose();
      x.dispose();
      model.dispose();
    }
  });

  it('an epsilon that is not > 0 (0, negative, NaN, or 0 as a float32) is refused: a channel of variance 0 would divide by zero', async () => {
    for (const epsilon of [0, -1e-3, NaN, 1e-50]) {
      const input = tf.input({ shape: [4, 4, 2] });
      const bn = tf.layers.batchNormalization({ epsilon, name: 'bn' }).apply(input) as tf.SymbolicTensor;
      const out = tf.layers.dense({ units: 3, name: 'out' }).apply(tf.layers.flatten().apply(bn) as tf.SymbolicTensor) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: out });
      expect((await refusal(model, 'bn-adapt')).message).toBe(
        `createAdapter: the BatchNormalization layer 'bn' has epsilon ${epsilon}; it must be a finite number > 0 (also as a float32), or a channel whose variance is 0 divides by zero and gives NaN. ${FIX}`,
      );
      model.dispose();
    }
  });
});
