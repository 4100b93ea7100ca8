/**
 * Every option of every built-in strategy, given a value of the wrong kind, is refused by the
 * strategy's `validate` with an InvalidOptionError whose message names the strategy, the option
 * and the bad value, and says what is valid (HELPERS standard: a full sentence with the fix).
 */
import { describe, expect, it } from 'vitest';
import { getStrategy, InvalidOptionError, listStrategies } from '../../src/index.js';

const BUILT_IN: string[] = ['source', 'bn-adapt', 'alpha-bn', 'tent', 'lame', 'cotta', 'vida', 'roid'];

/** A bad value of the option's kind and how the message must show it. */
function badValue(value: unknown): { bad: unknown; shown: RegExp } | null {
  if (typeof value === 'number') return { bad: Number.NaN, shown: /\bNaN\b/ };
  if (typeof value === 'boolean') return { bad: 'yes', shown: /\byes\b/ };
  if (typeof value === 'string') return { bad: '__bad__', shown: /__bad__/ };
  return null;
}

// Options any value of whose kind is accepted by `validate` (checked later, against the model).
const FREE = new Set(['lame.featuresLayer', 'vida.layers']);

describe('option errors', () => {
  it('the built-in strategies are the ones listed here', () => {
    expect(listStrategies().filter((n) => BUILT_IN.includes(n))).toEqual(BUILT_IN.filter((n) => (listStrategies() as string[]).includes(n)));
  });

  for (const name of BUILT_IN.filter((n) => (listStrategies() as string[]).includes(n))) {
    it(`'${name}': a bad value of each option gives a message naming the strategy, option and value, and what is valid`, () => {
      const def = getStrategy(name);
      const defaults = def.defaults as Record<string, unknown>;
      let checked = 0;
      for (const [option, value] of Object.entries(defaults)) {
        const bad = badValue(value);
        if (bad === null || FREE.has(`${name}.${option}`)) continue;
        let error: unknown;
        try {
          def.validate?.({ ...defaults, [option]: bad.bad } as never);
        } catch (e) {
          error = e;
        }
        expect(error, `${name}.${option}`).toBeInstanceOf(InvalidOptionError);
        const message = (error as Error).message;
        expect(message.startsWith(`Strategy '${name}': `) || message.startsWith(`${name}: `), message).toBe(true);
        expect(message, message).toContain(`option '${option}'`);
        expect(message, message).toMatch(bad.shown);
        // What is valid: the words beside the option name and the value (not just "is" or "got").
        const rest = message.split(`'${option}'`)[1]!.replace(bad.shown, '').replace(/\b(is|got)\b/g, '');
        expect(rest.replace(/[^a-z]/gi, '').length, message).toBeGreaterThanOrEqual(10);
        checked++;
      }
      if (Object.keys(defaults).length > 0) expect(checked).toBeGreaterThan(0);
    });
  }
});
