/**
 * `createWorkerAdapter`: the adapter of `src/adapter.ts`, run in a Web Worker (browsers) or a
 * worker_threads Worker (Node) through Comlink, behind the same `Adapter` interface.
 */
import * as tf from '../src/tf.js';
import * as Comlink from 'comlink';
import { Subject, type Observable } from 'rxjs';
import type { Adapter, AdapterOptions, PredictOutput, StepOutput } from '../src/adapter.js';
import type { BackendInfo, BackendOptions } from '../src/backend/initBackend.js';
import type { GraphModelNodes } from '../src/model/target.js';
import * as errors from '../src/errors.js';
import { foreignModelMessage } from '../src/foreignTfjs.js';
import type { BatchInput } from '../src/input.js';
import { StreamCounters, type MemoryFigures, type MetricsRecord, type StreamEvent } from '../src/metrics/stepMetrics.js';
import type { StrategyName } from '../strategies/registry.js';
import { webPlatform, type WorkerHandle, type WorkerPlatform } from './platform.js';
import type { ModelArtifactsPayload, ModelPayload, WorkerService } from './protocol.js';

export type { WorkerHandle } from './platform.js';

/** Where the worker gets the model from. */
export type WorkerModelSource =
  /** Serialised here (`model.json` + weights through `tf.io.withSaveHandler`) and sent to the worker. */
  | tf.LayersModel
  | tf.GraphModel
  /** An http(s) URL of a model.json the worker loads itself; in Node also a file path or file:// URL. */
  | string
  /** Artifacts you already hold (e.g. read from IndexedDB): `model.json` content and the weight bytes. */
  | {
      modelJson: { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig; format?: string };
      weights: ArrayBuffer | ArrayBuffer[];
    };

/** The options `createWorkerAdapter` takes besides the adapter's own (they configure the worker). */
export interface WorkerOptions {
  /** The model to adapt. A `tf.LayersModel` is copied to the worker; the original is not touched. */
  model: WorkerModelSource;
  /**
   * For a model given as a URL: it is a converted GraphModel (`tf.loadGraphModel`). Defaults to
   * true when `graphNodes` is given, else false. Artifacts and model objects say it themselves.
   */
  graphModel?: boolean;
  /**
   * The worker's backend. Defaults to `{ backend: 'wasm' }`. In browsers pass `wasmPaths` with
   * the absolute URL of the folder that serves the tfjs-backend-wasm `.wasm` files.
   */
  backend?: BackendOptions;
  /**
   * Transfer the buffer of `{ data, shape }` batches to the worker instead of copying it: it is
   * detached (length 0) after `step` / `predict`, so the caller must not reuse it. Defaults to
   * false (copied; the caller's array is untouched).
   */
  transfer?: boolean;
  /**
   * A worker you created yourself running edge-tta's worker entry (`browser.worker.js` or
   * `node.worker.js`), e.g. for a bundler. Defaults to a new worker on the entry next to this module.
   */
  worker?: WorkerHandle;
}

/**
 * Options of {@link createWorkerAdapter}: one flat object, the same fields `createAdapter`
 * takes (`strategy`, its options, `seed`, `graphNodes`...) beside the worker's own
 * ({@link WorkerOptions}). The strategy's options are typed by `strategy`.
 */
export type WorkerAdapterConfig<N extends StrategyName> = AdapterOptions<N> & WorkerOptions;

/** An {@link Adapter} running in a worker. */
export interface WorkerAdapter extends Adapter {
  /** What the worker's `initBackend` got. */
  readonly backend: BackendInfo;
  /** `tf.memory()` inside the worker. */
  workerMemory(): Promise<MemoryFigures>;
  /** Frees the worker's tensors and terminates it. `dispose()` does the same without waiting. */
  terminate(): Promise<void>;
}

const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  InvalidInputError: errors.InvalidInputError,
  UnsupportedModelError: errors.UnsupportedModelError,
  UnknownStrategyError: errors.UnknownStrategyError,
  InvalidOptionError: errors.InvalidOptionError,
  BackendError: errors.BackendError,
  DisposedError: errors.DisposedError,
  BackpressureError: errors.BackpressureError,
  InvalidSnapshotError: errors.InvalidSnapshotError,
  ModelInUseError: errors.ModelInUseError,
};

/**
 * Comlink sends a thrown error as `{ name, message, stack }` and rebuilds a plain `Error`;
 * this gives edge-tta errors back their class (so `instanceof InvalidInputError` works) and
 * keeps the worker's stack.
 */
function reviveError(err: unknown): unknown {
  const e = err as { name?: unknown; message?: unknown; stack?: unknown } | null;
  if (e === null || typeof e !== 'object' || typeof e.name !== 'string') return err;
  const Cls = ERROR_CLASSES[e.name];
  if (Cls === undefined || err instanceof Cls) return err;
  const revived = new Cls(String(e.message ?? ''));
  if (typeof e.stack === 'string') revived.stack = `${e.name}: ${String(e.message)}\n    [in the worker]\n${e.stack.split('\n').slice(1).join('\n')}`;
  return revived;
}


function toArtifacts(
  modelJson: { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig; format?: string },
  weights: ArrayBuffer | ArrayBuffer[],
): ModelArtifactsPayload {
  return {
    kind: 'artifacts',
    ...(modelJson.format !== undefined ? { format: modelJson.format } : {}),
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: tf.io.concatenateArrayBuffers(weights),
  };
}

async function toPayload(model: WorkerModelSource, graph: boolean, platform: WorkerPlatform): Promise<ModelPayload> {
  if (model instanceof tf.LayersModel || model instanceof tf.GraphModel) {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const a = artifacts!;
    return {
      kind: 'artifacts',
      format: model instanceof tf.GraphModel ? 'graph-model' : 'layers-model',
      modelTopology: a.modelTopology as object,
      weightSpecs: a.weightSpecs ?? [],
      weightData: tf.io.concatenateArrayBuffers(a.weightData ?? []),
    };
  }
  if (typeof model === 'string') return { kind: 'url', url: platform.modelUrl(model), graph };
  if (typeof model === 'object' && model !== null && 'modelJson' in model && 'weights' in model) return toArtifacts(model.modelJson, model.weights);
  const foreign = foreignModelMessage(model, 'createWorkerAdapter');
  if (foreign !== null) throw new errors.UnsupportedModelError(foreign);
  throw new errors.InvalidInputError(
    'createWorkerAdapter: `model` must be a tf.LayersModel or tf.GraphModel, a model.json URL (or a file path in Node), or { modelJson, weights }.',
  );
}

/** Calls `onDeath` when the worker fails or exits (a crash must reject pending calls, not hang them). */
function watchWorker(worker: WorkerHandle, onDeath: (err: Error) => void): void {
  const w = worker as Partial<{
    on(type: string, listener: (arg: unknown) => void): void;
    addEventListener(type: string, listener: (event: { message?: string }) => void): void;
  }>;
  if (typeof w.addEventListener === 'function') {
    w.addEventListener('error', (e) => onDeath(new Error(`The adapter's worker failed: ${e.message ?? 'unknown error'}.`)));
  } else if (typeof w.on === 'function') {
    w.on('error', (e) => onDeath(e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => onDeath(new Error(`The adapter's worker exited (code ${String(code)}).`)));
  }
}

class RemoteAdapter implements WorkerAdapter {
  readonly metrics$: Observable<MetricsRecord>;
  private readonly metrics = new Subject<MetricsRecord>();
  private readonly counters = new StreamCounters();
  private lastMemory: MemoryFigures = { numTensors: 0, numBytes: 0 };
  private disposed = false;
  private terminating: Promise<void> | null = null;
  private death: Error | null = null;
  private readonly deathWatchers = new Set<(err: Error) => void>();
  inputShape: readonly number[] = [];
  numClasses = 0;
  backend!: BackendInfo;

  constructor(
    readonly strategy: StrategyName,
    private readonly remote: Comlink.Remote<WorkerService>,
    private readonly worker: WorkerHandle,
    private readonly transfer: boolean,
  ) {
    this.metrics$ = this.metrics.asObservable();
    watchWorker(worker, (err) => {
      if (this.death !== null || this.terminating !== null) return;
      this.death = err;
      for (const reject of this.deathWatchers) reject(err);
      void this.terminate();
    });
  }

  /** Runs a remote call: worker errors get their edge-tta class back; a dead worker rejects the call. */
  call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.death !== null) return Promise.reject(this.death);
    let watcher!: (err: Error) => void;
    const died = new Promise<never>((_, reject) => (watcher = reject));
    this.deathWatchers.add(watcher);
    return Promise.race([fn(), died])
      .catch((err: unknown) => {
        throw reviveError(err);
      })
      .finally(() => this.deathWatchers.delete(watcher));
  }

  /** Step records from the worker, with this side's stream totals. */
  onWorkerMetrics(record: MetricsRecord): void {
    if (this.disposed) return;
    if (record.kind === 'step') {
      this.lastMemory = record.memory;
      this.metrics.next({ ...record, framesDropped: this.counters.framesDropped, frameErrors: this.counters.frameErrors });
    } else this.metrics.next(record);
  }

  step(batch: BatchInput, labels?: ArrayLike<number>): Promise<StepOutput> {
    return this.call(async () => {
      this.checkAlive();
      const { data, shape } = this.wire(batch);
      const labelArray = labels === undefined ? undefined : Array.from(labels);
      return this.remote.step(data, shape, labelArray);
    });
  }

  predict(batch: BatchInput): Promise<PredictOutput> {
    return this.call(async () => {
      this.checkAlive();
      const { data, shape } = this.wire(batch);
      return this.remote.predict(data, shape);
    });
  }

  /** A batch as its pixels and shape, marked for transfer when it is ours or `transfer` is set. */
  private wire(batch: BatchInput): { data: Float32Array | Int32Array | Uint8Array; shape: number[] } {
    {
      let data: Float32Array | Int32Array | Uint8Array;
      let shape: number[];
      let transfer = false;
      if (batch instanceof tf.Tensor) {
        if (batch.isDisposed) throw new errors.InvalidInputError('The batch tensor was already disposed.');
        if (batch.dtype !== 'float32') {
          throw new errors.InvalidInputError(
            `The batch has dtype ${batch.dtype}; expected float32. Convert it first, e.g. \`x.toFloat().div(255)\` for 8-bit pixels.`,
          );
        }
        // A copy of our own (dataSync may return the backend's storage), then transferred.
        data = new Float32Array(batch.dataSync() as Float32Array);
        shape = batch.shape;
        transfer = true;
      } else {
        if (batch === null || typeof batch !== 'object' || !('data' in batch) || !Array.isArray(batch.shape)) {
          throw new errors.InvalidInputError(`The batch must be a tf.Tensor or { data: Float32Array, shape }; got ${String(batch)}.`);
        }
        data = batch.data;
        shape = [...batch.shape];
        // Only a buffer the view spans exactly can be handed over (not a window into a larger one).
        transfer =
          this.transfer &&
          ArrayBuffer.isView(data) &&
          data.buffer instanceof ArrayBuffer &&
          data.byteOffset === 0 &&
          data.byteLength === data.buffer.byteLength;
      }
      return { data: transfer ? Comlink.transfer(data, [data.buffer as ArrayBuffer]) : data, shape };
    }
  }

  reset(): Promise<void> {
    return this.call(async () => {
      this.checkAlive();
      await this.remote.reset();
    });
  }

  snapshot(): Promise<Uint8Array> {
    return this.call(async () => {
      this.checkAlive();
      return this.remote.snapshot();
    });
  }

  restore(bytes: Uint8Array): Promise<void> {
    return this.call(async () => {
      this.checkAlive();
      await this.remote.restore(bytes);
    });
  }

  getConfig(): Promise<Record<string, unknown>> {
    return this.call(async () => {
      this.checkAlive();
      return this.remote.getConfig();
    });
  }

  workerMemory(): Promise<MemoryFigures> {
    return this.call(async () => {
      this.checkAlive();
      return this.remote.memory();
    });
  }

  report(event: StreamEvent): void {
    if (this.disposed) return;
    this.metrics.next(this.counters.record(event, this.lastMemory));
  }

  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      this.disposed = true;
      try {
        if (this.death === null) await this.remote.dispose();
      } catch {
        // The worker may already be gone; terminating it is what frees its memory.
      }
      this.remote[Comlink.releaseProxy]();
      await this.worker.terminate();
      this.metrics.complete();
    })();
    return this.terminating;
  }

  dispose(): void {
    void this.terminate();
  }

  private checkAlive(): void {
    if (this.disposed) throw new errors.DisposedError('The worker adapter was used after dispose() / terminate().');
  }
}

/**
 * Runs an adapter in a worker: a Web Worker in browsers, a worker_threads Worker in Node,
 * through Comlink. It has the in-thread adapter's interface (`step`, `metrics$`, `reset`,
 * `snapshot`/`restore` as bytes, `getConfig`, `dispose`), so `adapt(workerAdapter, ...)`
 * works unchanged while the main thread stays free. The options are `createAdapter`'s, flat,
 * plus the worker's own ({@link WorkerOptions}). The model travels as `model.json` plus weight
 * bytes (or as a URL the worker loads), batches are copied (or transferred with
 * `transfer: true`), and errors thrown in the worker arrive as the same edge-tta error classes,
 * name and message.
 *
 * @example
 * const adapter = await createWorkerAdapter({ model, strategy: 'tent', seed: 1, lr: 1e-3 });
 * frames$.pipe(adapt(adapter, { batchSize: 16 })).subscribe(show);
 * const bytes = await adapter.snapshot(); // persist; later: await adapter.restore(bytes)
 * await adapter.terminate();
 */
export function createWorkerAdapter<N extends StrategyName>(config: WorkerAdapterConfig<N>): Promise<WorkerAdapter> {
  return createWorkerAdapterOn(webPlatform, config);
}

/** {@link createWorkerAdapter} on a given runtime (`workers/node.ts` passes worker_threads). */
export async function createWorkerAdapterOn<N extends StrategyName>(
  platform: WorkerPlatform,
  config: WorkerAdapterConfig<N>,
): Promise<WorkerAdapter> {
  // The worker's own options stay here; everything else is createAdapter's, validated in the worker.
  const { model, graphModel, backend, transfer, worker: handle, strategy, ...options } = config as WorkerAdapterConfig<N> &
    Record<string, unknown>;
  const graph = graphModel ?? (options as { graphNodes?: GraphModelNodes }).graphNodes !== undefined;
  const payload = await toPayload(model, graph, platform);
  const { worker, endpoint } = handle !== undefined ? { worker: handle, endpoint: await platform.endpointOf(handle) } : await platform.spawn();
  const remote = Comlink.wrap<WorkerService>(endpoint);
  const adapter = new RemoteAdapter(strategy, remote, worker, transfer ?? false);
  try {
    const init = {
      model: payload,
      strategy,
      options: options as Record<string, unknown>,
      backend: backend ?? { backend: 'wasm' as const },
    };
    const ready = await adapter.call(() =>
      remote.init(
        payload.kind === 'artifacts' ? Comlink.transfer(init, [payload.weightData]) : init,
        Comlink.proxy((r: MetricsRecord) => adapter.onWorkerMetrics(r)),
      ),
    );
    adapter.inputShape = ready.inputShape;
    adapter.numClasses = ready.numClasses;
    adapter.backend = ready.backend;
    return adapter;
  } catch (err) {
    await adapter.terminate();
    throw err;
  }
}
