/**
 * Every registered strategy through the conformance suite (src/testing), in-thread, with the
 * options and prediction facts of tests/conformance/table.ts. The worker check is in
 * workers.test.ts (a separate file, so the two run in parallel).
 */
import '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { runStrategyConformance } from '../../src/testing/index.js';
import { getStrategy, listStrategies } from '../../strategies/registry.js';
import { CONFORMANCE_TABLE } from './table.js';

// Mutation runs (vitest.mutation.config.ts) set CONFORMANCE_FAST (a shorter long run) and may
// narrow the strategies with CONFORMANCE_STRATEGIES (comma-separated names).
const fast = process.env.CONFORMANCE_FAST === '1';
const only = process.env.CONFORMANCE_STRATEGIES?.split(',');

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

for (const name of listStrategies().filter((n) => only === undefined || only.includes(n))) {
  const row = CONFORMANCE_TABLE[name];
  it(`'${name}' has a row in tests/conformance/table.ts (options and which model predicts)`, () => {
    expect(row, `add '${name}' to CONFORMANCE_TABLE in tests/conformance/table.ts`).toBeDefined();
  });
  runStrategyConformance(getStrategy(name), {
    describe,
    it,
    options: row?.options ?? {},
    prediction: row === undefined || 'none' in row.prediction ? null : row.prediction,
    skip: ['worker'],
    ...(fast ? { longRunSteps: 20 } : {}),
  });
}
