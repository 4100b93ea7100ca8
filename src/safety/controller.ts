/**
 * One adapter step with the safety layer around the strategy: the shift detector decides
 * whether to adapt at all, the guard's freeze and the compute budget may turn the update into a
 * predict-only step, the output is checked for non-finite values, and the guard watches its
 * signals, rolling back or resetting when they trip. Every decision is published on `metrics$`
 * (`nonfinite`, `guard`, `shift` records; each step record's `update` field).
 *
 * Used by the in-thread adapter (`src/adapter.ts`), hence by the worker (which runs one) and by
 * `adapt()` (which calls `step`).
 */
import * as tf from '../tf.js';
import { InvalidOptionError } from '../errors.js';
import { summarizeProbs, type MetricsRecord, type UpdateInfo } from '../metrics/stepMetrics.js';
import type { LayerHook } from '../model/executor.js';
import type { AdaptTarget } from '../model/target.js';
import { disposeTensors } from '../model/weights.js';
import { EMA_BELOW_BATCH } from '../../strategies/normStats.js';
import type { StepResult, StepStats, Strategy, StrategyState } from '../../strategies/strategy.js';
import { ClassCorrelation } from './classCorrelation.js';
import { DomainMixture } from './domainMixture.js';
import { ComputeBudget, resolveBudgetOptions, type BudgetOptions } from './budget.js';
import { Guard, resolveGuardOptions, type GuardOptions } from './guard.js';
import { createSourceModel, sourceProbsAfterReset, type SourceModel } from './sourceModel.js';
import { SHIFT_DEFAULTS, ShiftDetector, resolveShiftOptions, type ShiftDetectionOptions, type ShiftState } from './shiftDetector.js';

/** The adapter-level safety options (flat beside the strategy's own options). */
export interface SafetyOptions {
  /**
   * The guard (on by default): watches unlabelled signals and rolls back / resets a strategy
   * that collapses. `false` turns it off; an object tunes its thresholds (`GuardOptions`).
   */
  guard?: boolean | GuardOptions;
  /** Adapt only when the stream is shifted from the source distribution (off by default). `true` or thresholds. */
  shiftDetection?: boolean | ShiftDetectionOptions;
  /** Thin update steps to keep the step time per frame under a budget (off by default). */
  budget?: BudgetOptions;
}

/** The names of {@link SafetyOptions}, taken out of the options before the strategy's are resolved. */
export const SAFETY_OPTION_NAMES = ['guard', 'shiftDetection', 'budget'] as const;

/** What one safe step returns to the adapter. */
export interface SafeStepResult {
  probs: Float32Array;
  stats: StepStats;
  update: UpdateInfo;
}

/**
 * LAME returns its Laplacian-regularised assignments, near one-hot by design: their entropy says
 * nothing about a collapse, so its entropy signal is off (its other signals stay on).
 */
function withoutEntropySignal(strategy: string, options: Required<GuardOptions>): Required<GuardOptions> {
  return strategy === 'lame' ? { ...options, minEntropy: 0 } : options;
}

/**
 * The guard's unshifted-stream rule (`guard.minShift`): a shift detector that turns updates on at
 * `minShift` and off (strategy reset) at 2/3 of it, with no steady state; for strategies for
 * single-domain streams on a model with BN layers. Null when off.
 */
function guardShift(guard: Required<GuardOptions> | null, forSingleDomains: boolean, source: SourceModel | null): ShiftDetector | null {
  if (guard === null || guard.minShift <= 0 || !forSingleDomains || source === null || source.batchNorms.length === 0) return null;
  return new ShiftDetector({ ...SHIFT_DEFAULTS, onThreshold: guard.minShift, offThreshold: (2 / 3) * guard.minShift, steadySteps: Number.MAX_SAFE_INTEGER }, source);
}

async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

function memoryFigures(): { numTensors: number; numBytes: number } {
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes };
}

function nonFiniteParts(probs: Float32Array, stats: StepStats): string[] {
  const where: string[] = [];
  for (let i = 0; i < probs.length; i++) {
    if (!Number.isFinite(probs[i]!)) {
      where.push('probs');
      break;
    }
  }
  for (const [k, v] of Object.entries(stats)) if (!Number.isFinite(v)) where.push(`stats.${k}`);
  return where;
}

/** The safety layer of one adapter. Build with {@link SafetyController.create}. */
export class SafetyController {
  private lastGood: StrategyState | null = null;
  private stepsRun = 0;
  private stepsSkipped = 0;
  /** The domain-mixture detector's hooks around the shift detector's, built at the first pass that needs them. */
  private mixtureHooks: Map<string, LayerHook> | null = null;

  private constructor(
    private readonly impl: Strategy,
    private readonly target: AdaptTarget,
    private readonly source: SourceModel | null,
    readonly guard: Guard | null,
    readonly detector: ShiftDetector | null,
    readonly budget: ComputeBudget | null,
    /** The class-correlation detector; null when off (no guard, `classGate` 0, or a strategy for any stream). */
    readonly correlation: ClassCorrelation | null,
    /** The domain-mixture detector; null when off (no guard, `mixtureGate` 0, no BN layer, or a strategy that is not for single-domain streams). */
    readonly mixture: DomainMixture | null,
    /** The detector whose distance LAME's far-shift rule reads when no explicit `shiftDetection` gives one; null otherwise. */
    private readonly farShift: ShiftDetector | null,
    /** `guard.maxShift` for strategies for class-correlated streams; 0 when the rule is off. */
    private readonly maxShift: number,
  ) {}

  /**
   * Resolves the options and builds the guard, detector and budget; call before the strategy's
   * first step (the source model copy is taken now). Throws `InvalidOptionError` on bad options.
   */
  static async create(impl: Strategy, target: AdaptTarget, options: SafetyOptions): Promise<SafetyController> {
    // `source` never changes: the guard would have nothing to watch or roll back, and its source
    // copy and check passes would only cost (the options are still validated).
    const resolvedGuard = resolveGuardOptions(options.guard, impl.name);
    const guardOptions = impl.name === 'source' ? null : resolvedGuard;
    const shiftOptions = resolveShiftOptions(options.shiftDetection);
    const budgetOptions = resolveBudgetOptions(options.budget);
    const predicting = typeof (impl as Strategy).predict === 'function';
    if (budgetOptions !== null && !predicting) {
      throw new InvalidOptionError(`Option 'budget' needs a strategy that can predict without updating; '${impl.name}' cannot. Drop the budget.`);
    }
    const source = guardOptions !== null || shiftOptions !== null ? await createSourceModel(target) : null;
    try {
      const forSingleDomains = impl.streams === undefined || impl.streams === 'iid';
      const forCorrelated = impl.streams === 'class-correlated';
      const mixture = guardOptions !== null && guardOptions.mixtureGate > 0 && forSingleDomains ? new DomainMixture(guardOptions, source!.batchNorms) : null;
      // LAME's far-shift rule (guard.maxShift) on a model with BN layers; it reads the distance of an
      // explicit shiftDetection's detector, else of one of its own (default momentum, states unused).
      const maxShift = guardOptions !== null && forCorrelated && source!.batchNorms.length > 0 ? guardOptions.maxShift : 0;
      const farShift = maxShift > 0 && shiftOptions === null ? new ShiftDetector({ ...SHIFT_DEFAULTS }, source!) : null;
      return new SafetyController(
        impl,
        target,
        source,
        guardOptions !== null ? new Guard(withoutEntropySignal(impl.name, guardOptions), target.numClasses) : null,
        shiftOptions !== null ? new ShiftDetector(shiftOptions, source!) : guardShift(guardOptions, forSingleDomains, source),
        budgetOptions !== null ? new ComputeBudget(budgetOptions) : null,
        guardOptions !== null && guardOptions.classGate > 0 && impl.streams !== 'any' ? new ClassCorrelation(guardOptions, target.numClasses) : null,
        mixture?.usable === true ? mixture : null,
        farShift,
        maxShift,
      );
    } catch (e) {
      source?.dispose();
      throw e;
    }
  }

  private get canPredict(): boolean {
    return typeof this.impl.predict === 'function';
  }

  /** One step on a validated batch; `emit` publishes the safety records. */
  async step(x: tf.Tensor4D, stepId: number, emit: (r: MetricsRecord) => void): Promise<SafeStepResult> {
    const start = performance.now();
    const n = x.shape[0];
    let mode: UpdateInfo['mode'] = 'adapt';
    let reason: UpdateInfo['reason'];
    let sourceProbs: tf.Tensor2D | null = null;
    // The source pass's penultimate features, kept for a strategy that steps on that pass (LAME).
    let sourceFeatures = null as tf.Tensor2D | null; // (a cast: assigned in runSource, which narrowing does not follow)
    const runSource = async (): Promise<tf.Tensor2D> => {
      if (sourceProbs === null) ({ probs: sourceProbs, features: sourceFeatures } = await this.sourcePass(x));
      return sourceProbs;
    };
    // The source predictions' values, read once per step (the correlation detector and the guard's check both need them).
    let sourceValues: Float32Array | null = null;
    const readSource = async (t: tf.Tensor2D): Promise<Float32Array> => (sourceValues ??= (await t.data()) as Float32Array);
    try {
      if (this.detector !== null) {
        await runSource();
        const change = await this.detector.measure(this.canPredict);
        if (change !== null) {
          emit({ kind: 'shift', stepId, from: change.from, to: change.to, distance: this.detector.distance, time: performance.now(), memory: memoryFigures() });
          if (change.to === 'none') this.resetToSource();
        }
        if (this.detector.state === 'none') [mode, reason] = ['source', 'shift-none'];
        else if (this.detector.state === 'steady') [mode, reason] = ['predict', 'shift-steady'];
      }
      if (mode === 'adapt' && this.guard?.frozen(stepId)) [mode, reason] = ['predict', 'guard-frozen'];
      // A batch smaller than the strategy's step is defined for (CoTTA, ViDA: batch statistics).
      if (mode !== 'source' && this.smallBatch(n)) [mode, reason] = ['source', 'small-batch'];
      // Batches of 16+ frames are observed (pooled into 64-frame chunks); a smaller one (moving
      // statistics, stats 'auto') only follows what the larger ones showed once the detector has
      // settled (8 chunks: its startup verdict is the prior's, not evidence): a stream of single
      // frames, or of mostly small batches, is never gated by the startup.
      if (mode !== 'source' && (this.correlation !== null || this.mixture !== null)) {
        let correlated = this.correlation?.settled === true ? this.correlation.correlated : null;
        if (n >= EMA_BELOW_BATCH) {
          const probs = await runSource();
          if (this.correlation !== null) correlated = this.correlation.observe(await readSource(probs), n);
        }
        const streamReason = this.streamReason(correlated);
        if (streamReason !== null) [mode, reason] = ['source', streamReason];
      }
      // LAME on a stream far from the source: its feature affinities no longer follow the classes.
      if (this.maxShift > 0) {
        if (this.farShift !== null) {
          await runSource();
          await this.farShift.measure(this.canPredict);
        }
        if (mode !== 'source' && this.farFromSource()) [mode, reason] = ['source', 'shift-far'];
      }
      const allowed = this.budget?.allowUpdate(n) ?? true;
      if (mode === 'adapt' && !allowed) [mode, reason] = ['predict', 'budget'];

      // A check step compares with the source pass: a strategy that steps on that pass (LAME) gets it now, not a pass of its own besides.
      if (mode === 'adapt' && this.impl.stepOnSourcePass !== undefined && this.source !== null && this.guard?.isCheckStep(stepId) === true) await runSource();
      let result: StepResult;
      if (mode === 'source') result = { probs: sourceProbs !== null ? tf.clone(sourceProbs) : this.sourcePredictions(x), stats: {} };
      // LAME steps on the source pass without an update too (a skipped step ran the model twice).
      else if (mode === 'predict' && sourceProbs !== null && sourceFeatures !== null) result = this.impl.stepOnSourcePass!(sourceProbs, sourceFeatures, false);
      else if (mode === 'predict') result = this.predictOnly(x, reason === 'budget');
      // LAME reads only the model's outputs: it steps on the source pass already run, not a second one.
      else if (sourceProbs !== null && sourceFeatures !== null) result = this.impl.stepOnSourcePass!(sourceProbs, sourceFeatures);
      else result = this.impl.step(x);
      let probs = (await result.probs.data()) as Float32Array;
      result.probs.dispose();
      let stats = result.stats;

      const bad = nonFiniteParts(probs, stats);
      if (bad.length > 0) {
        // A source answer that is not finite (frames of huge values) says nothing about the
        // strategy's state, which did not run: nothing to roll back.
        const action = mode === 'source' ? 'none' : this.rollback();
        const fallback = this.finiteOrUniform(await readAndDispose(this.sourceFallback(x, sourceProbs, action === 'reset')), probs.length);
        emit({ kind: 'nonfinite', stepId, where: bad, action, predictions: fallback.predictions, time: performance.now(), memory: memoryFigures() });
        [probs, stats, mode, reason] = [fallback.probs, {}, 'source', 'non-finite'];
      } else if (this.guard !== null && mode !== 'source') {
        const adapted = summarizeProbs(probs, this.target.numClasses);
        let compared: { adapted: Int32Array; source: Int32Array; reference?: Int32Array } | undefined;
        if (this.guard.isCheckStep(stepId)) {
          sourceProbs ??= this.sourcePredictions(x);
          const src = summarizeProbs(await readSource(sourceProbs), this.target.numClasses);
          compared = { adapted: adapted.labels, source: src.labels };
          const reference = this.referencePredictions(x);
          if (reference !== null) compared.reference = summarizeProbs(await readAndDispose(reference), this.target.numClasses).labels;
        }
        const trip = this.guard.observe(stepId, adapted.meanEntropy, compared, n);
        if (trip !== null) {
          const action = trip.action === 'rollback' ? this.rollback() : (this.resetToSource(), trip.action);
          emit({ kind: 'guard', stepId, signal: trip.signal, value: trip.value, threshold: trip.threshold, action, frozenSteps: trip.frozenSteps, trips: trip.trips, time: performance.now(), memory: memoryFigures() });
          probs = await readAndDispose(this.sourceFallback(x, sourceProbs, action !== 'rollback'));
          [stats, mode, reason] = [{}, 'source', 'guard-trip'];
        } else if (compared !== undefined) {
          this.keepAsLastGood();
        }
      }
      if (mode === 'adapt') this.stepsRun++;
      else this.stepsSkipped++;
      this.budget?.spend(performance.now() - start, n, mode === 'adapt');
      const shift = this.detector ?? this.farShift;
      const shiftDistance = shift?.measured === true ? { shiftDistance: shift.distance } : {};
      const budget = this.budget !== null ? { budget: this.budget.info() } : {};
      return { probs, stats, update: { mode, ...(reason !== undefined ? { reason } : {}), stepsRun: this.stepsRun, stepsSkipped: this.stepsSkipped, ...shiftDistance, ...budget } };
    } finally {
      sourceProbs?.dispose();
      sourceFeatures?.dispose();
    }
  }

  /**
   * For `predict()`: the reason a step on a batch of n frames would answer with the source model
   * now, from the detectors' current states (the batch itself is not observed: a prediction
   * changes no state), or null when the strategy's prediction stands. The rules and their order
   * are `step`'s.
   */
  sourceReason(n: number): NonNullable<UpdateInfo['reason']> | null {
    // A step measures its batch before it decides; at the start (or after a reset / restore) the
    // detector's 'none' is no verdict yet, so a prediction then is the strategy's.
    if (this.detector?.measured === true && this.detector.state === 'none') return 'shift-none';
    if (this.smallBatch(n)) return 'small-batch';
    // A step would observe a batch of 16+ frames first; its verdict is the detector's current one.
    const correlation = this.correlation;
    const stream = this.streamReason(correlation !== null && (n >= EMA_BELOW_BATCH || correlation.settled) ? correlation.correlated : null);
    if (stream !== null) return stream;
    return this.farFromSource() ? 'shift-far' : null;
  }

  /** The small-batch rule: a batch smaller than the strategy's step is defined for (CoTTA, ViDA: batch statistics). */
  private smallBatch(n: number): boolean {
    return this.guard !== null && this.impl.minBatch !== undefined && n < this.impl.minBatch;
  }

  /**
   * The stream detectors' rule, given the class-correlation verdict (null: none): strategies for
   * i.i.d. streams get the source answer on correlated ones, LAME on i.i.d. ones; strategies for
   * single-domain streams on mixed ones. Null when the strategy's answer stands.
   */
  private streamReason(correlated: boolean | null): 'class-correlated' | 'iid-stream' | 'domain-mixed' | null {
    if (correlated !== null && correlated !== (this.impl.streams === 'class-correlated')) return correlated ? 'class-correlated' : 'iid-stream';
    return this.mixture?.observed === true && this.mixture.mixed ? 'domain-mixed' : null;
  }

  /** LAME's far-shift rule (`guard.maxShift`): the stream's last measured distance is at or beyond it. */
  private farFromSource(): boolean {
    return this.maxShift > 0 && (this.detector ?? this.farShift)!.distance >= this.maxShift;
  }

  /** The source model's probabilities of a validated batch (a source copy exists whenever {@link sourceReason} can be non-null). */
  async sourceProbs(x: tf.Tensor4D): Promise<Float32Array> {
    return readAndDispose(this.sourcePredictions(x));
  }

  /**
   * For `predict()`: null when the strategy's probabilities are finite; else the probabilities to
   * return instead, the source model's when there is a source copy (guard or shift detection on)
   * and they are finite, else uniform ('none'). A predict changes no state, so nothing is rolled back.
   */
  async predictFallback(x: tf.Tensor4D, probs: Float32Array): Promise<{ probs: Float32Array; predictions: 'source' | 'none' } | null> {
    if (nonFiniteParts(probs, {}).length === 0) return null;
    return this.finiteOrUniform(this.source !== null ? await readAndDispose(this.source.probs(x)) : null, probs.length);
  }

  /** The source predictions `fallback` when there are some and they are finite ('source'), else uniform probabilities ('none'). */
  private finiteOrUniform(fallback: Float32Array | null, length: number): { probs: Float32Array; predictions: 'source' | 'none' } {
    if (fallback !== null && nonFiniteParts(fallback, {}).length === 0) return { probs: fallback, predictions: 'source' };
    return { probs: new Float32Array(length).fill(1 / this.target.numClasses), predictions: 'none' };
  }

  /**
   * The user's `reset()` / `restore()`: forget the signals, the last good state, the detector's
   * history. Returns the shift detector's state before, when it was not `'none'` (the adapter
   * publishes the change back to `'none'`, so a consumer that follows `shift` records is not left
   * on `'adapting'`); null otherwise.
   */
  onReset(): ShiftState | null {
    const before = this.detector?.state ?? 'none';
    this.dropLastGood();
    this.correlation?.clear();
    this.mixture?.clear();
    this.guard?.clear();
    this.detector?.clear();
    this.farShift?.clear();
    this.budget?.clear();
    return before === 'none' ? null : before;
  }

  dispose(): void {
    this.dropLastGood();
    this.detector?.dispose();
    this.farShift?.dispose();
    this.mixture?.dispose();
    this.source?.dispose();
  }

  /**
   * The strategy's predictions without an update: for a step the budget skips, its
   * `predictCheap` if it has one (a skipped step must cost less than an update, or the budget
   * cannot be kept); else its `predict`; else its step with the state put back afterwards (same
   * predictions, the cost of an update step).
   */
  private predictOnly(x: tf.Tensor4D, cheap = false): StepResult {
    if (cheap && this.impl.predictCheap !== undefined) return { probs: this.impl.predictCheap(x), stats: {} };
    if (this.impl.predict !== undefined) return { probs: this.impl.predict(x), stats: {} };
    const saved = this.impl.snapshot();
    try {
      return this.impl.step(x);
    } finally {
      this.impl.restore(saved);
      disposeTensors(saved.tensors);
    }
  }

  /**
   * The guard's drift reference on a check step (source weights, BN on the batch's statistics), or
   * null: no BN, a batch under EMA_BELOW_BATCH frames (its statistics are noise), or the signal is off.
   */
  private referencePredictions(x: tf.Tensor4D): tf.Tensor2D | null {
    if (this.source === null || this.guard?.referenceSignal === false || x.shape[0] < EMA_BELOW_BATCH) return null;
    return this.source.referenceProbs(x);
  }

  /**
   * The source pass of a batch for the detectors: with the shift detector's hooks, and on a batch
   * of 16+ frames the domain-mixture detector's, which then folds the batch in.
   */
  private async sourcePass(x: tf.Tensor4D): Promise<{ probs: tf.Tensor2D; features: tf.Tensor2D | null }> {
    const watch = this.mixture !== null && x.shape[0] >= EMA_BELOW_BATCH ? this.mixture : null;
    if (watch !== null) this.mixtureHooks ??= watch.hooks(this.detector?.hooks);
    const hooks = watch !== null ? this.mixtureHooks! : (this.detector ?? this.farShift)?.hooks;
    let probs: tf.Tensor2D;
    let features: tf.Tensor2D | null = null;
    try {
      if (this.impl.stepOnSourcePass !== undefined) ({ probs, features } = this.source!.pass(x, hooks));
      else probs = this.source!.probs(x, hooks);
    } catch (e) {
      // A pass that failed part way (out of memory) leaves what the hooks before the failure
      // recorded: drop it, so a failed step leaks nothing and the next pass is measured alone.
      watch?.discardPending();
      this.detector?.discardPending();
      this.farShift?.discardPending();
      throw e;
    }
    try {
      await watch?.observe();
    } catch (e) {
      probs.dispose();
      features?.dispose();
      throw e;
    }
    return { probs, features };
  }

  private sourcePredictions(x: tf.Tensor4D): tf.Tensor2D {
    return this.source !== null ? this.source.probs(x) : sourceProbsAfterReset(this.target, x);
  }

  /** Source predictions for a step whose output is not passed on (already computed ones if any). */
  private sourceFallback(x: tf.Tensor4D, computed: tf.Tensor2D | null, afterReset: boolean): tf.Tensor2D {
    if (computed !== null) return tf.clone(computed);
    if (this.source !== null) return this.source.probs(x);
    if (!afterReset) this.impl.reset();
    return sourceProbsAfterReset(this.target, x);
  }

  /** Back to the last good state if the guard kept one, else to source. */
  private rollback(): 'rollback' | 'reset' {
    if (this.lastGood !== null) {
      this.impl.restore(this.lastGood);
      this.guard?.clearSignals();
      return 'rollback';
    }
    this.resetToSource();
    return 'reset';
  }

  private resetToSource(): void {
    this.impl.reset();
    this.dropLastGood();
    this.guard?.clearSignals();
  }

  private keepAsLastGood(): void {
    const state = this.impl.snapshot();
    this.dropLastGood();
    this.lastGood = state;
  }

  private dropLastGood(): void {
    if (this.lastGood !== null) disposeTensors(this.lastGood.tensors);
    this.lastGood = null;
  }
}
