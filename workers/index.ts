/**
 * `edge-tta/workers`: adaptation off the main thread. `createWorkerAdapter` runs an adapter in
 * a Web Worker (browsers) or a worker_threads Worker (Node) behind the `Adapter` interface.
 *
 * The calling side imports no TensorFlow.js. The worker's side, `createWorkerService` (for a
 * worker entry of your own), is `edge-tta/workers/service`: re-exported here, it loaded all of
 * tfjs on Node's main thread (no tree-shaking there) and registered the wasm backend first,
 * which broke an app's own tfjs on its first synchronous op.
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
