/** compilePlan: each layer call once, in an order that computes every input first; foreign graphs refused. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { UnsupportedModelError } from '../../src/errors.js';
import { compilePlan } from '../../src/model/graphPlan.js';

/** input -> a -> b -> add(a, b) -> c; `a` feeds two layers (a skip connection). */
function skipModel(): tf.LayersModel {
  const input = tf.input({ shape: [4], name: 'plan_in' });
  const a = tf.layers.dense({ units: 4, name: 'a' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 4, name: 'b' }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const c = tf.layers.dense({ units: 2, name: 'c' }).apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: c, name: 'skip_model' });
}

describe('compilePlan', () => {
  it('runs each layer of a model with a skip connection exactly once, after its inputs', () => {
    const model = skipModel();
    const plan = compilePlan(model);
    expect(plan.steps.map((s) => s.layer.name)).toEqual(['a', 'b', 'sum', 'c']);
    expect(plan.inputIds).toEqual([model.inputs[0]!.id]);
    expect(plan.outputIds).toEqual([model.outputs[0]!.id]);
    // Every step's inputs are produced before it.
    const produced = new Set(plan.inputIds);
    for (const step of plan.steps) {
      for (const id of step.inputIds) expect(produced.has(id), step.layer.name).toBe(true);
      for (const id of step.outputIds) produced.add(id);
    }
    model.dispose();
  });

  it('refuses a target computed from an input that is not the model\'s, naming it', () => {
    const model = skipModel();
    const other = tf.input({ shape: [4], name: 'other_in' });
    const foreign = model.getLayer('c').apply(tf.layers.dense({ units: 4, name: 'd' }).apply(other)) as tf.SymbolicTensor;
    expect(() => compilePlan(model, [foreign])).toThrow(UnsupportedModelError);
    expect(() => compilePlan(model, [foreign])).toThrow(/^Input 'other_in.*' is not an input of model 'skip_model'; edge-tta runs models whose graph starts at model.inputs\.$/);
    model.dispose();
  });

  it('refuses a tensor whose layer has no such inbound node, naming both', () => {
    const model = skipModel();
    const out = model.outputs[0]!;
    const broken = Object.create(out, { nodeIndex: { value: 7 } }) as tf.SymbolicTensor;
    expect(() => compilePlan(model, [broken])).toThrow(UnsupportedModelError);
    expect(() => compilePlan(model, [broken])).toThrow(`Tensor '${out.name}' has no inbound node 7 in layer 'c'.`);
    model.dispose();
  });
});
