/**
 * Model copies for mean-teacher strategies (CoTTA, ViDA): a {@link ModelCopy} is the same
 * architecture with its own variables and its own {@link ModelExecutor}, so it can be run,
 * hooked and updated independently of the student. Plus the two updates such strategies
 * make: the teacher's EMA of the student and the student's stochastic restore to source,
 * both delegated to the fused ops of `src/fused` (one WASM SIMD kernel per tensor on the
 * wasm backend, a plain-TS loop elsewhere).
 *
 * Design: the copy is built synchronously from the model's own config
 * (`Class.fromConfig(Class, model.getConfig())`, which is what `tf.models.modelFromJSON`
 * does without its async weight loading) and its weights are set to deep copies of the
 * source's, so no variable shares memory with the student. Layer names are kept, so the
 * copy's layers are addressed by the same names in hooks; its variable names are made
 * unique by tfjs. Custom layers work if they are registered with `tf.serialization`.
 *
 * @example
 * ```ts
 * const teacher = ModelCopy.of(student);                // same weights, own variables
 * const logits = tf.tidy(() => teacher.executor.logits(x, { hooks: teacher.batchStatisticsHooks() }));
 * emaFrom(teacher.parameters, studentParameters, 0.999); // teacher = 0.999 t + 0.001 s
 * teacher.dispose();
 * ```
 */
import * as tf from '../src/tf.js';
import { UnsupportedModelError } from '../src/errors.js';
import { emaUpdate, stochasticRestore, type SeededRng } from '../src/fused/index.js';
import { batchStatisticsHook } from '../src/model/batchNorm.js';
import { ModelExecutor, type LayerHook } from '../src/model/executor.js';
import type { ModelInfo } from '../src/model/introspect.js';
import { deepCopy } from '../src/model/weights.js';
import { modelVariables } from './baseStrategy.js';

/**
 * The weights a mean-teacher method trains, averages and restores: every trainable
 * variable (conv and dense kernels and biases, BN gamma and beta; not BN moving
 * statistics), in `model.weights` order, keyed by unique weight name as
 * `modelVariables` names them. Equal architectures give aligned lists.
 */
export function trainableParameters(model: tf.LayersModel): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [name, v] of modelVariables(model)) if (v.trainable) out.set(name, v);
  return out;
}

/** Total bytes of the given tensors' values (4 bytes per float32/int32 element). */
export function tensorBytes(tensors: Iterable<tf.Tensor>): number {
  let bytes = 0;
  for (const t of tensors) bytes += t.size * 4;
  return bytes;
}

/** An independent copy of a LayersModel (own variables, own executor). Dispose it when done. */
export class ModelCopy {
  readonly model: tf.LayersModel;
  readonly executor: ModelExecutor;
  readonly info: ModelInfo;
  /** Every variable of the copy, keyed by the *source* model's weight names (aligned one to one). */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** The trainable subset, keyed and ordered like `trainableParameters(source)`. */
  readonly parameters: ReadonlyMap<string, tf.Variable>;
  private hooks: Map<string, LayerHook> | null = null;

  private constructor(model: tf.LayersModel, variables: Map<string, tf.Variable>) {
    this.model = model;
    this.executor = new ModelExecutor(model);
    this.info = this.executor.info;
    this.variables = variables;
    this.parameters = new Map([...variables].filter(([, v]) => v.trainable));
  }

  /**
   * A copy of `model` holding deep copies of its current weights.
   * Throws {@link UnsupportedModelError} if the model cannot be rebuilt from its config.
   */
  static of(model: tf.LayersModel): ModelCopy {
    const cls = model.constructor as unknown as { fromConfig(cls: unknown, config: unknown): tf.LayersModel };
    let copy: tf.LayersModel;
    try {
      copy = cls.fromConfig(model.constructor, model.getConfig());
    } catch (e) {
      throw new UnsupportedModelError(
        `Could not copy model '${model.name}' from its config (${(e as Error).message}). ` +
          'Register custom layers with tf.serialization.registerClass so the model can be rebuilt.',
      );
    }
    const src = modelVariables(model);
    const dst = [...modelVariables(copy).values()];
    const aligned = new Map<string, tf.Variable>();
    let i = 0;
    for (const [name, v] of src) {
      const w = dst[i++];
      if (w === undefined || !tf.util.arraysEqual(w.shape, v.shape) || w.trainable !== v.trainable) {
        copy.dispose();
        throw new UnsupportedModelError(`The copy of model '${model.name}' does not have the same weights as the model (at '${name}').`);
      }
      aligned.set(name, w);
    }
    if (i !== dst.length) {
      copy.dispose();
      throw new UnsupportedModelError(`The copy of model '${model.name}' has ${dst.length} weights; the model has ${i}.`);
    }
    const result = new ModelCopy(copy, aligned);
    result.assignFrom(src);
    return result;
  }

  /** Sets every variable of the copy to a deep copy of the same-named tensor (source weight names). */
  assignFrom(values: ReadonlyMap<string, tf.Tensor>): void {
    for (const [name, v] of this.variables) {
      const t = values.get(name);
      if (t === undefined) continue;
      const c = deepCopy(t);
      v.assign(c);
      c.dispose();
    }
  }

  /** Hooks that make every BN layer of the copy normalise with the current batch's statistics (built once). */
  batchStatisticsHooks(): ReadonlyMap<string, LayerHook> {
    this.hooks ??= new Map(this.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
    return this.hooks;
  }

  /** Bytes of the copy's variables. */
  get bytes(): number {
    return tensorBytes(this.variables.values());
  }

  /** Frees the copy's variables. */
  dispose(): void {
    this.executor.dispose();
    this.model.dispose();
  }
}

/**
 * Teacher EMA: `teacher = momentum * teacher + (1 - momentum) * student`, pair by pair
 * (src/fused `emaUpdate`). Momentum 1 leaves the teacher unchanged; 0 copies the student.
 */
export function emaFrom(teacher: Iterable<tf.Variable>, student: Iterable<tf.Tensor>, momentum: number): void {
  emaUpdate([...teacher], [...student], momentum);
}

/**
 * Stochastic restore: each element of each variable goes back to its source value with
 * probability `p` (elementwise Bernoulli, one draw of `rng` per element, in order; src/fused
 * `stochasticRestore`). Returns the number of elements restored. `rng` is advanced.
 */
export function restoreToSource(vars: Iterable<tf.Variable>, source: Iterable<tf.Tensor>, p: number, rng: SeededRng): number {
  return stochasticRestore([...vars], [...source], p, rng);
}
