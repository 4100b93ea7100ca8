/**
 * The Fashion-MNIST-C benchmark CLI (flags: demos/bench/benchArgs.ts, or `--help`).
 *
 *   npm run bench -- --strategies source,bn-adapt,alpha-bn,tent,lame,cotta,vida \
 *     --per-domain 2000 --batch 64 --backend wasm --stream continual --seed 1 [--json out.json]
 *
 * Prints the table on stdout, progress on stderr.
 */
import { formatTable, progressBar, runBenchmark, writeJson } from './runner.js';
import { BENCH_USAGE, parseBenchArgs } from './benchArgs.js';
import { runCli } from '../cli.js';

async function main(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  if (opts === 'help') {
    console.log(BENCH_USAGE);
    return;
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

await runCli(BENCH_USAGE, main);
