// The bench command line (node:util parseArgs): every existing flag, both --flag value and
// --flag=value forms, repeatable --opt, and typed usage errors naming the flag.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../demos/bench/benchArgs.js';
import { replayArgs } from '../../demos/bench/replayArgs.js';
import { parseSelectArgs } from '../../demos/bench/selectPreset.js';
import { UsageError } from '../../demos/cli.js';

describe('bench command line', () => {
  it('defaults', () => {
    expect(parseBenchArgs([])).toEqual({
      strategies: ['source'], stream: 'continual', perDomain: undefined, batch: 64, backend: 'wasm', seed: 1, severity: 5,
      modelDir: undefined, strategyOptions: {}, json: undefined,
    });
  });

  it('every flag, both forms, repeatable --opt with JSON values', () => {
    const o = parseBenchArgs([
      '--strategies', 'source, tent,cotta,alpha-bn,vida', '--stream=mixed+dirichlet:0.1', '--per-domain', '500', '--batch=1', '--backend', 'cpu',
      '--seed', '7', '--severity', '3', '--model', 'demos/bench/model', '--json', 'out.json',
      '--opt', 'tent.lr=0.01', '--opt=cotta.threshold=0.92', '--opt', 'alpha-bn.stats=ema', '--opt', 'vida.adaptersOnly=true',
    ]);
    expect(o).toEqual({
      strategies: ['source', 'tent', 'cotta', 'alpha-bn', 'vida'], stream: 'mixed+dirichlet:0.1', perDomain: 500, batch: 1, backend: 'cpu', seed: 7, severity: 3,
      modelDir: 'demos/bench/model', json: 'out.json',
      strategyOptions: { tent: { lr: 0.01 }, cotta: { threshold: 0.92 }, 'alpha-bn': { stats: 'ema' }, vida: { adaptersOnly: true } },
    });
    expect(parseBenchArgs(['--strategies', 'tent,tent@budget', '--budget-fraction', '0.5'])).toMatchObject({ strategies: ['tent', 'tent@budget'], budgetFraction: 0.5 });
    expect(parseBenchArgs(['--help', '--batch', 'x'])).toBe('help');
    expect(parseBenchArgs(['-h'])).toBe('help');
    expect(parseBenchArgs(['--seed', '0'])).toMatchObject({ seed: 0 });
    // a budget given by hand is fine without --budget-fraction
    expect(parseBenchArgs(['--strategies', 'tent@budget', '--opt', 'tent@budget.budget={"maxAdaptMsPerFrame":1}'])).toMatchObject({
      strategyOptions: { 'tent@budget': { budget: { maxAdaptMsPerFrame: 1 } } },
    });
    expect(parseBenchArgs(['--per-domain', '10001'])).toMatchObject({ perDomain: 10_001 });
    expect(parseBenchArgs(['--stream', 'gradual'])).toMatchObject({ stream: 'gradual', severity: 5 });
    expect(parseBenchArgs(['--stream', 'single:fog', '--severity', '2'])).toMatchObject({ severity: 2 });
    expect(parseBenchArgs(['--stream', 'long:2+class-sorted', '--severity', '1'])).toMatchObject({ severity: 1 });
    // an --opt names an entry or the strategy of a labelled entry (tent.* applies to tent@x too)
    expect(parseBenchArgs(['--strategies', 'tent@x', '--opt', 'tent.lr=0.1', '--opt', 'tent@x.guard=false'])).toMatchObject({
      strategyOptions: { tent: { lr: 0.1 }, 'tent@x': { guard: false } },
    });
    expect(parseBenchArgs(['--seed=4294967295'])).toMatchObject({ seed: 4294967295 });
  });

  it('bad values are usage errors that name the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--batch', '0'], /--batch must be a number > 0; got '0'/],
      [['--batch', '1.5'], /--batch must be a whole number/],
      [['--per-domain', 'many'], /--per-domain must be a number > 0/],
      [['--backend', 'webgl'], /--backend must be one of wasm, cpu; got 'webgl'/],
      [['--severity', '6'], /--severity must be one of 1, 2, 3, 4, 5/],
      [['--opt', 'lr=1'], /--opt takes strategy.key=value/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['--batch'], /--batch/],
      [['extra'], /positional/i],
      [['--strategies', 'tent,tent@budget', '--budget-fraction', '0'], /--budget-fraction must be in \(0, 1\]; got 0/],
      [['--strategies', 'tent,tent@budget', '--budget-fraction', '1.5'], /--budget-fraction must be in \(0, 1\]; got 1.5/],
      [['--strategies', 'tent', '--budget-fraction', '0.5'], /needs an entry 'name@budget'/],
      [['--strategies', 'tent@budget,tent', '--budget-fraction', '0.5'], /'tent@budget' needs 'tent' earlier in --strategies/],
      // seeds are 32-bit integers: 1.5 ran the streams as seed 1 (and the strategies failed), -1 as 4294967295
      [['--seed', '1.5'], /--seed must be a whole number in \[0, 4294967295\]; got '1.5'/],
      [['--seed=-1'], /--seed must be a whole number in \[0, 4294967295\]; got '-1'/],
      [['--seed', '4294967296'], /--seed must be a whole number in \[0, 4294967295\]/],
      [['--seed', ''], /--seed must be a whole number/],
      // an --opt for no entry of --strategies was silently ignored (a typo ran the defaults)
      [['--strategies', 'source,tent', '--opt', 'tnet.lr=0.1'], /--opt tnet.lr=0.1: 'tnet' is not an entry of --strategies \(source,tent\)/],
      [['--opt', 'tent.lr=0.1'], /--opt tent.lr=0.1: 'tent' is not an entry of --strategies \(source\)/],
      [['--strategies', 'tent', '--opt', 'tent@x.lr=0.1'], /'tent@x' is not an entry of --strategies/],
      // more than the test split was cut to 10,001 while the table and JSON reported the number asked for
      [['--per-domain', '10002'], /--per-domain must be at most 10001 \(the test split\); got 10002/],
      // --severity on a stream with no single severity was accepted, ignored, and recorded in the JSON
      [['--stream', 'gradual', '--severity', '3'], /--severity does not apply to --stream gradual/],
      [['--stream', 'gradual+dirichlet:0.1', '--severity', '5'], /--severity does not apply to --stream gradual\+dirichlet:0.1/],
      [['--stream', 'clean', '--severity', '2'], /--severity does not apply to --stream clean/],
      [['--stream', 'single:clean', '--severity', '2'], /--severity does not apply to --stream single:clean/],
      // a folder without model.json failed with a stack trace after the backend and the stream had started
      [['--model', 'no/such/dir'], /--model: no model.json in 'no\/such\/dir'/],
      [['--model', 'demos/bench'], /--model: no model.json in 'demos\/bench'/],
      // 'name@budget' without --budget-fraction ran name with no budget at all
      [['--strategies', 'tent,tent@budget'], /'tent@budget' runs with a budget only with --budget-fraction/],
      // a bad --stream is caught before the data loads or any strategy runs (was a RangeError stack, exit 1)
      [['--stream', 'rainy'], /--stream: Unknown stream 'rainy'. Valid: continual/],
      [['--stream', 'single:rain'], /--stream: Unknown stream domain 'rain'/],
      [['--stream', 'long:0'], /--stream: Stream 'long:0': rounds must be a positive integer/],
      [['--stream', 'mixed+dirichlet:0'], /--stream: Stream 'mixed\+dirichlet:0': the Dirichlet δ must be/],
      [['--stream', 'clean+class-sorted'], /--stream: Unknown stream 'clean\+class-sorted'/],
    ];
    for (const [argv, msg] of bad) {
      expect(() => parseBenchArgs(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseBenchArgs(argv), argv.join(' ')).toThrow(msg);
    }
  });

  it('selectPreset --seed wants a 32-bit whole number too (2.5 replayed seed 2)', () => {
    expect(() => parseSelectArgs(['--seed', '2.5'])).toThrow(/--seed must be a whole number in \[0, 4294967295\]; got '2.5'/);
    expect(() => parseSelectArgs(['--seed=-3'])).toThrow(UsageError);
    expect(parseSelectArgs(['--seed', '7'])).toMatchObject({ seed: 7 });
  });

  it('the replay scripts check every --streams spec the same way', async () => {
    await expect(replayArgs({}, 'usage', 'continual', ['--streams', 'continual,rainy'])).rejects.toThrow(UsageError);
    await expect(replayArgs({}, 'usage', 'continual', ['--streams', 'continual,rainy'])).rejects.toThrow(/--streams: Unknown stream 'rainy'/);
    await expect(replayArgs({}, 'usage', 'continual', ['--streams', 'long:x'])).rejects.toThrow(/--streams: Stream 'long:x': rounds/);
    await expect(replayArgs({}, 'usage', 'continual', ['--per-domain', '10002'])).rejects.toThrow(/--per-domain must be at most 10001/);
    // lamePolicy.ts's spec@seed entries stay valid, the spec and the seed both checked
    const run = await replayArgs({}, 'usage', 'continual', ['--streams', 'dirichlet:0.1@2,class-sorted', '--per-domain', '5']);
    expect(run?.streams).toEqual(['dirichlet:0.1@2', 'class-sorted']);
    await expect(replayArgs({}, 'usage', 'continual', ['--streams', 'rainy@2'])).rejects.toThrow(/--streams: Unknown stream 'rainy'/);
    await expect(replayArgs({}, 'usage', 'continual', ['--streams', 'continual@1.5'])).rejects.toThrow(/--streams seed must be a whole number/);
  });

  it('npm start: --strategy source is a usage error before anything runs (exit 2, the reason and the usage)', () => {
    const start = (args: string[]) => {
      try {
        execFileSync('node_modules/.bin/tsx', ['demos/bench/start.ts', ...args], { encoding: 'utf8', stdio: 'pipe', timeout: 60_000 });
        return { status: 0, stderr: '' };
      } catch (e) {
        const err = e as { status: number; stderr: string };
        return { status: err.status, stderr: err.stderr };
      }
    };
    // source always runs: --strategy source ran it twice and reported 'lowers the mean error by 0.0 points'
    const twice = start(['--strategy', 'source']);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/--strategy: source always runs; name an adapting strategy/);
    expect(twice.stderr).toMatch(/Usage: npm start/);
  });
});
