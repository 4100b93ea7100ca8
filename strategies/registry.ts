import { InvalidOptionError, UnknownStrategyError } from '../src/errors.js';
import { ADAPTER_OPTION_NAMES } from '../src/optionNames.js';
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

/** The name of a registered strategy. */
export type StrategyName = Definitions['name'];

/** The options interface of strategy `N` (every field optional, with documented defaults). */
export type StrategyOptions<N extends StrategyName> =
  Extract<Definitions, { name: N }> extends StrategyDefinition<N, infer O> ? O : never;

function buildRegistry(defs: readonly StrategyDefinition[]): ReadonlyMap<string, StrategyDefinition> {
  const map = new Map<string, StrategyDefinition>();
  for (const def of defs) {
    if (map.has(def.name)) throw new Error(`Strategy '${def.name}' is registered twice.`);
    map.set(def.name, def);
  }
  return map;
}

const REGISTRY = buildRegistry(DEFINITIONS as readonly StrategyDefinition[]);

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
