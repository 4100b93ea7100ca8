/**
 * findFoldGroups on its own: which conv -> BN (-> activation) chains fold, with which fused
 * activation, strides, padding and dilations, and every reason a chain does not fold (a conv with
 * its own activation, channels first, a BN over another axis, a tensor read twice or kept
 * observable, an activation the fused ops do not have). The values of folded passes are in
 * tests/core/bnFold.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { findFoldGroups, type FoldGroup } from '../../src/model/bnFold.js';
import { compilePlan } from '../../src/model/graphPlan.js';

/** The groups of a functional model's top-level plan, keyed by conv layer name (pinned: its output). */
function groupsOf(model: tf.LayersModel, pinnedNames: string[] = []): Map<string, FoldGroup> {
  const plan = compilePlan(model);
  const consumers = new Map<number, number>();
  for (const s of plan.steps) for (const id of s.inputIds) consumers.set(id, (consumers.get(id) ?? 0) + 1);
  const pinned = new Set<number>(plan.outputIds);
  for (const s of plan.steps) if (pinnedNames.includes(s.layer.name)) s.outputIds.forEach((id) => pinned.add(id));
  const out = new Map<string, FoldGroup>();
  for (const [i, g] of findFoldGroups(plan.steps, consumers, pinned)) {
    expect(plan.steps[i]!.layer).toBe(g.conv);
    expect(plan.steps[g.bnStep]!.layer).toBe(g.bn);
    if (g.actStep !== null) expect(plan.steps[g.actStep]!.layer).toBe(g.act);
    expect(plan.steps[g.actStep ?? g.bnStep]!.outputIds).toEqual([g.outputId]);
    out.set(g.conv.name, g);
  }
  return out;
}

/** input -> conv(name) -> BN -> after(...) -> GAP -> dense. */
function chain(conv: tf.layers.Layer, bn: tf.layers.Layer, after: tf.layers.Layer[] = [], inputShape = [8, 8, 4]): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  let h = bn.apply(conv.apply(input)) as tf.SymbolicTensor;
  for (const l of after) h = l.apply(h) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(gap) as tf.SymbolicTensor });
}

const conv = (extra: Record<string, unknown> = {}) => tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'c', ...extra });
const bn = (extra: Record<string, unknown> = {}) => tf.layers.batchNormalization({ name: 'bn', ...extra });

describe('findFoldGroups', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('folds conv -> BN, with relu or relu6 after it, and reads strides, padding and dilations', () => {
    const cases: Array<[tf.layers.Layer[], FoldGroup['activation'], boolean]> = [
      [[], 'linear', false],
      [[tf.layers.activation({ activation: 'relu', name: 'act' })], 'relu', true],
      [[tf.layers.activation({ activation: 'relu6', name: 'act' })], 'relu6', true],
      [[tf.layers.reLU({ name: 'act' })], 'relu', true],
      [[tf.layers.reLU({ maxValue: 6, name: 'act' })], 'relu6', true],
      // Not fused: the group ends at the BN.
      [[tf.layers.reLU({ maxValue: 3, name: 'act' })], 'linear', false],
      [[tf.layers.activation({ activation: 'tanh', name: 'act' })], 'linear', false],
      [[tf.layers.leakyReLU({ name: 'act' })], 'linear', false],
    ];
    for (const [after, activation, fused] of cases) {
      const g = groupsOf(chain(conv({ strides: [2, 1], padding: 'same', useBias: false }), bn(), after)).get('c');
      const what = after.map((l) => JSON.stringify(l.getConfig())).join();
      expect(g, what).toBeDefined();
      expect(g!.activation, what).toBe(activation);
      expect(g!.act?.name ?? null, what).toBe(fused ? 'act' : null);
      expect(g!.actStep === null, what).toBe(!fused);
      expect(g!).toMatchObject({ depthwise: false, strides: [2, 1], pad: 'same', dilations: [1, 1] });
    }
    const dilated = groupsOf(chain(conv({ dilationRate: 2, padding: 'valid' }), bn())).get('c');
    expect(dilated).toMatchObject({ strides: [1, 1], pad: 'valid', dilations: [2, 2] });
    const dw = groupsOf(chain(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, name: 'c' }), bn())).get('c');
    expect(dw).toMatchObject({ depthwise: true, strides: [2, 2], pad: 'valid' });
  });

  it('does not fold a chain it cannot fold exactly', () => {
    const none = (m: tf.LayersModel, pinned: string[] = []) => expect(groupsOf(m, pinned).size).toBe(0);
    // The conv has its own activation: BN would come after it.
    none(chain(conv({ activation: 'relu' }), bn()));
    // Channels first, or a BN over another axis than the last.
    none(chain(conv({ dataFormat: 'channelsFirst' }), bn({ axis: 1 })));
    none(chain(conv(), bn({ axis: 2 })));
    // The next layer is not a BN.
    none(chain(conv(), tf.layers.activation({ activation: 'relu', name: 'bn' })));
    // The conv's output is observable (pinned, e.g. the features) or read twice.
    none(chain(conv(), bn()), ['c']);
    const input = tf.input({ shape: [8, 8, 4] });
    const c = conv({ padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add({}).apply([bn().apply(c) as tf.SymbolicTensor, c]) as tf.SymbolicTensor;
    none(tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(tf.layers.globalAveragePooling2d({}).apply(sum)) as tf.SymbolicTensor }));
    // A BN output read twice, or pinned: the group stops at the BN (no activation fused).
    const i2 = tf.input({ shape: [8, 8, 4] });
    const b2 = bn().apply(conv({ padding: 'same' }).apply(i2)) as tf.SymbolicTensor;
    const r2 = tf.layers.reLU({ name: 'act' }).apply(b2) as tf.SymbolicTensor;
    const s2 = tf.layers.add({}).apply([r2, b2]) as tf.SymbolicTensor;
    const twice = groupsOf(tf.model({ inputs: i2, outputs: tf.layers.dense({ units: 2 }).apply(tf.layers.globalAveragePooling2d({}).apply(s2)) as tf.SymbolicTensor }));
    expect(twice.get('c')).toMatchObject({ act: null, actStep: null, activation: 'linear' });
    expect(groupsOf(chain(conv(), bn(), [tf.layers.reLU({ name: 'act' })]), ['bn']).get('c')).toMatchObject({ act: null, activation: 'linear' });
  });
});
