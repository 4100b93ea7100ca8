import * as tf from './tf.js';
import { Subject, type Observable } from 'rxjs';
import { DisposedError, InvalidSnapshotError, UnsupportedModelError } from './errors.js';
import { checkStateMeta, checkStateToWrite, COUNTER, metaJsonBound } from './model/stateSpec.js';
import { checkLabels, checkModelNotDisposed, checkOptionsObject, checkSeed } from './adapterArgs.js';
import { leaseModel } from './modelLease.js';
import type { BatchInput } from './input.js';
import { toBatchTensor } from './batchTensor.js';
import { resolvePreprocess, type PreprocessOptions, type ResolvedPreprocess } from './preprocess.js';
import { StreamCounters, summarizeProbs, type MetricsRecord, type StreamEvent, type UpdateInfo } from './metrics/stepMetrics.js';
import { SafetyController, type SafetyOptions } from './safety/controller.js';
import { createTarget, type AdaptTarget, type GraphModelNodes } from './model/target.js';
import { checkBatchNormVariances, checkFiniteWeights } from './model/finiteWeights.js';
import { decodeState, disposeTensors, encodeStateValues, stateTensors } from './model/weights.js';
import { getStrategy, resolveOptions, type StrategyName, type StrategyOptions } from '../strategies/registry.js';
import type { StepStats, Strategy, StrategyDefinition } from '../strategies/strategy.js';

/** Options every adapter takes, whatever its strategy (with the safety options: `guard`, `shiftDetection`, `budget`). */
export interface AdapterBaseOptions extends SafetyOptions {
  /**
   * Seed of every random choice (augmentations, stochastic restore...): an integer in
   * [0, 2^32 - 1] (anything else throws `InvalidOptionError`). Defaults to 0.
   */
  seed?: number;
  /** For a `tf.GraphModel`: the nodes giving class scores and penultimate features. */
  graphNodes?: GraphModelNodes;
  /**
   * How frames become the model's input (resize, channel order, scale and offset), applied by
   * `step`, `predict` and `adapt` alike. Defaults to none: frames must have the model's size and
   * range already.
   *
   * @example
   * // A MobileNet-style model on [-1, 1], fed 640x480 camera frames:
   * { preprocess: { resize: 'bilinear', scale: 2, offset: -1 } }
   */
  preprocess?: PreprocessOptions;
}

/** `createAdapter` options: the strategy name, its own options, and the common ones. */
export type AdapterOptions<N extends StrategyName> = { strategy: N } & AdapterBaseOptions & StrategyOptions<N>;

/** A batch's predictions, as plain arrays (they cross worker boundaries). */
export interface BatchPredictions {
  batchSize: number;
  numClasses: number;
  /** Row-major probabilities, batchSize x numClasses. */
  probs: Float32Array;
  /** Arg-max class of each frame. */
  labels: Int32Array;
  /** Max probability of each frame. */
  confidence: Float32Array;
}

/** One step's predictions. */
export interface StepOutput extends BatchPredictions {
  stepId: number;
  stats: StepStats;
  /** Wall time of the step, ms. */
  stepMs: number;
  /** Whether the step adapted, only predicted or fell back to the source model, and why (see `UpdateInfo`). */
  update: UpdateInfo;
}

/** What `predict` returns: the predictions of the current state (no step was taken). */
export interface PredictOutput extends BatchPredictions {
  /** The number of steps taken so far (the `stepId` the next step will get). */
  steps: number;
  /** Wall time of the prediction, ms. */
  predictMs: number;
  /**
   * Present only when the strategy's probabilities were non-finite (NaN or Infinity): where the
   * returned ones came from instead, the source model ('source', with the guard or shift detection
   * on) or none (uniform probabilities), as a step's `nonfinite` record says.
   */
  fallback?: 'source' | 'none';
  /**
   * Present when the safety layer answered with the source model's predictions, as a `step` would
   * by the detectors' current states (a prediction observes nothing; the reason is the one a step
   * gives in `update.reason`: e.g. `'class-correlated'` during the guard's startup, `'shift-none'`,
   * `'domain-mixed'`, `'small-batch'`).
   */
  sourceAnswer?: NonNullable<UpdateInfo['reason']>;
}

/**
 * A model wrapped with a test-time adaptation strategy. The same interface runs in-thread
 * (`createAdapter`) and in a worker.
 */
export interface Adapter {
  readonly strategy: StrategyName;
  /** Input shape without the batch dimension. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** The `preprocess` option, resolved against the model (every field filled). */
  readonly preprocess: Readonly<ResolvedPreprocess>;
  /**
   * One `'step'` record per step, plus the `'frame-error'` and `'frames-dropped'` records
   * that streams feeding this adapter report. Completes on `dispose()`.
   */
  readonly metrics$: Observable<MetricsRecord>;
  /** Adapts on `batch` and returns its predictions. `labels` only feed the accuracy metric. */
  step(batch: BatchInput, labels?: ArrayLike<number>): Promise<StepOutput>;
  /**
   * Predictions of the current adapted state on `batch`, with no update: the state, the step
   * count and `metrics$` are untouched, so a later `step` gives exactly what it would have given.
   * What "the current state predicts" is each strategy's paper's prediction (e.g. CoTTA's and
   * ViDA's teacher, LAME's corrected output, the BN strategies' batch statistics); for every
   * built-in strategy it equals what `step(batch)` would return now, including the source model's
   * answer where the safety layer would give it (`sourceAnswer` says why; equal up to float
   * rounding there, as a step's source pass runs with BN unfolded for the detectors). A user strategy without
   * `predict` gets the snapshot / step / restore fallback (see `Strategy.predict`).
   */
  predict(batch: BatchInput): Promise<PredictOutput>;
  /** Back to the source model and a fresh strategy state. */
  reset(): Promise<void>;
  /**
   * The whole adaptation state as bytes (persist it; `restore` it here or in a worker). A state
   * `restore` would refuse (a value gone NaN or infinite) is never written: it rejects with
   * `InvalidSnapshotError` naming the tensor; `reset()` or `restore()` an earlier snapshot.
   */
  snapshot(): Promise<Uint8Array>;
  /** Loads bytes from `snapshot()`. */
  restore(bytes: Uint8Array): Promise<void>;
  /** The resolved strategy options and the adapter options given (`seed`, `graphNodes`, `preprocess`, `guard`, `shiftDetection`, `budget`), as JSON: `createAdapter(model, await adapter.getConfig())` makes the same adapter (ViDA's `adapterWeights` come back as a description and must be passed again). */
  getConfig(): Promise<Record<string, unknown>>;
  /**
   * Publishes a stream event (a rejected frame, dropped frames) on `metrics$` and adds it to
   * the totals that step records carry. Called by the `adapt` operator.
   */
  report(event: StreamEvent): void;
  /** Frees every tensor and puts the model's source weights back. */
  dispose(): void;
}

function checkNeeds(def: StrategyDefinition, target: AdaptTarget): void {
  if (def.needs.layersModel && target.kind !== 'layers') {
    throw new UnsupportedModelError(
      `Strategy '${def.name}' needs a tf.LayersModel (it changes the model's layers); a tf.GraphModel only supports output-level strategies such as 'lame' and 'source'. To run '${def.name}', load the model as a tf.LayersModel (tensorflowjs_converter --output_format tfjs_layers_model from the Keras model, then tf.loadLayersModel).`,
    );
  }
  if (def.needs.batchNorm && (target.kind !== 'layers' || target.info.batchNorms.length === 0)) {
    throw new UnsupportedModelError(
      `Strategy '${def.name}' adapts BatchNormalization layers, and model '${target.model instanceof tf.LayersModel ? target.model.name : 'graph'}' has none. ` +
        "Use a strategy that does not need BN (e.g. 'lame' or 'source'), or a model with BatchNormalization layers.",
    );
  }
}

/**
 * The strategy's `predict`, or for a strategy without one: snapshot, step, restore (the step's
 * predictions, and the state exactly as before).
 */
function predictWith(impl: Strategy, x: tf.Tensor4D): tf.Tensor2D {
  if (typeof impl.predict === 'function') return impl.predict(x);
  const saved = impl.snapshot();
  try {
    return impl.step(x).probs;
  } finally {
    try {
      impl.restore(saved);
    } finally {
      disposeTensors(saved.tensors);
    }
  }
}

class LocalAdapter implements Adapter {
  readonly metrics$: Observable<MetricsRecord>;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  private readonly metrics = new Subject<MetricsRecord>();
  private readonly counters = new StreamCounters();
  private labeledFrames = 0;
  private correctFrames = 0;
  private stepId = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** A step, predict, reset, snapshot or restore is running (between its awaits). */
  private busy = false;

  constructor(
    readonly strategy: StrategyName,
    private readonly impl: Strategy,
    target: AdaptTarget,
    readonly preprocess: Readonly<ResolvedPreprocess>,
    private readonly safety: SafetyController,
    /** Ends this adapter's lease on the model (one adapter per model, src/modelLease.ts). */
    private readonly releaseModel: () => void = () => undefined,
    /** The adapter options the adapter was created with (those given), for getConfig(). */
    private readonly safetyConfig: Record<string, unknown> = {},
  ) {
    this.metrics$ = this.metrics.asObservable();
    this.inputShape = target.inputShape;
    this.numClasses = target.numClasses;
  }

  step(batch: BatchInput, labels?: ArrayLike<number>): Promise<StepOutput> {
    return this.serial(async () => {
      const x = toBatchTensor(batch, this.inputShape, this.preprocess);
      if (labels !== undefined) {
        try {
          checkLabels(labels, x.shape[0], this.numClasses);
        } catch (e) {
          x.dispose();
          throw e;
        }
      }
      const start = performance.now();
      const stepId = this.stepId;
      let probsData: Float32Array;
      let stats: StepStats;
      let update: UpdateInfo;
      try {
        ({ probs: probsData, stats, update } = await this.safety.step(x, stepId, (r) => this.metrics.next(r)));
      } finally {
        x.dispose();
      }
      const stepMs = performance.now() - start;
      this.stepId++;
      const s = summarizeProbs(probsData, this.numClasses);
      let accuracy: number | undefined;
      if (labels !== undefined) {
        let hits = 0;
        for (let i = 0; i < s.labels.length; i++) if (s.labels[i] === labels[i]) hits++;
        accuracy = hits / s.labels.length;
        this.labeledFrames += s.labels.length;
        this.correctFrames += hits;
      }
      const mem = tf.memory();
      this.metrics.next({
        kind: 'step',
        stepId,
        strategy: this.strategy,
        batchSize: s.labels.length,
        stepMs,
        meanEntropy: s.meanEntropy,
        meanConfidence: s.meanConfidence,
        classHistogram: s.histogram,
        ...(accuracy !== undefined ? { accuracy } : {}),
        ...(this.labeledFrames > 0 ? { runningAccuracy: this.correctFrames / this.labeledFrames } : {}),
        labeledFrames: this.labeledFrames,
        framesDropped: this.counters.framesDropped,
        frameErrors: this.counters.frameErrors,
        stats,
        memory: { numTensors: mem.numTensors, numBytes: mem.numBytes },
        update,
      });
      return {
        stepId,
        batchSize: s.labels.length,
        numClasses: this.numClasses,
        probs: probsData,
        labels: s.labels,
        confidence: s.confidence,
        stats,
        stepMs,
        update,
      };
    });
  }

  predict(batch: BatchInput): Promise<PredictOutput> {
    return this.serial(async () => {
      const x = toBatchTensor(batch, this.inputShape, this.preprocess);
      const start = performance.now();
      let probsData: Float32Array;
      let fallback: 'source' | 'none' | undefined;
      // Where a step would answer with the source model now (the guard's startup, a class-correlated
      // or domain-mixed stream, an unshifted one...), so does a prediction.
      const sourceAnswer = this.safety.sourceReason(x.shape[0]) ?? undefined;
      try {
        if (sourceAnswer !== undefined) {
          probsData = await this.safety.sourceProbs(x);
        } else {
          const probs = predictWith(this.impl, x);
          probsData = (await probs.data()) as Float32Array;
          probs.dispose();
        }
        const replaced = await this.safety.predictFallback(x, probsData);
        if (replaced !== null) [probsData, fallback] = [replaced.probs, replaced.predictions];
      } finally {
        x.dispose();
      }
      const predictMs = performance.now() - start;
      const s = summarizeProbs(probsData, this.numClasses);
      return {
        batchSize: s.labels.length,
        numClasses: this.numClasses,
        probs: probsData,
        labels: s.labels,
        confidence: s.confidence,
        steps: this.stepId,
        predictMs,
        ...(sourceAnswer !== undefined ? { sourceAnswer } : {}),
        ...(fallback !== undefined ? { fallback } : {}),
      };
    });
  }

  reset(): Promise<void> {
    return this.serial(async () => {
      this.impl.reset();
      this.publishShiftReset(this.safety.onReset());
    });
  }

  /** A `shift` record back to `'none'` when a reset / restore cleared a detector that was not there (`from`: its state before; null: it was at `'none'`). */
  private publishShiftReset(from: 'adapting' | 'steady' | 'none' | null): void {
    if (from === null) return;
    const mem = tf.memory();
    this.metrics.next({ kind: 'shift', stepId: this.stepId, from, to: 'none', distance: 0, time: performance.now(), memory: { numTensors: mem.numTensors, numBytes: mem.numBytes } });
  }

  snapshot(): Promise<Uint8Array> {
    return this.serial(async () => {
      const state = this.impl.snapshot();
      try {
        // Never bytes that restore() would refuse (a state gone non-finite with the guard off).
        // The values checked are the ones encoded: each tensor is read once.
        const values = checkStateToWrite(`snapshot (${this.strategy})`, this.impl.stateSpec(), state);
        return encodeStateValues(state.tensors, { strategy: this.strategy, stepId: this.stepId, meta: state.meta }, (name) => values[name]!);
      } finally {
        disposeTensors(state.tensors);
      }
    });
  }

  restore(bytes: Uint8Array): Promise<void> {
    return this.serial(async () => {
      // Bytes from outside are hostile: everything is checked (decodeState, the strategy's state
      // spec and meta schema) before a tensor is made; on failure nothing changes.
      const spec = this.impl.stateSpec();
      const owner = `restore (${this.strategy})`;
      let stepId = 0;
      let meta: Record<string, unknown> = {};
      const decoded = decodeState(bytes, {
        owner,
        expected: spec.tensors,
        // The strategy's meta at its longest, plus the wrapper (strategy, stepId).
        metaBytes: 4096 + metaJsonBound(spec.meta),
        checkMeta: (m) => {
          const keys = Object.keys(m);
          if (keys.length !== 3 || !['strategy', 'stepId', 'meta'].every((k) => Object.hasOwn(m, k))) {
            throw new InvalidSnapshotError(`${owner}: the snapshot's meta must have exactly strategy, stepId and meta; it has ${keys.slice(0, 10).join(', ') || '(none)'}.`);
          }
          if (m.strategy !== this.strategy) {
            throw new InvalidSnapshotError(
              `${owner}: the snapshot is of strategy ${JSON.stringify(m.strategy)?.slice(0, 60)}; this adapter runs '${this.strategy}'. Restore it into an adapter of that strategy.`,
            );
          }
          stepId = checkStateMeta(owner, { stepId: COUNTER }, { stepId: m.stepId }).stepId as number;
          meta = checkStateMeta(owner, spec.meta, m.meta, 'meta.meta');
        },
      });
      const tensors = stateTensors(decoded);
      try {
        this.impl.restore({ tensors, meta });
        const shifted = this.safety.onReset();
        this.stepId = stepId;
        this.publishShiftReset(shifted);
      } finally {
        disposeTensors(tensors);
      }
    });
  }

  async getConfig(): Promise<Record<string, unknown>> {
    return { strategy: this.strategy, ...(this.impl.getConfig() as Record<string, unknown>), ...this.safetyConfig };
  }

  report(event: StreamEvent): void {
    if (this.disposed) return;
    const mem = tf.memory();
    this.metrics.next(this.counters.record(event, { numTensors: mem.numTensors, numBytes: mem.numBytes }));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // A call already running finishes first: freeing the guard and the strategy under a step that
    // awaits its data left the step on disposed tensors (a tfjs 'Tensor is disposed' error and the
    // shift detector's records leaked). Calls queued behind it get DisposedError.
    if (this.busy) void this.queue.then(() => this.free());
    else this.free();
  }

  private free(): void {
    this.safety.dispose();
    this.impl.dispose();
    this.releaseModel();
    this.metrics.complete();
  }

  // Steps, resets and snapshots run one at a time, in call order.
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError('The adapter was used after dispose().'));
    const run = this.queue.then(async () => {
      if (this.disposed) throw new DisposedError('The adapter was used after dispose().');
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Wraps a model with a test-time adaptation strategy.
 *
 * @example
 * await initBackend({ backend: 'wasm' });
 * const adapter = await createAdapter(model, { strategy: 'source' });
 * const { labels, confidence } = await adapter.step(frames); // frames: float32 [n, h, w, c]
 * adapter.dispose();
 */
export async function createAdapter<N extends StrategyName>(
  model: tf.LayersModel | tf.GraphModel,
  options: AdapterOptions<N>,
): Promise<Adapter> {
  checkOptionsObject('createAdapter', options);
  const { strategy, seed, graphNodes, preprocess, guard, shiftDetection, budget, ...strategyOptions } = options as AdapterOptions<N> & Record<string, unknown>;
  checkSeed(seed);
  const def = getStrategy(strategy);
  const config = resolveOptions(def, strategyOptions);
  checkModelNotDisposed(model);
  checkFiniteWeights(model, 'createAdapter');
  checkBatchNormVariances(model, 'createAdapter');
  // Before graphNodes are checked: a strategy that cannot run on a GraphModel says so first, not
  // 'needs graphNodes' (which the user would find and add, to be refused next).
  if (def.needs.layersModel && model instanceof tf.GraphModel) checkNeeds(def, { kind: 'graph' } as AdaptTarget);
  const target = createTarget(model, graphNodes);
  const pre = resolvePreprocess(preprocess, target.inputShape);
  checkNeeds(def, target);
  const lease = leaseModel(model, strategy);
  // Ending the lease also frees the executor's folded BN weights (a strategy need not extend BaseStrategy).
  const release = (): void => {
    lease();
    if (target.kind === 'layers') target.executor.dispose();
  };
  let impl: Strategy;
  try {
    impl = def.create(target, config as never, { seed: seed ?? 0 });
  } catch (e) {
    release();
    throw e;
  }
  let safety: SafetyController;
  try {
    safety = await SafetyController.create(impl, target, { guard, shiftDetection, budget } as SafetyOptions);
  } catch (e) {
    impl.dispose();
    release();
    throw e;
  }
  // The adapter options as given (JSON: strings, booleans and numbers), so getConfig() round-trips them.
  const safetyConfig = JSON.parse(JSON.stringify({ seed, graphNodes, preprocess, guard, shiftDetection, budget })) as Record<string, unknown>;
  return new LocalAdapter(strategy, impl, target, pre, safety, release, safetyConfig);
}
