/**
 * Mutation testing, one source file per Stryker run (see docs/testing.md): for each file, the fast
 * tests that exercise it and the strategies the conformance suite is narrowed to. Every mutant then
 * runs only the tests that cover it (Stryker's perTest coverage), so a run costs minutes, not hours.
 */
export interface MutationTarget {
  /** Test files (vitest.mutation.config.ts reads them from MUTATION_TESTS). */
  tests: string[];
  /** Strategies the conformance suite runs (CONFORMANCE_STRATEGIES); none: the suite is not run. */
  conformance?: string[];
}

const CONFORMANCE = 'tests/conformance/strategies.test.ts';
/** Every option's error message (fast: no model). */
const OPTIONS = 'tests/core/optionErrors.test.ts';
/** Every built-in instance's name and needs, and its errors after dispose() (fast). */
const DEFINITIONS = 'tests/strategies/definitions.test.ts';

export const MUTATION_TARGETS: Record<string, MutationTarget> = {
  'strategies/adam.ts': { tests: ['tests/core/adam.test.ts'] },
  'strategies/teacher.ts': { tests: ['tests/strategies/cotta.teacher.test.ts', 'tests/strategies/cotta.test.ts'] },
  'strategies/tent.ts': { tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/strategies/tent.test.ts'], conformance: ['tent'] },
  'strategies/bnAdapt.ts': { tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/core/adapter.test.ts'], conformance: ['bn-adapt'] },
  'strategies/alphaBn.ts': { tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/strategies/alphaBn.test.ts'], conformance: ['alpha-bn'] },
  'strategies/normStats.ts': {
    tests: [OPTIONS, 'tests/strategies/normStatsOptions.test.ts', 'tests/strategies/normStats.test.ts', 'tests/strategies/alphaBn.test.ts', 'tests/strategies/forwardNorm.test.ts', 'tests/strategies/tent.test.ts', 'tests/strategies/lifecycleLeaks.test.ts'],
  },
  'strategies/lame.ts': {
    tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/strategies/lame.test.ts', 'tests/strategies/lame.graph.test.ts', 'tests/safety/safeDefaults.test.ts'],
    conformance: ['lame'],
  },
  'strategies/cotta.ts': {
    tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/strategies/cotta.test.ts', 'tests/core/predict.test.ts', 'tests/safety/safeDefaults.test.ts', 'tests/safety/budgetCheapPredict.test.ts'],
    conformance: ['cotta'],
  },
  'strategies/vida.ts': { tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/strategies/vida.test.ts', 'tests/core/predict.test.ts'], conformance: ['vida'] },
  'strategies/vidaAdapters.ts': {
    tests: ['tests/strategies/vidaAdapters.test.ts', 'tests/strategies/vida.test.ts'],
  },
  'strategies/roid.ts': { tests: [DEFINITIONS, OPTIONS, CONFORMANCE, 'tests/strategies/roid.test.ts', 'tests/core/predict.test.ts'], conformance: ['roid'] },
  'strategies/source.ts': {
    tests: [CONFORMANCE, 'tests/core/adapter.test.ts', 'tests/strategies/lame.graph.test.ts', DEFINITIONS],
    conformance: ['source'],
  },
  'strategies/baseStrategy.ts': {
    tests: ['tests/strategies/baseStrategy.test.ts', DEFINITIONS, CONFORMANCE, 'tests/core/adapter.test.ts', 'tests/core/snapshots.test.ts'],
    conformance: ['source', 'bn-adapt', 'tent'],
  },
  'strategies/forwardNormStrategy.ts': {
    tests: ['tests/strategies/forwardNorm.test.ts', DEFINITIONS, CONFORMANCE, 'tests/core/adapter.test.ts'],
    conformance: ['bn-adapt', 'alpha-bn'],
  },
  'strategies/registry.ts': {
    tests: ['tests/strategies/registry.test.ts', 'tests/core/customStrategy.test.ts', 'tests/core/adapter.test.ts', 'tests/conformance/userStrategy.test.ts'],
  },
  'strategies/strategy.ts': { tests: ['tests/core/customStrategy.test.ts'] },
  'src/model/batchNorm.ts': {
    tests: ['tests/core/batchNorm.test.ts', CONFORMANCE, 'tests/strategies/alphaBn.test.ts'],
    conformance: ['bn-adapt'],
  },
  'src/model/bnFold.ts': { tests: ['tests/core/bnFoldGroups.test.ts', 'tests/core/bnFold.test.ts'] },
  'src/model/tapedConv.ts': { tests: ['tests/core/tapedConv.test.ts', 'tests/strategies/tent.test.ts'] },
  'src/model/executor.ts': { tests: ['tests/core/executorRelease.test.ts', 'tests/core/executor.test.ts', 'tests/core/bnFold.test.ts', 'tests/core/tapedConv.test.ts', 'tests/core/adapter.test.ts'] },
  'src/model/graphPlan.ts': { tests: ['tests/core/graphPlan.test.ts', 'tests/core/executor.test.ts', 'tests/strategies/lame.graph.test.ts'] },
  'src/model/introspect.ts': { tests: ['tests/core/introspect.test.ts', 'tests/core/adapter.test.ts', 'tests/core/adapterArgs.test.ts'] },
  'src/model/layerKinds.ts': { tests: ['tests/core/layerKinds.test.ts', 'tests/core/adapter.test.ts'] },
  'src/model/stateSpec.ts': { tests: ['tests/core/stateSpec.test.ts', 'tests/core/snapshots.test.ts', 'tests/core/snapshotFuzz.test.ts'] },
  'src/model/target.ts': { tests: ['tests/core/target.test.ts', 'tests/strategies/lame.graph.test.ts', 'tests/core/adapterArgs.test.ts', 'tests/core/graphPlan.test.ts', 'tests/strategies/tent.test.ts'] },
  'src/model/weights.ts': { tests: ['tests/core/weights.test.ts', 'tests/core/snapshots.test.ts', 'tests/core/snapshotFuzz.test.ts'] },
};
