/**
 * The strategy registry (strategies/registry.ts): every malformed definition `registerStrategy`
 * refuses, with its exact message; names taken by built-in or registered strategies; unknown
 * names and options; and how options are resolved against a definition's defaults.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, InvalidStrategyError, UnknownStrategyError } from '../../src/errors.js';
import { ADAPTER_OPTION_NAMES, WORKER_OPTION_NAMES } from '../../src/optionNames.js';
import { getStrategy, listStrategies, registerStrategy, resolveOptions } from '../../strategies/registry.js';
import type { StrategyDefinition } from '../../strategies/strategy.js';

const TAIL = '. A definition is { name, description, needs: { batchNorm, gradients, layersModel }, defaults, validate?, create } (see docs/custom-strategy.md).';
const NEEDS = { batchNorm: false, gradients: false, layersModel: false };

function valid(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, description: 'a test strategy', needs: NEEDS, defaults: { k: 1 }, create: () => ({}), ...extra };
}

function refused(def: unknown, what: string): void {
  expect(() => registerStrategy(def as StrategyDefinition)).toThrow(InvalidStrategyError);
  expect(() => registerStrategy(def as StrategyDefinition)).toThrow(new InvalidStrategyError(`registerStrategy: ${what}${TAIL}`));
}

describe('strategy registry', () => {
  it('refuses malformed definitions, naming what is wrong, and registers nothing', () => {
    const before = listStrategies();
    refused(null, 'the definition is null, not an object');
    refused(undefined, 'the definition is undefined, not an object');
    refused([valid('arr')], 'the definition is [object Object], not an object');
    refused('tent', 'the definition is tent, not an object');
    for (const name of ['', '-x', '.x', 'a b', 'é', 7, undefined]) {
      refused(valid('x', { name }), `the name is ${JSON.stringify(name)}; it must be a non-empty string of letters, digits, '.', '_' and '-'`);
    }
    refused(valid('r1', { description: undefined }), "'r1' has no description string");
    refused(valid('r1', { needs: undefined }), "'r1': needs must have the booleans batchNorm, gradients and layersModel");
    refused(valid('r1', { needs: [] }), "'r1': needs must have the booleans batchNorm, gradients and layersModel");
    refused(valid('r1', { needs: { batchNorm: true, gradients: false } }), "'r1': needs must have the booleans batchNorm, gradients and layersModel");
    refused(valid('r1', { needs: { ...NEEDS, layersModel: 'yes' } }), "'r1': needs must have the booleans batchNorm, gradients and layersModel");
    refused(valid('r1', { defaults: null }), "'r1': defaults must be an object with a value for every option");
    refused(valid('r1', { defaults: [1] }), "'r1': defaults must be an object with a value for every option");
    const reserved = [...ADAPTER_OPTION_NAMES, ...WORKER_OPTION_NAMES];
    refused(
      valid('r1', { defaults: { k: 1, seed: 2, timeoutMs: 3 } }),
      `'r1' has options named like adapter or worker options (seed, timeoutMs); rename them. Reserved: ${reserved.join(', ')}`,
    );
    refused(valid('r1', { create: 'no' }), "'r1' has no create(target, config, context) function");
    refused(valid('r1', { validate: 1 }), "'r1': validate must be a function");
    expect(listStrategies()).toEqual(before);
  });

  it('accepts the name grammar, refuses a taken name listing the registered ones, and freezes the definition', () => {
    const name = `reg.test_${Date.now()}-a1`;
    const def = valid(name, { validate: () => undefined });
    registerStrategy(def as unknown as StrategyDefinition);
    expect(listStrategies()).toContain(name);
    const got = getStrategy(name);
    expect(got).not.toBe(def);
    expect(got).toEqual(def);
    expect(Object.isFrozen(got)).toBe(true);
    const list = () => listStrategies().map((n) => `'${n}'`).join(', ');
    expect(() => registerStrategy(valid(name) as unknown as StrategyDefinition)).toThrow(
      new InvalidStrategyError(`registerStrategy: a strategy named '${name}' is already registered. Registered strategies: ${list()}. Choose another name.`),
    );
    // validate is optional.
    const plain = `${name}-plain`;
    registerStrategy(valid(plain) as unknown as StrategyDefinition);
    expect(getStrategy(plain).validate).toBeUndefined();
    expect(() => registerStrategy(valid('tent') as unknown as StrategyDefinition)).toThrow(
      new InvalidStrategyError(`registerStrategy: a strategy named 'tent' is already registered (it is built in). Registered strategies: ${list()}. Choose another name.`),
    );
  });

  it('getStrategy: an unknown name lists the valid ones', () => {
    expect(getStrategy('tent').name).toBe('tent');
    expect(() => getStrategy('tnet')).toThrow(
      new UnknownStrategyError(`Unknown strategy 'tnet'. Valid strategies: ${listStrategies().map((n) => `'${n}'`).join(', ')}.`),
    );
  });

  it('resolveOptions: defaults, overrides (undefined keeps the default), validate on the result, unknown names listed', () => {
    const seen: unknown[] = [];
    const def = { ...valid('resolve-test'), defaults: { a: 1, b: 'x' }, validate: (c: unknown) => void seen.push(c) } as unknown as StrategyDefinition;
    expect(resolveOptions(def, {})).toEqual({ a: 1, b: 'x' });
    expect(resolveOptions(def, { a: 2, b: undefined })).toEqual({ a: 2, b: 'x' });
    expect(seen).toEqual([{ a: 1, b: 'x' }, { a: 2, b: 'x' }]);
    const adapter = ADAPTER_OPTION_NAMES.filter((n) => n !== 'strategy').join(', ');
    expect(() => resolveOptions(def, { c: 1 })).toThrow(
      new InvalidOptionError(`Unknown option 'c' for strategy 'resolve-test'. Its options: a, b; adapter options: ${adapter}. Check the spelling, or drop the option.`),
    );
    const none = { ...valid('none-test'), defaults: {} } as unknown as StrategyDefinition;
    expect(() => resolveOptions(none, { a: 1 })).toThrow(
      new InvalidOptionError(`Unknown option 'a' for strategy 'none-test'. Its options: (none); adapter options: ${adapter}. Check the spelling, or drop the option.`),
    );
    expect(adapter).not.toContain('strategy');
  });
});
