import * as tf from '../tf.js';
import { InvalidOptionError, UnsupportedModelError } from '../errors.js';
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
  const full: Required<GraphModelNodes> = { outputKind: 'logits', ...nodes };
  const shape = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || shape === undefined || shape.slice(1).some((d) => d === -1 || d === null)) {
    throw new UnsupportedModelError('createAdapter: the GraphModel must have one input with a fixed [batch, h, w, c] shape.');
  }
  const run = (x: tf.Tensor) => {
    const [out, feats] = model.execute(x, [full.outputNode, full.featuresNode]) as tf.Tensor[];
    const logits = (full.outputKind === 'softmax' ? tf.log(tf.maximum(out!, 1e-30)) : out!) as tf.Tensor2D;
    const features = tf.reshape(feats!, [feats!.shape[0]!, -1]) as tf.Tensor2D;
    return { logits, features };
  };
  const numClasses = tf.tidy(() => run(tf.zeros([1, ...shape.slice(1)])).logits.shape[1]!);
  return { kind: 'graph', model, nodes: full, inputShape: shape.slice(1), numClasses, run };
}
