import * as tf from '../src/tf.js';
import { DisposedError, InvalidSnapshotError, UnsupportedModelError } from '../src/errors.js';
import { checkStateMeta, checkTensorValues, type StateMetaSchema, type StateSpec, type TensorSpec } from '../src/model/stateSpec.js';
import type { AdaptTarget, LayersTarget } from '../src/model/target.js';
import { disposeAbandonedTape } from '../src/model/batchNorm.js';
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
 * It must create all its variables in its constructor, before the first step. It declares
 * `stateMetaSchema`, the schema of what `stateMeta` returns (the state contract of
 * `strategies/strategy.ts`): `restore` checks every state against it and against
 * `stateVariables` before writing anything, so `restoreMeta` only sees valid meta.
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

  /**
   * The schema of what `stateMeta` returns: exactly its fields, each with its type and range
   * (`{}` when `stateMeta` returns nothing). Snapshots whose meta does not match are rejected.
   */
  protected abstract readonly stateMetaSchema: StateMetaSchema;

  /**
   * State variables whose values must be >= 0 (a negative variance or second moment would turn
   * the next step into NaN). Defaults to the model's BN moving variances; add optimiser second
   * moments and estimated variances.
   */
  protected nonNegativeState(): Iterable<tf.Variable> {
    return this.target.kind === 'layers' ? this.target.info.batchNorms.map((bn) => bn.movingVariance) : [];
  }

  /** Loads what `stateMeta` returned (already checked against `stateMetaSchema`). */
  protected restoreMeta(_meta: Record<string, unknown>): void {}

  /** Frees tensors the subclass owns (its variables are disposed here too). */
  protected onDispose(): void {}

  step(x: tf.Tensor4D): StepResult {
    this.ensureSource();
    try {
      return this.forward(x);
    } catch (e) {
      // A gradient computation that threw leaves what tfjs kept for its backward pass; `forward`
      // frees its own tensors and puts its state back.
      disposeAbandonedTape();
      throw e;
    }
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

  stateSpec(): StateSpec {
    const nonNegative = new Set(this.nonNegativeState());
    const tensors = new Map<string, TensorSpec>();
    for (const [name, v] of this.stateVariables()) {
      tensors.set(name, { shape: [...v.shape], dtype: v.dtype as TensorSpec['dtype'], ...(nonNegative.has(v) ? { nonNegative: true } : {}) });
    }
    return { tensors, meta: this.stateMetaSchema };
  }

  restore(state: StrategyState): void {
    if (this.disposed) throw new DisposedError(`Strategy '${this.name}' was used after dispose().`);
    // Everything is checked before the source copy is taken or anything is written.
    this.checkState(state);
    this.ensureSource();
    assignVariables(this.stateVariables(), state.tensors);
    this.restoreMeta(state.meta);
  }

  /** Throws InvalidSnapshotError unless `state` matches `stateSpec()` exactly, with finite values. */
  private checkState(state: StrategyState): void {
    const spec = this.stateSpec();
    const owner = `Strategy '${this.name}'`;
    if (state === null || typeof state !== 'object' || state.tensors === null || typeof state.tensors !== 'object') {
      throw new InvalidSnapshotError(`${owner}: restore expects { tensors, meta } as snapshot() returns it.`);
    }
    const names = Object.keys(state.tensors);
    for (const name of names) {
      if (!spec.tensors.has(name)) {
        throw new InvalidSnapshotError(`${owner}: the state holds a tensor '${name.slice(0, 80)}' that this strategy's state does not have; it was taken from a different strategy, options or model.`);
      }
    }
    for (const [name, want] of spec.tensors) {
      const t = Object.hasOwn(state.tensors, name) ? state.tensors[name] : undefined;
      if (!(t instanceof tf.Tensor) || t.isDisposed) {
        throw new InvalidSnapshotError(`${owner}: the state has no tensor '${name}'; it was taken from a different strategy, options or model.`);
      }
      if (t.dtype !== want.dtype || !tf.util.arraysEqual(t.shape, want.shape as number[])) {
        throw new InvalidSnapshotError(
          `${owner}: state tensor '${name}' is [${t.shape}] ${t.dtype}; this strategy's is [${want.shape.join(',')}] ${want.dtype}. Restore a snapshot of the same strategy, options and model.`,
        );
      }
      checkTensorValues(owner, name, t.dataSync() as Float32Array | Int32Array, want.nonNegative === true);
    }
    checkStateMeta(owner, spec.meta, state.meta);
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
    // The executor's folded BN weights (built by this strategy's fixed-statistics passes).
    if (this.target.kind === 'layers') this.target.executor.dispose();
    this.disposed = true;
  }

  getConfig(): C {
    return structuredClone(this.config) as C;
  }

  /** The source state (taken at the first use); throws DisposedError after dispose(). */
  protected ensureSource(): { tensors: NamedTensors; meta: Record<string, unknown> } {
    if (this.disposed) throw new DisposedError(`Strategy '${this.name}' was used after dispose().`);
    this.source ??= { tensors: copyVariables(this.stateVariables()), meta: structuredClone(this.stateMeta()) };
    return this.source;
  }
}
