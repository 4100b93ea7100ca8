/**
 * The Fashion-MNIST-C benchmark CLI.
 *
 *   npm run bench -- --strategies source,bn-adapt,alpha-bn,tent,lame,cotta,vida \
 *     --per-domain 2000 --batch 64 --backend wasm --stream continual --seed 1 [--json out.json]
 *
 * Options (defaults in brackets):
 *   --strategies  comma-separated names [source]; names the SDK does not have are listed as "not implemented"
 *   --stream      continual | clean | single:<corruption> | class-sorted | dirichlet[:<concentration>] [continual]
 *   --per-domain  images per domain, a seeded random subset [all 10,001]
 *   --batch       batch size [64]
 *   --backend     wasm | cpu [wasm]
 *   --seed        seed of shuffles, corruption noise and strategies [1]
 *   --severity    1-5 [5]
 *   --model       folder with model.json [demos/bench/model]
 *   --opt         per-strategy option, repeatable: --opt alpha-bn.alpha=0.3
 *   --json        also write the result JSON here (it always goes to bench-results/)
 *
 * Prints the table on stdout, progress on stderr.
 */
import { formatTable, progressBar, runBenchmark, writeJson, type BenchOptions } from './runner.js';
import type { Severity } from '../../src/corruptions/index.js';

const USAGE = 'Usage: npm run bench -- [--strategies a,b] [--stream continual|clean|single:<name>|class-sorted|dirichlet[:c]] [--per-domain N] [--batch 64] [--backend wasm|cpu] [--seed 1] [--severity 5] [--model dir] [--opt strategy.key=value] [--json out.json]';

function parse(argv: string[]): BenchOptions & { json?: string } {
  const o: BenchOptions & { json?: string } = {
    strategies: ['source'],
    stream: 'continual',
    batch: 64,
    backend: 'wasm',
    seed: 1,
    severity: 5,
    strategyOptions: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const [flag, inline] = a.includes('=') && a.startsWith('--') && !a.startsWith('--opt') ? a.split(/=(.*)/s) : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`Option ${flag} needs a value.\n${USAGE}`);
      return v;
    };
    const num = (name: string): number => {
      const v = Number(val());
      if (!Number.isFinite(v) || v <= 0) throw new Error(`Option ${name} must be a positive number.\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--strategies': o.strategies = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--stream': o.stream = val(); break;
      case '--per-domain': o.perDomain = num('--per-domain'); break;
      case '--batch': o.batch = num('--batch'); break;
      case '--backend': {
        const b = val();
        if (b !== 'wasm' && b !== 'cpu') throw new Error(`--backend must be wasm or cpu; got '${b}'.`);
        o.backend = b;
        break;
      }
      case '--seed': o.seed = Number(val()); break;
      case '--severity': {
        const s = Number(val());
        if (![1, 2, 3, 4, 5].includes(s)) throw new Error(`--severity must be 1-5; got ${s}.`);
        o.severity = s as Severity;
        break;
      }
      case '--model': o.modelDir = val(); break;
      case '--json': o.json = val(); break;
      case '--opt': {
        const m = /^([\w-]+)\.(\w+)=(.*)$/.exec(val());
        if (!m) throw new Error(`--opt takes strategy.key=value, e.g. --opt alpha-bn.alpha=0.3.`);
        const [, s, k, v] = m;
        let parsed: unknown = v;
        try {
          parsed = JSON.parse(v!);
        } catch {
          // a bare string
        }
        (o.strategyOptions![s!] ??= {})[k!] = parsed;
        break;
      }
      default:
        throw new Error(`Unknown option '${a}'.\n${USAGE}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const res = await runBenchmark(opts, progressBar(), (r) => {
    if (r.status !== 'ok') process.stderr.write(`${r.strategy}: ${r.status}${r.error ? ` (${r.error})` : ''}\n`);
  });
  console.log(formatTable(res));
  if (res.stream === 'clean') {
    const n = res.domainSizes.reduce((a, b) => a + b, 0);
    for (const r of res.results) if (r.status === 'ok') console.log(`${r.strategy}: clean test accuracy ${(100 - r.meanError!).toFixed(2)}% (${n} test images)`);
  }
  const files = writeJson(res, opts.json);
  console.error(`results: ${files.join(', ')}`);
  if (res.results.some((r) => r.status === 'error')) process.exitCode = 1;
}

await main();
