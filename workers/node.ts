/**
 * `edge-tta/workers` in Node (the `node` export condition): the same API as `workers/index.ts`,
 * with `createWorkerAdapter` running the adapter in a worker_threads Worker.
 */
import { createWorkerAdapter as createWebWorkerAdapter, createWorkerAdapterOn } from './createWorkerAdapter.js';
import { nodePlatform } from './nodePlatform.js';

export * from './index.js';

/**
 * Runs an adapter in a worker_threads Worker through Comlink, behind the in-thread adapter's
 * interface. See the browser version's documentation in `edge-tta/workers` for the details.
 */
export const createWorkerAdapter: typeof createWebWorkerAdapter = (config) => createWorkerAdapterOn(nodePlatform, config);
