/**
 * The conformance suite's worker check for strategies a user wrote and loads in a worker through
 * `strategyModules` (the suite's `strategyModule` option): a correct module passes; a module that
 * works in-thread but not in a worker fails with a message naming the problem.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidOptionError, registerStrategy, type StrategyDefinition } from '../../src/index.js';
import { ConformanceError, runStrategyConformance, strategyConformanceChecks, type WorkerAdapterFactory } from '../../src/testing/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { biasEntropyStrategy } from '../helpers/biasEntropyStrategy.js';
import { priorEma } from '../helpers/exampleStrategy.js';
import { setTemperature, tempered } from './fixtures/moduleStateStrategy.js';
import { scheduled } from './fixtures/callbackOptionStrategy.js';
import { namedOnly } from './fixtures/noDefaultExportStrategy.js';
import { priorEmaV1 } from './fixtures/renamedStrategy.js';
import { selfRegistering } from './fixtures/selfRegisteringStrategy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (file: string) => path.join(here, 'fixtures', file);
const EXAMPLE = path.join(here, '../helpers/exampleStrategy.ts');

/** As a user passes it: the suite's options on to createWorkerAdapter as they are. */
const inWorker: WorkerAdapterFactory = (model, options) => createWorkerAdapter({ model, ...options } as never);

// prior-ema corrects class-correlated streams: on the suite's models the guard would answer it with the source model.
const PRIOR_EMA_OPTIONS = { momentum: 0.5, guard: { maxShift: 0 } };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

// (a) Correct modules pass: the example of docs/custom-strategy.md, and a gradient-based one.
registerStrategy(priorEma);
runStrategyConformance(priorEma as unknown as StrategyDefinition, { describe, it, options: PRIOR_EMA_OPTIONS, only: ['worker'], createWorkerAdapter: inWorker, strategyModule: EXAMPLE });

registerStrategy(biasEntropyStrategy);
runStrategyConformance(biasEntropyStrategy as unknown as StrategyDefinition, {
  describe,
  it,
  options: { lr: 0.5 },
  only: ['worker'],
  createWorkerAdapter: inWorker,
  strategyModule: fixture('biasEntropyModule.ts'),
});

// A module that registers its definition when imported, as well as exporting it (the worker
// imports it, which registers it there, then registers the default export: the same definition).
runStrategyConformance(selfRegistering, { describe, it, options: PRIOR_EMA_OPTIONS, only: ['worker'], createWorkerAdapter: inWorker, strategyModule: fixture('selfRegisteringStrategy.ts') });

/** The worker check's failure message (it must fail with a ConformanceError). */
async function workerFailure(def: StrategyDefinition, strategyModule: string | undefined, options: Record<string, unknown> = PRIOR_EMA_OPTIONS): Promise<string> {
  const checks = strategyConformanceChecks(def, { options, only: ['worker'], createWorkerAdapter: inWorker, ...(strategyModule !== undefined ? { strategyModule } : {}) });
  expect(checks.map((c) => c.id)).toEqual(['worker']);
  const err = await checks[0]!.run().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConformanceError);
  return (err as Error).message;
}

describe('the worker check catches a user strategy module that breaks in a worker', () => {
  it('module-level state set in this thread: the in-thread checks pass, the worker check fails naming module-level state', async () => {
    registerStrategy(tempered);
    setTemperature(0.5); // the app's setting, made in the main thread only
    try {
      for (const check of strategyConformanceChecks(tempered, { options: PRIOR_EMA_OPTIONS, only: ['determinism', 'snapshot-restore', 'reset', 'predict'] })) {
        if (check.model === 'bn-resnet') await check.run();
      }
      const msg = await workerFailure(tempered, fixture('moduleStateStrategy.ts'));
      expect(msg).toMatch(/^worker vs in-thread adapter, step 1: probabilities .* apart \(> 0\.0001\)\. The worker imports the strategy module itself .* module level/);
      // With the module's default setting in this thread too, the same module passes: the setting was the difference.
      setTemperature(1);
      for (const check of strategyConformanceChecks(tempered, { options: PRIOR_EMA_OPTIONS, only: ['worker'], createWorkerAdapter: inWorker, strategyModule: fixture('moduleStateStrategy.ts') })) await check.run();
    } finally {
      setTemperature(1);
    }
  });

  it('a module whose default export is another definition than the one registered here: fails naming the name and what the worker has', async () => {
    registerStrategy(priorEmaV1);
    const msg = await workerFailure(priorEmaV1, fixture('renamedStrategy.ts'));
    expect(msg).toMatch(/the worker imported the strategy module .*renamedStrategy\.ts, but no strategy 'prior-ema-v1' is registered there/);
    expect(msg).toMatch(/Valid strategies: .*'prior-ema-v2'/);
    expect(msg).toMatch(/default export must be the definition registered here as 'prior-ema-v1'/);
  });

  it('a module without a default export: fails saying the worker could not load it, and why', async () => {
    registerStrategy(namedOnly);
    const msg = await workerFailure(namedOnly, fixture('noDefaultExportStrategy.ts'));
    expect(msg).toMatch(/^the worker could not load the strategy module .*noDefaultExportStrategy\.ts: .*has no default export/);
  });

  it("an option the structured clone refuses (a function): fails naming the option, as createWorkerAdapter's InvalidOptionError", async () => {
    registerStrategy(scheduled);
    const options = { ...PRIOR_EMA_OPTIONS, momentumAt: () => 0.5 };
    const msg = await workerFailure(scheduled, fixture('callbackOptionStrategy.ts'), options);
    expect(msg).toMatch(/^createWorkerAdapter failed: InvalidOptionError: createWorkerAdapter: option 'momentumAt' cannot be sent to the worker/);
  });

  it('a user strategy checked in a worker without its module: fails saying to pass strategyModule', async () => {
    const msg = await workerFailure(priorEma as unknown as StrategyDefinition, undefined);
    expect(msg).toMatch(/^the worker has no strategy 'prior-ema' .*pass strategyModule/);
  });

  it('strategyModule without createWorkerAdapter is refused at once (the worker check would not run), and a module that is not a string', () => {
    const def = priorEma as unknown as StrategyDefinition;
    expect(() => strategyConformanceChecks(def, { strategyModule: EXAMPLE })).toThrow(InvalidOptionError);
    expect(() => strategyConformanceChecks(def, { strategyModule: EXAMPLE })).toThrow(/strategyModule needs createWorkerAdapter/);
    expect(strategyConformanceChecks(def, { strategyModule: EXAMPLE, skip: ['worker'] }).some((c) => c.id === 'worker')).toBe(false);
    expect(() => strategyConformanceChecks(def, { strategyModule: 42 as never, createWorkerAdapter: inWorker })).toThrow(/strategyModule must be the URL/);
  });
});
