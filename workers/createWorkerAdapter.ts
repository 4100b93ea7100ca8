/**
 * `createWorkerAdapter`: the adapter of `src/adapter.ts`, run in a Web Worker (browsers) or a
 * worker_threads Worker (Node) through Comlink, behind the same `Adapter` interface.
 */
import type * as tf from '../src/tf.js';
import * as Comlink from 'comlink';
import { Subject, type Observable } from 'rxjs';
import type { Adapter, AdapterOptions, PredictOutput, StepOutput } from '../src/adapter.js';
import type { BackendInfo } from '../src/backend/initBackend.js';
import { checkBackendOptions, type BackendOptions } from '../src/backend/backendOptions.js';
import type { GraphModelNodes } from '../src/model/target.js';
import { resolvePreprocess, type PreprocessOptions, type ResolvedPreprocess } from '../src/preprocess.js';
import * as errors from '../src/errors.js';
import { checkLabels, checkOptionsObject } from '../src/adapterArgs.js';
import { isImageSource, readPixels, unrecognisedInputMessage, type BatchInput, type Frame, type RawBatch } from '../src/input.js';
import { checkFloat32Tensor, float32Values, isTensor, modelKind } from '../src/tensorLike.js';
import { StreamCounters, type MemoryFigures, type MetricsRecord, type StreamEvent } from '../src/metrics/stepMetrics.js';
import type { StrategyName } from '../strategies/registry.js';
import { webPlatform, type SpawnedWorker, type WorkerHandle, type WorkerPlatform } from './platform.js';
import { checkModelJson, checkWeightBytes, concatBytes } from './modelJson.js';
import type { InjectedFault, ModelArtifactsPayload, ModelPayload, WireBatch, WireFrame, WorkerInit, WorkerService } from './protocol.js';

export type { WorkerHandle } from './platform.js';

/** Where the worker gets the model from. */
export type WorkerModelSource =
  /** Serialised here (`model.json` + weights through `tf.io.withSaveHandler`) and sent to the worker. */
  | tf.LayersModel
  | tf.GraphModel
  /** An http(s) URL of a model.json the worker loads itself; in Node also a file path or file:// URL. */
  | string
  /**
   * Artifacts you already hold (e.g. read from IndexedDB): `model.json` content and the weight
   * bytes (copied: your buffers stay intact). A malformed one is an `InvalidModelError`.
   */
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
   * the absolute URL of the folder that serves the tfjs-backend-wasm `.wasm` files. Anything but
   * an object (e.g. `'cpu'` for `{ backend: 'cpu' }`) is an `InvalidOptionError`.
   */
  backend?: BackendOptions;
  /**
   * Strategies of your own for the worker to register before it builds the adapter: URLs of ES
   * modules (in Node also file paths) whose default export is a `StrategyDefinition` or an array
   * of them. The worker imports them itself (it has its own registry), so a module must be
   * loadable from the worker: an absolute URL in browsers, e.g.
   * `new URL('./myStrategy.js', import.meta.url).href`. See docs/custom-strategy.md.
   */
  strategyModules?: string[];
  /**
   * Transfer the buffer of `{ data, shape }` batches to the worker instead of copying it: it is
   * detached (length 0) after `step` / `predict`, so the caller must not reuse it (a detached
   * array sent again is refused with `InvalidInputError`, as an empty one). Only a view spanning
   * its whole buffer, used by one frame of the batch, is transferred; others are copied.
   * Defaults to false (copied; the caller's array is untouched).
   */
  transfer?: boolean;
  /**
   * A worker you created yourself running edge-tta's worker entry (`browser.worker.js` or
   * `node.worker.js`), e.g. for a bundler, or a function that creates one (needed with
   * `resume`, which starts new workers). Defaults to a new worker on the entry next to this module.
   */
  worker?: WorkerHandle | (() => WorkerHandle);
  /**
   * Longest time one call (`step`, `snapshot`, `restore`, `reset`, ...) may take, ms, counted
   * from when it is sent to the worker (calls run one at a time; waiting behind earlier calls
   * does not count). A call that does not settle in time rejects with `WorkerTimeoutError` and
   * the worker is deemed hung: it is stopped (and replaced under `resume`). Defaults to
   * 300,000 (5 min): never a false alarm for the slow strategies (a CoTTA or ViDA step of 64
   * frames takes 2-3 s on a free desktop core, but a first Tent step of 64 exceeded 60 s on an
   * oversubscribed machine); set a tighter bound for your device and batch size. `Infinity`:
   * no timeout. At most 2,147,483,647 (2^31 - 1, about 24.8 days: JavaScript timers fire at
   * once past it); a larger finite value throws `InvalidOptionError`. `step` and `predict`
   * take a per-call override.
   */
  timeoutMs?: number;
  /**
   * Longest start of a worker (spawn, backend, model load; on a restart also the restore), ms.
   * Defaults to 300,000 (5 min). A start that takes longer fails with `WorkerTimeoutError`.
   * `Infinity`: no timeout; as `timeoutMs`, at most 2,147,483,647.
   */
  startTimeoutMs?: number;
  /**
   * Auto-resume: snapshot the adapter's state every `snapshotEvery` steps (the bytes are kept
   * on the calling side) and replace a worker that dies or hangs by a new one restored from
   * the latest snapshot. The lost calls reject with `WorkerCrashedError` / `WorkerTimeoutError`
   * (`resuming: true`); `adapt()` turns their frames into error records and goes on. Each
   * restart publishes a `'worker-restart'` record on `metrics$`. Off by default.
   */
  resume?: WorkerResumeOptions;
}

function checkStrategyModules(modules: unknown): string[] {
  if (!Array.isArray(modules) || !modules.every((m) => typeof m === 'string' && m.length > 0)) {
    throw new errors.InvalidOptionError(
      `createWorkerAdapter: strategyModules must be an array of module URLs (in Node also file paths); got ${JSON.stringify(modules)?.slice(0, 80)}.`,
    );
  }
  return modules as string[];
}

/**
 * The adapter's options go to the worker by structured clone, which refuses functions and
 * symbols: such an option (a callback a strategy of your own takes, say, which in-thread
 * `createAdapter` passes on as it is) is an InvalidOptionError naming it, before a worker starts;
 * it was the runtime's DataCloneError, reported as an InvalidInputError about pixels.
 */
function checkCloneable(options: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(options)) {
    try {
      structuredClone(value);
    } catch (err) {
      throw new errors.InvalidOptionError(
        `createWorkerAdapter: option '${key}' cannot be sent to the worker: ${messageOf(err)} Options reach the worker by structured clone, which refuses functions and symbols: ` +
          'pass data (numbers, strings, arrays, plain objects), and build what the strategy needs from it in the strategy.',
        { cause: err },
      );
    }
  }
}

/**
 * Options of {@link createWorkerAdapter}: one flat object, the same fields `createAdapter`
 * takes (`strategy`, its options, `seed`, `graphNodes`...) beside the worker's own
 * ({@link WorkerOptions}). The strategy's options are typed by `strategy`.
 */
export type WorkerAdapterConfig<N extends StrategyName> = AdapterOptions<N> & WorkerOptions;

/** Auto-resume options of {@link createWorkerAdapter}. */
export interface WorkerResumeOptions {
  /** Snapshot every this many steps (a positive integer). Steps after the latest snapshot are lost on a restart. */
  snapshotEvery: number;
  /** Most restarts over the adapter's life; the next fault finishes the adapter. Defaults to Infinity. */
  maxRestarts?: number;
}

/** Per-call options of a worker adapter's `step`. */
export interface WorkerCallOptions {
  /** This call's timeout, ms (overrides the adapter's `timeoutMs`; the same range: up to 2^31 - 1, or Infinity). */
  timeoutMs?: number;
}

/** Default `timeoutMs` of {@link createWorkerAdapter}: five minutes per call. */
export const DEFAULT_TIMEOUT_MS = 300_000;
/** Default `startTimeoutMs` of {@link createWorkerAdapter}: five minutes per worker start. */
export const DEFAULT_START_TIMEOUT_MS = 300_000;

/** An {@link Adapter} running in a worker. */
export interface WorkerAdapter extends Adapter {
  /** What the worker's `initBackend` got. */
  readonly backend: BackendInfo;
  /** `tf.memory()` inside the worker. */
  workerMemory(): Promise<MemoryFigures>;
  /** As `Adapter.step`, with a per-call timeout. */
  step(batch: BatchInput, labels?: ArrayLike<number>, options?: WorkerCallOptions): Promise<StepOutput>;
  /** As `Adapter.predict`, with a per-call timeout. */
  predict(batch: BatchInput, options?: WorkerCallOptions): Promise<PredictOutput>;
  /**
   * Stops the worker at once, even one spinning in an endless loop (no message is sent to it
   * first; its heap and wasm memory go with it), rejects every pending call with
   * `WorkerTerminatedError` and completes `metrics$`. Always resolves. Later calls reject
   * with `DisposedError`. `dispose()` does the same without waiting.
   */
  terminate(): Promise<void>;
}

const ERROR_CLASSES: Record<string, new (message: string, options?: { cause?: unknown }) => Error> = {
  InvalidInputError: errors.InvalidInputError,
  UnsupportedModelError: errors.UnsupportedModelError,
  InvalidModelError: errors.InvalidModelError,
  UnknownStrategyError: errors.UnknownStrategyError,
  InvalidOptionError: errors.InvalidOptionError,
  BackendError: errors.BackendError,
  DisposedError: errors.DisposedError,
  BackpressureError: errors.BackpressureError,
  InvalidSnapshotError: errors.InvalidSnapshotError,
  ModelInUseError: errors.ModelInUseError,
  WorkerCrashedError: errors.WorkerCrashedError,
  WorkerTimeoutError: errors.WorkerTimeoutError,
  WorkerTerminatedError: errors.WorkerTerminatedError,
  ConformanceError: errors.ConformanceError,
  InvalidStrategyError: errors.InvalidStrategyError,
  OutOfMemoryError: errors.OutOfMemoryError,
};

/**
 * Comlink sends a thrown error as `{ name, message, stack }` and rebuilds a plain `Error`;
 * this gives edge-tta errors back their class (so `instanceof InvalidInputError` works) and
 * keeps the worker's stack.
 */
function reviveError(err: unknown): unknown {
  const e = err as { name?: unknown; message?: unknown; stack?: unknown; cause?: unknown } | null;
  if (e === null || typeof e !== 'object' || typeof e.name !== 'string') return err;
  const Cls = ERROR_CLASSES[e.name];
  if (Cls === undefined || err instanceof Cls) return err;
  // The worker sends an error's cause as { name, message, stack } (see workers/service.ts).
  const c = e.cause as { name?: unknown; message?: unknown; stack?: unknown } | undefined;
  const cause =
    c !== null && typeof c === 'object' && typeof c.message === 'string'
      ? Object.assign(new Error(c.message), typeof c.name === 'string' ? { name: c.name } : {}, typeof c.stack === 'string' ? { stack: c.stack } : {})
      : undefined;
  const revived = new Cls(String(e.message ?? ''), cause !== undefined ? { cause } : undefined);
  if (typeof e.stack === 'string') revived.stack = `${e.name}: ${String(e.message)}\n    [in the worker]\n${e.stack.split('\n').slice(1).join('\n')}`;
  return revived;
}

/**
 * A call whose arguments the structured clone refused (a function or symbol in a batch): the
 * caller's input, never reached the worker. An `InvalidInputError`, as in-thread, not the
 * runtime's `DataCloneError`.
 */
function unsendable(err: unknown): Error | undefined {
  if ((err as { name?: unknown } | null)?.name !== 'DataCloneError') return undefined;
  return new errors.InvalidInputError(`The call's arguments could not be sent to the worker: ${messageOf(err)} Pass pixels as typed arrays and shapes as arrays of numbers.`, {
    cause: err,
  });
}

/**
 * One new buffer from a model's weight buffers (what `tf.io.concatenateArrayBuffers` does). Always
 * a copy, as it is transferred to the worker: a GraphModel's save hands over its own artifacts'
 * buffer, which may be the caller's (`tf.io.fromMemory`), and must not be detached.
 */
function concatBuffers(buffers: ArrayBuffer | readonly ArrayBuffer[]): ArrayBuffer {
  const list = (Array.isArray(buffers) ? buffers : [buffers]) as readonly ArrayBuffer[];
  return concatBytes(list.map((b) => new Uint8Array(b))).buffer as ArrayBuffer;
}

/**
 * A copy of a caller's pixel array into a new buffer of its own, made with the array's class:
 * `view.slice()` is no copy for a Node Buffer (its `slice` is `subarray`), whose buffer would then
 * be transferred, detaching the caller's whole ArrayBuffer. A Buffer arrives as a Uint8Array.
 */
function copyOf<T extends Float32Array | Int32Array | Uint8Array | Uint8ClampedArray>(view: T): T {
  // An empty view, or one whose buffer an earlier transfer detached (the typed-array constructors
  // throw a TypeError on it): an empty array, which the worker refuses as the in-thread adapter does.
  if (view.byteLength === 0) return new (view.constructor as new (n: number) => T)(0);
  if (view instanceof Float32Array) return new Float32Array(view) as T;
  if (view instanceof Int32Array) return new Int32Array(view) as T;
  if (view instanceof Uint8ClampedArray) return new Uint8ClampedArray(view) as T;
  return new Uint8Array(view) as T;
}

/** The bytes of a weight buffer given as `{ modelJson, weights }`: an ArrayBuffer (or a view of one). */
function weightBytes(b: unknown, what: string): Uint8Array {
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  throw new errors.InvalidModelError(`createWorkerAdapter: ${what} must be an ArrayBuffer (or an array of them); got ${b === null ? 'null' : typeof b}.`);
}

/**
 * `{ modelJson, weights }` as the worker takes it, checked here before a worker starts, with the
 * check a model.json file gets in the worker (`checkModelJson`: structure, weight paths, weight
 * specs) and the weight bytes against the manifest (exactly its weights, no byte more or less).
 */
function toArtifacts(modelJson: unknown, weights: unknown): ModelArtifactsPayload {
  const where = 'createWorkerAdapter: { modelJson, weights }';
  const { json, specs } = checkModelJson(modelJson, `${where}: modelJson`);
  // Copied into one buffer of our own (it is transferred to the worker): the caller's stay intact.
  const parts = Array.isArray(weights) ? weights.map((b: unknown, i) => weightBytes(b, `weights[${i}]`)) : [weightBytes(weights, 'weights')];
  const weightData = concatBytes(parts);
  checkWeightBytes(specs, weightData, where, 'weights');
  return {
    kind: 'artifacts',
    ...(json.format !== undefined ? { format: json.format } : {}),
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: weightData.buffer as ArrayBuffer,
  };
}

async function toPayload(model: WorkerModelSource, graph: boolean, platform: WorkerPlatform): Promise<ModelPayload> {
  // Recognised by its methods, not instanceof, so this side needs no tfjs (and a model from
  // another tfjs copy serialises as well: the worker loads its own).
  const kind = modelKind(model);
  if (kind !== null) {
    let artifacts: tf.io.ModelArtifacts | undefined;
    // A save handler is an object with `save` (what `tf.io.withSaveHandler` makes).
    await (model as tf.LayersModel | tf.GraphModel).save({
      save: async (a: tf.io.ModelArtifacts) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      },
    });
    const a = artifacts!;
    return {
      kind: 'artifacts',
      format: kind === 'GraphModel' ? 'graph-model' : 'layers-model',
      modelTopology: a.modelTopology as object,
      weightSpecs: a.weightSpecs ?? [],
      weightData: concatBuffers((a.weightData as ArrayBuffer | ArrayBuffer[] | undefined) ?? []),
    };
  }
  if (typeof model === 'string') return { kind: 'url', url: platform.modelUrl(model), graph };
  if (typeof model === 'object' && model !== null && 'modelJson' in model && 'weights' in model) return toArtifacts(model.modelJson, model.weights);
  throw new errors.InvalidInputError(
    'createWorkerAdapter: `model` must be a tf.LayersModel or tf.GraphModel, a model.json URL (or a file path in Node), or { modelJson, weights }.',
  );
}

/**
 * The message of a worker's `messageerror`: a message from it could not be deserialised (in
 * browsers e.g. an ArrayBuffer the receiving side cannot allocate, or a SharedArrayBuffer across
 * agent clusters). Comlink listens for 'message' only, so the call waiting for that answer
 * would wait until its timeout (forever with `timeoutMs: Infinity`) and then report a hang.
 */
const MESSAGE_ERROR =
  "a message from the adapter's worker could not be deserialised (messageerror), so the answer to the pending call is lost; the worker was stopped";

/**
 * The message of `messageerror` on the metrics port (the records' MessagePort, worker -> here):
 * a record that could not be deserialised is one Comlink never sees, so the worker, which answers
 * a call only once its records were taken, would never answer it.
 */
const METRICS_MESSAGE_ERROR =
  "a metrics record from the adapter's worker could not be deserialised (messageerror on the metrics port), so the call waiting for its delivery would never be answered; the worker was stopped";

/**
 * What a Web Worker's `error` event without a message means. Browsers fire one (an `Event`, not
 * an `ErrorEvent`) when the worker's script cannot be loaded: a 404, a wrong URL, a
 * Content-Security-Policy refusal, or a module it imports that fails; the usual cause is a bundler
 * that did not emit edge-tta's worker entry (docs/packaging.md, "Bundlers"). `script`: the entry's
 * URL when the adapter started the worker itself.
 */
export function workerLoadFailure(script: string | undefined): string {
  const cause = 'as when a worker script cannot be loaded (a 404, a wrong URL, a Content-Security-Policy refusal, or a module it imports that fails)';
  return script !== undefined
    ? `The adapter's worker failed to load or run its script, edge-tta's worker entry browser.worker.js, at ${script} (unless a bundler emitted it elsewhere): the browser's error event has no message, ${cause}. ` +
        'Serve browser.worker.js there, or bundle it as an entry of its own and pass `worker: () => new Worker(url, { type: \'module\' })` (docs/packaging.md, "Bundlers").'
    : `The worker you passed as \`worker\` failed to load or run its script: the browser's error event has no message, ${cause}. ` +
        'Check the URL it was created with: it must serve edge-tta\'s worker entry, browser.worker.js (docs/packaging.md, "Bundlers").';
}

/**
 * Calls `onDeath` when the worker fails or exits (a crash must reject pending calls, not hang
 * them), or when one of its messages cannot be deserialised (a lost answer must not either).
 * `script`: the URL of the worker's script, if the adapter created the worker.
 */
function watchWorker(worker: WorkerHandle, onDeath: (err: Error) => void, script: string | undefined): void {
  const w = worker as Partial<{
    on(type: string, listener: (arg: unknown) => void): void;
    addEventListener(type: string, listener: (event: { message?: unknown }) => void): void;
  }>;
  if (typeof w.addEventListener === 'function') {
    w.addEventListener('error', (e) =>
      onDeath(new Error(typeof e.message === 'string' && e.message !== '' ? `The adapter's worker failed: ${e.message}.` : workerLoadFailure(script))),
    );
    w.addEventListener('messageerror', () => onDeath(new Error(MESSAGE_ERROR)));
  } else if (typeof w.on === 'function') {
    w.on('error', (e) => onDeath(e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => onDeath(new Error(`The adapter's worker exited (code ${String(code)}).`)));
    w.on('messageerror', (e) => onDeath(new Error(`${MESSAGE_ERROR} (${e instanceof Error ? e.message : String(e)})`)));
  }
}

/** A worker and the Comlink proxy to it; knows when the worker died. */
class Connection {
  /** Why the worker died (first cause), or null while it lives. */
  death: Error | null = null;
  private readonly deathListeners = new Set<(err: Error) => void>();
  private stopping: Promise<void> | null = null;
  private metricsPort: MessagePort | null = null;

  constructor(
    readonly worker: WorkerHandle,
    readonly remote: Comlink.Remote<WorkerService>,
    script?: string,
  ) {
    watchWorker(worker, (err) => this.die(err), script);
  }

  /** True once the worker died or was stopped: its late events and answers are ignored. */
  get dead(): boolean {
    return this.death !== null;
  }

  /**
   * The records' port (this side's end): a record that cannot be deserialised there is a death
   * like a lost answer (`messageerror`), and the port is closed when the worker is stopped.
   */
  watchMetricsPort(port: MessagePort): void {
    this.metricsPort = port;
    port.addEventListener('messageerror', (e) => {
      const data = (e as MessageEvent).data as unknown;
      this.die(new Error(`${METRICS_MESSAGE_ERROR}${data instanceof Error ? ` (${data.message})` : ''}`));
    });
  }

  /** Calls `listener` once when the worker dies; returns the unsubscribe function. */
  onDeath(listener: (err: Error) => void): () => void {
    this.deathListeners.add(listener);
    return () => this.deathListeners.delete(listener);
  }

  /**
   * Stops the worker thread at once, without a message to it first: `terminate()` stops
   * JavaScript even in a synchronous endless loop, a message would wait behind it forever.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.die(new Error('stopped'));
      this.metricsPort?.close();
      try {
        await this.worker.terminate();
      } catch {
        // Already gone.
      }
    })();
    return this.stopping;
  }

  private die(err: Error): void {
    if (this.death !== null) return;
    this.death = err;
    for (const listener of [...this.deathListeners]) listener(err);
    this.deathListeners.clear();
  }
}

/** A batch ready to go to the worker. */
interface OutgoingBatch {
  /** The batch, its buffers (all ours) marked for transfer. */
  send(): WireBatch;
}

/** How a call to the worker ended. */
type Outcome<T> =
  | { kind: 'ok'; value: T }
  /** The worker answered with an error (its edge-tta class revived). */
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout' }
  | { kind: 'crashed'; error: Error }
  /** The call was failed from outside (a fault of another call, terminate). */
  | { kind: 'aborted' };

/** A call waiting for, or running in, the worker. */
interface PendingCall {
  settled: boolean;
  /** Rejects the call's promise (once). */
  fail(err: Error): void;
  /** Ends the call's wait for the worker, set while it runs. */
  abort: (() => void) | null;
}

/** What `RemoteAdapter` needs to start (and restart) its worker. */
interface WorkerSettings {
  spawn: () => Promise<SpawnedWorker>;
  init: WorkerInit;
  timeoutMs: number;
  startTimeoutMs: number;
  resume: Required<WorkerResumeOptions> | null;
  transfer: boolean;
  /** The adapter's `preprocess` option, as given (the worker applies it). */
  preprocess: PreprocessOptions | undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class RemoteAdapter implements WorkerAdapter {
  readonly metrics$: Observable<MetricsRecord>;
  private readonly metrics = new Subject<MetricsRecord>();
  private readonly counters = new StreamCounters();
  private lastMemory: MemoryFigures = { numTensors: 0, numBytes: 0 };
  /** The live worker; null while a replacement starts. */
  private conn: Connection | null = null;
  /** A worker being started (first start or restart), so terminate() can stop it too. */
  private starting: Connection | null = null;
  /** Calls run one at a time in call order, so a call's timeout counts only its own time. */
  private queue: Promise<void> = Promise.resolve();
  private readonly pending = new Set<PendingCall>();
  /** Set when no call can run any more: the fault without resume that ended the adapter, or terminate. */
  private finished: Error | null = null;
  private terminating: Promise<void> | null = null;
  /** Auto-resume: the latest snapshot (kept here, on the calling side) and its step. */
  private latestSnapshot: Uint8Array | null = null;
  /** Steps in `latestSnapshot`; `'next-step'` after a `restore(bytes)`: learnt from the next step's id. */
  private latestSnapshotStep: number | 'next-step' | null = null;
  private stepsSinceSnapshot = 0;
  private restarts = 0;
  inputShape: readonly number[] = [];
  numClasses = 0;
  preprocess!: Readonly<ResolvedPreprocess>;
  backend!: BackendInfo;

  constructor(
    readonly strategy: StrategyName,
    private readonly settings: WorkerSettings,
  ) {
    this.metrics$ = this.metrics.asObservable();
  }

  /** Starts the first worker. */
  async start(): Promise<void> {
    this.conn = await this.connect();
  }

  step(batch: BatchInput, labels?: ArrayLike<number>, options: WorkerCallOptions = {}): Promise<StepOutput> {
    let sent: OutgoingBatch;
    let timeoutMs: number;
    let labelArray: number[] | undefined;
    try {
      timeoutMs = checkTimeout(options.timeoutMs ?? this.settings.timeoutMs, 'step: options.timeoutMs');
      if (labels !== undefined) {
        // The in-thread adapter's check (arrays and typed arrays of integer class indices, as a
        // rejected promise); the worker checks the count against the batch again.
        const count = (labels as { length?: unknown } | null)?.length;
        checkLabels(labels, typeof count === 'number' ? count : 0, this.numClasses);
        labelArray = Array.from(labels);
      }
      sent = this.wire(batch);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(
      (remote) => remote.step(sent.send(), labelArray),
      timeoutMs,
      (out, conn) => this.afterStep(out, conn),
    );
  }

  predict(batch: BatchInput, options: WorkerCallOptions = {}): Promise<PredictOutput> {
    let sent: OutgoingBatch;
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeout(options.timeoutMs ?? this.settings.timeoutMs, 'predict: options.timeoutMs');
      sent = this.wire(batch);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue((remote) => remote.predict(sent.send()), timeoutMs);
  }

  /**
   * A batch as the worker receives it: float pixels with their shape, or frames one by one
   * (image sources read to RGBA bytes here, without tfjs). The pixels are taken now, into
   * buffers of our own (the call may wait behind earlier ones): the caller's buffer detached at
   * once without a copy under `transfer` (only for a view spanning its whole buffer), else a
   * copy (the caller may reuse its array). `send()` hands our buffers over to the worker.
   * Anything that is not pixels at all goes as is, for the worker to reject with the in-thread
   * adapter's message.
   */
  private wire(batch: BatchInput): OutgoingBatch {
    const ours: ArrayBuffer[] = [];
    // Under `transfer`, how many frames of this batch use each caller buffer: one used twice (the
    // same frame twice) is copied, as detaching it for the first would leave the second empty.
    const uses = new Map<ArrayBufferLike, number>();
    if (this.settings.transfer) {
      for (const f of (Array.isArray(batch) ? batch : [batch]) as unknown[]) {
        const d = f !== null && typeof f === 'object' ? (f as { data?: unknown }).data : undefined;
        if (ArrayBuffer.isView(d)) uses.set(d.buffer, (uses.get(d.buffer) ?? 0) + 1);
      }
    }
    const own = <T extends Float32Array | Int32Array | Uint8Array | Uint8ClampedArray>(view: T, isOurs: boolean): T => {
      let data = view;
      if (!isOurs) {
        // Not an empty one either: a buffer detached by an earlier transfer is copied (to nothing),
        // so the worker refuses the batch with the in-thread adapter's error.
        const whole =
          view.buffer instanceof ArrayBuffer && view.byteLength > 0 && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && uses.get(view.buffer) === 1;
        data = (this.settings.transfer && whole ? structuredClone(view, { transfer: [view.buffer as ArrayBuffer] }) : copyOf(view)) as T;
      }
      if (!ours.includes(data.buffer as ArrayBuffer)) ours.push(data.buffer as ArrayBuffer);
      return data;
    };
    const float = (x: tf.Tensor | RawBatch): { data: Float32Array; shape: number[] } => {
      if (isTensor(x)) {
        checkFloat32Tensor(x, 'batch');
        return { data: own(float32Values(x), true), shape: [...x.shape] };
      }
      if (x === null || typeof x !== 'object' || !('data' in x) || !Array.isArray(x.shape)) {
        // The in-thread message (names the object's keys and what to send), not "[object Object]".
        throw new errors.InvalidInputError(unrecognisedInputMessage(x, 'batch'));
      }
      const view: unknown = x.data;
      const shape = [...x.shape];
      if (view instanceof Float32Array || view instanceof Int32Array || view instanceof Uint8Array) return { data: own(view, false) as Float32Array, shape };
      return { data: view as Float32Array, shape };
    };
    const frame = (f: Frame): WireFrame => {
      if (isImageSource(f)) {
        const image = readPixels(f);
        return { kind: 'rgba', data: own(image.data, image !== f), width: image.width, height: image.height };
      }
      return { kind: 'float', ...float(f as tf.Tensor | RawBatch) };
    };
    let wire: WireBatch;
    if (Array.isArray(batch)) wire = { kind: 'frames', frames: (batch as readonly Frame[]).map(frame) };
    else if (isImageSource(batch)) wire = { kind: 'frames', frames: [frame(batch)] };
    else wire = { kind: 'batch', ...float(batch as tf.Tensor | RawBatch) };
    return { send: () => Comlink.transfer(wire, ours) };
  }

  reset(): Promise<void> {
    return this.enqueue(
      (remote) => remote.reset(),
      this.settings.timeoutMs,
      async () => {
        // A new worker starts from the source model, as reset left this one.
        this.latestSnapshot = null;
        this.latestSnapshotStep = null;
        this.stepsSinceSnapshot = 0;
      },
    );
  }

  snapshot(): Promise<Uint8Array> {
    return this.enqueue((remote) => remote.snapshot(), this.settings.timeoutMs);
  }

  restore(bytes: Uint8Array): Promise<void> {
    // As in-thread (decodeState): anything but bytes is an invalid snapshot, checked before it is
    // sent (a function or a symbol could not even be cloned to the worker).
    if (!(bytes instanceof Uint8Array)) {
      const got = bytes === null ? 'null' : Array.isArray(bytes) ? 'an array' : typeof bytes;
      return Promise.reject(new errors.InvalidSnapshotError(`restore: expected the snapshot as a Uint8Array; got ${got}.`));
    }
    // Taken now, as a batch is (the call may wait behind others, and the caller may reuse its
    // buffer meanwhile): a copy of our own, never Buffer#slice (a view). Under auto-resume the
    // same bytes are the state a new worker resumes from, so they are sent as a copy and kept;
    // else transferred. A view whose buffer was detached is empty (the worker refuses it).
    const taken = bytes.byteLength === 0 ? new Uint8Array(0) : new Uint8Array(bytes);
    const keep = this.settings.resume !== null;
    return this.enqueue(
      (remote) => remote.restore(keep ? taken : Comlink.transfer(taken, [taken.buffer])),
      this.settings.timeoutMs,
      async () => {
        if (!keep) return;
        this.latestSnapshot = taken;
        this.latestSnapshotStep = 'next-step';
        this.stepsSinceSnapshot = 0;
      },
    );
  }

  getConfig(): Promise<Record<string, unknown>> {
    return this.enqueue((remote) => remote.getConfig(), this.settings.timeoutMs);
  }

  workerMemory(): Promise<MemoryFigures> {
    return this.enqueue((remote) => remote.memory(), this.settings.timeoutMs);
  }

  report(event: StreamEvent): void {
    if (this.finished !== null) return;
    this.metrics.next(this.counters.record(event, this.lastMemory));
  }

  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      const workers = [this.conn, this.starting];
      this.finish(new errors.WorkerTerminatedError("The call was pending when terminate() stopped the adapter's worker."));
      await Promise.all(workers.map((c) => c?.stop()));
    })();
    return this.terminating;
  }

  dispose(): void {
    void this.terminate();
  }

  /** @internal Arms a fault in the current worker (tests only; see `WorkerService.__injectFault`). */
  injectFault(kind: InjectedFault, afterSteps: number): Promise<void> {
    return this.enqueue((remote) => remote.__injectFault(kind, afterSteps), this.settings.timeoutMs);
  }

  /**
   * Starts a worker and initialises its adapter, within `startTimeoutMs`, then runs `prepare` on
   * it (a restart's restore). The worker counts as starting (terminate() stops it) until it is
   * returned, `prepare` included.
   */
  private async connect(prepare?: (conn: Connection) => Promise<void>): Promise<Connection> {
    const { worker, endpoint, script } = await this.settings.spawn();
    const conn = new Connection(worker, Comlink.wrap<WorkerService>(endpoint), script);
    this.starting = conn;
    try {
      if (this.finished !== null) throw this.finished;
      conn.onDeath((err) => this.onFault(conn, 'crashed', err.message));
      const init = this.settings.init;
      // The model bytes go over once; with auto-resume they are copied, kept for a new worker.
      const message =
        init.model.kind === 'artifacts' && this.settings.resume === null ? Comlink.transfer(init, [init.model.weightData]) : init;
      // The records' own channel (what Comlink.proxy makes, made here to watch its messageerror).
      const metrics = new MessageChannel();
      Comlink.expose((r: MetricsRecord) => this.onWorkerMetrics(conn, r), metrics.port1);
      conn.watchMetricsPort(metrics.port1);
      const outcome = await this.race(
        conn,
        () => conn.remote.init(message, Comlink.transfer(metrics.port2, [metrics.port2])),
        this.settings.startTimeoutMs,
      );
      if (outcome.kind === 'ok') {
        this.inputShape = outcome.value.inputShape;
        this.numClasses = outcome.value.numClasses;
        // Resolved here too (the worker applies it): `adapt` reads whether frames may be resized.
        this.preprocess = resolvePreprocess(this.settings.preprocess, outcome.value.inputShape);
        this.backend = outcome.value.backend;
        await prepare?.(conn);
        if (this.finished !== null) throw this.finished;
        return conn;
      }
      if (outcome.kind === 'error') throw outcome.error;
      if (outcome.kind === 'timeout') {
        throw new errors.WorkerTimeoutError(
          `The adapter's worker did not start within ${this.settings.startTimeoutMs} ms (startTimeoutMs); it was stopped.`,
        );
      }
      if (outcome.kind === 'crashed') throw new errors.WorkerCrashedError(`The adapter's worker died while starting: ${outcome.error.message}`);
      throw this.finished ?? new errors.WorkerTerminatedError("terminate() stopped the adapter's worker while it started.");
    } catch (err) {
      await conn.stop();
      throw err;
    } finally {
      if (this.starting === conn) this.starting = null;
    }
  }

  /** Runs one remote call against `conn`: its answer, the worker's death, the timeout or an abort, whichever comes first. */
  private race<T>(conn: Connection, fn: () => Promise<T>, timeoutMs: number, call?: PendingCall): Promise<Outcome<T>> {
    return new Promise<Outcome<T>>((resolve) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let offDeath = (): void => undefined;
      const finish = (outcome: Outcome<T>): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        offDeath();
        if (call !== undefined) call.abort = null;
        resolve(outcome);
      };
      if (conn.death !== null) return finish({ kind: 'crashed', error: conn.death });
      offDeath = conn.onDeath((error) => finish({ kind: 'crashed', error }));
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      if (call !== undefined) call.abort = () => finish({ kind: 'aborted' });
      fn().then(
        (value) => finish({ kind: 'ok', value }),
        (error: unknown) => finish({ kind: 'error', error: unsendable(error) ?? reviveError(error) }),
      );
    });
  }

  /**
   * Queues a remote call. `after` runs once the call resolved, before the next call
   * (auto-resume snapshots, so they see exactly the state after the step).
   */
  private enqueue<T>(
    fn: (remote: Comlink.Remote<WorkerService>) => Promise<T>,
    timeoutMs: number,
    after?: (value: T, conn: Connection) => Promise<void>,
  ): Promise<T> {
    if (this.terminating !== null) return Promise.reject(new errors.DisposedError('The worker adapter was used after dispose() / terminate().'));
    if (this.finished !== null) return Promise.reject(this.finished);
    return new Promise<T>((resolve, reject) => {
      const call: PendingCall = {
        settled: false,
        abort: null,
        fail: (err) => {
          if (call.settled) return;
          call.settled = true;
          this.pending.delete(call);
          call.abort?.();
          reject(err);
        },
      };
      this.pending.add(call);
      this.schedule(async () => {
        if (call.settled) return;
        const conn = this.conn;
        if (conn === null) return call.fail(this.finished ?? new errors.WorkerCrashedError("The adapter's worker is gone."));
        const outcome = await this.race(conn, () => fn(conn.remote), timeoutMs, call);
        if (call.settled) return;
        if (outcome.kind === 'timeout') {
          this.onFault(conn, 'timeout', `a call did not settle within ${timeoutMs} ms (timeoutMs)`);
        } else if (outcome.kind === 'crashed') {
          this.onFault(conn, 'crashed', outcome.error.message);
        } else if (outcome.kind === 'ok' || outcome.kind === 'error') {
          call.settled = true;
          this.pending.delete(call);
          if (outcome.kind === 'error') reject(outcome.error);
          else {
            resolve(outcome.value);
            await after?.(outcome.value, conn);
          }
        }
        // Whatever happened, the call must not stay pending.
        call.fail(this.finished ?? new errors.WorkerCrashedError("The adapter's worker is gone."));
      });
    });
  }

  private schedule(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch(() => undefined);
  }

  /** Auto-resume: a snapshot every `snapshotEvery` steps, kept here. */
  private async afterStep(out: StepOutput, conn: Connection): Promise<void> {
    const resume = this.settings.resume;
    if (resume === null) return;
    if (this.latestSnapshotStep === 'next-step') this.latestSnapshotStep = out.stepId;
    if (++this.stepsSinceSnapshot < resume.snapshotEvery) return;
    const outcome = await this.race(conn, () => conn.remote.snapshot(), this.settings.timeoutMs);
    if (outcome.kind === 'ok') {
      this.latestSnapshot = outcome.value;
      this.latestSnapshotStep = out.stepId + 1;
      this.stepsSinceSnapshot = 0;
    } else if (outcome.kind === 'timeout') this.onFault(conn, 'timeout', `a snapshot did not settle within ${this.settings.timeoutMs} ms (timeoutMs)`);
    else if (outcome.kind === 'crashed') this.onFault(conn, 'crashed', outcome.error.message);
    // An error answer keeps the previous snapshot; the next step tries again.
  }

  /**
   * The current worker died or hung: stop it, fail every pending call, and either start a
   * replacement restored from the latest snapshot (auto-resume) or finish the adapter.
   */
  private onFault(conn: Connection, reason: 'crashed' | 'timeout', detail: string): void {
    if (conn !== this.conn || this.finished !== null) return;
    this.conn = null;
    void conn.stop();
    const resume = this.settings.resume;
    const resuming = resume !== null && this.restarts < resume.maxRestarts;
    const what = reason === 'timeout' ? `The adapter's worker hung: ${detail}; it was stopped` : `The adapter's worker died (${detail})`;
    const next = resuming
      ? 'the call is lost; a new worker resumes from the latest snapshot'
      : resume !== null
        ? `resume.maxRestarts (${resume.maxRestarts}) is reached, the adapter is finished: create a new one`
        : 'the adapter is finished: create a new one, or pass resume: { snapshotEvery } to replace the worker automatically';
    const Fault = reason === 'timeout' ? errors.WorkerTimeoutError : errors.WorkerCrashedError;
    const err = new Fault(`${what}; ${next}.`, { resuming });
    if (!resuming) return this.finish(err);
    for (const call of [...this.pending]) call.fail(err);
    const faultTime = performance.now();
    this.schedule(() => this.restart(reason, err.message, faultTime));
  }

  /** Auto-resume: a new worker, restored from the latest snapshot. */
  private async restart(reason: 'crashed' | 'timeout', message: string, faultTime: number): Promise<void> {
    if (this.finished !== null) return;
    const snapshot = this.latestSnapshot;
    let memory: MemoryFigures = { numTensors: 0, numBytes: 0 };
    try {
      // Restored while the new worker still counts as starting, so terminate() stops it meanwhile.
      const c = await this.connect(async (c) => {
        if (snapshot !== null) {
          const restored = await this.race(c, () => c.remote.restore(snapshot), this.settings.startTimeoutMs);
          if (restored.kind !== 'ok') throw restored.kind === 'error' || restored.kind === 'crashed' ? restored.error : new Error(`restore: ${restored.kind}`);
        }
        const answer = await this.race(c, () => c.remote.memory(), this.settings.startTimeoutMs);
        if (answer.kind !== 'ok') throw new Error(`the new worker did not answer (${answer.kind})`);
        memory = answer.value;
      });
      if (this.finished !== null) {
        // terminate() came as connect() returned: it could not see this worker.
        await c.stop();
        return;
      }
      this.conn = c;
      this.restarts++;
      this.stepsSinceSnapshot = 0;
      this.lastMemory = memory;
      const step = this.latestSnapshotStep;
      this.metrics.next({
        kind: 'worker-restart',
        reason,
        message,
        snapshotStep: snapshot === null ? null : typeof step === 'number' ? step : null,
        restarts: this.restarts,
        restartMs: performance.now() - faultTime,
        time: performance.now(),
        memory,
      });
    } catch (err) {
      // connect() stopped the new worker.
      if (this.finished === null) {
        this.finish(
          new errors.WorkerCrashedError(
            `The adapter's worker failed (${reason}) and a new one could not be started: ${messageOf(err)} The adapter is finished: create a new one.`,
          ),
        );
      }
    }
  }

  /** No call can run any more: fail the pending ones, stop the workers, complete `metrics$`. */
  private finish(err: Error): void {
    if (this.finished !== null) return;
    this.finished = err;
    for (const call of [...this.pending]) call.fail(err);
    for (const c of [this.conn, this.starting]) void c?.stop();
    this.conn = null;
    this.metrics.complete();
  }

  /** Step records from the worker, with this side's stream totals. */
  private onWorkerMetrics(conn: Connection, record: MetricsRecord): void {
    if (this.finished !== null || conn.dead) return;
    if (record.kind === 'step') {
      this.lastMemory = record.memory;
      this.metrics.next({ ...record, framesDropped: this.counters.framesDropped, frameErrors: this.counters.frameErrors });
    } else this.metrics.next(record);
  }
}

/**
 * The longest delay `setTimeout` honours, ms (2^31 - 1, about 24.8 days): a longer one fires
 * after 1 ms (browsers and Node both), which would declare a healthy worker hung at once.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** A timeout option: a positive number of ms up to {@link MAX_TIMEOUT_MS}, or Infinity (no timeout). */
function checkTimeout(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value > 0) || (value !== Infinity && value > MAX_TIMEOUT_MS)) {
    throw new errors.InvalidOptionError(
      `${what} must be a positive number of milliseconds up to ${MAX_TIMEOUT_MS} (about 24.8 days, the longest timer JavaScript runs), or Infinity for no timeout; got ${String(value)}.`,
    );
  }
  return value;
}

function checkResume(resume: WorkerResumeOptions | undefined, worker: WorkerOptions['worker']): Required<WorkerResumeOptions> | null {
  if (resume === undefined) return null;
  if (resume === null || typeof resume !== 'object') {
    throw new errors.InvalidOptionError(`createWorkerAdapter: resume must be an object such as { snapshotEvery: 10 }; got ${String(resume)}.`);
  }
  const { snapshotEvery, maxRestarts = Infinity } = resume;
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 1) {
    throw new errors.InvalidOptionError(`createWorkerAdapter: resume.snapshotEvery must be a positive integer (steps); got ${String(snapshotEvery)}.`);
  }
  if (!(maxRestarts === Infinity || (Number.isInteger(maxRestarts) && maxRestarts >= 0))) {
    throw new errors.InvalidOptionError(`createWorkerAdapter: resume.maxRestarts must be an integer >= 0 or Infinity; got ${String(maxRestarts)}.`);
  }
  if (worker !== undefined && typeof worker !== 'function') {
    throw new errors.InvalidOptionError(
      'createWorkerAdapter: resume needs to create new workers; pass `worker` as a function that creates one (e.g. `() => new Worker(url)`), not a worker.',
    );
  }
  return { snapshotEvery, maxRestarts };
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
 * Calls run one at a time; each must settle within `timeoutMs`. A worker that dies or hangs
 * fails its pending calls with `WorkerCrashedError` / `WorkerTimeoutError`; with
 * `resume: { snapshotEvery }` it is replaced by a new worker restored from the latest
 * snapshot, and a stream through `adapt()` goes on. `terminate()` always resolves.
 *
 * @example
 * const adapter = await createWorkerAdapter({ model, strategy: 'tent', seed: 1, lr: 1e-3, resume: { snapshotEvery: 20 } });
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
  checkOptionsObject('createWorkerAdapter', config);
  // The worker's own options stay here; everything else is createAdapter's, validated in the worker.
  const { model, graphModel, backend, transfer, worker: given, timeoutMs: timeout, startTimeoutMs: startTimeout, resume: resumeOption, strategyModules, strategy, ...options } =
    config as WorkerAdapterConfig<N> & Record<string, unknown>;
  const timeoutMs = checkTimeout(timeout ?? DEFAULT_TIMEOUT_MS, 'createWorkerAdapter: timeoutMs');
  const startTimeoutMs = checkTimeout(startTimeout ?? DEFAULT_START_TIMEOUT_MS, 'createWorkerAdapter: startTimeoutMs');
  const resume = checkResume(resumeOption, given);
  checkCloneable(options);
  // Checked here, before a worker is spawned (the worker's initBackend checks it again): a string
  // such as 'cpu' would start wasm silently, a bad thread count would be found seconds later.
  if (backend != null) {
    try {
      checkBackendOptions(backend);
    } catch (e) {
      throw new errors.InvalidOptionError(`createWorkerAdapter: backend: ${(e as Error).message}`);
    }
  }
  const graph = graphModel ?? (options as { graphNodes?: GraphModelNodes }).graphNodes !== undefined;
  const payload = await toPayload(model, graph, platform);
  let handed = false;
  const spawn =
    given === undefined
      ? () => platform.spawn()
      : async () => {
          if (handed && typeof given !== 'function') {
            throw new errors.InvalidOptionError('createWorkerAdapter: the worker you passed was already used; pass a function that creates one.');
          }
          handed = true;
          const worker = typeof given === 'function' ? given() : given;
          return { worker, endpoint: await platform.endpointOf(worker) };
        };
  const adapter = new RemoteAdapter(strategy, {
    spawn,
    init: {
      model: payload,
      strategy,
      options: options as Record<string, unknown>,
      backend: backend ?? { backend: 'wasm' as const },
      ...(strategyModules !== undefined ? { strategyModules: checkStrategyModules(strategyModules).map((m) => platform.moduleUrl(m)) } : {}),
    },
    timeoutMs,
    startTimeoutMs,
    resume,
    transfer: transfer ?? false,
    preprocess: (options as { preprocess?: PreprocessOptions }).preprocess,
  });
  try {
    await adapter.start();
    return adapter;
  } catch (err) {
    await adapter.terminate();
    throw err;
  }
}

/**
 * @internal For tests of fault handling only: the `afterSteps + 1`-th step from now makes the
 * adapter's current worker exit, throw an uncaught error, spin forever or never answer.
 */
export function injectWorkerFault(adapter: WorkerAdapter, kind: InjectedFault, afterSteps: number): Promise<void> {
  if (!(adapter instanceof RemoteAdapter)) throw new errors.InvalidInputError('injectWorkerFault: not a worker adapter.');
  return adapter.injectFault(kind, afterSteps);
}
