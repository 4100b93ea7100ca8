import * as tf from '../tf.js';
import { tapeRecording } from './batchNorm.js';
import { FoldCache, findFoldGroups, runFolded, type FoldGroup } from './bnFold.js';
import { compilePlan, type GraphPlan } from './graphPlan.js';
import { isPlainConv2d, tapedConv2d } from './tapedConv.js';
import { reluLayerClip, tapedRelu, type ReluClip } from './tapedActivation.js';
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

/**
 * Sees a BatchNormalization layer's input without changing the pass: `y` maps to the input per
 * channel c as input = y * scale[c] + offset[c]; `affine` is null when `y` is the input itself.
 * Compute what you need of `y` (e.g. its moments) and map that: a pass can then fold the BN into
 * the convolution before it (`y` is then the BN's output) instead of running it on its own.
 * Do not keep `y`: a folded pass frees it once the next layer has run.
 */
export type BnInputObserver = (y: tf.Tensor, affine: BnInputAffine | null) => void;

/** The per-channel map from a folded BN's output to its input (float64). */
export interface BnInputAffine {
  scale: Float64Array;
  offset: Float64Array;
}

/** A {@link LayerHook} that only observes a BN layer's input (see {@link observeBnInput}). */
type ObserverHook = LayerHook & { readonly bnInputObserver: BnInputObserver };

/**
 * A hook for a BatchNormalization layer that calls `observer` on the layer's input and leaves the
 * pass as it is. Unlike an arbitrary hook, it lets the executor keep the BN folded: the observer
 * then gets the folded output and the map back to the input (`affine`).
 */
export function observeBnInput(observer: BnInputObserver): LayerHook {
  const hook = ({ inputs, original }: HookContext): tf.Tensor => {
    observer(inputs[0]!, null);
    return original();
  };
  return Object.assign(hook, { bnInputObserver: observer });
}

/** The observer of an {@link observeBnInput} hook, else null. */
export function bnInputObserverOf(hook: LayerHook | undefined): BnInputObserver | null {
  return hook !== undefined && typeof (hook as Partial<ObserverHook>).bnInputObserver === 'function' ? (hook as ObserverHook).bnInputObserver : null;
}

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

/** Options of a {@link ModelExecutor}. */
export interface ExecutorOptions {
  /**
   * Fold each BatchNormalization into the conv / depthwise conv before it (and fuse a following
   * relu / relu6) in passes where the BN uses its moving statistics: no hook on the three layers,
   * `training: false`, no gradient being recorded. Same values up to float rounding. Defaults to true.
   */
  foldBatchNorm?: boolean;
}

function hookFor(hooks: LayerHooks | undefined, name: string): LayerHook | undefined {
  if (hooks === undefined) return undefined;
  return hooks instanceof Map ? hooks.get(name) : (hooks as Record<string, LayerHook>)[name];
}

/**
 * Runs a `tf.LayersModel` layer by layer in topological order, letting strategies replace
 * or wrap chosen layers. Without hooks, {@link predict} equals `model.predict`.
 * Differentiable: call it inside `tf.variableGrads` / `optimizer.minimize`.
 * The executor does not own the model: call it inside `tf.tidy` (or dispose what it returns).
 *
 * Two things make its passes cheaper than `model.predict` where they cannot be observed:
 * - BN folding (see {@link ExecutorOptions.foldBatchNorm} and `bnFold.ts`); the folded weights are
 *   the only tensors the executor keeps between runs, recomputed when the weights change, freed
 *   by {@link dispose}.
 * - Outside a gradient tape, each intermediate tensor is disposed as soon as its last consumer
 *   has run (a tidy alone would keep every activation of the pass alive until it ends); the
 *   inputs and outputs of hooked layers stay until the caller's tidy ends, since a hook may hold them.
 *
 * @example
 * const exec = new ModelExecutor(model);
 * const { logits, features } = tf.tidy(() => exec.run(x, { hooks: { bn1: myBnHook } }));
 */
export class ModelExecutor {
  readonly model: tf.LayersModel;
  readonly info: ModelInfo;
  private readonly plan: GraphPlan;
  private readonly fold: boolean;
  /** Steps reading each symbolic id, over the whole model (nested plans included). */
  private readonly consumers = new Map<number, number>();
  /** Ids that stay observable: plan outputs (nested too), logits, features. */
  private readonly pinned = new Set<number>();
  private readonly groups = new Map<GraphPlan, Map<number, FoldGroup>>();
  private readonly foldCache = new FoldCache();
  /** Conv2D layers run as separate ops under a gradient tape (see tapedConv.ts). */
  private readonly plainConvs: ReadonlySet<tf.layers.Layer>;
  /** ReLU layers run as one op each way under a tape (see tapedActivation.ts). */
  private readonly reluLayers: ReadonlyMap<tf.layers.Layer, ReluClip>;

  constructor(model: tf.LayersModel, options: ExecutorOptions = {}) {
    this.model = model;
    this.info = inspectModel(model);
    this.plan = compilePlan(model);
    this.fold = options.foldBatchNorm ?? true;
    this.pinned.add(this.info.logitsTensorId).add(this.info.featuresTensorId);
    const count = (plan: GraphPlan): void => {
      for (const id of plan.outputIds) this.pinned.add(id);
      for (const step of plan.steps) {
        for (const id of step.inputIds) this.consumers.set(id, (this.consumers.get(id) ?? 0) + 1);
        if (step.nested !== undefined) count(step.nested);
      }
    };
    count(this.plan);
    const collect = (plan: GraphPlan): void => {
      this.groups.set(plan, findFoldGroups(plan.steps, this.consumers, this.pinned));
      for (const step of plan.steps) if (step.nested !== undefined) collect(step.nested);
    };
    collect(this.plan);
    this.plainConvs = new Set(this.info.layers.filter(isPlainConv2d));
    this.reluLayers = new Map(this.info.layers.flatMap((l) => {
      const clip = reluLayerClip(l);
      return clip !== null ? [[l, clip] as const] : [];
    }));
  }

  /** Number of conv -> BN (-> activation) chains folded in fixed-statistics passes. */
  get foldedGroups(): number {
    if (!this.fold) return 0;
    let n = 0;
    for (const g of this.groups.values()) n += g.size;
    return n;
  }

  /** Frees the cached folded weights (recomputed on the next run that folds). */
  dispose(): void {
    this.foldCache.clear();
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
    const training = options.training ?? false;
    const taping = tapeRecording();
    const run: RunState = {
      values,
      hooks: options.hooks,
      training,
      logitsMode,
      fold: this.fold && !training && !taping,
      taping,
      remaining: taping ? null : new Map(this.consumers),
      hooked: new Set(),
      input: x,
    };
    this.runPlan(this.plan, run);
    return values;
  }

  /** Drops the values of `ids` whose last consumer has run, disposing tensors nothing else holds. */
  private release(run: RunState, ids: readonly number[]): void {
    const remaining = run.remaining;
    if (remaining === null) return;
    for (const id of new Set(ids)) {
      const left = (remaining.get(id) ?? 0) - 1;
      remaining.set(id, left);
      if (left > 0 || this.pinned.has(id) || run.hooked.has(id)) continue;
      const t = run.values.get(id);
      if (t === undefined) continue;
      run.values.delete(id);
      // Never the caller's input, a kept tensor or a variable (a hook may return one), nor a
      // tensor still held under another id (identity layers, nested models' outputs).
      if (t === run.input || t.kept || t instanceof tf.Variable) continue;
      let held = false;
      for (const v of run.values.values()) if (v === t) { held = true; break; }
      if (!held) t.dispose();
    }
  }

  private runPlan(plan: GraphPlan, run: RunState): void {
    const { values, hooks, training, logitsMode } = run;
    const groups = run.fold ? this.groups.get(plan)! : undefined;
    const skip = new Set<number>();
    for (let i = 0; i < plan.steps.length; i++) {
      const step = plan.steps[i]!;
      if (skip.has(i)) continue;
      const inputs = step.inputIds.map((id) => values.get(id)!);
      if (step.nested !== undefined) {
        step.nested.inputIds.forEach((id, i) => values.set(id, inputs[i]!));
        this.runPlan(step.nested, run);
        step.outputIds.forEach((id, i) => values.set(id, values.get(step.nested!.outputIds[i]!)!));
        this.release(run, step.inputIds);
        continue;
      }
      const group = groups?.get(i);
      if (group !== undefined && this.foldable(group, hooks)) {
        const w = this.foldCache.weights(group);
        if (w !== null) {
          values.set(group.outputId, runFolded(group, w, inputs[0] as tf.Tensor4D));
          skip.add(group.bnStep);
          if (group.actStep !== null) skip.add(group.actStep);
          this.release(run, step.inputIds);
          continue;
        }
      }
      // A BN whose only hook observes its input still folds: the observer gets the folded output
      // and the map back to the input; the activation then runs as its own step.
      const observer = group !== undefined ? this.foldableObserved(group, hooks) : null;
      if (observer !== null) {
        const w = this.foldCache.weights(group!);
        const affine = w !== null ? this.foldCache.inputAffine(group!) : null;
        if (w !== null && affine !== null) {
          const y = runFolded(group!, w, inputs[0] as tf.Tensor4D, 'linear');
          observer(y, affine);
          values.set(plan.steps[group!.bnStep]!.outputIds[0]!, y);
          skip.add(group!.bnStep);
          this.release(run, step.inputIds);
          continue;
        }
      }
      const layer = step.layer;
      const skipSoftmax = logitsMode && layer === this.info.softmaxActivationLayer;
      const original = (xs: tf.Tensor[] = inputs): tf.Tensor => {
        // Under a tape, plain ops: their gradients are pruned to what is asked for (tapedConv.ts),
        // and ReLUs as one op each way (tapedActivation.ts).
        if (run.taping && xs.length === 1 && this.plainConvs.has(layer)) return tapedConv2d(layer, xs[0] as tf.Tensor4D);
        const relu = run.taping && xs.length === 1 ? this.reluLayers.get(layer) : undefined;
        if (relu !== undefined) return tapedRelu(xs[0]!, relu);
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
      if (hook !== undefined) for (const id of [...step.inputIds, ...step.outputIds]) run.hooked.add(id);
      const out = hook !== undefined ? hook({ layer, inputs, training, original }) : original();
      if (step.outputIds.length === 1) values.set(step.outputIds[0]!, out);
      else {
        const outs = out as unknown as tf.Tensor[];
        step.outputIds.forEach((id, i) => values.set(id, outs[i]!));
      }
      this.release(run, step.inputIds);
    }
  }

  /** A group folds when none of its layers is hooked. */
  private foldable(g: FoldGroup, hooks: LayerHooks | undefined): boolean {
    if (hooks === undefined) return true;
    return hookFor(hooks, g.conv.name) === undefined && hookFor(hooks, g.bn.name) === undefined && (g.act === null || hookFor(hooks, g.act.name) === undefined);
  }

  /** The observer of a group whose BN's only hook is an {@link observeBnInput} one (the conv not hooked), else null. */
  private foldableObserved(g: FoldGroup, hooks: LayerHooks | undefined): BnInputObserver | null {
    if (hooks === undefined || hookFor(hooks, g.conv.name) !== undefined) return null;
    return bnInputObserverOf(hookFor(hooks, g.bn.name));
  }
}

/** The state of one pass through the plan. */
interface RunState {
  values: Map<number, tf.Tensor>;
  hooks: LayerHooks | undefined;
  training: boolean;
  logitsMode: boolean;
  /** Fold BN in this pass (no training flag, no tape). */
  fold: boolean;
  /** A gradient tape records this pass. */
  taping: boolean;
  /** Consumers still to run per id; null while a gradient tape records (nothing is released). */
  remaining: Map<number, number> | null;
  /** Inputs and outputs of hooked layers: a hook may hold on to them, so they live until the caller's tidy ends. */
  hooked: Set<number>;
  /** The caller's input (never disposed). */
  input: tf.Tensor;
}
