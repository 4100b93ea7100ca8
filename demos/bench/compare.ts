/**
 * Merges benchmark result files (bench-results/*.json, all on the same stream) into one table
 * and prints, for every strategy, how far below `source` its mean error is and whether it
 * drifts: its gap to `bn-adapt` over the last five domains minus the gap over the first five
 * (the CoTTA/ViDA issues' criteria).
 *
 *   npx tsx demos/bench/compare.ts bench-results/a.json bench-results/b.json [...]
 *
 * Results of the same strategy with different options are told apart by the options that
 * differ, e.g. "cotta (threshold 0.807)".
 */
import fs from 'node:fs';
import { resultFileArgs } from '../cli.js';
import type { BenchResult, StrategyResult } from './runner.js';
import { formatTable } from './runner.js';

interface Labelled extends StrategyResult {
  label: string;
}

function label(results: StrategyResult[]): Labelled[] {
  return results.map((r) => {
    const same = results.filter((o) => o.strategy === r.strategy && o !== r);
    if (same.length === 0) return { ...r, label: r.strategy };
    const diff = Object.keys(r.config ?? {}).filter((k) => same.some((o) => JSON.stringify(o.config?.[k]) !== JSON.stringify(r.config?.[k])));
    return { ...r, label: `${r.strategy} (${diff.map((k) => `${k} ${JSON.stringify(r.config![k])}`).join(', ')})` };
  });
}

const files = resultFileArgs('Usage: npx tsx demos/bench/compare.ts <bench result JSON> [...]\n\nPrints one table from the JSON files that npm run bench wrote (bench-results/).', process.argv.slice(2));
const runs = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as BenchResult);
const first = runs[0]!;
for (const [i, r] of runs.entries()) {
  const same = r.stream === first.stream && r.perDomain === first.perDomain && r.batch === first.batch && r.seed === first.seed && r.severity === first.severity;
  if (!same) throw new Error(`${files[i]}: stream/per-domain/batch/seed/severity differ from ${files[0]}; only results on one stream can be compared.`);
}
const all = label(runs.flatMap((r) => r.results.filter((s) => s.status === 'ok')));
const merged: BenchResult = { ...first, results: all.map((r) => ({ ...r, strategy: r.label })) };
console.log(formatTable(merged));
console.log(`\nresult files: ${files.join(', ')}; commits ${[...new Set(runs.map((r) => r.gitCommit.slice(0, 10) + (r.gitDirty ? '+dirty' : '')))].join(', ')}; backends ${[...new Set(runs.map((r) => r.backend))].join(', ')}\n`);

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const source = all.find((r) => r.strategy === 'source');
const bn = all.find((r) => r.strategy === 'bn-adapt');
const doms = first.domains;
for (const r of all) {
  if (r.strategy === 'source') continue;
  const parts: string[] = [];
  if (source) parts.push(`${((100 * (source.meanError! - r.meanError!)) / source.meanError!).toFixed(1)}% below source`);
  if (bn && r !== bn && doms.length >= 10) {
    const gap = doms.map((d) => r.domainError![d]! - bn.domainError![d]!);
    const head = mean(gap.slice(0, 5));
    const tail = mean(gap.slice(-5));
    parts.push(`gap to bn-adapt: first five ${head >= 0 ? '+' : ''}${head.toFixed(2)}, last five ${tail >= 0 ? '+' : ''}${tail.toFixed(2)}, drift ${tail - head >= 0 ? '+' : ''}${(tail - head).toFixed(2)} points`);
  }
  const aug = r.domainStats ? doms.map((d) => r.domainStats![d]?.augmented).filter((v): v is number => v !== undefined) : [];
  if (aug.length > 0) parts.push(`augmented batches ${(100 * mean(aug)).toFixed(0)}%`);
  if (parts.length > 0) console.log(`- ${r.label}: ${parts.join('; ')}`);
}
