/**
 * `edge-tta/workers`: adaptation off the main thread. `createWorkerAdapter` runs an adapter in
 * a Web Worker (browsers) or a worker_threads Worker (Node) behind the `Adapter` interface.
 */
export {
  createWorkerAdapter,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  type WorkerAdapter,
  type WorkerCallOptions,
  type WorkerResumeOptions,
  type WorkerAdapterConfig,
  type WorkerHandle,
  type WorkerModelSource,
  type WorkerOptions,
} from './createWorkerAdapter.js';
export type {
  ModelArtifactsPayload,
  ModelPayload,
  ModelUrlPayload,
  WireBatch,
  WireFrame,
  WorkerInit,
  WorkerReady,
  WorkerService,
} from './protocol.js';
export { createWorkerService, type WorkerServiceOptions } from './service.js';
