/**
 * worker_threads version of {@link WorkerPlatform} (Node only: it imports `node:` modules).
 * Reached from `workers/node.ts`, never from the browser entry.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { WorkerPlatform } from './platform.js';

export const nodePlatform: WorkerPlatform = {
  async spawn() {
    // From dist the compiled entry runs as is; from the TypeScript sources (vitest, tsx) a
    // small .mjs entry registers tsx's loader in the worker thread and imports the .ts entry
    // (`execArgv: ['--import', 'tsx']` does not reach a worker's entry module on Node 20).
    const fromSources = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSources ? './node.worker.dev.mjs' : './node.worker.js', import.meta.url);
    const worker = new Worker(entry);
    return { worker, endpoint: nodeEndpoint(worker as never) };
  },
  async endpointOf(worker) {
    // A Web Worker (Node has none built in, but a polyfill may) is a Comlink endpoint as it is.
    if ('addEventListener' in worker) return worker as never;
    return nodeEndpoint(worker as never);
  },
  // A file path becomes absolute: the worker's working directory may differ.
  modelUrl: (model) => (/^(https?|file):/.test(model) ? model : resolve(model)),
  // A URL (any scheme of two letters or more: data:, file:, https:) as it is; anything else is a
  // path, made absolute and a file URL here, where '#', '?' and '%' in it are encoded as such.
  moduleUrl: (module) => (/^[a-z][a-z\d+.-]+:/i.test(module) ? module : pathToFileURL(resolve(module)).href),
};
