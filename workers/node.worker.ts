/**
 * worker_threads entry of the worker adapter (Node). Runs the compiled `node.worker.js`
 * from dist, or this `.ts` source through tsx's loader in development and tests.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { fileHandler } from './nodeModelFiles.js';
import { createWorkerService } from './service.js';

if (parentPort === null) throw new Error('node.worker must run in a worker_threads Worker.');
Comlink.expose(createWorkerService({ fileHandler, messages: parentPort }), nodeEndpoint(parentPort));
