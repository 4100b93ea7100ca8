/**
 * Runs Stryker on one source file against its tests (tests/mutation/targets.ts), one test process,
 * in incremental mode: the results are kept in reports/mutation/incremental/<file>.json, so a rerun
 * after a test was added only runs the mutants whose code or covering tests changed.
 *
 *   npm run test:mutation:file -- strategies/tent.ts [more Stryker options, e.g. --force]
 */
import { spawnSync } from 'node:child_process';
import { MUTATION_TARGETS } from './targets.js';

const [file, ...extra] = process.argv.slice(2);
const target = file === undefined ? undefined : MUTATION_TARGETS[file];
if (file === undefined || target === undefined) {
  console.error(`usage: npm run test:mutation:file -- <file> [stryker options]\nfiles: ${Object.keys(MUTATION_TARGETS).join(', ')}`);
  process.exit(2);
}

const env = {
  ...process.env,
  MUTATION_TESTS: target.tests.join(','),
  CONFORMANCE_FAST: '1',
  ...(target.conformance ? { CONFORMANCE_STRATEGIES: target.conformance.join(',') } : {}),
};
const args = [
  'stryker', 'run',
  '--mutate', file,
  '--concurrency', '1',
  '--incremental',
  '--incrementalFile', `reports/mutation/incremental/${file.replaceAll('/', '__')}.json`,
  ...extra,
];
console.log(`MUTATION_TESTS=${env.MUTATION_TESTS}${target.conformance ? ` CONFORMANCE_STRATEGIES=${env.CONFORMANCE_STRATEGIES}` : ''}`);
const result = spawnSync('npx', args, { env, stdio: 'inherit' });
process.exit(result.status ?? 1);
