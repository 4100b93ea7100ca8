/**
 * createTarget, the step between createAdapter's arguments and a strategy: which models and
 * graphNodes it accepts, the typed error and message for each one it refuses, and what a
 * GraphModel target computes (logits or log-probabilities, flattened features).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, UnsupportedModelError, initBackend } from '../../src/index.js';
import { createTarget, type GraphTarget } from '../../src/model/target.js';
import { mlpGraphArtifacts, randomMlpWeights } from '../helpers/graphModel.js';
import { randomBatch, smallResNet } from '../helpers/models.js';

type Node = { name: string; op: string; input?: string[]; attr?: Record<string, unknown> };

/** The test MLP graph, its topology first passed through `edit`. */
function graph(edit: (nodes: Node[]) => Node[] = (n) => n): Promise<tf.GraphModel> {
  const { modelJson, weights } = mlpGraphArtifacts(randomMlpWeights(3));
  const topology = structuredClone(modelJson.modelTopology) as { node: Node[] };
  topology.node = edit(topology.node);
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: topology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights, format: 'graph-model' }),
  );
}

const dims = (...sizes: number[]) => ({ shape: { dim: sizes.map((s) => ({ size: String(s) })) } });
const withImageShape = (shape: object | undefined) => (nodes: Node[]) =>
  nodes.map((n) => (n.name === 'image' ? { ...n, attr: { dtype: { type: 'DT_FLOAT' }, ...(shape === undefined ? {} : { shape }) } } : n));

const NODES = { outputNode: 'logits', featuresNode: 'features' };

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('createTarget', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('a LayersModel: its own logits and features; graphNodes refused with the reason', () => {
    const model = smallResNet([8, 8, 1], 3);
    const t = createTarget(model);
    expect(t.kind).toBe('layers');
    expect(t.inputShape).toEqual([8, 8, 1]);
    expect(t.numClasses).toBe(3);
    const e = errorOf(() => createTarget(model, NODES));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe(
      'createAdapter: `graphNodes` applies to a tf.GraphModel; a tf.LayersModel finds its logits and features itself. Remove the option.',
    );
    model.dispose();
  });

  it('something that is no model: UnsupportedModelError', () => {
    for (const m of [{}, null, 'model.json']) {
      const e = errorOf(() => createTarget(m as never));
      expect(e, String(m)).toBeInstanceOf(UnsupportedModelError);
      expect(e.message).toBe('createAdapter: expected a tf.LayersModel or a tf.GraphModel.');
    }
  });

  it('a GraphModel: logits, or log-probabilities of a softmax node, and flattened features', async () => {
    const g = await graph();
    const t = createTarget(g, NODES) as GraphTarget;
    expect(t.kind).toBe('graph');
    expect(t.nodes).toEqual({ outputNode: 'logits', outputKind: 'logits', featuresNode: 'features' });
    expect(t.inputShape).toEqual([4, 4, 1]);
    expect(t.numClasses).toBe(3);
    const x = randomBatch([2, 4, 4, 1], 9);
    tf.tidy(() => {
      const [logits, feats] = g.execute(x, ['logits', 'features']) as tf.Tensor[];
      const a = t.run(x);
      expect(Array.from(a.logits.dataSync())).toEqual(Array.from(logits!.dataSync()));
      expect(Array.from(a.features.dataSync())).toEqual(Array.from(feats!.dataSync()));
      const soft = createTarget(g, { outputNode: 'probs', outputKind: 'softmax', featuresNode: 'image' }) as GraphTarget;
      const b = soft.run(x);
      const logSoftmax = tf.logSoftmax(logits!).dataSync();
      b.logits.dataSync().forEach((v, i) => expect(v).toBeCloseTo(logSoftmax[i]!, 5));
      // A rank-4 features node is flattened to [batch, 16].
      expect(b.features.shape).toEqual([2, 16]);
      expect(Array.from(b.features.dataSync())).toEqual(Array.from(x.dataSync()));
    });
    x.dispose();
    g.dispose();
  });

  it('a GraphModel without graphNodes, or with an output node that does not give [batch, classes]', async () => {
    const g = await graph();
    let e = errorOf(() => createTarget(g));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe(
      'createAdapter: a tf.GraphModel needs `graphNodes: { outputNode, featuresNode }` naming its class-score and penultimate-feature nodes.',
    );
    e = errorOf(() => createTarget(g, { outputNode: 'image', featuresNode: 'features' }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toBe("createAdapter: graphNodes.outputNode 'image' gives shape [1,4,4,1]; it must give class scores [batch, classes].");
    const before = tf.memory().numTensors;
    e = errorOf(() => createTarget(g, { outputNode: 'nope', featuresNode: 'features' }));
    expect(e).toBeInstanceOf(InvalidOptionError);
    expect(e.message).toMatch(/^createAdapter: running the GraphModel to graphNodes \{"outputNode":"nope","featuresNode":"features"\} failed \(.*nope.*\)\. Name nodes of the graph; its outputs are \["probs"\]\.$/);
    expect(tf.memory().numTensors).toBe(before);
    g.dispose();
  });

  it('a GraphModel whose input is not one fixed [batch, h, w, c]: UnsupportedModelError', async () => {
    const message = 'createAdapter: the GraphModel must have one input with a fixed [batch, h, w, c] shape.';
    const cases: Array<[string, (n: Node[]) => Node[]]> = [
      ['a free height', withImageShape(dims(-1, -1, 4, 1))],
      ['a free channel count', withImageShape(dims(-1, 4, 4, -1))],
      ['no shape', withImageShape(undefined)],
      ['two inputs', (n) => [...n, { name: 'extra', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, ...dims(-1, 4, 4, 1) } }]],
    ];
    for (const [name, edit] of cases) {
      const g = await graph(edit);
      const e = errorOf(() => createTarget(g, NODES));
      expect(e, name).toBeInstanceOf(UnsupportedModelError);
      expect(e.message, name).toBe(message);
      g.dispose();
    }
    // The batch dimension must be free: a graph converted for batches of 2 runs nothing else.
    const fixed = await graph(withImageShape(dims(2, 4, 4, 1)));
    const e = errorOf(() => createTarget(fixed, NODES));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toBe("createAdapter: the GraphModel's input has a fixed batch size (shape [2,4,4,1]); convert it with a free batch dimension (-1).");
    fixed.dispose();
  });

  it('graphNodes that are not an object with exactly the documented keys and types', async () => {
    const g = await graph();
    const cases: Array<[unknown, string]> = [
      [null, 'createAdapter: graphNodes must be an object { outputNode, featuresNode, outputKind? }; got null.'],
      [5, 'createAdapter: graphNodes must be an object { outputNode, featuresNode, outputKind? }; got number.'],
      [['logits', 'features'], 'createAdapter: graphNodes must be an object { outputNode, featuresNode, outputKind? }; got object.'],
      [{ ...NODES, ['k'.repeat(80)]: 1 }, `createAdapter: graphNodes has no key '${'k'.repeat(60)}'; its keys: outputNode, outputKind, featuresNode.`],
      [{ outputNode: '', featuresNode: 'features' }, 'createAdapter: graphNodes.outputNode is ""; it must name a node of the graph (a non-empty string).'],
      [{ outputNode: 'logits' }, 'createAdapter: graphNodes.featuresNode is undefined; it must name a node of the graph (a non-empty string).'],
      [{ ...NODES, outputKind: 'probs' }, `createAdapter: graphNodes.outputKind is "probs"; valid values: 'logits', 'softmax'.`],
    ];
    for (const [nodes, message] of cases) {
      const e = errorOf(() => createTarget(g, nodes as never));
      expect(e, JSON.stringify(nodes)).toBeInstanceOf(InvalidOptionError);
      expect(e.message).toBe(message);
    }
    g.dispose();
  });
});
