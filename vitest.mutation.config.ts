import { defineConfig } from 'vitest/config';

/**
 * The tests mutation testing runs (stryker.config.json). A run is scoped to a few files with
 * `--mutate`, and to the tests that exercise them with MUTATION_TESTS (comma-separated paths),
 * e.g. MUTATION_TESTS=tests/core/adam.test.ts npm run test:mutation -- --mutate strategies/adam.ts.
 * CONFORMANCE_FAST=1 makes the conformance suite skip the worker check and shorten its long run.
 * Worker tests are left out by default: a mutant is switched on in the test process, not in a
 * worker thread.
 */
const DEFAULT = ['tests/conformance/**/*.test.ts', 'tests/strategies/**/*.test.ts', 'tests/core/**/*.test.ts'];

export default defineConfig({
  test: {
    include: process.env.MUTATION_TESTS?.split(',') ?? DEFAULT,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
