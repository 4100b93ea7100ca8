/**
 * What crosses the worker boundary: the model payload, the init message and the service
 * the worker exposes through Comlink. Everything here is structured-cloneable.
 */
import type * as tf from '../src/tf.js';
import type { PredictOutput, StepOutput } from '../src/adapter.js';
import type { BackendInfo, BackendOptions } from '../src/backend/initBackend.js';
import type { MetricsRecord } from '../src/metrics/stepMetrics.js';

/** A model as `model.json` content plus its weight bytes (what `tf.io.withSaveHandler` gives). */
export interface ModelArtifactsPayload {
  kind: 'artifacts';
  /** `'layers-model'` or `'graph-model'` (a converted model); absent means a LayersModel. */
  format?: string;
  /** The `modelTopology` of model.json. */
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  /** The weights, concatenated in `weightSpecs` order. Transferred to the worker. */
  weightData: ArrayBuffer;
}

/** A model the worker loads itself: an http(s) URL of its model.json, or in Node a file path / file:// URL. */
export interface ModelUrlPayload {
  kind: 'url';
  url: string;
  /** Load with `tf.loadGraphModel` (a converted model) instead of `tf.loadLayersModel`. */
  graph: boolean;
}

/** How the model reaches the worker. */
export type ModelPayload = ModelArtifactsPayload | ModelUrlPayload;

/** The first message: everything the worker needs to build its adapter. */
export interface WorkerInit {
  model: ModelPayload;
  strategy: string;
  /** The adapter's options as `createAdapter` takes them, without `strategy` (strategy options, `seed`, `graphNodes`...). */
  options: Record<string, unknown>;
  backend: BackendOptions;
  /** URLs of ES modules whose default export is a strategy definition (or an array of them) to register first. */
  strategyModules?: string[];
}

/** One frame on its way to the worker: float pixels with their shape, or an image read to RGBA bytes. */
export type WireFrame =
  | { kind: 'float'; data: Float32Array; shape: number[] }
  | { kind: 'rgba'; data: Uint8ClampedArray; width: number; height: number };

/** A batch on its way to the worker: float pixels [n, h, w, c], or frames converted one by one there. */
export type WireBatch = { kind: 'batch'; data: Float32Array; shape: number[] } | { kind: 'frames'; frames: WireFrame[] };

/** What `init` answers. */
export interface WorkerReady {
  inputShape: number[];
  numClasses: number;
  backend: BackendInfo;
}

/** The API a worker exposes (every method is async across the boundary). */
export interface WorkerService {
  /**
   * `metrics`: the port the worker sends its metrics records on (a Comlink-exposed callback at the
   * other end, which answers once it took a record); a function (a `Comlink.proxy`) also works.
   */
  init(init: WorkerInit, metrics: MessagePort | ((record: MetricsRecord) => void)): Promise<WorkerReady>;
  step(batch: WireBatch, labels?: number[]): Promise<StepOutput>;
  predict(batch: WireBatch): Promise<PredictOutput>;
  reset(): Promise<void>;
  snapshot(): Promise<Uint8Array>;
  restore(bytes: Uint8Array): Promise<void>;
  getConfig(): Promise<Record<string, unknown>>;
  /** `tf.memory()` in the worker (to check that terminate frees everything). */
  memory(): Promise<{ numTensors: number; numBytes: number }>;
  dispose(): Promise<void>;
  /**
   * @internal For the tests of the worker adapter's fault handling only, not part of the API:
   * the `afterSteps + 1`-th step call from now makes this worker fail instead of stepping.
   */
  __injectFault(kind: InjectedFault, afterSteps: number): Promise<void>;
}

/**
 * @internal How {@link WorkerService.__injectFault} makes a worker fail: exit (`process.exit`
 * in Node, `close()` in a Web Worker), throw an uncaught error, spin in a synchronous endless
 * loop, leave the step's promise pending forever, receive the step's message as one that
 * could not be deserialised (a `messageerror` event on the worker's port, the step unanswered),
 * or receive the answer to the step's metrics record so (`'metrics-messageerror'`: on the metrics
 * port, the step waiting for that answer).
 */
export type InjectedFault = 'exit' | 'throw' | 'spin' | 'never' | 'messageerror' | 'metrics-messageerror';
