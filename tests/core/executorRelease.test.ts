/**
 * What the executor does that values alone do not show: it frees each activation once its last
 * consumer has run (and never the caller's input, a tensor still held under another id, or what a
 * hook may hold), it runs each hooked layer itself instead of folding it, and under a gradient tape
 * it runs plain Conv2D layers as separate ops so that a BN-only backward pass computes no filter
 * gradient. Each is checked by what it changes: live tensors, hook calls, kernel names.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelExecutor, initBackend } from '../../src/index.js';
import { randomBatch, randomizeBatchNorms } from '../helpers/models.js';

/** A Sequential chain of ten layers with one conv -> BN -> relu group and no hookless shortcut. */
function chain(): tf.Sequential {
  return tf.sequential({
    name: 'chain',
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', name: 'c1' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.activation({ activation: 'relu', name: 'a1' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2' }),
      // Dropout at inference returns its input tensor itself: the same tensor under two ids.
      tf.layers.dropout({ rate: 0.5, name: 'drop' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c3' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 8, activation: 'relu', name: 'fc' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'logits' }),
    ],
  });
}

/** `exec.predict(x)` equals `model.predict(x)` bit for bit and leaves no tensor behind. */
function expectPredictsLikeModel(exec: ModelExecutor, model: tf.LayersModel, x: tf.Tensor): void {
  const before = tf.memory().numTensors;
  const got = tf.tidy(() => exec.predict(x).dataSync());
  expect(tf.memory().numTensors).toBe(before);
  const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
  expect(Array.from(got)).toEqual(Array.from(ref));
}

/** Live tensors when the executor reaches layer `at`, counted by a hook that runs the layer unchanged. */
function liveAt(exec: ModelExecutor, x: tf.Tensor, at: string, training = false): { live: number; out: Float32Array } {
  let live = -1;
  const out = tf.tidy(() => {
    const y = exec.predict(x, {
      training,
      hooks: { [at]: ({ original }) => ((live = tf.memory().numTensors), original()) },
    });
    return y.dataSync() as Float32Array;
  });
  return { live, out };
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

describe('ModelExecutor: freeing activations', () => {
  it('holds only a few tensors at the last layer, where a tidy alone would hold every activation', () => {
    const model = chain();
    randomizeBatchNorms(model, 3);
    const exec = new ModelExecutor(model, { foldBatchNorm: false });
    const x = randomBatch([3, 8, 8, 2], 1);
    const before = tf.memory().numTensors;
    const { live, out } = liveAt(exec, x, 'logits');
    // Pinned: the features (the last layer's input). The nine earlier outputs are freed as they are consumed.
    expect(live - before).toBeLessThanOrEqual(2);
    expect(tf.memory().numTensors).toBe(before);
    // Same values as the model, and the caller's input is never freed.
    const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    expect(Array.from(out)).toEqual(Array.from(ref));
    expect(x.isDisposed).toBe(false);
    // Under a tape nothing is freed early (the backward pass needs the activations).
    let taped = -1;
    tf.tidy(() =>
      tf.grad((xx: tf.Tensor) =>
        tf.sum(exec.predict(xx, { hooks: { logits: ({ original }) => ((taped = tf.memory().numTensors), original()) } })),
      )(x),
    );
    expect(taped - before).toBeGreaterThan(8);
    x.dispose();
    model.dispose();
  });

  it('frees the activations of a model with a skip connection only after their last consumer', () => {
    const input = tf.input({ shape: [6, 6, 3] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'a' }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'b' }).apply(a) as tf.SymbolicTensor;
    const c = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'c' }).apply(b) as tf.SymbolicTensor;
    // `a` is read twice: by `b` and here, three layers later.
    const sum = tf.layers.add({ name: 'sum' }).apply([a, c]) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(sum) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 4, name: 'logits' }).apply(gap) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const exec = new ModelExecutor(model);
    const x = randomBatch([2, 6, 6, 3], 2);
    const got = tf.tidy(() => exec.predict(x).dataSync());
    const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    expect(Array.from(got)).toEqual(Array.from(ref));
    const before = tf.memory().numTensors;
    // At `gap`: its input (hooked) and the pinned features; `a`, `b`, `c` are freed by then.
    expect(liveAt(exec, x, 'gap').live - before).toBeLessThanOrEqual(2);
    x.dispose();
    model.dispose();
  });

  it('does not free a tensor a nested model has finished with while the outer model still reads it', () => {
    // Inside the nested model, its input is the outer `a` under another id; `a` is read again after it.
    const inner = tf.sequential({
      name: 'inner',
      layers: [tf.layers.conv2d({ inputShape: [6, 6, 3], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'inner_conv' })],
    });
    const input = tf.input({ shape: [6, 6, 3] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'a' }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'sum' }).apply([a, inner.apply(a) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(sum) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4, name: 'logits' }).apply(gap) as tf.SymbolicTensor });
    const exec = new ModelExecutor(model);
    const x = randomBatch([2, 6, 6, 3], 3);
    expectPredictsLikeModel(exec, model, x);
    x.dispose();
    model.dispose();
  });

  it("keeps a hooked layer's inputs and output alive until the caller's tidy ends", () => {
    const model = chain();
    const exec = new ModelExecutor(model, { foldBatchNorm: false });
    const x = randomBatch([2, 8, 8, 2], 4);
    let held: tf.Tensor[] = [];
    tf.tidy(() => {
      exec.predict(x, {
        hooks: {
          c3: ({ inputs, original }) => {
            const y = original();
            held = [...inputs, y];
            return y;
          },
        },
      });
      // The pass is over: without the hook, c3's input and output would be freed by now.
      for (const t of held) expect(t.isDisposed).toBe(false);
      expect(held[0]!.sum().dataSync()[0]).toBeTypeOf('number');
    });
    for (const t of held) expect(t.isDisposed).toBe(true);
    x.dispose();
    model.dispose();
  });

  it('returns features flattened when the logits layer reads a rank-4 tensor', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const conv = tf.layers.conv2d({ filters: 5, kernelSize: 4, name: 'head_conv' }).apply(input) as tf.SymbolicTensor; // [b, 1, 1, 5]
    const flat = tf.layers.flatten({ name: 'logits' }).apply(conv) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: flat });
    const exec = new ModelExecutor(model);
    const x = randomBatch([3, 4, 4, 2], 5);
    tf.tidy(() => {
      const { features, logits } = exec.run(x);
      expect(features.shape).toEqual([3, 5]);
      const ref = (model.layers[1]!.apply(x) as tf.Tensor).reshape([3, 5]);
      expect(Array.from(features.dataSync())).toEqual(Array.from(ref.dataSync()));
      expect(Array.from(logits.dataSync())).toEqual(Array.from(ref.dataSync()));
    });
    x.dispose();
    model.dispose();
  });
});

describe('ModelExecutor: which layers run, and how', () => {
  it('calls a hook on the conv, the BN or the activation of a foldable group exactly once (the group is then not folded)', () => {
    const model = chain();
    randomizeBatchNorms(model, 5);
    const exec = new ModelExecutor(model);
    expect(exec.foldedGroups).toBe(1);
    expect(new ModelExecutor(model, { foldBatchNorm: false }).foldedGroups).toBe(0);
    const x = randomBatch([2, 8, 8, 2], 6);
    const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    for (const name of ['c1', 'bn1', 'a1']) {
      let calls = 0;
      const out = tf.tidy(() => exec.predict(x, { hooks: { [name]: ({ original }) => (calls++, original()) } }).dataSync());
      expect(calls, name).toBe(1);
      expect(Array.from(out)).toEqual(Array.from(ref));
    }
    exec.dispose();
    x.dispose();
    model.dispose();
  });

  it('folds a conv -> BN group inside a nested model, and counts consumers inside it (a skip within the nested model)', async () => {
    const inner = (() => {
      const i = tf.input({ shape: [6, 6, 3] });
      const c = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'in_conv' }).apply(i) as tf.SymbolicTensor;
      const b = tf.layers.batchNormalization({ name: 'in_bn' }).apply(c) as tf.SymbolicTensor;
      const r = tf.layers.reLU({ name: 'in_relu' }).apply(b) as tf.SymbolicTensor;
      // `r` is read twice inside the nested model.
      const c2 = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'in_conv2' }).apply(r) as tf.SymbolicTensor;
      const sum = tf.layers.add({ name: 'in_sum' }).apply([r, c2]) as tf.SymbolicTensor;
      return tf.model({ inputs: i, outputs: sum, name: 'inner_block' });
    })();
    const input = tf.input({ shape: [6, 6, 3] });
    const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(inner.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4, activation: 'softmax', name: 'logits' }).apply(gap) as tf.SymbolicTensor });
    randomizeBatchNorms(model, 9);
    const exec = new ModelExecutor(model);
    expect(exec.foldedGroups).toBe(1);
    const x = randomBatch([2, 6, 6, 3], 10);
    const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => exec.predict(x).dataSync());
    got.forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 5));
    const info = await tf.profile(() => tf.tidy(() => exec.predict(x)));
    tf.dispose(info.result as tf.Tensor);
    expect(info.kernels.map((k) => k.name)).not.toContain('FusedBatchNorm');
    exec.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('keeps folding the groups no hook touches; logits mode leaves the softmax layer as it was', async () => {
    const model = chain();
    randomizeBatchNorms(model, 11);
    const exec = new ModelExecutor(model);
    const x = randomBatch([2, 8, 8, 2], 12);
    const names = async (f: () => tf.Tensor) => (await tf.profile(() => tf.tidy(f))).kernels.map((k) => k.name);
    // A hook on `fc` only: c1 -> bn1 -> a1 still runs as one fused op.
    expect(await names(() => exec.predict(x, { hooks: { fc: ({ original }) => original() } }))).not.toContain('FusedBatchNorm');
    expect(await names(() => exec.predict(x, { hooks: { bn1: ({ original }) => original() } }))).toContain('FusedBatchNorm');
    // A group with no activation after its BN, and a hook elsewhere.
    const noAct = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, name: 'na_conv' }),
        tf.layers.batchNormalization({ name: 'na_bn' }),
        tf.layers.globalAveragePooling2d({ name: 'na_gap' }),
        tf.layers.dense({ units: 3, name: 'na_logits' }),
      ],
    });
    const noActExec = new ModelExecutor(noAct);
    expect(noActExec.foldedGroups).toBe(1);
    expect(await names(() => noActExec.predict(x, { hooks: { na_gap: ({ original }) => original() } }))).not.toContain('FusedBatchNorm');
    noActExec.dispose();
    noAct.dispose();
    const probs = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    tf.tidy(() => {
      const logits = exec.logits(x);
      expect(Math.abs(logits.sum(1).dataSync()[0]! - 1)).toBeGreaterThan(1e-3); // logits, not probabilities
      // The dense layer's softmax is back: the model predicts probabilities again.
      expect(Array.from((model.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(probs));
    });
    x.dispose();
    model.dispose();
  });

  it('runs a layer with several outputs (an LSTM returning its states) and reads the one the model uses', () => {
    const input = tf.input({ shape: [5, 3] });
    const [, h] = tf.layers.lstm({ units: 4, returnState: true, name: 'lstm' }).apply(input) as tf.SymbolicTensor[];
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: 'logits' }).apply(h!) as tf.SymbolicTensor });
    const exec = new ModelExecutor(model);
    const x = tf.randomNormal([3, 5, 3], 0, 1, 'float32', 13);
    expectPredictsLikeModel(exec, model, x);
    x.dispose();
    model.dispose();
  });

  it('under a gradient tape, a BN-only backward pass computes no conv filter gradient; outside one, convs run fused', async () => {
    const model = chain();
    randomizeBatchNorms(model, 7);
    const exec = new ModelExecutor(model, { foldBatchNorm: false });
    const x = randomBatch([2, 8, 8, 2], 8);
    const gamma = model.getLayer('bn1').trainableWeights[0]!.read() as tf.Variable;
    const kernels = async (f: () => tf.Tensor | tf.Tensor[]) => (await tf.profile(() => tf.tidy(f) as tf.Tensor)).kernels.map((k) => k.name);
    const taped = await kernels(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(exec.logits(x, { training: true })) as tf.Scalar, [gamma]);
      return [value, ...Object.values(grads)];
    });
    expect(taped).toContain('Conv2D');
    expect(taped).not.toContain('FusedConv2D');
    expect(taped).not.toContain('Conv2DBackpropFilter');
    // Its values equal model.apply's gradient: tests/core/executor.test.ts.
    const plain = await kernels(() => exec.logits(x));
    expect(plain).toContain('FusedConv2D');
    expect(plain).not.toContain('Conv2D');
    x.dispose();
    model.dispose();
  });
});
