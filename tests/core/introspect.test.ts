/**
 * Model introspection (src/model/introspect.ts) on small models of every shape it must read or
 * refuse: the output kinds (linear logits, a Dense with softmax, an Activation or Softmax layer),
 * nested models (a backbone model inside a functional one, a classifier head model at the end),
 * BN axes (negative, positive), and each refusal with its exact message.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { UnsupportedModelError } from '../../src/errors.js';
import { flattenLayers, inspectModel } from '../../src/model/introspect.js';

function refuses(model: tf.LayersModel, message: string): void {
  expect(() => inspectModel(model)).toThrow(UnsupportedModelError);
  expect(() => inspectModel(model)).toThrow(new UnsupportedModelError(message));
}

/** input [6, 6, 2] -> conv (c) -> BN (bn, axis) -> pool -> feat Dense 4 -> logits Dense 3 (act). */
function classifier(name: string, options: { act?: string; head?: 'activation' | 'softmax'; bnAxis?: number } = {}): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2], name: `${name}_in` });
  let x = tf.layers.conv2d({ filters: 5, kernelSize: 3, name: `${name}_c` }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ axis: options.bnAxis ?? -1, name: `${name}_bn`, epsilon: 0.002 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: `${name}_pool` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 4, name: `${name}_feat` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 3, activation: (options.act ?? 'linear') as never, name: `${name}_logits` }).apply(x) as tf.SymbolicTensor;
  if (options.head === 'activation') x = tf.layers.activation({ activation: 'softmax', name: `${name}_sm` }).apply(x) as tf.SymbolicTensor;
  if (options.head === 'softmax') x = tf.layers.softmax({ name: `${name}_sm` }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name });
}

describe('inspectModel', () => {
  it('reads a logits classifier: shapes, layers, BN info', () => {
    const info = inspectModel(classifier('a'));
    expect(info.inputShape).toEqual([6, 6, 2]);
    expect(info.numClasses).toBe(3);
    expect(info.outputKind).toBe('logits');
    expect(info.logitsLayer).toBe('a_logits');
    expect(info.featuresLayer).toBe('a_feat');
    expect(info.featureDim).toBe(4);
    expect(info.softmaxActivationLayer).toBeNull();
    expect(info.convLayers).toEqual(['a_c']);
    expect(info.denseLayers).toEqual(['a_feat', 'a_logits']);
    expect(info.layers.map((l) => l.name)).toEqual(['a_c', 'a_bn', 'a_pool', 'a_feat', 'a_logits']);
    const [bn] = info.batchNorms;
    expect(info.batchNorms.length).toBe(1);
    expect({ name: bn!.name, axis: bn!.axis, inputRank: bn!.inputRank, epsilon: bn!.epsilon, channels: bn!.channels }).toEqual({
      name: 'a_bn', axis: 3, inputRank: 4, epsilon: 0.002, channels: 5,
    });
    expect(bn!.gamma).not.toBeNull();
    expect(bn!.beta).not.toBeNull();
  });

  it('a model built for a fixed batch size: featureDim counts the features, not the batch', () => {
    const input = tf.input({ batchShape: [2, 5] });
    const feat = tf.layers.dense({ units: 4, name: 'fb_feat' }).apply(input) as tf.SymbolicTensor;
    const info = inspectModel(tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(feat) as tf.SymbolicTensor }));
    expect([info.inputShape, info.featureDim, info.numClasses]).toEqual([[5], 4, 3]);
  });

  it('a BN axis given as a positive index stays as it is; a BN without scale or center has null gamma / beta', () => {
    const m = classifier('b', { bnAxis: 3 });
    expect(inspectModel(m).batchNorms[0]!.axis).toBe(3);
    const input = tf.input({ shape: [4, 3] });
    let x = tf.layers.batchNormalization({ axis: 1, scale: false, center: false, name: 'b2_bn' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 2 }).apply(tf.layers.dense({ units: 3 }).apply(x)) as tf.SymbolicTensor;
    const bn = inspectModel(tf.model({ inputs: input, outputs: x })).batchNorms[0]!;
    expect({ axis: bn.axis, inputRank: bn.inputRank, channels: bn.channels, gamma: bn.gamma, beta: bn.beta }).toEqual({ axis: 1, inputRank: 3, channels: 4, gamma: null, beta: null });
  });

  it('the three softmax outputs: a Dense with softmax (logits skip its activation), an Activation layer, a Softmax layer', () => {
    const dense = inspectModel(classifier('s1', { act: 'softmax' }));
    expect([dense.outputKind, dense.logitsLayer, dense.featuresLayer, dense.softmaxActivationLayer?.name]).toEqual(['softmax', 's1_logits', 's1_feat', 's1_logits']);
    for (const head of ['activation', 'softmax'] as const) {
      const info = inspectModel(classifier(`s_${head}`, { head }));
      expect([info.outputKind, info.logitsLayer, info.featuresLayer, info.softmaxActivationLayer]).toEqual(['softmax', `s_${head}_logits`, `s_${head}_feat`, null]);
      expect(info.numClasses).toBe(3);
    }
  });

  it('nested models: layers are flattened (no InputLayer, no nested model), and the logits are found inside a nested head', () => {
    // A backbone model used as a layer, then a head model used as a layer.
    const bbIn = tf.input({ shape: [6, 6, 2] });
    const bbOut = tf.layers.globalAveragePooling2d({ name: 'n_pool' }).apply(
      tf.layers.batchNormalization({ name: 'n_bn' }).apply(tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'n_c' }).apply(bbIn)),
    ) as tf.SymbolicTensor;
    const backbone = tf.model({ inputs: bbIn, outputs: bbOut, name: 'n_backbone' });
    const head = tf.sequential({ name: 'n_head', layers: [tf.layers.dense({ units: 5, inputShape: [4], name: 'n_feat' }), tf.layers.dense({ units: 3, name: 'n_logits' })] });
    const input = tf.input({ shape: [6, 6, 2] });
    const model = tf.model({ inputs: input, outputs: head.apply(backbone.apply(input)) as tf.SymbolicTensor, name: 'nested' });
    expect(flattenLayers(model).map((l) => l.name)).toEqual(['n_c', 'n_bn', 'n_pool', 'n_feat', 'n_logits']);
    const info = inspectModel(model);
    expect([info.logitsLayer, info.featuresLayer, info.featureDim, info.numClasses]).toEqual(['n_logits', 'n_feat', 5, 3]);
    expect(info.batchNorms.map((b) => b.name)).toEqual(['n_bn']);
  });

  it('refuses several inputs or outputs, a non-classifier activation, logits that are not [batch, classes], a variable input size, and logits from two tensors', () => {
    const a = tf.input({ shape: [3] });
    const b = tf.input({ shape: [3] });
    const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    refuses(tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 2 }).apply(sum) as tf.SymbolicTensor, name: 'two_in' }), "Model 'two_in' has 2 inputs and 1 outputs; edge-tta adapts single-input, single-output classifiers.");
    const c = tf.input({ shape: [3] });
    const d1 = tf.layers.dense({ units: 2 }).apply(c) as tf.SymbolicTensor;
    const d2 = tf.layers.dense({ units: 2 }).apply(c) as tf.SymbolicTensor;
    refuses(tf.model({ inputs: c, outputs: [d1, d2], name: 'two_out' }), "Model 'two_out' has 1 inputs and 2 outputs; edge-tta adapts single-input, single-output classifiers.");
    refuses(classifier('t', { act: 'tanh' }), "Model 't' ends in layer 't_logits' with activation 'tanh'; edge-tta expects a classifier whose output is logits (activation 'linear') or a softmax.");
    const img = tf.input({ shape: [4, 4, 2] });
    refuses(tf.model({ inputs: img, outputs: tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(img) as tf.SymbolicTensor, name: 'seg' }), "Model 'seg' has logits of shape [null, 4, 4, 3]; edge-tta expects [batch, classes].");
    const free = tf.input({ shape: [null, null, 2] });
    const pooled = tf.layers.globalAveragePooling2d({}).apply(tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(free)) as tf.SymbolicTensor;
    refuses(tf.model({ inputs: free, outputs: tf.layers.dense({ units: 2 }).apply(tf.layers.dense({ units: 3 }).apply(pooled)) as tf.SymbolicTensor, name: 'free' }), "Model 'free' has input shape [null, null, null, 2]; edge-tta needs a fixed input size.");
    const e = tf.input({ shape: [3] });
    const f1 = tf.layers.dense({ units: 2 }).apply(e) as tf.SymbolicTensor;
    const f2 = tf.layers.dense({ units: 2 }).apply(e) as tf.SymbolicTensor;
    const added = tf.layers.add({ name: 'sum2' }).apply([f1, f2]) as tf.SymbolicTensor;
    refuses(tf.model({ inputs: e, outputs: added, name: 'addlogits' }), "Layer 'sum2' produces the logits from 2 inputs; edge-tta expects the logits layer (usually the last Dense) to take one feature tensor.");
    // One logit per frame: a softmax over one class would make every prediction class 0 at confidence 1.
    const g = tf.input({ shape: [3] });
    refuses(
      tf.model({ inputs: g, outputs: tf.layers.dense({ units: 1 }).apply(tf.layers.dense({ units: 4 }).apply(g)) as tf.SymbolicTensor, name: 'binary' }),
      "Model 'binary' gives one score per frame (logits [batch, 1]); edge-tta needs one per class (2 or more). For a binary classifier with one logit z, output the two logits [0, z] (their softmax is [1 - sigmoid(z), sigmoid(z)]).",
    );
  });
});
