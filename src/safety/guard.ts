/**
 * The guard: detects, from unlabelled signals only, that adaptation is going wrong, and says
 * what to do (roll back to the last good state, reset to the source state, or freeze updates
 * for a while). The adapter (`src/safety/controller.ts`) carries its decisions out.
 *
 * Signals (each a documented option below, defaults measured on the benchmark, see
 * docs/safe-adaptation.md):
 * - entropy collapse (SAR's model recovery, mr-eggplant/SAR): a moving average of the mean
 *   prediction entropy, divided by ln(classes), falls below `minEntropy`. Collapsed models are
 *   certain of everything (entropy 0). The average is over frames (`entropyMomentum` per 64
 *   frames) and trips only after `minFrames` frames, so at batch 1 a few confident frames in a
 *   row are not a collapse. Checked every step, free (the probabilities are read anyway).
 * - class collapse against the source model: every `checkEvery` steps the batch also runs through
 *   the source model; over the last `window` compared frames, the effective number of predicted
 *   classes (exp of the entropy of the label histogram) of the adapted model falls below
 *   `minClassRatio` times the source model's on the same frames. Comparing with the source on the
 *   same frames keeps class-correlated streams (where both predict few classes) from tripping it.
 * - disagreement with the source model (PeTTA watches divergence from the source): over the same
 *   window, the share of frames whose adapted label differs from the source label exceeds
 *   `maxDisagreement`.
 * - drift from the strategy's own starting point (a slow degradation that never collapses, e.g.
 *   Tent at a large learning rate over a long stream, whose error creeps up while its predictions
 *   stay diverse): on the same check steps the batch also runs through the reference, the source
 *   weights with BN on the batch's statistics (what bn-adapt predicts, and what Tent, CoTTA, ViDA
 *   and RoTTA-style strategies start from). The baseline is the agreement of the adapted labels
 *   with the reference's on the first step after a (re)start, always a check step (the starting point
 *   itself: 1 for Tent, whose first output is that forward pass; a baseline measured over
 *   several checks would already include the drift); the guard trips when the agreement over
 *   the last `window` compared frames falls more than `maxAgreementDrop` below it, and resets to source (a rollback would return to a
 *   state that has already drifted). The signal is on only when the strategy agrees with the
 *   reference on at least `minReferenceAgreement` of the first compared batch (it starts from that
 *   forward pass: not LAME, source or alpha-BN, whose agreement with the reference changes with
 *   the domain), and only for batches of at least 16 frames (`EMA_BELOW_BATCH`: smaller batches'
 *   statistics are noise, and the BN strategies then run on moving statistics).
 * - class-correlated streams (`src/safety/classCorrelation.ts`, options `classGate`,
 *   `correlationEnter`, `correlationExit`): from a source pass of every batch of 16+ frames, pooled
 *   into chunks of 64 frames, the moving rate of chunks whose predictions concentrate on fewer classes than the stream's; while
 *   it says the stream is class-correlated (and at the start of a stream, until ~9 chunks have
 *   shown otherwise) the adapter answers with the source prediction and does not update.
 * - domain-mixed streams (`src/safety/domainMixture.ts`, option `mixtureGate`): from the same
 *   source pass, the moving rate of chunks whose frames differ in texture energy more than one
 *   domain's do; while it says the stream mixes domains (and at the start) likewise.
 * - non-finite outputs are handled by the adapter on every step, guard or not (`nonfinite` records).
 *
 * Actions, escalating: a trip rolls back to the last good state (a copy taken at the last
 * passed check); a trip within `escalateSteps` steps of the previous one resets to the source
 * state; `freezeAfter` trips within `freezeWindow` steps reset and freeze updates for
 * `freezeSteps` steps (doubling at every further freeze), predicting with the source state in
 * between: a strategy that keeps collapsing runs as its forward pass without updates
 * (Tent as bn-adapt). RDumb (Press et al., 2023) showed resetting alone beats most continual methods on long streams.
 */
import { InvalidOptionError } from '../errors.js';
import type { GuardMetrics } from '../metrics/stepMetrics.js';

/** Thresholds of the guard (adapter option `guard`); every field optional. */
export interface GuardOptions {
  /** Steps between source-model comparisons and last-good snapshots. Defaults to 8. */
  checkEvery?: number;
  /** Compared frames over which class collapse and disagreement are measured. Defaults to 256. */
  window?: number;
  /** Frames needed before entropy collapse, class collapse or disagreement can trip. Defaults to 64. */
  minFrames?: number;
  /** Entropy collapse: trip when the moving mean entropy / ln(classes) falls below this. Defaults to 0.02. */
  minEntropy?: number;
  /** Weight of the past in the entropy moving average per 64 frames (SAR: 0.9 per batch). Defaults to 0.5. */
  entropyMomentum?: number;
  /** Class collapse: trip when adapted effective classes < this x the source model's. Defaults to 0.5. */
  minClassRatio?: number;
  /** Disagreement: trip when more than this share of compared frames differ from the source's label. Defaults to 0.9. */
  maxDisagreement?: number;
  /** Drift: trip when agreement with the reference falls more than this below its baseline. Defaults to 0.1 (CoTTA: 0.2). */
  maxAgreementDrop?: number;
  /** Drift: the signal is on only if the first compared batch agrees with the reference at least this much. Defaults to 0.9. */
  minReferenceAgreement?: number;
  /** A trip within this many steps of the previous one resets to source instead of rolling back. Defaults to 32. */
  escalateSteps?: number;
  /** Trips within `freezeWindow` steps that freeze updates. Defaults to 3. */
  freezeAfter?: number;
  /** See `freezeAfter`. Defaults to 200. */
  freezeWindow?: number;
  /** Steps updates stay off after the first freeze (doubled at each further one). Defaults to 200. */
  freezeSteps?: number;
  /**
   * Class-correlated streams (`src/safety/classCorrelation.ts`): a chunk of 64 frames (a batch,
   * or consecutive batches of 16+ frames pooled) is *concentrated* when its mean source prediction spreads over
   * fewer than this x the stream's classes (LAME's gate statistic, `classGateRatio`). While the moving rate of concentrated
   * chunks says the stream is class-correlated, every batch is answered with the source
   * prediction and no update (reason 'class-correlated'; smaller batches follow the state the
   * larger ones set, and a stream of batches under 16 frames is not gated): batch statistics of
   * a batch of few classes are the classes', not the domain's. Costs a source pass per step. Defaults to 0.8;
   * 0 turns the detector off. Not applied to source; LAME (`streams: 'class-correlated'`) is
   * answered with the source prediction the other way round, on i.i.d. streams (reason 'iid-stream').
   */
  classGate?: number;
  /** The stream turns class-correlated when the rate of concentrated chunks reaches this. Defaults to 0.3. */
  correlationEnter?: number;
  /** ... and i.i.d. again when the rate falls below this (at most `correlationEnter`). Defaults to 0.25. */
  correlationExit?: number;
  /**
   * Domain-mixed streams (`src/safety/domainMixture.ts`): a chunk of 64 frames is *mixed* when the
   * variance over its frames of their log texture energy (per channel, in the first half of the
   * BN layers, on the source model) exceeds this. While the moving rate of mixed chunks (the
   * thresholds `correlationEnter` / `correlationExit`) says the stream mixes domains, strategies
   * for single-domain streams answer with the source prediction and do not update (reason
   * 'domain-mixed'): batch statistics of a mixed batch belong to no domain in it. Not applied to
   * source and LAME (its correction reads the source predictions, not the batch statistics).
   * Defaults to 0.35; 0 turns the detector off.
   */
  mixtureGate?: number;
  /**
   * Unshifted streams: strategies for single-domain streams update only once the stream's BN
   * statistics on the source model are at least this far from the source statistics (the shift
   * detector's distance, `src/safety/shiftDetector.ts`: mean over BN layers and channels of the
   * mean's distance in source standard deviations plus the log-variance ratio; moving, per-frame
   * momentum 0.05). Until then, and again once it falls to 2/3 of this (the strategy reset), the
   * adapter answers with the source prediction and does not update (reason 'shift-none'): on an
   * unshifted stream adaptation has nothing to gain and can only drift. An explicit
   * `shiftDetection` replaces this rule. Defaults to 0.15; 0 turns it off.
   */
  minShift?: number;
  /**
   * Far-shifted streams, for LAME (`streams: 'class-correlated'`): LAME corrects only while the
   * shift detector's distance (as for `minShift`; an explicit `shiftDetection`'s when given) is
   * below this. At or beyond it the adapter answers with the source prediction (reason
   * 'shift-far'): LAME's affinities are the source model's features, and on a stream that far
   * from the source (on the benchmark: fog, contrast, most of brightness, where the source model
   * is 77-89% wrong) they group frames by the corruption, not the class, so the correction pulls
   * right answers to wrong ones. Needs BN layers on the LayersModel (not applied to a GraphModel
   * or a model without BN). Defaults to 0.8; 0 turns it off.
   */
  maxShift?: number;
}

/** The batch size `entropyMomentum` is defined for: smaller batches weigh less in the entropy average. */
export const ENTROPY_REFERENCE_BATCH = 64;

/** The guard's defaults (documented in docs/safe-adaptation.md with the runs that chose them). */
export const GUARD_DEFAULTS: Readonly<Required<GuardOptions>> = Object.freeze({
  checkEvery: 8,
  window: 256,
  minFrames: 64,
  minEntropy: 0.02,
  entropyMomentum: 0.5,
  minClassRatio: 0.5,
  maxDisagreement: 0.9,
  maxAgreementDrop: 0.1,
  minReferenceAgreement: 0.9,
  escalateSteps: 32,
  freezeAfter: 3,
  freezeWindow: 200,
  freezeSteps: 200,
  classGate: 0.8,
  correlationEnter: 0.3,
  correlationExit: 0.25,
  mixtureGate: 0.35,
  minShift: 0.15,
  maxShift: 0.8,
});

/**
 * Per-strategy defaults over {@link GUARD_DEFAULTS}; the user's own fields win over both.
 * - CoTTA: its prediction is a teacher (an EMA of the student) averaged over augmented views,
 *   which leaves the batch-statistics reference further than Tent does while it improves. With
 *   the drift threshold at 0.1 the guard reset it on snow and contrast of the continual stream and
 *   cost 0.69 points of mean error; at 0.2 it does not trip there (docs/safe-adaptation.md).
 */
export const STRATEGY_GUARD_DEFAULTS: Readonly<Record<string, Readonly<GuardOptions>>> = Object.freeze({
  cotta: Object.freeze({ maxAgreementDrop: 0.2 }),
});

const INTEGER_OPTIONS = ['checkEvery', 'window', 'minFrames', 'escalateSteps', 'freezeAfter', 'freezeWindow', 'freezeSteps'] as const;
const UNIT_OPTIONS = ['minEntropy', 'entropyMomentum', 'minClassRatio', 'maxDisagreement', 'maxAgreementDrop', 'minReferenceAgreement', 'classGate', 'correlationEnter', 'correlationExit'] as const;

/**
 * Resolves the adapter option `guard` (`undefined`/`true`: defaults; `false`: off) for a strategy
 * (its {@link STRATEGY_GUARD_DEFAULTS} apply under the user's fields); throws {@link InvalidOptionError}.
 */
export function resolveGuardOptions(value: unknown, strategy?: string): Required<GuardOptions> | null {
  const defaults = { ...GUARD_DEFAULTS, ...(strategy !== undefined && Object.hasOwn(STRATEGY_GUARD_DEFAULTS, strategy) ? STRATEGY_GUARD_DEFAULTS[strategy] : {}) };
  if (value === false) return null;
  if (value === undefined || value === true) return defaults;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`Option 'guard' is ${JSON.stringify(value)}; pass false to turn the guard off, or an object of thresholds (${Object.keys(GUARD_DEFAULTS).join(', ')}).`);
  }
  const valid = Object.keys(GUARD_DEFAULTS);
  for (const key of Object.keys(value)) {
    if (!valid.includes(key)) throw new InvalidOptionError(`Option 'guard' has no field '${key}'. Its fields: ${valid.join(', ')}.`);
  }
  const config = { ...defaults } as Record<string, number>;
  for (const [k, v] of Object.entries(value)) if (v !== undefined) config[k] = v as number;
  for (const k of INTEGER_OPTIONS) {
    const v = config[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidOptionError(`Option 'guard.${k}' is ${String(v)}; it must be a positive integer (default ${GUARD_DEFAULTS[k]}).`);
  }
  for (const k of UNIT_OPTIONS) {
    const v = config[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new InvalidOptionError(`Option 'guard.${k}' is ${String(v)}; it must be a number in [0, 1] (default ${GUARD_DEFAULTS[k]}).`);
  }
  for (const k of ['mixtureGate', 'minShift', 'maxShift'] as const) {
    const v = config[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new InvalidOptionError(`Option 'guard.${k}' is ${String(v)}; it must be a non-negative number (default ${GUARD_DEFAULTS[k]}; 0 turns it off).`);
    }
  }
  if (config.correlationExit! > config.correlationEnter!) {
    throw new InvalidOptionError(`Option 'guard.correlationExit' (${config.correlationExit}) is above 'guard.correlationEnter' (${config.correlationEnter}); the stream must turn i.i.d. at a lower rate than it turns correlated.`);
  }
  // Pairs that would silently switch a signal off for good.
  if (config.correlationEnter === 0 && (config.classGate! > 0 || config.mixtureGate! > 0)) {
    throw new InvalidOptionError(
      "Option 'guard.correlationEnter' is 0: a rate never falls below 0, so every stream would count as class-correlated and domain-mixed for good (no update would ever run). Turn the detectors off with 'guard.classGate: 0' and 'guard.mixtureGate: 0' instead.",
    );
  }
  if (config.minFrames! > config.window!) {
    throw new InvalidOptionError(
      `Option 'guard.minFrames' (${config.minFrames}) is above 'guard.window' (${config.window}): the window holds at most ${config.window} compared frames, so class collapse and disagreement could never trip. Make 'guard.window' at least 'guard.minFrames'.`,
    );
  }
  if (config.freezeAfter! > config.freezeWindow!) {
    throw new InvalidOptionError(
      `Option 'guard.freezeAfter' (${config.freezeAfter}) is above 'guard.freezeWindow' (${config.freezeWindow}): at most one trip a step, so ${config.freezeAfter} trips never fall within ${config.freezeWindow} steps and updates would never freeze. Make 'guard.freezeWindow' at least 'guard.freezeAfter'.`,
    );
  }
  return config as Required<GuardOptions>;
}

/** A trip: the signal, its value and threshold, and the action to carry out (the `guard` record's fields). */
export type GuardTrip = Pick<GuardMetrics, 'signal' | 'value' | 'threshold' | 'action' | 'frozenSteps' | 'trips'>;

/** exp(entropy) of a histogram: 1 when every count is in one class, `classes` when uniform. */
export function effectiveClasses(histogram: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < histogram.length; i++) total += histogram[i]!;
  if (total === 0) return 0;
  let h = 0;
  for (let i = 0; i < histogram.length; i++) {
    const p = histogram[i]! / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** The guard's signal state for one adapter. Pure bookkeeping: no tensors. */
export class Guard {
  /** Trips so far. */
  trips = 0;
  private entropyAvg: number | null = null;
  /** Frames the entropy average has seen since the last (re)start. */
  private entropyFrames = 0;
  // Rolling window of compared frames: adapted and source labels.
  private adaptedLabels: number[] = [];
  private sourceLabels: number[] = [];
  // Drift: whether the signal is on (null until the first compared batch with a reference), the
  // per-frame agreement (1/0) of the last `window` compared frames, and the baseline.
  private referenceOn: boolean | null = null;
  private agreements: number[] = [];
  private baseline: number | null = null;
  // The first step after a (re)start is a check step: the drift baseline is taken at the starting point.
  private checkNext = true;
  private tripSteps: number[] = [];
  private lastTripStep = -Infinity;
  private frozenUntil = -1;
  private freezes = 0;
  private readonly logClasses: number;

  constructor(
    readonly options: Required<GuardOptions>,
    private readonly numClasses: number,
  ) {
    this.logClasses = Math.log(Math.max(2, numClasses));
  }

  /** Whether updates are frozen at step `stepId`. */
  frozen(stepId: number): boolean {
    return stepId < this.frozenUntil;
  }

  /** Whether step `stepId` compares with the source model (and, if it passes, becomes the last good state). */
  isCheckStep(stepId: number): boolean {
    return this.checkNext || stepId % this.options.checkEvery === 0;
  }

  /** The current signal values (for logs and threshold studies). */
  signals(): {
    entropy: number | null;
    classRatio: number | null;
    disagreement: number | null;
    comparedFrames: number;
    referenceAgreement: number | null;
    referenceBaseline: number | null;
  } {
    const n = this.adaptedLabels.length;
    const drift = {
      referenceAgreement: this.referenceAgreement(),
      referenceBaseline: this.baseline,
    };
    if (n === 0) return { entropy: this.entropyAvg, classRatio: null, disagreement: null, comparedFrames: 0, ...drift };
    const ha = new Array<number>(this.numClasses).fill(0);
    const hs = new Array<number>(this.numClasses).fill(0);
    let differ = 0;
    for (let i = 0; i < n; i++) {
      ha[this.adaptedLabels[i]!]!++;
      hs[this.sourceLabels[i]!]!++;
      if (this.adaptedLabels[i] !== this.sourceLabels[i]) differ++;
    }
    return { entropy: this.entropyAvg, classRatio: effectiveClasses(ha) / effectiveClasses(hs), disagreement: differ / n, comparedFrames: n, ...drift };
  }

  /**
   * Feeds one step's signals: its mean entropy (nats) and, on check steps, the adapted and
   * source labels of the same frames, and the reference's labels (source weights, BN on the
   * batch's statistics) when the batch is large enough for them. Returns a trip, or null if the step passed.
   */
  observe(
    stepId: number,
    meanEntropy: number,
    compared?: { adapted: ArrayLike<number>; source: ArrayLike<number>; reference?: ArrayLike<number> },
    frames = ENTROPY_REFERENCE_BATCH,
  ): GuardTrip | null {
    const o = this.options;
    const e = meanEntropy / this.logClasses;
    // The average is over frames, not steps: `entropyMomentum` is per batch of 64, so a batch of
    // n frames weighs as n/64 of one (one confident frame is not a collapsed model).
    const m = o.entropyMomentum ** (frames / ENTROPY_REFERENCE_BATCH);
    this.entropyAvg = this.entropyAvg === null ? e : m * this.entropyAvg + (1 - m) * e;
    this.entropyFrames += frames;
    if (compared !== undefined) {
      for (let i = 0; i < compared.adapted.length; i++) {
        this.adaptedLabels.push(compared.adapted[i]!);
        this.sourceLabels.push(compared.source[i]!);
      }
      const extra = this.adaptedLabels.length - o.window;
      if (extra > 0) {
        this.adaptedLabels.splice(0, extra);
        this.sourceLabels.splice(0, extra);
      }
    }
    if (compared !== undefined) this.checkNext = false;
    if (compared?.reference !== undefined) this.addReference(compared.adapted, compared.reference);
    if (this.entropyFrames >= o.minFrames && this.entropyAvg < o.minEntropy) return this.trip(stepId, 'entropy-collapse', this.entropyAvg, o.minEntropy);
    if (compared !== undefined && this.adaptedLabels.length >= o.minFrames) {
      const s = this.signals();
      if (s.classRatio! < o.minClassRatio) return this.trip(stepId, 'class-collapse', s.classRatio!, o.minClassRatio);
      if (s.disagreement! > o.maxDisagreement) return this.trip(stepId, 'source-disagreement', s.disagreement!, o.maxDisagreement);
    }
    if (compared?.reference !== undefined && this.baseline !== null && this.agreements.length >= o.window) {
      const agreement = this.referenceAgreement()!;
      const threshold = this.baseline - o.maxAgreementDrop;
      if (agreement < threshold) return this.trip(stepId, 'reference-drift', agreement, threshold);
    }
    return null;
  }

  /** Whether the drift signal is on: null until the first compared batch with reference labels. */
  get referenceSignal(): boolean | null {
    return this.referenceOn;
  }

  /** Share of the last `window` compared frames whose label equals the reference's, or null before any. */
  private referenceAgreement(): number | null {
    return this.agreements.length > 0 ? this.agreements.reduce((a, b) => a + b, 0) / this.agreements.length : null;
  }

  private addReference(adapted: ArrayLike<number>, reference: ArrayLike<number>): void {
    const o = this.options;
    let agree = 0;
    for (let i = 0; i < adapted.length; i++) if (adapted[i] === reference[i]) agree++;
    // Decided once, on the first compared batch: the strategy's starting point is the reference or not.
    this.referenceOn ??= agree >= o.minReferenceAgreement * adapted.length;
    if (!this.referenceOn) return;
    for (let i = 0; i < adapted.length; i++) this.agreements.push(adapted[i] === reference[i] ? 1 : 0);
    const extra = this.agreements.length - o.window;
    if (extra > 0) this.agreements.splice(0, extra);
    this.baseline ??= agree / adapted.length;
  }

  /** Forgets the signal history (after a rollback, a reset, or the user's `reset()`). */
  clearSignals(): void {
    this.entropyAvg = null;
    this.entropyFrames = 0;
    this.adaptedLabels = [];
    this.sourceLabels = [];
    this.agreements = [];
    this.baseline = null;
    this.checkNext = true;
  }

  /** Back to the initial state (the user's `reset()`). */
  clear(): void {
    this.clearSignals();
    this.referenceOn = null;
    this.trips = 0;
    this.tripSteps = [];
    this.lastTripStep = -Infinity;
    this.frozenUntil = -1;
    this.freezes = 0;
  }

  private trip(stepId: number, signal: GuardTrip['signal'], value: number, threshold: number): GuardTrip {
    const o = this.options;
    this.trips++;
    this.tripSteps = this.tripSteps.filter((s) => s > stepId - o.freezeWindow);
    this.tripSteps.push(stepId);
    // Drift builds up over many steps: the last good copy has drifted too, so it resets to source.
    let action: GuardTrip['action'] = stepId - this.lastTripStep <= o.escalateSteps || signal === 'reference-drift' ? 'reset' : 'rollback';
    let frozenSteps = 0;
    if (this.tripSteps.length >= o.freezeAfter) {
      action = 'freeze';
      frozenSteps = o.freezeSteps * 2 ** this.freezes;
      this.freezes++;
      this.frozenUntil = stepId + 1 + frozenSteps;
      this.tripSteps = [];
    }
    this.lastTripStep = stepId;
    this.clearSignals();
    return { signal, value, threshold, action, frozenSteps, trips: this.trips };
  }
}
