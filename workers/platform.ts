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

/** How one runtime starts edge-tta's worker entry and connects Comlink to it. */
export interface WorkerPlatform {
  /** A new worker running edge-tta's worker entry, and the Comlink endpoint to talk to it. */
  spawn(): Promise<{ worker: WorkerHandle; endpoint: Comlink.Endpoint }>;
  /** The Comlink endpoint of a worker the caller created. */
  endpointOf(worker: WorkerHandle): Promise<Comlink.Endpoint>;
  /** A model given as a string, as the worker will load it (Node resolves file paths). */
  modelUrl(model: string): string;
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
    return { worker, endpoint: worker };
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
};
