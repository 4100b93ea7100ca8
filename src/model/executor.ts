import * as tf from '../tf.js';
import { compilePlan, type GraphPlan } from './graphPlan.js';
import { inspectModel, type ModelInfo } from './introspect.js';

/** What a hook sees when the executor reaches its layer. */
export interface HookContext {
  /** The layer being run. */
  layer: tf.layers.Layer;
  /** The layer's inputs (one tensor for most layers, several for merge layers). */
  inputs: tf.Tensor[];
  /** The `training` flag of this run. */
  training: boolean;
  /** Runs the layer's own computation on `inputs` (pass other tensors to change what it sees). */
  original: (inputs?: tf.Tensor[]) => tf.Tensor;
}

/**
 * Replaces (or wraps) one layer's computation. Must return what the layer would: a tensor
 * of the layer's output shape. Runs inside the caller's `tf.tidy` / `tf.variableGrads`.
 */
export type LayerHook = (ctx: HookContext) => tf.Tensor;

/** Hooks keyed by layer name. */
export type LayerHooks = ReadonlyMap<string, LayerHook> | Readonly<Record<string, LayerHook>>;

/** Options of one executor run. */
export interface RunOptions {
  /** Per-layer hooks. Defaults to none: the model's own computation. */
  hooks?: LayerHooks;
  /** The `training` flag passed to every layer (dropout etc.). Defaults to false. */
  training?: boolean;
}

/** What {@link ModelExecutor.run} computes. */
export interface ExecutorOutput {
  /** Pre-softmax class scores, [batch, classes]. */
  logits: tf.Tensor2D;
  /** The penultimate representation (the logits layer's input, flattened), [batch, features]. */
  features: tf.Tensor2D;
}

// A linear activation object, borrowed from a throwaway Activation layer, so the logits
// layer's softmax can be skipped without knowing tfjs-layers' internal classes.
let linearActivation: unknown;
function linear(): unknown {
  linearActivation ??= (tf.layers.activation({ activation: 'linear' }) as unknown as { activation: unknown }).activation;
  return linearActivation;
}

function hookFor(hooks: LayerHooks | undefined, name: string): LayerHook | undefined {
  if (hooks === undefined) return undefined;
  return hooks instanceof Map ? hooks.get(name) : (hooks as Record<string, LayerHook>)[name];
}

/**
 * Runs a `tf.LayersModel` layer by layer in topological order, letting strategies replace
 * or wrap chosen layers. Without hooks, {@link predict} equals `model.predict`.
 * Differentiable: call it inside `tf.variableGrads` / `optimizer.minimize`.
 * The executor does not own the model and creates no tensors of its own: call it inside
 * `tf.tidy` (or dispose what it returns).
 *
 * @example
 * const exec = new ModelExecutor(model);
 * const { logits, features } = tf.tidy(() => exec.run(x, { hooks: { bn1: myBnHook } }));
 */
export class ModelExecutor {
  readonly model: tf.LayersModel;
  readonly info: ModelInfo;
  private readonly plan: GraphPlan;

  constructor(model: tf.LayersModel) {
    this.model = model;
    this.info = inspectModel(model);
    this.plan = compilePlan(model);
  }

  /** The model's own output (probabilities for a softmax classifier), as `model.predict`. */
  predict(x: tf.Tensor, options: RunOptions = {}): tf.Tensor {
    return this.execute(x, options, false).get(this.plan.outputIds[0]!)!;
  }

  /** Logits and penultimate features of `x`. */
  run(x: tf.Tensor, options: RunOptions = {}): ExecutorOutput {
    const values = this.execute(x, options, true);
    const logits = values.get(this.info.logitsTensorId)!;
    let features = values.get(this.info.featuresTensorId)!;
    if (features.rank !== 2) features = tf.reshape(features, [features.shape[0]!, -1]);
    return { logits: logits as tf.Tensor2D, features: features as tf.Tensor2D };
  }

  /** Logits only. */
  logits(x: tf.Tensor, options: RunOptions = {}): tf.Tensor2D {
    return this.run(x, options).logits;
  }

  private execute(x: tf.Tensor, options: RunOptions, logitsMode: boolean): Map<number, tf.Tensor> {
    const values = new Map<number, tf.Tensor>();
    values.set(this.plan.inputIds[0]!, x);
    this.runPlan(this.plan, values, options.hooks, options.training ?? false, logitsMode);
    return values;
  }

  private runPlan(
    plan: GraphPlan,
    values: Map<number, tf.Tensor>,
    hooks: LayerHooks | undefined,
    training: boolean,
    logitsMode: boolean,
  ): void {
    for (const step of plan.steps) {
      const inputs = step.inputIds.map((id) => values.get(id)!);
      if (step.nested !== undefined) {
        step.nested.inputIds.forEach((id, i) => values.set(id, inputs[i]!));
        this.runPlan(step.nested, values, hooks, training, logitsMode);
        step.outputIds.forEach((id, i) => values.set(id, values.get(step.nested!.outputIds[i]!)!));
        continue;
      }
      const layer = step.layer;
      const skipSoftmax = logitsMode && layer === this.info.softmaxActivationLayer;
      const original = (xs: tf.Tensor[] = inputs): tf.Tensor => {
        const arg = xs.length === 1 ? xs[0]! : xs;
        if (!skipSoftmax) return layer.apply(arg, { training }) as tf.Tensor;
        const holder = layer as unknown as { activation: unknown };
        const saved = holder.activation;
        holder.activation = linear();
        try {
          return layer.apply(arg, { training }) as tf.Tensor;
        } finally {
          holder.activation = saved;
        }
      };
      const hook = hookFor(hooks, layer.name);
      const out = hook !== undefined ? hook({ layer, inputs, training, original }) : original();
      if (step.outputIds.length === 1) values.set(step.outputIds[0]!, out);
      else {
        const outs = out as unknown as tf.Tensor[];
        step.outputIds.forEach((id, i) => values.set(id, outs[i]!));
      }
    }
  }
}
