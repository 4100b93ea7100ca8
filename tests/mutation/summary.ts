/**
 * Mutation scores from the incremental files of `npm run test:mutation:file` (one per source
 * file, reports/mutation/incremental/): per file and in total, the mutants killed, survived, timed
 * out, with no coverage, and equivalent (tests/mutation/equivalent.ts), and the score over the
 * non-equivalent ones ((killed + timed out) / (all - equivalent - ignored)). Lists every
 * survivor and no-coverage mutant not marked equivalent.
 *
 *   npm run test:mutation:summary
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { EQUIVALENT_MUTANTS } from './equivalent.js';
import { MUTATION_TARGETS } from './targets.js';

interface Mutant {
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
}

const DIR = 'reports/mutation/incremental';
if (!existsSync(DIR)) {
  console.error(`no ${DIR}: run npm run test:mutation:file -- <file> first`);
  process.exit(1);
}

/** The key of a mutant in EQUIVALENT_MUTANTS. */
export function mutantKey(file: string, m: Mutant): string {
  return `${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName}`;
}

const rows: string[] = [];
const open: string[] = [];
const total = { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, other: 0 };
/** Subtotals per folder (strategies/, src/model/). */
const folders = new Map<string, typeof total>();
const seen = new Set<string>();
/** Every survivor's and no-coverage mutant's key, to find equivalent marks that no longer match one. */
const unkilled = new Set<string>();
for (const name of readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()) {
  const report = JSON.parse(readFileSync(`${DIR}/${name}`, 'utf8')) as Report;
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const c = { mutants: mutants.length, killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, other: 0 };
    for (const m of mutants) {
      const key = mutantKey(file, m);
      if (m.status === 'Survived' || m.status === 'NoCoverage') unkilled.add(key);
      if ((m.status === 'Survived' || m.status === 'NoCoverage') && key in EQUIVALENT_MUTANTS) c.equivalent++;
      else if (m.status === 'Killed') c.killed++;
      else if (m.status === 'Timeout') c.timeout++;
      else if (m.status === 'Survived') c.survived++;
      else if (m.status === 'NoCoverage') c.noCoverage++;
      else c.other++; // Ignored (static), CompileError, RuntimeError: not counted in the score
      if ((m.status === 'Survived' || m.status === 'NoCoverage') && !(key in EQUIVALENT_MUTANTS)) {
        open.push(`${key} (${m.status}) -> ${JSON.stringify(m.replacement ?? '')}`);
      }
    }
    const folder = file.slice(0, file.lastIndexOf('/') + 1);
    if (!folders.has(folder)) folders.set(folder, { mutants: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, other: 0 });
    for (const k of Object.keys(total) as (keyof typeof total)[]) {
      total[k] += c[k];
      folders.get(folder)![k] += c[k];
    }
    seen.add(file);
    rows.push(row(file, c));
  }
}
for (const [folder, c] of [...folders].sort()) rows.push(row(`**${folder}** (files run)`, c));
rows.push(row('**total**', total));

function row(file: string, c: typeof total): string {
  const scored = c.killed + c.timeout + c.survived + c.noCoverage;
  const score = scored === 0 ? '-' : `${((100 * (c.killed + c.timeout)) / scored).toFixed(1)}%`;
  return `| ${file} | ${c.mutants} | ${c.killed} | ${c.survived} | ${c.timeout} | ${c.noCoverage} | ${c.equivalent} | ${c.other} | ${score} |`;
}

console.log('| file | mutants | killed | survived | timed out | no coverage | equivalent | not run (static, errors) | score over non-equivalent |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
console.log(`\nNot killed and not marked equivalent (${open.length}):`);
for (const o of open) console.log(`- ${o}`);
const notRun = Object.keys(MUTATION_TARGETS).filter((f) => !seen.has(f));
console.log(`\nFiles with mutation targets and no result here (${notRun.length}): ${notRun.join(', ') || 'none'}`);
// Keys are file:line:column, so an edit above a marked mutant moves it: after a file's rerun its
// marks must be checked again. Marks of files with a result here that match no surviving mutant:
const stale = Object.keys(EQUIVALENT_MUTANTS).filter((k) => seen.has(k.slice(0, k.indexOf(':'))) && !unkilled.has(k));
console.log(`\nMarked equivalent in tests/mutation/equivalent.ts, matching no surviving mutant of its file's result (${stale.length}): ${stale.join(', ') || 'none'}`);
