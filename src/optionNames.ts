/**
 * The names of the options that sit beside a strategy's own options in the one flat object
 * `createAdapter(model, {...})` and `createWorkerAdapter({...})` take. A strategy option may not
 * use any of them (built-in strategies are checked by a test, user strategies by
 * `registerStrategy`). Add a new adapter-level option here.
 */

/** Options every adapter takes, in-thread or in a worker. */
export const ADAPTER_OPTION_NAMES: readonly string[] = Object.freeze(['strategy', 'seed', 'graphNodes', 'preprocess', 'guard', 'shiftDetection', 'budget']);

/** Options only `createWorkerAdapter` takes (they configure the worker, not the adapter in it). */
export const WORKER_OPTION_NAMES: readonly string[] = Object.freeze(['model', 'graphModel', 'backend', 'worker', 'transfer', 'strategyModules', 'timeoutMs', 'startTimeoutMs', 'resume']);
