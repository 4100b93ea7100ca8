/**
 * Named configurations: a strategy with its options and the batch size to feed it, chosen by a
 * search on a validation stream (demos/bench/selectPreset.ts) and measured on the benchmark's
 * test stream. Spread a preset's `options` into `createAdapter` (or `createWorkerAdapter`) and
 * give `adapt` its `batchSize`; any option can still be overridden after the spread.
 *
 * @example
 * const adapter = await createAdapter(model, { ...PRESETS.continual.options, seed: 1 });
 * frames$.pipe(adapt(adapter, { batchSize: PRESETS.continual.batchSize }));
 */
import type { AdapterOptions } from './adapter.js';
import type { StrategyName } from '../strategies/registry.js';

/** What a preset measured on one stream of the Fashion-MNIST-C benchmark (docs/presets.md). */
export interface PresetFigures {
  /** The stream: split, protocol, images per domain, seed. */
  readonly stream: string;
  /** Mean over the 15 domains of the error %. */
  readonly meanError: number;
  /** Images per second of `adapter.step` in that run (shared 2-core machine: compare within a run). */
  readonly imagesPerSec: number;
}

/** A named configuration. */
export interface Preset<N extends StrategyName = StrategyName> {
  /** What it is for, in one sentence. */
  readonly description: string;
  /** The `createAdapter` options: the strategy and its options. */
  readonly options: Readonly<AdapterOptions<N>>;
  /** The batch size it was selected and measured at: `adapt(adapter, { batchSize })`. */
  readonly batchSize: number;
  /** Its figure on the validation stream it was selected on (train-split images, disjoint from the test stream). */
  readonly validation: PresetFigures;
  /** Its figure on the benchmark's continual test stream, measured after the selection. */
  readonly test: PresetFigures;
}

/**
 * `continual`: the configuration with the lowest validation error on a continual stream of
 * corrupted images (domains change without notice, classes i.i.d. within a batch), found by
 * demos/bench/selectPreset.ts (docs/presets.md has the search and every candidate's figure).
 */
const continual: Preset<'roid'> = {
  description:
    'Continual domain shift with i.i.d. classes in each batch: ROID without its consistency loss (SLR training of the BN affine parameters, certainty x diversity weights, weight ensembling, prior correction), batch 64.',
  options: { strategy: 'roid', consistency: false },
  batchSize: 64,
  validation: { stream: 'train split, continual, severity 5, 1000 per domain, seed 2', meanError: 21.97, imagesPerSec: 51.8 },
  test: { stream: 'test split, continual, severity 5, 2000 per domain, seed 1', meanError: 22.22, imagesPerSec: 51.4 },
};

/** Every preset, by name. Frozen: copy before changing (`{ ...PRESETS.continual.options, lr: 1e-3 }`). */
export const PRESETS = Object.freeze({ continual: Object.freeze({ ...continual, options: Object.freeze({ ...continual.options }) }) });

/** The name of a preset. */
export type PresetName = keyof typeof PRESETS;
