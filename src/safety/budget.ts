/**
 * A compute budget for adaptation: `budget: { maxAdaptMsPerFrame }`. The adapter thins update
 * steps (running predict-only steps with the latest state in between) so that the wall time of
 * all steps, divided by the frames they processed, stays at or below the budget.
 *
 * A token bucket in milliseconds: every step deposits `maxAdaptMsPerFrame x frames`; a step
 * runs the update when the balance is at least zero, otherwise it only predicts; the step's
 * measured wall time is then withdrawn. The balance is capped at one update step's cost
 * (the last measured one), so a long run of cheap steps does not buy a burst of updates; before
 * the first update (its cost unknown) it is capped at one step's deposit, so a device that sat
 * in steady conditions (source answers, no update) for an hour does not meet the shift with an
 * hour of banked time. When predicting alone costs more than the budget, no update runs (the
 * budget cannot be met): each step record's `update.budget` shows it, its `floorMsPerFrame` (the
 * moving cost of the steps without an update) above `maxMsPerFrame`.
 */
import { InvalidOptionError } from '../errors.js';
import type { BudgetInfo } from '../metrics/stepMetrics.js';

/** Momentum of the moving cost of steps without an update (`floorMsPerFrame`): a memory of ~4 such steps. */
const FLOOR_MOMENTUM = 0.25;

/** Adapter option `budget`. */
export interface BudgetOptions {
  /** Milliseconds of step time allowed per frame, averaged over the stream. */
  maxAdaptMsPerFrame: number;
}

/** Resolves the adapter option `budget` (undefined: no budget); throws {@link InvalidOptionError}. */
export function resolveBudgetOptions(value: unknown): BudgetOptions | null {
  if (value === undefined || value === null || value === false) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`Option 'budget' is ${JSON.stringify(value)}; it must be { maxAdaptMsPerFrame: <positive number of ms> }, e.g. { maxAdaptMsPerFrame: 5 }.`);
  }
  const unknown = Object.keys(value).find((k) => k !== 'maxAdaptMsPerFrame');
  if (unknown !== undefined) {
    throw new InvalidOptionError(`Option 'budget' has no field '${unknown}'; it must be { maxAdaptMsPerFrame: <positive number of ms> }, e.g. { maxAdaptMsPerFrame: 5 }.`);
  }
  const ms = (value as { maxAdaptMsPerFrame?: unknown }).maxAdaptMsPerFrame;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
    // String(), not JSON: JSON.stringify shows NaN and Infinity as null.
    const shown = typeof ms === 'string' ? JSON.stringify(ms) : String(ms);
    throw new InvalidOptionError(`Option 'budget.maxAdaptMsPerFrame' is ${shown}; it must be a positive, finite number of ms, e.g. { maxAdaptMsPerFrame: 5 }.`);
  }
  return { maxAdaptMsPerFrame: ms };
}

/** The token bucket above. */
export class ComputeBudget {
  private balance = 0;
  private updateCost = 0;
  /** Total step time and frames so far (the measured ms per frame is their ratio). */
  totalMs = 0;
  totalFrames = 0;
  /** Moving ms per frame of the steps that ran no update; null before the first. */
  private floor: number | null = null;

  constructor(readonly options: BudgetOptions) {}

  /** Whether a step of `frames` frames may run the update. */
  allowUpdate(frames: number): boolean {
    const deposit = this.options.maxAdaptMsPerFrame * frames;
    this.balance = Math.min(this.balance + deposit, this.updateCost > 0 ? this.updateCost : deposit);
    return this.balance >= 0;
  }

  /** Withdraws a finished step's wall time. */
  spend(ms: number, frames: number, updated: boolean): void {
    this.balance -= ms;
    this.totalMs += ms;
    this.totalFrames += frames;
    if (updated) this.updateCost = ms;
    else if (frames > 0) this.floor = this.floor === null ? ms / frames : this.floor + FLOOR_MOMENTUM * (ms / frames - this.floor);
  }

  /** What a step record reports: the budget, the measured cost so far, and the floor once measured. */
  info(): BudgetInfo {
    const info: BudgetInfo = { maxMsPerFrame: this.options.maxAdaptMsPerFrame, msPerFrame: this.msPerFrame() };
    if (this.floor !== null) info.floorMsPerFrame = this.floor;
    return info;
  }

  /** Measured step time per frame so far. */
  msPerFrame(): number {
    return this.totalFrames > 0 ? this.totalMs / this.totalFrames : 0;
  }

  clear(): void {
    this.balance = 0;
  }
}
