import { InvalidOptionError, InvalidStrategyError, UnknownStrategyError } from '../src/errors.js';
import { ADAPTER_OPTION_NAMES, WORKER_OPTION_NAMES } from '../src/optionNames.js';
import { alphaBnStrategy } from './alphaBn.js';
import { bnAdaptStrategy } from './bnAdapt.js';
import { cottaStrategy } from './cotta.js';
import { lameStrategy } from './lame.js';
import { roidStrategy } from './roid.js';
import { sourceStrategy } from './source.js';
import { tentStrategy } from './tent.js';
import { vidaStrategy } from './vida.js';
import type { StrategyDefinition } from './strategy.js';

/**
 * Every strategy the SDK ships, in the order CLIs list them. Add a strategy by adding its
 * definition here: its name joins `StrategyName` and its options type `StrategyOptions`.
 */
const DEFINITIONS = [sourceStrategy, bnAdaptStrategy, alphaBnStrategy, tentStrategy, lameStrategy, cottaStrategy, vidaStrategy, roidStrategy] as const;

type Definitions = (typeof DEFINITIONS)[number];

/** The name of a strategy the SDK ships. */
export type BuiltinStrategyName = Definitions['name'];

/**
 * Strategies registered with {@link registerStrategy}, for the type checker: name -> options
 * interface. Empty here; add yours by declaration merging, and `createAdapter` types their options:
 *
 * @example
 * declare module 'edge-tta' {
 *   interface CustomStrategies {
 *     'prior-ema': PriorEmaOptions;
 *   }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface CustomStrategies {}

/** The name of a strategy: a built-in one or one declared in {@link CustomStrategies}. */
export type StrategyName = BuiltinStrategyName | Extract<keyof CustomStrategies, string>;

/** The options interface of strategy `N` (every field optional, with documented defaults). */
export type StrategyOptions<N extends StrategyName> = N extends BuiltinStrategyName
  ? Extract<Definitions, { name: N }> extends StrategyDefinition<N, infer O>
    ? O
    : never
  : N extends keyof CustomStrategies
    ? CustomStrategies[N]
    : never;

function buildRegistry(defs: readonly StrategyDefinition[]): Map<string, StrategyDefinition> {
  const map = new Map<string, StrategyDefinition>();
  for (const def of defs) {
    if (map.has(def.name)) throw new Error(`Strategy '${def.name}' is registered twice.`);
    map.set(def.name, def);
  }
  return map;
}

const REGISTRY = buildRegistry(DEFINITIONS as readonly StrategyDefinition[]);
const BUILTIN = new Set<string>(REGISTRY.keys());

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Adds a strategy written against the public `Strategy` interface to this realm's registry, so
 * `createAdapter(model, { strategy: def.name, ... })` builds it (with its `defaults`, `validate`
 * and the `needs` checks, as for a built-in one). A worker has its own registry: pass the
 * module that exports the definition as the worker adapter's `strategyModules` (see
 * docs/custom-strategy.md). Throws {@link InvalidStrategyError} if the name is taken (listing
 * the registered names), or the definition is malformed, or one of its options is named like
 * an adapter- or worker-level option.
 *
 * @example
 * registerStrategy(priorEma);
 * const adapter = await createAdapter(model, { strategy: 'prior-ema', momentum: 0.05 });
 */
export function registerStrategy<N extends string, O extends object>(definition: StrategyDefinition<N, O>): void {
  const def = definition as unknown as Record<string, unknown>;
  const bad = (what: string) =>
    new InvalidStrategyError(
      `registerStrategy: ${what}. A definition is { name, description, needs: { batchNorm, gradients, layersModel }, defaults, validate?, create } (see docs/custom-strategy.md).`,
    );
  if (!isRecord(def)) throw bad(`the definition is ${String(def)}, not an object`);
  const name = def.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw bad(`the name is ${JSON.stringify(name)}; it must be a non-empty string of letters, digits, '.', '_' and '-'`);
  }
  if (REGISTRY.has(name)) {
    throw new InvalidStrategyError(
      `registerStrategy: a strategy named '${name}' is already registered${BUILTIN.has(name) ? ' (it is built in)' : ''}. ` +
        `Registered strategies: ${listStrategies().map((n) => `'${n}'`).join(', ')}. Choose another name.`,
    );
  }
  if (typeof def.description !== 'string') throw bad(`'${name}' has no description string`);
  const needs = def.needs;
  if (!isRecord(needs) || !['batchNorm', 'gradients', 'layersModel'].every((k) => typeof needs[k] === 'boolean')) {
    throw bad(`'${name}': needs must have the booleans batchNorm, gradients and layersModel`);
  }
  if (!isRecord(def.defaults)) throw bad(`'${name}': defaults must be an object with a value for every option`);
  const reserved = [...ADAPTER_OPTION_NAMES, ...WORKER_OPTION_NAMES];
  const clash = Object.keys(def.defaults).filter((k) => reserved.includes(k));
  if (clash.length > 0) {
    throw bad(`'${name}' has options named like adapter or worker options (${clash.join(', ')}); rename them. Reserved: ${reserved.join(', ')}`);
  }
  if (typeof def.create !== 'function') throw bad(`'${name}' has no create(target, config, context) function`);
  if (def.validate !== undefined && typeof def.validate !== 'function') throw bad(`'${name}': validate must be a function`);
  REGISTRY.set(name, Object.freeze({ ...definition }) as unknown as StrategyDefinition);
}

/** The names of every registered strategy. */
export function listStrategies(): StrategyName[] {
  return [...REGISTRY.keys()] as StrategyName[];
}

/** The definition of strategy `name`; throws {@link UnknownStrategyError} listing the valid names. */
export function getStrategy(name: string): StrategyDefinition {
  const def = REGISTRY.get(name);
  if (def === undefined) {
    throw new UnknownStrategyError(`Unknown strategy '${name}'. Valid strategies: ${listStrategies().map((n) => `'${n}'`).join(', ')}.`);
  }
  return def;
}

/**
 * Applies a strategy's documented defaults to user options, in one place. Unknown option
 * names throw {@link InvalidOptionError} listing the strategy's options and the adapter's.
 */
export function resolveOptions(def: StrategyDefinition, options: Record<string, unknown>): Record<string, unknown> {
  const valid = Object.keys(def.defaults);
  for (const key of Object.keys(options)) {
    if (!valid.includes(key)) {
      throw new InvalidOptionError(
        `Unknown option '${key}' for strategy '${def.name}'. Its options: ${valid.length > 0 ? valid.join(', ') : '(none)'}; ` +
          `adapter options: ${ADAPTER_OPTION_NAMES.filter((n) => n !== 'strategy').join(', ')}. Check the spelling, or drop the option.`,
      );
    }
  }
  const config: Record<string, unknown> = { ...def.defaults };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) config[key] = value;
  def.validate?.(config as never);
  return config;
}
