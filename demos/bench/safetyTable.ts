/**
 * The safe-adaptation table from benchmark result files: for every stream and strategy entry,
 * mean error %, the worst domain's gap to the source model (points, with the domain) and the
 * update steps run, plus the guard's trips. The source row of each stream (same stream, images
 * per domain, batch and seed) may come from any of the files.
 *
 *   npx tsx demos/bench/safetyTable.ts bench-results/a.json bench-results/b.json [...]
 *
 * Entries run as 'name@x' keep their entry name (e.g. 'tent@off'), so guard-on and guard-off
 * rows of one strategy stay apart.
 */
import fs from 'node:fs';
import { resultFileArgs } from '../cli.js';
import type { BenchResult, StrategyResult } from './runner.js';

const files = resultFileArgs('Usage: npx tsx demos/bench/safetyTable.ts result.json [...]\n\nPrints the hard-streams table (mean error, worst domain against source, updates run, guard trips) from the JSON files that npm run bench wrote (bench-results/).', process.argv.slice(2));
const runs = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as BenchResult);
const key = (r: BenchResult) => `${r.stream} | ${r.perDomain} | b${r.batch} | seed ${r.seed}`;
const sources = new Map<string, StrategyResult>();
for (const run of runs) {
  const s = run.results.find((r) => r.strategy === 'source' && r.status === 'ok');
  if (s !== undefined) sources.set(key(run), s);
}

function worstGap(r: StrategyResult, source: StrategyResult | undefined): string {
  if (source?.domainError === undefined || r.domainError === undefined) return '-';
  let worst = -Infinity;
  let at = '';
  for (const [d, e] of Object.entries(r.domainError)) {
    const gap = e - source.domainError[d]!;
    if (gap > worst) [worst, at] = [gap, d];
  }
  return `${worst >= 0 ? '+' : ''}${worst.toFixed(1)} (${at})`;
}

console.log('| stream (per domain, batch) | strategy | mean error % | source | worst domain vs source | updates run | guard trips |');
console.log('|---|---|---:|---:|---|---:|---|');
for (const run of runs) {
  const source = sources.get(key(run));
  for (const r of run.results) {
    if (r.status !== 'ok') {
      console.log(`| ${run.stream} (${run.perDomain}, ${run.batch}) | ${r.strategy} | ${r.status} | | | | |`);
      continue;
    }
    const trips = Object.entries(r.safety?.guardTrips ?? {}).map(([k, n]) => `${k} ${n}`).join(', ') || '-';
    const updates = r.safety === undefined ? '-' : `${r.safety.updatesRun}/${r.safety.updatesRun + r.safety.stepsSkipped}`;
    console.log(
      `| ${run.stream} (${run.perDomain}, ${run.batch}) | ${r.strategy} | ${r.meanError!.toFixed(2)} | ${source?.meanError?.toFixed(2) ?? '-'} | ${worstGap(r, source)} | ${updates} | ${trips} |`,
    );
  }
}
