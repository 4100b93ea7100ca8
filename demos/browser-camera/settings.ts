/**
 * The demo's settings as the controls (or the URL) give them, checked in one place. A bad value
 * is a message for the page, never an exception: the page shows it next to the controls and
 * keeps running with the last good settings.
 */
import type { BackpressurePolicy, Severity, StrategyName } from 'edge-tta';

/** The stream's settings (both lanes share the stream). */
export interface Settings {
  /** Strategy of lane A and of lane B (`null`: lane B off). */
  strategies: [StrategyName, StrategyName | null];
  corruption: string;
  severity: Severity;
  /** Frames per adaptation step. */
  batch: number;
  /** Longest wait for a batch to fill, ms (`Infinity`: full batches only). */
  maxWaitMs: number;
  /** Input frames per second. */
  fps: number;
  backpressure: BackpressurePolicy;
  /** Stop after this many frames (sample mode; `Infinity`: until Stop). */
  frames: number;
  invert: boolean;
  /** Restore the adapters' state saved in IndexedDB on start. */
  resume: boolean;
}

/** The raw control values, as strings (from the form or the URL). */
export type RawSettings = Record<'strategyA' | 'strategyB' | 'corruption' | 'severity' | 'batch' | 'maxWait' | 'fps' | 'backpressure' | 'frames' | 'invert' | 'resume', string>;

/** The settings, or what is wrong with each bad field (by field name). */
export type ParsedSettings = { ok: true; settings: Settings } | { ok: false; errors: Partial<Record<keyof RawSettings, string>> };

const POLICIES: readonly BackpressurePolicy[] = ['drop-oldest', 'latest', 'buffer'];

/** Checks `raw` against the valid ranges and names (`strategies`, `corruptions`: the valid names; `none` is a corruption too). */
export function parseSettings(raw: RawSettings, strategies: readonly string[], corruptions: readonly string[]): ParsedSettings {
  const errors: Partial<Record<keyof RawSettings, string>> = {};
  const number = (key: keyof RawSettings, label: string, lo: number, hi: number, { integer = false, infinite = false } = {}): number => {
    const text = raw[key].trim();
    if (infinite && (text === '' || text === 'inf' || text === 'Infinity')) return Infinity;
    const v = Number(text);
    if (text === '' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
      errors[key] = `${label} must be ${integer ? 'a whole number' : 'a number'} from ${lo} to ${hi}${infinite ? ' (or empty for no limit)' : ''}; got '${raw[key]}'.`;
      return NaN;
    }
    return v;
  };
  const strategy = (key: 'strategyA' | 'strategyB', off: boolean): StrategyName | null => {
    if (off && raw[key] === 'off') return null;
    if (!strategies.includes(raw[key])) errors[key] = `Unknown strategy '${raw[key]}'. Valid: ${strategies.join(', ')}${off ? ', off' : ''}.`;
    return raw[key] as StrategyName;
  };
  const strategies2: [StrategyName, StrategyName | null] = [strategy('strategyA', false) as StrategyName, strategy('strategyB', true)];
  const severity = number('severity', 'Severity', 1, 5, { integer: true }) as Severity;
  const batch = number('batch', 'Batch size', 1, 128, { integer: true });
  const maxWaitMs = number('maxWait', 'Max wait (ms)', 0, 10_000, { infinite: true });
  const fps = number('fps', 'FPS', 1, 240);
  const frames = number('frames', 'Frames', 1, 1_000_000, { integer: true, infinite: true });
  if (raw.corruption !== 'none' && !corruptions.includes(raw.corruption)) errors.corruption = `Unknown corruption '${raw.corruption}'. Valid: none, ${corruptions.join(', ')}.`;
  const backpressure = raw.backpressure as BackpressurePolicy;
  if (!POLICIES.includes(backpressure)) errors.backpressure = `Backpressure must be one of ${POLICIES.join(', ')}; got '${raw.backpressure}'.`;
  const flag = (v: string): boolean => v === '1' || v === 'true' || v === 'on';
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    settings: {
      strategies: strategies2,
      corruption: raw.corruption,
      severity,
      batch,
      maxWaitMs,
      fps,
      backpressure,
      frames,
      invert: flag(raw.invert),
      resume: flag(raw.resume),
    },
  };
}
