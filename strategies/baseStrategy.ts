import * as tf from '../src/tf.js';
import { DisposedError, UnsupportedModelError } from '../src/errors.js';
import type { AdaptTarget, LayersTarget } from '../src/model/target.js';
import { assignVariables, copyVariables, disposeTensors, type NamedTensors } from '../src/model/weights.js';
import type { StepResult, Strategy, StrategyContext, StrategyNeeds, StrategyState } from './strategy.js';

/**
 * The model's variables (trainable and not), keyed by weight name as the model defines it
 * (`originalName`, e.g. `stem_conv/kernel`): tfjs suffixes `name` with a per-process counter
 * (`stem_conv/kernel_5`), which would tie a snapshot to the order models were loaded in.
 */
export function modelVariables(model: tf.LayersModel): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const w of model.weights) {
    const base = w.originalName ?? w.name;
    let name = base;
    for (let i = 1; vars.has(name); i++) name = `${base}#${i}`;
    vars.set(name, w.read() as tf.Variable);
  }
  return vars;
}

/**
 * What every strategy shares: the source state taken at attach time, exact reset,
 * snapshot/restore of all state variables, dispose that hands the model back unchanged.
 *
 * A subclass implements `forward` and, if it holds state beyond the model's weights
 * (teacher copies, adapters, optimiser moments), extends `stateVariables` and `stateMeta`.
 * It must create all its variables in its constructor, before the first step.
 */
export abstract class BaseStrategy<C extends object> implements Strategy<C> {
  abstract readonly name: string;
  abstract readonly needs: StrategyNeeds;
  protected readonly target: AdaptTarget;
  protected readonly config: Readonly<C>;
  protected readonly context: StrategyContext;
  private source: { tensors: NamedTensors; meta: Record<string, unknown> } | null = null;
  private disposed = false;

  constructor(target: AdaptTarget, config: C, context: StrategyContext) {
    this.target = target;
    this.config = Object.freeze({ ...config });
    this.context = context;
  }

  /** The target as a LayersModel; throws if the strategy was given a GraphModel. */
  protected get layers(): LayersTarget {
    if (this.target.kind !== 'layers') {
      throw new UnsupportedModelError(`Strategy '${this.name}' needs a tf.LayersModel; it was given a tf.GraphModel.`);
    }
    return this.target;
  }

  /** One step's computation; `x` is a validated float32 batch. */
  protected abstract forward(x: tf.Tensor4D): StepResult;

  /** Predictions of the current state without any state change (see `Strategy.predict`). */
  protected abstract infer(x: tf.Tensor4D): tf.Tensor2D;

  /** Every variable that makes up the strategy's state. Defaults to the model's weights. */
  protected stateVariables(): Map<string, tf.Variable> {
    return this.target.kind === 'layers' ? modelVariables(this.target.model) : new Map();
  }

  /** JSON scalars of the state (counters, random generator state...). */
  protected stateMeta(): Record<string, unknown> {
    return {};
  }

  /** Loads what `stateMeta` returned. */
  protected restoreMeta(_meta: Record<string, unknown>): void {}

  /** Frees tensors the subclass owns (its variables are disposed here too). */
  protected onDispose(): void {}

  step(x: tf.Tensor4D): StepResult {
    this.ensureSource();
    return this.forward(x);
  }

  predict(x: tf.Tensor4D): tf.Tensor2D {
    this.ensureSource();
    return this.infer(x);
  }

  reset(): void {
    const source = this.ensureSource();
    assignVariables(this.stateVariables(), source.tensors);
    this.restoreMeta(source.meta);
  }

  snapshot(): StrategyState {
    this.ensureSource();
    return { tensors: copyVariables(this.stateVariables()), meta: structuredClone(this.stateMeta()) };
  }

  restore(state: StrategyState): void {
    this.ensureSource();
    assignVariables(this.stateVariables(), state.tensors);
    this.restoreMeta(state.meta);
  }

  dispose(): void {
    if (this.disposed) return;
    if (this.source !== null) {
      // Hand the model back with its source weights.
      if (this.target.kind === 'layers') {
        const modelVars = modelVariables(this.target.model);
        const modelValues: NamedTensors = {};
        for (const name of modelVars.keys()) if (this.source.tensors[name] !== undefined) modelValues[name] = this.source.tensors[name]!;
        if (Object.keys(modelValues).length === modelVars.size) assignVariables(modelVars, modelValues);
      }
      disposeTensors(this.source.tensors);
      this.source = null;
    }
    this.onDispose();
    this.disposed = true;
  }

  getConfig(): C {
    return structuredClone(this.config) as C;
  }

  private ensureSource(): { tensors: NamedTensors; meta: Record<string, unknown> } {
    if (this.disposed) throw new DisposedError(`Strategy '${this.name}' was used after dispose().`);
    this.source ??= { tensors: copyVariables(this.stateVariables()), meta: structuredClone(this.stateMeta()) };
    return this.source;
  }
}
