/**
 * What `createWorkerAdapter` needs from the runtime: how to start edge-tta's worker and talk to
 * it. The Web Worker version lives here (browser-safe: no `node:` import); the worker_threads
 * version is in `nodePlatform.ts`, reached only from the Node entry (`workers/node.ts`, the
 * `node` export condition of `edge-tta/workers`), so browser bundles never see `node:` modules.
 */
import type * as Comlink from 'comlink';
import { BackendError } from '../src/errors.js';

/** A minimal worker handle: a Web Worker or a worker_threads Worker. */
export type WorkerHandle = { terminate(): unknown };

/** A worker started by a {@link WorkerPlatform}. */
export interface SpawnedWorker {
  worker: WorkerHandle;
  endpoint: Comlink.Endpoint;
  /** The URL of the worker's script, named when the worker fails with no message (browsers). */
  script?: string;
}

/** How one runtime starts edge-tta's worker entry and connects Comlink to it. */
export interface WorkerPlatform {
  /**
   * A new worker running edge-tta's worker entry, and the Comlink endpoint to talk to it; `script`:
   * the URL of the entry it loads, where a failure to load it may go unexplained (a browser's
   * `error` event for a worker script that could not be loaded has no message).
   */
  spawn(): Promise<SpawnedWorker>;
  /** The Comlink endpoint of a worker the caller created. */
  endpointOf(worker: WorkerHandle): Promise<Comlink.Endpoint>;
  /** A model given as a string, as the worker will load it (Node resolves file paths). */
  modelUrl(model: string): string;
  /** A strategy module (`strategyModules`) as the worker will import it: a URL (Node makes a file path one). */
  moduleUrl(module: string): string;
}

/**
 * The worker entry's file name, resolved at run time by {@link entryUrl}. Not written as
 * `new URL('./browser.worker.js', import.meta.url)` a second time: bundlers take that form for an
 * asset and would emit a second, unbundled copy of the entry.
 */
const WORKER_ENTRY = './browser.worker.js';

/**
 * The URL `new Worker(new URL('./browser.worker.js', import.meta.url))` loads when no bundler
 * rewrote it (no bundler, esbuild, Rollup without a worker plugin: where a missing entry is the
 * usual failure); none where the module URL is a build machine's file (webpack inlines
 * `import.meta.url`) in a page that is not.
 */
function entryUrl(): { script?: string } {
  try {
    const url = new URL(WORKER_ENTRY, import.meta.url);
    const page = (globalThis as { location?: { protocol?: string } }).location?.protocol;
    return url.protocol === 'file:' && page !== undefined && page !== 'file:' ? {} : { script: url.href };
  } catch {
    return {};
  }
}

/** Web Workers (browsers, Deno, and any runtime with a global `Worker`). */
export const webPlatform: WorkerPlatform = {
  async spawn() {
    if (typeof Worker === 'undefined') {
      throw new BackendError(
        "createWorkerAdapter: this runtime has no Web Worker. In Node, import from 'edge-tta/workers' " +
          "(Node resolves its worker_threads entry), or pass `worker` with a worker you created.",
      );
    }
    // This exact form lets bundlers (Vite, webpack 5, Parcel) find and bundle the worker entry.
    const worker = new Worker(new URL('./browser.worker.js', import.meta.url), { type: 'module' });
    return { worker, endpoint: worker, ...entryUrl() };
  },
  async endpointOf(worker) {
    if (!('addEventListener' in worker)) {
      throw new BackendError(
        "createWorkerAdapter: `worker` is not a Web Worker. For a worker_threads Worker, import from 'edge-tta/workers' in Node.",
      );
    }
    return worker as unknown as Comlink.Endpoint;
  },
  modelUrl: (model) => model,
  moduleUrl: (module) => module,
};
