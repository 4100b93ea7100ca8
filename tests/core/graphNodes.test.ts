/**
 * graphNodes on a converted-style tf.GraphModel (tests/helpers/graphModel.ts's conv graph, named
 * as tensorflowjs_converter names a Keras model): each node must follow the batch. A weight or a
 * constant named as outputNode or featuresNode gives the same shape for every batch; it was
 * accepted (the probe ran one batch of 1 and checked only the output's rank), and then 'source'
 * answered a batch of 20 frames with 4 rows (a [4, 5] weight taken as class scores) and LAME's
 * features had 3 rows for 20 frames (its sigma NaN, every step a non-finite fallback). And
 * `outputKind` must say what the output node gives (logits or probabilities), the input must be
 * float32, and a graph disposed under its adapter is named as such.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, InvalidOptionError, UnsupportedModelError, createAdapter, initBackend } from '../../src/index.js';
import { CONV, convGraphArtifacts, loadConvGraphModel } from '../helpers/graphModel.js';

const P = CONV.prefix;
const NODES = { outputNode: `${P}/logits/BiasAdd`, featuresNode: `${P}/gap/Mean` };

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('a converted-style GraphModel: graphNodes, its input, its lifetime', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('each node must follow the batch (a weight or constant as outputNode or featuresNode), the output give 2+ class scores: InvalidOptionError naming the node, its shape and the fix', async () => {
    const g = await loadConvGraphModel(1);
    const before = tf.memory().numTensors;
    let e = await rejection(createAdapter(g, { strategy: 'source', graphNodes: { ...NODES, outputNode: `${P}/logits/MatMul/ReadVariableOp` } }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe(
      `createAdapter: graphNodes.outputNode '${P}/logits/MatMul/ReadVariableOp' gives shape [4,5] for a batch of 1 frame; it must give class scores ` +
        "[batch, classes], one row per frame (is it a weight or a constant?). Name the node of the logits, or of the softmax with outputKind: 'softmax'.",
    );
    e = await rejection(createAdapter(g, { strategy: 'lame', graphNodes: { ...NODES, featuresNode: `${P}/conv/Conv2D/ReadVariableOp` } }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe(
      `createAdapter: graphNodes.featuresNode '${P}/conv/Conv2D/ReadVariableOp' gives shape [3,3,3,4] for a batch of 1 frame; it must give features ` +
        '[batch, ...], one row per frame (is it a weight or a constant?). Name the penultimate-feature node, e.g. the global pooling before the classifier.',
    );
    // A node of one row whatever the batch (the logits' mean over the batch) passes a probe of one frame only.
    for (const key of ['outputNode', 'featuresNode'] as const) {
      e = await rejection(createAdapter(g, { strategy: 'lame', graphNodes: { ...NODES, [key]: 'logits_batch_mean' } }));
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect(e.message).toMatch(new RegExp(`^createAdapter: graphNodes\\.${key} 'logits_batch_mean' gives shape \\[1,5\\] for a batch of 2 frames; it must give `));
    }
    expect(tf.memory().numTensors).toBe(before);
    // One score per frame (a sigmoid binary classifier's shape): a softmax over it is 1 for every frame.
    e = await rejection(createAdapter(g, { strategy: 'source', graphNodes: { ...NODES, outputNode: 'logits_class_mean' } }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe(
      "createAdapter: graphNodes.outputNode 'logits_class_mean' gives shape [1,1]: one score per frame; adapters need one per class (2 or more). " +
        'For a sigmoid binary classifier, export its logit z as the two logits [0, z] (their softmax is [1 - sigmoid(z), sigmoid(z)]).',
    );
    // The graph is intact: the right nodes still work, one row per frame.
    const a = await createAdapter(g, { strategy: 'lame', graphNodes: NODES });
    const x = tf.randomUniform([20, CONV.H, CONV.H, CONV.C], 0, 1, 'float32', 3);
    const r = await a.step(x);
    expect(r.labels.length).toBe(20);
    expect(r.update.mode).toBe('adapt');
    a.dispose();
    x.dispose();
    g.dispose();
  });

  // The graph's output is its softmax ('Identity', what model.outputNodes lists and the
  // wrong-node message names): with the default outputKind it was softmaxed again, and 'source'
  // answered 0.40 where the model says 0.996; logits declared a softmax had their log taken.
  it('outputKind must say what outputNode gives: InvalidOptionError naming the fix, and the right kind gives the model\'s own softmax', async () => {
    const g = await loadConvGraphModel(7);
    const features = NODES.featuresNode;
    let e = await rejection(createAdapter(g, { strategy: 'source', graphNodes: { outputNode: 'Identity', featuresNode: features } }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe(
      "createAdapter: graphNodes.outputNode 'Identity' gives probabilities (rows in [0, 1] that sum to 1), and outputKind is 'logits' (the default). " +
        "Pass outputKind: 'softmax', or name the logits node before the softmax.",
    );
    e = await rejection(createAdapter(g, { strategy: 'lame', graphNodes: { ...NODES, outputKind: 'softmax' } }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toMatch(
      new RegExp(
        `^createAdapter: graphNodes\\.outputNode '${P}/logits/BiasAdd' gives scores that are not probabilities \\(e\\.g\\. \\[-?\\d.*, .*\\]\\), ` +
          "and outputKind is 'softmax'\\. Drop outputKind \\(logits are the default\\), or name the softmax node\\.$",
      ),
    );
    const x = tf.tidy(() => tf.add(tf.randomUniform([8, CONV.H, CONV.H, CONV.C], 0, 1, 'float32', 11), tf.randomNormal([8, 1, 1, CONV.C], 0, 3, 'float32', 12)));
    const own = tf.tidy(() => (g.execute(x, 'Identity') as tf.Tensor).dataSync());
    for (const graphNodes of [{ outputNode: 'Identity', outputKind: 'softmax' as const, featuresNode: features }, NODES]) {
      const a = await createAdapter(g, { strategy: 'source', graphNodes });
      const r = await a.step(x);
      r.probs.forEach((v, i) => expect(v).toBeCloseTo(own[i]!, 5));
      expect(Math.max(...r.confidence)).toBeGreaterThan(0.9);
      a.dispose();
    }
    x.dispose();
    g.dispose();
    // A graph whose scores on the all-zero probe are NaN (here x * rsqrt(x) before the conv, and
    // no Relu to clamp the NaN) says nothing about its kind: accepted as declared.
    const { modelJson, weights } = convGraphArtifacts(7);
    const topology = structuredClone(modelJson.modelTopology) as { node: Array<{ name: string; op: string; input?: string[]; attr?: object }> };
    const T = { T: { type: 'DT_FLOAT' } };
    topology.node.find((n) => n.op === 'Conv2D')!.input![0] = 'norm/Mul';
    topology.node.find((n) => n.op === 'Mean' && n.name.endsWith('gap/Mean'))!.input![0] = `${P}/conv/BiasAdd`;
    topology.node.push({ name: 'norm/Rsqrt', op: 'Rsqrt', input: ['input_1'], attr: T }, { name: 'norm/Mul', op: 'Mul', input: ['input_1', 'norm/Rsqrt'], attr: T });
    const nan = await tf.loadGraphModel(
      tf.io.fromMemory({ modelTopology: topology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
    );
    const a = await createAdapter(nan, { strategy: 'source', graphNodes: { outputNode: 'Identity', outputKind: 'softmax', featuresNode: features } });
    const nanProbe = tf.tidy(() => (nan.execute(tf.zeros([1, CONV.H, CONV.H, CONV.C]), 'Identity') as tf.Tensor).dataSync());
    expect(Number.isNaN(nanProbe[0])).toBe(true);
    const frames = tf.randomUniform([4, CONV.H, CONV.H, CONV.C], 0.5, 1, 'float32', 5);
    const expected = tf.tidy(() => (nan.execute(frames, 'Identity') as tf.Tensor).dataSync());
    (await a.step(frames)).probs.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    a.dispose();
    frames.dispose();
    nan.dispose();
  });

  it('a strategy that needs a LayersModel is refused before graphNodes are asked for (the user would add them, to be refused next)', async () => {
    const { modelJson, weights } = convGraphArtifacts(1);
    const g = await tf.loadGraphModel(
      tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
    );
    for (const options of [{ strategy: 'tent' }, { strategy: 'tent', graphNodes: NODES }] as const) {
      const e = await rejection(createAdapter(g, options as never));
      expect(e).toBeInstanceOf(UnsupportedModelError);
      expect(e.message).toMatch(/^Strategy 'tent' needs a tf.LayersModel .* load the model as a tf.LayersModel/);
    }
    g.dispose();
  });

  // A graph whose input is not float32 (uint8 / int32 image inputs are common in exported
  // models): tfjs refuses the float32 probe, and that was reported as wrong graphNodes
  // (InvalidOptionError '... failed (The dtype of dict['input_1'] ... must be int32, but was
  // float32). Name nodes of the graph').
  it('a GraphModel whose input is not float32: UnsupportedModelError naming the dtype and the fix', async () => {
    const { modelJson, weights } = convGraphArtifacts(1);
    const topology = structuredClone(modelJson.modelTopology) as { node: Array<{ name: string; attr: { dtype: { type: string } } }> };
    topology.node.find((n) => n.name === 'input_1')!.attr.dtype.type = 'DT_INT32';
    const g = await tf.loadGraphModel(
      tf.io.fromMemory({ modelTopology: topology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
    );
    const e = await rejection(createAdapter(g, { strategy: 'lame', graphNodes: NODES }));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toBe(
      "createAdapter: the GraphModel's input 'input_1' takes int32; adapters feed float32 frames. Export the model with a float32 input (a cast to the dtype it needs may be its first op).",
    );
    g.dispose();
  });

  // A GraphModel is shared, not leased (several adapters may use one), so it can be disposed under
  // an adapter; its step failed with tfjs's "TypeError: Cannot read properties of undefined (reading 'backend')".
  it('a GraphModel disposed while an adapter uses it: step and predict reject with DisposedError', async () => {
    const x = tf.randomUniform([20, CONV.H, CONV.H, CONV.C], 0, 1, 'float32', 3);
    for (const [strategy, guard] of [['source', true], ['lame', true], ['lame', false]] as const) {
      const g = await loadConvGraphModel(1);
      const a = await createAdapter(g, { strategy, graphNodes: NODES, guard });
      await a.step(x);
      g.dispose();
      for (const call of [() => a.step(x), () => a.predict(x)]) {
        const e = await rejection(call());
        expect(e, `${strategy} guard ${guard}`).toBeInstanceOf(DisposedError);
        expect(e.message).toBe(
          'The GraphModel was disposed (model.dispose()) while an adapter still uses it: dispose the adapter first, or load the model again and create a new adapter.',
        );
      }
      a.dispose();
    }
    x.dispose();
  });
});
