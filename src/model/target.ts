import * as tf from '../tf.js';
import { DisposedError, InvalidOptionError, UnsupportedModelError } from '../errors.js';
import { foreignModelMessage } from '../foreignTfjs.js';
import { ModelExecutor } from './executor.js';
import type { ModelInfo } from './introspect.js';

/** Names the nodes of a `tf.GraphModel` that output-level strategies read. */
export interface GraphModelNodes {
  /** Node whose output is the class scores, [batch, classes]. */
  outputNode: string;
  /** Whether `outputNode` gives logits or probabilities. Defaults to `'logits'`. */
  outputKind?: 'logits' | 'softmax';
  /** Node whose output is the penultimate features, [batch, ...] (flattened). */
  featuresNode: string;
}

/** A LayersModel prepared for adaptation: hookable, introspected. */
export interface LayersTarget {
  kind: 'layers';
  model: tf.LayersModel;
  executor: ModelExecutor;
  info: ModelInfo;
  inputShape: number[];
  numClasses: number;
}

/** A GraphModel (frozen graph, BN folded): only output-level strategies apply. */
export interface GraphTarget {
  kind: 'graph';
  model: tf.GraphModel;
  nodes: Required<GraphModelNodes>;
  inputShape: number[];
  numClasses: number;
  /** Class scores as logits (log-probabilities when the node gives a softmax) and flattened features. */
  run(x: tf.Tensor): { logits: tf.Tensor2D; features: tf.Tensor2D };
}

/** What a strategy adapts. */
export type AdaptTarget = LayersTarget | GraphTarget;

function isGraphModel(model: unknown): model is tf.GraphModel {
  return model instanceof tf.GraphModel;
}

/** Wraps a model for adaptation; `nodes` is required for a GraphModel. */
export function createTarget(model: tf.LayersModel | tf.GraphModel, nodes?: GraphModelNodes): AdaptTarget {
  if (model instanceof tf.LayersModel) {
    if (nodes !== undefined) {
      throw new InvalidOptionError('createAdapter: `graphNodes` applies to a tf.GraphModel; a tf.LayersModel finds its logits and features itself. Remove the option.');
    }
    const executor = new ModelExecutor(model);
    return {
      kind: 'layers',
      model,
      executor,
      info: executor.info,
      inputShape: executor.info.inputShape,
      numClasses: executor.info.numClasses,
    };
  }
  if (!isGraphModel(model)) {
    throw new UnsupportedModelError(foreignModelMessage(model, 'createAdapter') ?? 'createAdapter: expected a tf.LayersModel or a tf.GraphModel.');
  }
  if (nodes === undefined) {
    throw new InvalidOptionError(
      "createAdapter: a tf.GraphModel needs `graphNodes: { outputNode, featuresNode }` naming its class-score and penultimate-feature nodes.",
    );
  }
  checkGraphNodes(nodes);
  const full: Required<GraphModelNodes> = { outputKind: 'logits', ...nodes };
  const shape = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || shape === undefined || shape.slice(1).some((d) => d === -1 || d === null)) {
    throw new UnsupportedModelError('createAdapter: the GraphModel must have one input with a fixed [batch, h, w, c] shape.');
  }
  // Frames are fed as float32; tfjs refuses another input dtype before running anything, which
  // the probe below would report as wrong graphNodes.
  const dtype = model.inputs[0]!.dtype;
  if (dtype !== undefined && dtype !== 'float32') {
    throw new UnsupportedModelError(
      `createAdapter: the GraphModel's input '${model.inputs[0]!.name}' takes ${dtype}; adapters feed float32 frames. ` +
        'Export the model with a float32 input (a cast to the dtype it needs may be its first op).',
    );
  }
  // A graph converted with a fixed batch size runs only batches of that size; adapters take any.
  if (shape[0] !== -1 && shape[0] !== null) {
    throw new UnsupportedModelError(`createAdapter: the GraphModel's input has a fixed batch size (shape [${shape}]); convert it with a free batch dimension (-1).`);
  }
  /** The graph's two named nodes for `x`: [class scores as the node gives them, features]. */
  const execute = (x: tf.Tensor) => model.execute(x, [full.outputNode, full.featuresNode]) as tf.Tensor[];
  const run = (x: tf.Tensor) => {
    let outputs: tf.Tensor[];
    try {
      outputs = execute(x);
    } catch (e) {
      // A GraphModel disposed under its adapter fails deep in tfjs ("Cannot read properties of undefined (reading 'backend')").
      if (Object.values(model.weights).some((ts) => ts.some((t) => t.isDisposed))) {
        throw new DisposedError('The GraphModel was disposed (model.dispose()) while an adapter still uses it: dispose the adapter first, or load the model again and create a new adapter.');
      }
      throw e;
    }
    const [out, feats] = outputs;
    const logits = (full.outputKind === 'softmax' ? tf.log(tf.maximum(out!, 1e-30)) : out!) as tf.Tensor2D;
    const features = tf.reshape(feats!, [feats!.shape[0]!, -1]) as tf.Tensor2D;
    return { logits, features };
  };
  // Probed at batches of 1 and 2: a node must follow the batch (one row per frame); a node
  // outside the input's path (a weight, a shape constant) gives the same shape for both.
  let probes: Array<{ out: number[]; feats: number[]; values: Float32Array }>;
  try {
    probes = [1, 2].map((n) =>
      tf.tidy(() => {
        const [out, feats] = execute(tf.zeros([n, ...shape.slice(1)]));
        return { out: out!.shape, feats: feats!.shape, values: out!.dataSync() as Float32Array };
      }),
    );
  } catch (e) {
    throw new InvalidOptionError(
      `createAdapter: running the GraphModel to graphNodes ${JSON.stringify({ outputNode: full.outputNode, featuresNode: full.featuresNode })} failed ` +
        `(${(e as Error).message.slice(0, 200)}). Name nodes of the graph; its outputs are ${JSON.stringify(model.outputNodes).slice(0, 300)}.`,
    );
  }
  const probe = probes[0]!.out;
  if (probe.length !== 2) {
    throw new InvalidOptionError(`createAdapter: graphNodes.outputNode '${full.outputNode}' gives shape [${probe}]; it must give class scores [batch, classes].`);
  }
  for (const [i, { out, feats }] of probes.entries()) {
    const n = i + 1;
    const batch = `for a batch of ${n} frame${n > 1 ? 's' : ''}`;
    if (out[0] !== n) {
      throw new InvalidOptionError(
        `createAdapter: graphNodes.outputNode '${full.outputNode}' gives shape [${out}] ${batch}; it must give class scores [batch, classes], one row per frame ` +
          "(is it a weight or a constant?). Name the node of the logits, or of the softmax with outputKind: 'softmax'.",
      );
    }
    if (feats.length === 0 || feats[0] !== n) {
      throw new InvalidOptionError(
        `createAdapter: graphNodes.featuresNode '${full.featuresNode}' gives shape [${feats}] ${batch}; it must give features [batch, ...], one row per frame ` +
          '(is it a weight or a constant?). Name the penultimate-feature node, e.g. the global pooling before the classifier.',
      );
    }
  }
  const numClasses = probe[1]!;
  // One score per frame (a sigmoid binary classifier): a softmax over one class is 1 for every
  // frame, so every prediction would be class 0 with confidence 1.
  if (numClasses < 2) {
    throw new InvalidOptionError(
      `createAdapter: graphNodes.outputNode '${full.outputNode}' gives shape [${probe}]: one score per frame; adapters need one per class (2 or more). ` +
        'For a sigmoid binary classifier, export its logit z as the two logits [0, z] (their softmax is [1 - sigmoid(z), sigmoid(z)]).',
    );
  }
  // outputKind must say what the node gives (checked on the probe's rows): a softmax taken as
  // logits is softmaxed twice (flat probabilities: 0.40 for a 0.996 of 5 classes), logits taken
  // as a softmax have their log taken (a negative logit becomes log(1e-30)). Neither fails later.
  // Non-finite scores decide nothing (a graph that divides by a frame's spread gives NaN on zeros).
  const rows = probes[1]!.values;
  if (rows.every((v) => Number.isFinite(v))) {
    let probabilities = true;
    for (let i = 0; i < rows.length; i += numClasses) {
      const row = rows.subarray(i, i + numClasses);
      if (!row.every((v) => v >= 0 && v <= 1) || Math.abs(row.reduce((a, v) => a + v, 0) - 1) > 1e-3) probabilities = false;
    }
    if (full.outputKind === 'logits' && probabilities) {
      throw new InvalidOptionError(
        `createAdapter: graphNodes.outputNode '${full.outputNode}' gives probabilities (rows in [0, 1] that sum to 1), and outputKind is 'logits' (the default). ` +
          "Pass outputKind: 'softmax', or name the logits node before the softmax.",
      );
    }
    if (full.outputKind === 'softmax' && !probabilities) {
      const shown = Array.from(rows.subarray(0, Math.min(numClasses, 5)), (v) => +v.toPrecision(4)).join(', ');
      throw new InvalidOptionError(
        `createAdapter: graphNodes.outputNode '${full.outputNode}' gives scores that are not probabilities (e.g. [${shown}${numClasses > 5 ? ', ...' : ''}]), and outputKind is 'softmax'. ` +
          'Drop outputKind (logits are the default), or name the softmax node.',
      );
    }
  }
  return { kind: 'graph', model, nodes: full, inputShape: shape.slice(1), numClasses, run };
}

const GRAPH_NODE_KEYS = ['outputNode', 'outputKind', 'featuresNode'];

/** Throws {@link InvalidOptionError} unless `nodes` has exactly the documented keys and types. */
function checkGraphNodes(nodes: unknown): asserts nodes is GraphModelNodes {
  if (typeof nodes !== 'object' || nodes === null || Array.isArray(nodes)) {
    throw new InvalidOptionError(`createAdapter: graphNodes must be an object { outputNode, featuresNode, outputKind? }; got ${nodes === null ? 'null' : typeof nodes}.`);
  }
  const n = nodes as Record<string, unknown>;
  for (const key of Object.keys(n)) {
    if (!GRAPH_NODE_KEYS.includes(key)) {
      throw new InvalidOptionError(`createAdapter: graphNodes has no key '${key.slice(0, 60)}'; its keys: ${GRAPH_NODE_KEYS.join(', ')}.`);
    }
  }
  for (const key of ['outputNode', 'featuresNode']) {
    if (typeof n[key] !== 'string' || (n[key] as string).length === 0) {
      throw new InvalidOptionError(`createAdapter: graphNodes.${key} is ${JSON.stringify(n[key]) ?? 'undefined'}; it must name a node of the graph (a non-empty string).`);
    }
  }
  if (n.outputKind !== undefined && n.outputKind !== 'logits' && n.outputKind !== 'softmax') {
    throw new InvalidOptionError(`createAdapter: graphNodes.outputKind is ${JSON.stringify(n.outputKind)}; valid values: 'logits', 'softmax'.`);
  }
}
