/**
 * Web Worker entry of the worker adapter (browsers). Load it as a module worker:
 * `new Worker(new URL('edge-tta/dist/workers/browser.worker.js', import.meta.url), { type: 'module' })`
 * (bundlers such as Vite and webpack 5 recognise this form and bundle the worker).
 */
import * as Comlink from 'comlink';
import { createWorkerService } from './service.js';

Comlink.expose(createWorkerService({ messages: self }));
