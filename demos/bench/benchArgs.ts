/**
 * The command line of `npm run bench` (demos/bench/bench.ts), parsed with `node:util`
 * `parseArgs` through demos/cli.ts. Kept apart from bench.ts so tests can parse without
 * running a benchmark.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Severity } from '../../src/corruptions/index.js';
import { TEST_IMAGES } from '../../src/data/fashionMnist.js';
import { STREAM_SPECS, parseStreamSpec } from '../../src/data/streams.js';
import { listStrategies } from '../../strategies/registry.js';
import { HELP, UsageError, finite, oneOf, parseCli, positiveInt, seedArg } from '../cli.js';
import type { BenchOptions } from './runner.js';

export const BENCH_USAGE = `Usage: npm run bench -- [options]

The Fashion-MNIST-C benchmark: each strategy over the same test stream; prints the table
(error % per domain) on stdout, progress on stderr, and writes the JSON to bench-results/.

Options (defaults in brackets):
  --strategies a,b     comma-separated strategy names [source]; names the SDK does not have are listed as "not implemented"
  --stream spec        ${STREAM_SPECS} [continual]
  --per-domain N       images per domain, a seeded random subset [all 10,001]
  --batch N            batch size, 1 or more [64]
  --backend b          wasm | cpu [wasm]
  --seed N             seed of shuffles, corruption noise and strategies [1]
  --severity 1-5       corruption severity (not with gradual, which sets its own, or clean) [5]
  --model dir          folder with model.json [demos/bench/model]
  --opt s.key=value    per-strategy option, repeatable: --opt alpha-bn.alpha=0.3 (value parsed as JSON when it can be);
                       a strategy entry 'tent@x' runs tent again with --opt tent@x.key=value on top (e.g. --opt tent@x.guard=false)
  --budget-fraction f  an entry 'name@budget' runs with budget { maxAdaptMsPerFrame: f x the ms per frame of the
                       update steps the entry 'name' ran earlier in this process } (a same-process calibration; 0 < f <= 1)
  --json file          also write the result JSON here
  -h, --help           this text

Example:
  npm run bench -- --strategies source,bn-adapt,tent --stream mixed+dirichlet:0.1 --per-domain 500 --batch 64`;

const OPTIONS = {
  strategies: { type: 'string' },
  stream: { type: 'string' },
  'per-domain': { type: 'string' },
  batch: { type: 'string' },
  backend: { type: 'string' },
  seed: { type: 'string' },
  severity: { type: 'string' },
  model: { type: 'string' },
  opt: { type: 'string', multiple: true },
  'budget-fraction': { type: 'string' },
  json: { type: 'string' },
  help: HELP,
} as const;

/**
 * Parses `--opt strategy.key=value` flags into per-strategy option objects. With `strategies`,
 * each names an entry or the strategy of an entry `name@label` (the runner reads no other key,
 * so a misspelt name would run the defaults without a word).
 */
export function parseStrategyOptions(opts: readonly string[], strategies?: readonly string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const o of opts) {
    const m = /^([\w@-]+)\.(\w+)=(.*)$/s.exec(o);
    if (!m) throw new UsageError(`--opt takes strategy.key=value, e.g. --opt alpha-bn.alpha=0.3; got '${o}'.`);
    const [, s, k, v] = m;
    if (strategies && !strategies.some((e) => e === s || e.split('@')[0] === s)) {
      throw new UsageError(`--opt ${o}: '${s}' is not an entry of --strategies (${strategies.join(',')}); the option would be ignored.`);
    }
    let parsed: unknown = v;
    try {
      parsed = JSON.parse(v!);
    } catch {
      // a bare string
    }
    (out[s!] ??= {})[k!] = parsed;
  }
  return out;
}

/**
 * A stream spec flag checked now (no data is loaded), so a typo is a usage error before any
 * strategy runs rather than a stack trace once the benchmark has started.
 */
export function streamSpecArg(flag: string, value: string): string {
  try {
    parseStreamSpec(value);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
  return value;
}

/** `--model`: a folder holding model.json (checked now: the runner would fail with a stack once started). */
function modelDirArg(dir: string): string {
  if (!fs.existsSync(path.join(dir, 'model.json'))) throw new UsageError(`--model: no model.json in '${dir}'; pass the folder that holds it (default demos/bench/model).`);
  return dir;
}

/** Images in the train split (src/data/fashionMnist.ts; tests/data/fashionMnist.test.ts checks the count). */
export const TRAIN_IMAGES = 59_999;

/**
 * `--per-domain` (or another `flag`): 1 to the split's size (checked here, before the data loads;
 * a stream asked for more fails with a RangeError once it starts). The split is the test one
 * unless `split` says 'train' (selectPreset.ts's validation stream).
 */
export function perDomainArg(value: string, flag = '--per-domain', split: 'test' | 'train' = 'test'): number {
  const n = positiveInt(flag, value);
  const max = split === 'test' ? TEST_IMAGES : TRAIN_IMAGES;
  if (n > max) throw new UsageError(`${flag} must be at most ${max} (the ${split} split); got ${n}.`);
  return n;
}

/**
 * A strategy flag: a registered strategy name (checked now: createAdapter would fail with a stack
 * trace once the model and the data had loaded).
 */
export function strategyArg(flag: string, value: string | undefined): string {
  const known = listStrategies() as string[];
  if (value === undefined || !known.includes(value)) throw new UsageError(`${flag}: '${value ?? ''}' is not a strategy; valid: ${known.join(', ')}.`);
  return value;
}

/** A comma-separated list of registered strategy names, at least one (each checked by {@link strategyArg}). */
export function strategiesArg(flag: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`${flag} needs at least one name, e.g. ${flag} source,bn-adapt.`);
  return names.map((s) => strategyArg(flag, s));
}

/** `--budget-fraction`: in (0, 1], and every 'name@budget' entry comes after its 'name'. */
function budgetFraction(value: string, strategies: readonly string[]): number {
  const f = finite('--budget-fraction', value, 0);
  if (!(f > 0 && f <= 1)) throw new UsageError(`--budget-fraction must be in (0, 1]; got ${value}.`);
  const budgeted = strategies.filter((s) => s.endsWith('@budget'));
  if (budgeted.length === 0) throw new UsageError(`--budget-fraction needs an entry 'name@budget' in --strategies, after 'name' (e.g. --strategies tent,tent@budget).`);
  for (const b of budgeted) {
    const base = b.slice(0, -'@budget'.length);
    if (!strategies.slice(0, strategies.indexOf(b)).includes(base)) {
      throw new UsageError(`--budget-fraction: '${b}' needs '${base}' earlier in --strategies, to measure its ms per frame; got ${strategies.join(',')}.`);
    }
  }
  return f;
}

/** The bench's options from `argv` (without `node` and the script), or `'help'` when `--help` was given. */
export function parseBenchArgs(argv: string[]): (BenchOptions & { json?: string }) | 'help' {
  const v = parseCli(OPTIONS, argv);
  if (v.help) return 'help';
  const strategies = (v.strategies ?? 'source').split(',').map((s) => s.trim()).filter(Boolean);
  if (strategies.length === 0) throw new UsageError(`--strategies needs at least one name, e.g. --strategies source,bn-adapt.`);
  const stream = streamSpecArg('--stream', v.stream ?? 'continual');
  const spec = parseStreamSpec(stream);
  // gradual plays severities 1-5 and clean none: the flag would be ignored but recorded in the JSON.
  const fixedSeverity = spec.layout !== 'gradual' && spec.layout !== 'clean' && !(spec.layout === 'single' && spec.domain === 'clean');
  if (v.severity !== undefined && !fixedSeverity) throw new UsageError(`--severity does not apply to --stream ${stream} (it plays ${spec.layout === 'gradual' ? 'severities 1-5 itself' : 'clean images'}); leave it out.`);
  const strategyOptions = parseStrategyOptions(v.opt ?? [], strategies);
  // Without the flag (or a budget given with --opt) an entry 'name@budget' would run name with no budget.
  for (const e of strategies) {
    if (e.endsWith('@budget') && v['budget-fraction'] === undefined && strategyOptions[e]?.['budget'] === undefined) {
      throw new UsageError(`'${e}' runs with a budget only with --budget-fraction f (or --opt ${e}.budget=...); got neither.`);
    }
  }
  return {
    strategies,
    stream,
    perDomain: v['per-domain'] === undefined ? undefined : perDomainArg(v['per-domain']),
    batch: positiveInt('--batch', v.batch, 64),
    backend: oneOf('--backend', v.backend, ['wasm', 'cpu'] as const, 'wasm'),
    seed: seedArg('--seed', v.seed, 1),
    severity: Number(oneOf('--severity', v.severity, ['1', '2', '3', '4', '5'] as const, '5')) as Severity,
    modelDir: v.model === undefined ? undefined : modelDirArg(v.model),
    strategyOptions,
    ...(v['budget-fraction'] === undefined ? {} : { budgetFraction: budgetFraction(v['budget-fraction'], strategies) }),
    json: v.json,
  };
}


