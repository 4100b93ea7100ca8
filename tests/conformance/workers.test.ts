/**
 * The conformance suite's worker check for every registered strategy: a worker adapter
 * (worker_threads, Comlink) gives the in-thread adapter's outputs, predictions and state
 * (within the suite's tolerance), snapshots restore across the boundary, and errors arrive typed.
 * Strategies of a user's own, loaded from their modules: userStrategyWorker.test.ts.
 */
import '@tensorflow/tfjs';
import { beforeAll, describe, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { runStrategyConformance } from '../../src/testing/index.js';
import { getStrategy, listStrategies } from '../../strategies/registry.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { CONFORMANCE_TABLE } from './table.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

for (const name of listStrategies()) {
  runStrategyConformance(getStrategy(name), {
    describe,
    it,
    options: CONFORMANCE_TABLE[name]?.options ?? {},
    only: ['worker'],
    createWorkerAdapter: (model, options) => createWorkerAdapter({ model, ...options } as never),
  });
}
