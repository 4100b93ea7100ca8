/**
 * What every built-in strategy inherits from strategies/baseStrategy.ts: the state names
 * (`modelVariables`, including repeated weight names in nested models), each restore refusal
 * with its exact message (before anything is written), and the GraphModel refusal of strategies
 * that need a LayersModel.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidSnapshotError, initBackend } from '../../src/index.js';
import { modelVariables } from '../../strategies/baseStrategy.js';
import { createStrategy, stepFrames, tinyNet } from './normTinyNet.js';

const FRAMES = [
  [1, 3],
  [2, 0],
  [-1, 0.5],
];

describe('BaseStrategy', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('modelVariables: weights by their model-given names, a repeated name numbered #1, #2', () => {
    expect([...modelVariables(tinyNet()).keys()]).toEqual([
      // model.weights order: trainable, then non-trainable.
      'tiny_conv/kernel', 'tiny_conv/bias', 'tiny_bn/gamma', 'tiny_bn/beta', 'tiny_logits/kernel', 'tiny_logits/bias', 'tiny_bn/moving_mean', 'tiny_bn/moving_variance',
    ]);
    // Two nested models with a layer of the same name: the same originalName twice.
    const block = () => tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2], name: 'same' })] });
    const input = tf.input({ shape: [2] });
    const a = block();
    const b = block();
    const model = tf.model({ inputs: input, outputs: b.apply(a.apply(input)) as tf.SymbolicTensor });
    const vars = modelVariables(model);
    expect([...vars.keys()]).toEqual(['same/kernel', 'same/bias', 'same/kernel#1', 'same/bias#1']);
    expect(vars.get('same/kernel#1')).toBe(model.weights[2]!.read());
  });

  it('restore refuses each malformed state with its message, and writes nothing', () => {
    const { s } = createStrategy('bn-adapt', tinyNet(), { stats: 'ema' });
    stepFrames(s, FRAMES);
    const good = s.snapshot();
    const owner = "Strategy 'bn-adapt'";
    const before = s.snapshot();
    const bad = (state: unknown, message: string) => {
      expect(() => s.restore(state as never)).toThrow(InvalidSnapshotError);
      expect(() => s.restore(state as never)).toThrow(new InvalidSnapshotError(message));
    };
    bad(null, `${owner}: restore expects { tensors, meta } as snapshot() returns it.`);
    bad({ tensors: null, meta: {} }, `${owner}: restore expects { tensors, meta } as snapshot() returns it.`);
    bad('x', `${owner}: restore expects { tensors, meta } as snapshot() returns it.`);
    const extraName = 'x'.repeat(90);
    const extra = tf.scalar(1);
    bad({ tensors: { ...good.tensors, [extraName]: extra }, meta: good.meta }, `${owner}: the state holds a tensor '${'x'.repeat(80)}' that this strategy's state does not have; it was taken from a different strategy, options or model.`);
    const { 'tiny_bn/gamma': _, ...missing } = good.tensors;
    bad({ tensors: missing, meta: good.meta }, `${owner}: the state has no tensor 'tiny_bn/gamma'; it was taken from a different strategy, options or model.`);
    bad({ tensors: { ...good.tensors, 'tiny_bn/gamma': [2, 0.5] }, meta: good.meta }, `${owner}: the state has no tensor 'tiny_bn/gamma'; it was taken from a different strategy, options or model.`);
    const disposed = tf.tensor1d([2, 0.5]);
    disposed.dispose();
    bad({ tensors: { ...good.tensors, 'tiny_bn/gamma': disposed }, meta: good.meta }, `${owner}: the state has no tensor 'tiny_bn/gamma'; it was taken from a different strategy, options or model.`);
    const int = tf.tensor1d([2, 1], 'int32');
    bad({ tensors: { ...good.tensors, 'tiny_bn/gamma': int }, meta: good.meta }, `${owner}: state tensor 'tiny_bn/gamma' is [2] int32; this strategy's is [2] float32. Restore a snapshot of the same strategy, options and model.`);
    const long = tf.tensor1d([2, 0.5, 1]);
    bad({ tensors: { ...good.tensors, 'tiny_bn/gamma': long }, meta: good.meta }, `${owner}: state tensor 'tiny_bn/gamma' is [3] float32; this strategy's is [2] float32. Restore a snapshot of the same strategy, options and model.`);
    const nan = tf.tensor1d([NaN, 0.5]);
    bad({ tensors: { ...good.tensors, 'tiny_bn/gamma': nan }, meta: good.meta }, `${owner}: snapshot tensor 'tiny_bn/gamma' holds NaN at index 0; values must be finite.`);
    bad({ tensors: good.tensors, meta: { extra: 1 } }, `${owner}: snapshot meta has an unknown field 'extra'; expected the fields (none).`);
    // Nothing was written by any of them.
    const after = s.snapshot();
    for (const k of Object.keys(before.tensors)) expect(Array.from(after.tensors[k]!.dataSync()), k).toEqual(Array.from(before.tensors[k]!.dataSync()));
    tf.dispose([extra, int, long, nan, ...Object.values(good.tensors), ...Object.values(before.tensors), ...Object.values(after.tensors)]);
    s.dispose();
  });
});
