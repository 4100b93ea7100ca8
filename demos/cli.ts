/**
 * The one way the demo, benchmark and training scripts read their command line: Node's own
 * `node:util` `parseArgs` (strict: an unknown flag or a missing value is an error), a `--help`
 * that prints the script's usage, and a few value checks that name the flag and the valid
 * values. Scripts keep their flags in a `parseArgs` options object and turn the values into
 * their typed options in one function each, so that function can be tested without running
 * the script.
 *
 * @example
 * ```ts
 * const USAGE = 'Usage: npm run x -- [--batch 64]';
 * const values = parseCli({ batch: { type: 'string', default: '64' }, help: HELP }, argv);
 * const batch = positiveInt('--batch', values.batch);
 * ...
 * await runCli(USAGE, async () => main(parse(process.argv.slice(2))));
 * ```
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad command line: the message names the flag and the valid values. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A comma-separated flag value as its trimmed, non-empty items (`undefined`: none). */
export function commaList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** The `--help` / `-h` flag every script has. */
export const HELP = { type: 'boolean', short: 'h' } as const;

export type Options = NonNullable<ParseArgsConfig['options']>;
/** The typed `values` parseArgs returns for `options`. */
export type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * Parses `argv` strictly (no positionals). A parse failure (unknown flag, missing value)
 * becomes a {@link UsageError}. `--flag value` and `--flag=value` both work.
 */
export function parseCli<const O extends Options>(options: O, argv: string[]): ParsedValues<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Runs a script's main: a {@link UsageError} prints its message and the usage and exits 2;
 * anything else is rethrown.
 */
export async function runCli(usage: string, main: () => Promise<void> | void): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n\n${usage}`);
      process.exit(2);
    }
    throw e;
  }
}

/** Prints the usage and exits 0 if the parsed values hold `help: true` (call it before validating the other flags). */
export function exitOnHelp(values: { help?: boolean }, usage: string): void {
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
}

/** A finite number > 0 (or the default when the flag is absent). */
export function positive(flag: string, value: string | undefined, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const v = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(v) || v <= 0) throw new UsageError(`${flag} must be a number > 0; got '${value ?? ''}'.`);
  return v;
}

/** An integer > 0 (or the default when the flag is absent). */
export function positiveInt(flag: string, value: string | undefined, fallback?: number): number {
  const v = positive(flag, value, fallback);
  if (!Number.isInteger(v)) throw new UsageError(`${flag} must be a whole number > 0; got '${value}'.`);
  return v;
}

/** An integer >= 0 (or the default when the flag is absent). */
export function nonNegativeInt(flag: string, value: string | undefined, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const v = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(v) || v < 0) throw new UsageError(`${flag} must be a whole number >= 0; got '${value ?? ''}'.`);
  return v;
}

/** Largest seed: the SDK's seeds are 32-bit (src/adapterArgs.ts MAX_SEED). */
const MAX_SEED = 0xffffffff;

/**
 * A seed: a whole number in [0, 2^32 - 1], what `createAdapter`, the streams and the corruptions
 * take. A fraction or a larger value would otherwise be cut to another seed by the generators.
 */
export function seedArg(flag: string, value: string | undefined, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const v = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(v) || v < 0 || v > MAX_SEED) {
    throw new UsageError(`${flag} must be a whole number in [0, ${MAX_SEED}]; got '${value ?? ''}'.`);
  }
  return v;
}

/** A finite number (any sign). */
export function finite(flag: string, value: string | undefined, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const v = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${flag} must be a number; got '${value ?? ''}'.`);
  return v;
}

/** One of `choices`. */
export function oneOf<const T extends string>(flag: string, value: string | undefined, choices: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!choices.includes(value as T)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}; got '${value ?? ''}'.`);
  return value as T;
}

/**
 * The command line of the scripts that read benchmark result files (compare.ts, safetyTable.ts):
 * one or more file paths, and `--help`. Prints the usage and exits 0 on `--help`, exits 2 on a bad
 * flag or no file.
 */
export function resultFileArgs(usage: string, argv: string[]): string[] {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { help: HELP }, strict: true, allowPositionals: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (parsed.values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  if (parsed.positionals.length === 0) {
    console.error(`No result file given.\n\n${usage}`);
    process.exit(2);
  }
  return parsed.positionals;
}
