// The other demos/bench scripts' --seed, --per-domain, --stream(s) and --strategy/--strategies:
// the shared checks of demos/cli.ts and demos/bench/benchArgs.ts, so a bad value is a usage error
// naming the flag (exit 2, the reason and the usage) before anything runs, never a stack trace,
// a silent skip or a seed the generators cut to another. The scripts that run their main on
// import are run as subprocesses; where the old code accepted the value, a later bad flag in the
// same command line kept its run short (it then failed on that flag instead).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { perDomainArg, strategiesArg, strategyArg, TRAIN_IMAGES } from '../../demos/bench/benchArgs.js';
import { buildSourceModel } from '../../demos/bench/model.js';
import { parsePerfArgs } from '../../demos/bench/perfArgs.js';
import { buildPerfModel } from '../../demos/bench/perfModels.js';
import { parseSelectArgs } from '../../demos/bench/selectPreset.js';
import { UsageError } from '../../demos/cli.js';

/** Runs a bench script with tsx (asynchronously: a blocked worker misses vitest's RPC); its exit status and stderr. */
async function script(file: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)('node_modules/.bin/tsx', [`demos/bench/${file}`, ...args], { encoding: 'utf8', timeout: 90_000 });
    return { status: 0, stderr };
  } catch (e) {
    const err = e as { code: number | null; stderr: string };
    return { status: err.code, stderr: err.stderr };
  }
}

const SEED = /--seed must be a whole number in \[0, 4294967295\]/;

describe('bench scripts: the shared argument checks', () => {
  it('strategyArg / strategiesArg name the flag and the registered strategies', () => {
    expect(strategyArg('--strategy', 'tent')).toBe('tent');
    expect(strategiesArg('--strategies', ' source, bn-adapt ')).toEqual(['source', 'bn-adapt']);
    expect(() => strategyArg('--strategy', 'tnet')).toThrow(UsageError);
    expect(() => strategyArg('--strategy', 'tnet')).toThrow(/--strategy: 'tnet' is not a strategy; valid: .*bn-adapt/);
    expect(() => strategyArg('--strategy', undefined)).toThrow(/--strategy: '' is not a strategy/);
    expect(() => strategiesArg('--strategies', 'source,tnet')).toThrow(/--strategies: 'tnet' is not a strategy/);
    expect(() => strategiesArg('--strategies', ',')).toThrow(/--strategies needs at least one name/);
    // the train split's size, as loaded
    expect(TRAIN_IMAGES).toBe(loadFashionMnist('train').n);
    expect(perDomainArg('59999', '--x', 'train')).toBe(59_999);
    expect(() => perDomainArg('60000', '--x', 'train')).toThrow(/--x must be at most 59999 \(the train split\); got 60000/);
  });

  it('bench:perf --seed is a 32-bit seed and --strategies names registered strategies', () => {
    // positiveInt had no upper bound: 4294967296 reached createAdapter (which refuses it) on every row
    expect(() => parsePerfArgs(['--seed', '4294967296'])).toThrow(SEED);
    expect(() => parsePerfArgs(['--seed', '1e20'])).toThrow(SEED);
    expect(parsePerfArgs(['--seed', '4294967295'])).toMatchObject({ seed: 4294967295 });
    expect(parsePerfArgs([])).toMatchObject({ seed: 1, strategies: [] });
    // a misspelt strategy was an error row in the table after the other cells had run
    expect(() => parsePerfArgs(['--strategies', 'source,tnet'])).toThrow(/--strategies: 'tnet' is not a strategy/);
    expect(parsePerfArgs(['--strategies', 'source,tent'])).toMatchObject({ strategies: ['source', 'tent'] });
  });

  it('selectPreset --per-domain and --confirm-per-domain are checked against the train split', () => {
    // more than the split was a RangeError stack once the stage started (the confirm stage runs last)
    expect(() => parseSelectArgs(['--per-domain', '60000'])).toThrow(/--per-domain must be at most 59999 \(the train split\); got 60000/);
    expect(() => parseSelectArgs(['--confirm-per-domain', '60000'])).toThrow(/--confirm-per-domain must be at most 59999 \(the train split\)/);
    expect(() => parseSelectArgs(['--confirm-per-domain', '0'])).toThrow(/--confirm-per-domain must be a number > 0/);
    expect(parseSelectArgs(['--per-domain', '59999', '--confirm-per-domain', '2000'])).toMatchObject({ perDomain: 59_999, confirmPerDomain: 2000 });
    expect(parseSelectArgs([])).toMatchObject({ perDomain: 500, confirmPerDomain: 1000 });
  });

  it('safetySignals.ts checks --strategy, --stream and --per-domain before the backend starts', async () => {
    const cases: [string[], RegExp][] = [
      // no --strategy: createAdapter got strategy undefined
      [['--window', '0'], /--strategy: '' is not a strategy/],
      // an unknown strategy: UnknownStrategyError stack (exit 1) after the model loaded
      [['--strategy', 'tnet', '--stream', 'clean', '--per-domain', '1'], /--strategy: 'tnet' is not a strategy/],
      // a bad stream: RangeError stack (exit 1)
      [['--strategy', 'tent', '--stream', 'rainy'], /--stream: Unknown stream 'rainy'/],
      // more than the test split: RangeError stack (exit 1)
      [['--strategy', 'tent', '--stream', 'clean', '--per-domain', '10002'], /--per-domain must be at most 10001 \(the test split\)/],
    ];
    for (const [args, msg] of cases) {
      const r = await script('safetySignals.ts', args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr, args.join(' ')).toMatch(/Usage: npx tsx demos\/bench\/safetySignals.ts/);
    }
  });

  it('the other scripts: a bad --seed or --strategy/--strategies is a usage error naming the flag', async () => {
    const cases: [string, string[], RegExp][] = [
      // positiveInt had no upper bound (the old run failed on --prior-momentum instead)
      ['correlationRate.ts', ['--seed', '4294967296', '--prior-momentum', '2'], SEED],
      // createAdapter's UnknownStrategyError stack after the model loaded
      ['correlationPolicy.ts', ['--strategy', 'tnet', '--streams', 'clean', '--per-domain', '1'], /--strategy: 'tnet' is not a strategy/],
      ['guardSpeed.ts', ['--strategies', 'tnet', '--streams', 'clean', '--per-domain', '1'], /--strategies: 'tnet' is not a strategy/],
      ['memory.ts', ['--strategies', 'source,tnet', '--limit-mb', '0'], /--strategies: 'tnet' is not a strategy/],
      ['browserThreads.ts', ['--strategies', 'tnet', '--batch', '0'], /--strategies: 'tnet' is not a strategy/],
      // stream.ts skipped an unknown name and ran the others
      ['stream.ts', ['--strategies', 'source,tnet', '--repeats', '0'], /--strategies: 'tnet' is not a strategy/],
      // finite() took -1, 1.5 and 1e20 as seeds
      ['soak.ts', ['--seed', '1.5', '--timeout-ms', '0'], SEED],
      ['trainSource.ts', ['--seed=-1', '--limit=-1'], SEED],
      ['trainVidaAdapters.ts', ['--seed', '1e20', '--eval', '0'], SEED],
    ];
    for (const [file, args, msg] of cases) {
      const r = await script(file, args);
      expect(r.status, `${file} ${args.join(' ')}`).toBe(2);
      expect(r.stderr, `${file} ${args.join(' ')}`).toMatch(msg);
      expect(r.stderr, `${file} ${args.join(' ')}`).toMatch(/Usage:/);
    }
  });
});

describe('bench models: seed 0 (what seedArg allows) is reproducible', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('buildPerfModel and buildSourceModel give the same weights twice for seed 0', () => {
    // tfjs took an initialiser seed of 0 as no seed: the first conv kernel was random on every build
    const same = (a: tf.LayersModel, b: tf.LayersModel) =>
      a.getWeights().every((w, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(w, b.getWeights()[i]!))).dataSync()[0] === 0));
    expect(same(buildPerfModel('resnet14', 0), buildPerfModel('resnet14', 0))).toBe(true);
    expect(same(buildSourceModel({ seed: 0 }), buildSourceModel({ seed: 0 }))).toBe(true);
    expect(same(buildSourceModel({ seed: 0 }), buildSourceModel({ seed: 1 }))).toBe(false);
  });
});
