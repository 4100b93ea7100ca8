import type * as tf from '../src/tf.js';
import type { AdaptTarget } from '../src/model/target.js';
import type { NamedTensors } from '../src/model/weights.js';
import type { StateSpec } from '../src/model/stateSpec.js';

export type { MetaFieldSchema, StateMetaSchema, StateSpec, TensorSpec } from '../src/model/stateSpec.js';

/** What a strategy requires of the model; checked by `createAdapter` before the strategy is built. */
export interface StrategyNeeds {
  /** The model must contain BatchNormalization layers. */
  batchNorm: boolean;
  /** The strategy backpropagates (on the wasm backend this uses edge-tta's gradient kernels). */
  gradients: boolean;
  /** The strategy needs a `tf.LayersModel` (it hooks layers); false if a `tf.GraphModel` works too. */
  layersModel: boolean;
}

/** Scalar figures a strategy reports for one step (loss, BN drift, restored weights...). */
export type StepStats = Record<string, number>;

/** One online step's output. `probs` is owned by the caller, who must dispose it. */
export interface StepResult {
  /** Adapted class probabilities, [batch, classes]. */
  probs: tf.Tensor2D;
  stats: StepStats;
}

/** A strategy's whole mutable state: tensors (copies, owned by the holder) and JSON scalars. */
export interface StrategyState {
  tensors: NamedTensors;
  meta: Record<string, unknown>;
}

/** Shared context every strategy is built with. */
export interface StrategyContext {
  /** Seed of every random choice the strategy makes. */
  seed: number;
}

/**
 * An online test-time adaptation strategy, attached to one model.
 * `step` adapts on a batch and returns its predictions; `reset` returns to the source
 * state exactly; `snapshot`/`restore` save and load the whole state.
 *
 * **The state contract** (snapshots come back from storage or the network: untrusted bytes).
 * A strategy declares what its state is with {@link Strategy.stateSpec}: every tensor
 * `snapshot()` returns (name, shape, dtype, and `nonNegative` for values that must be >= 0, e.g.
 * variances and Adam's second moments) and a schema of every field of its `meta` (integers with
 * their range, e.g. `COUNTER` for step counts and `RNG_STATE` for 32-bit generator states, finite
 * numbers, nested objects; exactly these fields). The adapter checks snapshot bytes against it
 * before allocating anything, and `restore` must reject (with `InvalidSnapshotError`, changing
 * nothing) any state that does not match it. A strategy built on `BaseStrategy` gets both by
 * declaring `stateMetaSchema` (a schema of what its `stateMeta()` returns; `{}` if nothing) and, if
 * it holds variances or second moments beyond the model's BN moving variances, overriding
 * `nonNegativeState()`; `restoreMeta` then only ever sees meta that passed the schema. The fuzz
 * test (tests/core/snapshotFuzz.test.ts) runs mutated snapshots of every registered strategy
 * against this contract. See docs/snapshots.md.
 */
export interface Strategy<C extends object = object> {
  readonly name: string;
  readonly needs: StrategyNeeds;
  /**
   * The streams the strategy is for, as the guard's stream detectors tell them apart
   * (`src/safety/classCorrelation.ts`, `src/safety/domainMixture.ts`); on the other kind the
   * guard answers with the source model. `'iid'` (the default): strategies that estimate BN
   * statistics from the batch, which a batch of few classes or of several domains misleads: for
   * i.i.d. labels from one domain at a time. `'class-correlated'`: LAME, whose Laplacian pulls a
   * batch's neighbours to one class (and which reads no batch statistics, so mixed domains do not
   * concern it). `'any'`: nothing to protect (source).
   */
  readonly streams?: 'iid' | 'class-correlated' | 'any';
  /**
   * The smallest batch the strategy's step is defined for, if it has one: CoTTA and ViDA
   * normalise every pass with the batch's own statistics (the reference behaviour), which a batch
   * of a few frames turns to noise. With the guard on, a smaller batch gets the source model's
   * prediction and no update (reason `small-batch`); `guard: false` runs the step anyway.
   */
  readonly minBatch?: number;
  /** One online step on a validated float32 batch [n, h, w, c]. */
  step(x: tf.Tensor4D): StepResult;
  /**
   * Predictions of the current adapted state on a validated batch, with no update: the state
   * after `predict` is exactly the state before (a later `step` gives what it would have given).
   * Returns class probabilities [n, classes] the caller disposes. Each built-in strategy
   * predicts as its paper does (see its file). Optional for user strategies: without it,
   * `adapter.predict` runs `snapshot`, `step`, `restore` (the step's predictions, at the cost
   * of a step and a state copy).
   */
  predict?(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * A cheaper prediction of the current state, for steps the compute budget (`budget`) skips:
   * the same model without test-time extras that cost as much as an update (CoTTA: the teacher
   * on the clean batch instead of averaged over augmented views). No state change, like
   * `predict`. Optional: without it the budget's skipped steps run `predict`.
   */
  predictCheap?(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * For a strategy that never changes the model and reads only its outputs (LAME): the step
   * computed from the source model's pass of the batch, which the guard has run already (its
   * probabilities and penultimate features, [n, classes] and [n, features], owned by the caller),
   * instead of a second pass of the same model. Same result as `step` up to float rounding.
   * With `update: false`, the prediction with no state change (as `predict`), for steps the
   * budget or the guard keep from updating. Optional.
   */
  stepOnSourcePass?(probs: tf.Tensor2D, features: tf.Tensor2D, update?: boolean): StepResult;
  /** Back to the state at attach time (weights bit-identical). */
  reset(): void;
  /** Copies of the whole state; dispose its tensors when done (or pass it to `restore`). */
  snapshot(): StrategyState;
  /**
   * Loads a state taken by `snapshot` (of the same strategy on the same model). A state that does
   * not match {@link stateSpec} (or holds non-finite values) throws `InvalidSnapshotError` before
   * anything is written or allocated.
   */
  restore(state: StrategyState): void;
  /** What a state must match to be restored: its tensors and the schema of its `meta` (see above). */
  stateSpec(): StateSpec;
  /** Frees the strategy's tensors and puts the model's source weights back. */
  dispose(): void;
  /** The resolved options, as plain JSON. */
  getConfig(): C;
}

/**
 * A registry entry: a strategy's name, needs, documented defaults and factory.
 * `O` is its options interface (every field optional); `defaults` fills every field.
 */
export interface StrategyDefinition<N extends string = string, O extends object = object> {
  readonly name: N;
  /** One line for CLIs and error messages. */
  readonly description: string;
  readonly needs: StrategyNeeds;
  readonly defaults: Readonly<Required<O>>;
  /** Checks a resolved config; throws InvalidOptionError naming the bad option. */
  validate?(config: Required<O>): void;
  create(target: AdaptTarget, config: Required<O>, context: StrategyContext): Strategy<Required<O>>;
}
