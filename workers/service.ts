/**
 * The adapter service that runs inside a worker (Web Worker or worker_threads): it loads the
 * model, builds an in-thread adapter there, and answers the main thread's calls. Results are
 * transferred back, not copied.
 */
import * as tf from '../src/tf.js';
import * as Comlink from 'comlink';
import type { Subscription } from 'rxjs';
import { createAdapter, type Adapter, type PredictOutput, type StepOutput } from '../src/adapter.js';
import { initBackend } from '../src/backend/initBackend.js';
import { DisposedError, EdgeTtaError, InvalidInputError, InvalidModelError, InvalidOptionError, InvalidStrategyError } from '../src/errors.js';
import { getStrategy, listStrategies, registerStrategy } from '../strategies/registry.js';
import type { StrategyDefinition } from '../strategies/strategy.js';
import type { MetricsRecord } from '../src/metrics/stepMetrics.js';
import type { BatchInput } from '../src/input.js';
import { checkWeightPath } from './modelPaths.js';
import { checkArtifactWeights, checkModelJsonSize } from './modelJson.js';
import type { InjectedFault, ModelPayload, WireBatch, WorkerInit, WorkerReady, WorkerService } from './protocol.js';

/** Where a worker's messages arrive: `self` in a Web Worker, `parentPort` in worker_threads. */
export interface MessageSource {
  addEventListener(type: 'messageerror', listener: (event: unknown) => void): void;
  dispatchEvent(event: Event): unknown;
}

/** What the worker's runtime adds to the service. */
export interface WorkerServiceOptions {
  /**
   * The port the calling side's messages arrive on. A message that cannot be deserialised there
   * (`messageerror`) is a call Comlink never sees, whose caller would wait for its answer until
   * its timeout: the worker fails at once instead (an uncaught error, which the calling side
   * reports as `WorkerCrashedError`).
   */
  messages?: MessageSource;
  /**
   * Loads a model given as a string that is not an http(s) URL (a file path or file:// URL).
   * The Node worker entry passes a reader on node:fs; browsers load URLs only.
   */
  fileHandler?: (url: string) => tf.io.IOHandler;
}

/**
 * Comlink sends a thrown error as `{ name, message, stack }` only: this adds its `cause` (as
 * `{ name, message, stack }`, always cloneable), which the calling side puts back (reviveError).
 */
function sendErrorCauses(): void {
  const base = Comlink.transferHandlers.get('throw') as Comlink.TransferHandler<{ value: unknown }, { isError: boolean; value: Record<string, unknown> }> | undefined;
  if (base === undefined || (base as { edgeTtaCauses?: true }).edgeTtaCauses) return;
  const handler: Comlink.TransferHandler<{ value: unknown }, { isError: boolean; value: Record<string, unknown> }> & { edgeTtaCauses: true } = {
    edgeTtaCauses: true,
    canHandle: (v): v is { value: unknown } => base.canHandle(v),
    serialize(thrown) {
      const [out, transfer] = base.serialize(thrown);
      const cause = thrown.value instanceof Error ? (thrown.value as { cause?: unknown }).cause : undefined;
      if (out.isError && cause !== undefined) {
        out.value = { ...out.value, cause: cause instanceof Error ? { name: cause.name, message: cause.message, stack: cause.stack } : { message: String(cause) } };
      }
      return [out, transfer];
    },
    deserialize: (v) => base.deserialize(v),
  };
  Comlink.transferHandlers.set('throw', handler as Comlink.TransferHandler<unknown, unknown>);
}

/** The failure of a model load as an {@link InvalidModelError}, the original as its `cause` (edge-tta errors pass as they are). */
function modelLoadError(err: unknown, where: string): Error {
  if (err instanceof EdgeTtaError) return err;
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new InvalidModelError(
    `The worker could not load the model (${where}): ${detail}. Check that the model.json and its weight files are complete and match each other.`,
    { cause: err },
  );
}

async function loadModel(payload: ModelPayload, options: WorkerServiceOptions): Promise<tf.LayersModel | tf.GraphModel> {
  try {
    return await loadModelUnchecked(payload, options);
  } catch (err) {
    throw modelLoadError(err, payload.kind === 'artifacts' ? 'model.json and weights sent by createWorkerAdapter' : `'${payload.url}'`);
  }
}

async function loadModelUnchecked(payload: ModelPayload, options: WorkerServiceOptions): Promise<tf.LayersModel | tf.GraphModel> {
  if (payload.kind === 'artifacts') {
    // Checked on the calling side already (or saved from a model there); checked again here, as
    // the worker takes nothing on trust.
    checkArtifactWeights(payload.weightSpecs, payload.weightData, 'The model sent by createWorkerAdapter');
    const handler = tf.io.fromMemory({
      modelTopology: payload.modelTopology,
      weightSpecs: payload.weightSpecs,
      weightData: payload.weightData,
      ...(payload.format !== undefined ? { format: payload.format } : {}),
    });
    return payload.format === 'graph-model' ? tf.loadGraphModel(handler) : tf.loadLayersModel(handler);
  }
  const { url, graph } = payload;
  const source = checked(options.fileHandler !== undefined && !/^https?:\/\//.test(url) ? options.fileHandler(url) : urlHandler(url), `The model file '${url}'`, graph);
  return graph ? tf.loadGraphModel(source) : tf.loadLayersModel(source);
}

/**
 * `handler` whose loaded weights are checked (`checkArtifactWeights`) before tfjs decodes them:
 * a model.json fetched over HTTP gets the rules a file or `{ modelJson, weights }` gets.
 */
function checked(handler: tf.io.IOHandler, where: string, graph: boolean): tf.io.IOHandler {
  return {
    load: async () => {
      const artifacts = await handler.load!();
      // A converted GraphModel loaded as a LayersModel fails in tfjs with 'Improper config format: {"node":...'.
      if (!graph && artifacts.format === 'graph-model') {
        throw new InvalidOptionError(`${where} is a converted tf.GraphModel (format 'graph-model'): pass graphNodes: { outputNode, featuresNode } to load it as one (docs/lame.md).`);
      }
      checkArtifactWeights(artifacts.weightSpecs ?? [], artifacts.weightData, where);
      return artifacts;
    },
  };
}

/**
 * tfjs's HTTP loader for a model.json URL, its weight paths checked first (`checkWeightPath`):
 * tfjs fetches `<folder of the model.json>/<path><query>`, where `../` (or `%2e%2e/`) would leave
 * the model's folder. The URL is built as tfjs builds it.
 */
function urlHandler(url: string): tf.io.IOHandler {
  const slash = url.lastIndexOf('/');
  const query = url.lastIndexOf('?');
  const prefix = `${url.substring(0, slash)}/`;
  const suffix = query > slash ? url.substring(query) : '';
  // The model.json's response is refused by its Content-Length, when the server sends one, before
  // tfjs reads its body whole (MAX_MODEL_JSON_BYTES). Without one (chunked) it is not checked.
  const fetchFunc = async (input: RequestInfo | URL, init?: RequestInit, options?: { isBinary?: boolean }): Promise<Response> => {
    const response = await tf.env().platform.fetch(input as string, init, options);
    const length = input === url ? Number(response.headers.get('content-length') ?? NaN) : NaN;
    if (Number.isFinite(length)) {
      try {
        checkModelJsonSize(length, `The model file '${url}' (its Content-Length)`);
      } catch (err) {
        await response.body?.cancel().catch(() => undefined);
        throw err;
      }
    }
    return response;
  };
  return tf.io.http(url, { fetchFunc, weightUrlConverter: async (p: string) => `${prefix}${checkWeightPath(p, `The model file '${url}'`)}${suffix}` });
}

/** The uncaught error of a worker that received a message it could not deserialise. */
export const WORKER_MESSAGE_ERROR =
  'The worker received a message it could not deserialise (messageerror): the call it carried is lost, so the worker stops rather than leave the call unanswered.';

/**
 * The uncaught error of a worker that could not deserialise the calling side's answer to a
 * metrics record: the step (or predict, reset, restore) waits for that answer before it answers.
 */
export const WORKER_METRICS_MESSAGE_ERROR =
  "The worker could not deserialise the calling side's answer to a metrics record (messageerror on the metrics port): the call waiting for it would never be answered, so the worker stops.";

function watchMessageErrors(messages: MessageSource, message = WORKER_MESSAGE_ERROR): void {
  messages.addEventListener('messageerror', (event) => {
    const data = (event as { data?: unknown } | null)?.data;
    const detail = data instanceof Error ? ` (${data.message})` : '';
    // Thrown outside the listener: an uncaught error, the worker's 'error' event on the calling side.
    setTimeout(() => {
      throw new Error(`${message}${detail}`);
    });
  });
}

/** Makes this worker fail the way a test asked for (see `WorkerService.__injectFault`). */
function fail(kind: InjectedFault, messages: MessageSource | undefined, metrics: MessageSource | null): Promise<never> {
  if (kind === 'messageerror' || kind === 'metrics-messageerror') {
    (kind === 'messageerror' ? messages : metrics)?.dispatchEvent(new MessageEvent('messageerror', { data: new Error('injected by a test') }));
  } else if (kind === 'exit') {
    if (typeof process !== 'undefined' && typeof process.exit === 'function') process.exit(3);
    (globalThis as unknown as { close(): void }).close();
  } else if (kind === 'throw') {
    setTimeout(() => {
      throw new Error('Injected uncaught error in the worker.');
    });
  } else if (kind === 'spin') {
    for (;;);
  }
  return new Promise<never>(() => undefined);
}

/** Imports a user strategy module and registers its default export (a definition or an array of them). */
async function registerModule(spec: string): Promise<void> {
  // A POSIX file path (Node) as a file URL; URLs as they are.
  const url = spec.startsWith('/') ? `file://${encodeURI(spec)}` : spec;
  let mod: { default?: unknown };
  try {
    mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ url)) as { default?: unknown };
  } catch (err) {
    throw new InvalidStrategyError(
      `The worker could not import strategy module '${spec}': ${err instanceof Error ? err.message : String(err)}. Pass a URL (or in Node a file path) the worker can load.`,
    );
  }
  const defs = ([] as unknown[]).concat(mod.default ?? []);
  if (defs.length === 0) {
    throw new InvalidStrategyError(`Strategy module '${spec}' has no default export; \`export default\` its StrategyDefinition (or an array of them).`);
  }
  for (const def of defs) {
    // A module that registered its definition itself when imported (registerStrategy at top
    // level, so that importing it is enough in the main thread) is registered already: the same
    // definition (registerStrategy keeps a copy, with the same create). Another definition under
    // a taken name still fails in registerStrategy.
    if (isRegistered(def)) continue;
    registerStrategy(def as StrategyDefinition);
  }
}

/** `def` is the definition registered under its name (by the module itself, on import). */
function isRegistered(def: unknown): boolean {
  const { name, create } = (def ?? {}) as { name?: unknown; create?: unknown };
  if (typeof name !== 'string' || typeof create !== 'function' || !listStrategies().includes(name as never)) return false;
  return getStrategy(name).create === create;
}

/** A batch from the main thread as the adapter takes it (the adapter validates it). */
function fromWire(batch: WireBatch): BatchInput {
  if (batch?.kind === 'frames' && Array.isArray(batch.frames)) {
    return batch.frames.map((f) => (f.kind === 'rgba' ? { data: f.data, width: f.width, height: f.height } : { data: f.data, shape: f.shape }));
  }
  const b = batch as { data: Float32Array; shape: number[] };
  return { data: b.data, shape: b.shape };
}

/** The service object a worker entry exposes with `Comlink.expose`. */
export function createWorkerService(options: WorkerServiceOptions = {}): WorkerService {
  sendErrorCauses();
  if (options.messages !== undefined) watchMessageErrors(options.messages);
  let model: tf.LayersModel | tf.GraphModel | null = null;
  let adapter: Adapter | null = null;
  let subscription: Subscription | null = null;
  let onMetrics: ((r: MetricsRecord) => void) | null = null;
  /** The port the records go out on (null when `init` was given a callback). */
  let metricsPort: (MessageSource & { start?(): void }) | null = null;
  let injected: { kind: InjectedFault; remaining: number } | null = null;
  /** Metrics callbacks the main thread has not answered yet. */
  const delivering = new Set<Promise<unknown>>();
  /**
   * Waits until the main thread has handled every record published so far: the records travel
   * on the callback's own MessagePort, the call's answer on the worker's, so without this a
   * step's record could arrive after its result (and be lost to a terminate() right after).
   */
  const delivered = async (): Promise<void> => {
    while (delivering.size > 0) await Promise.all([...delivering]);
  };

  const need = (): Adapter => {
    if (adapter === null) throw new DisposedError('The worker adapter is not initialised or was disposed.');
    return adapter;
  };

  return {
    async init(init: WorkerInit, metrics: MessagePort | ((record: MetricsRecord) => void)): Promise<WorkerReady> {
      if (adapter !== null) throw new InvalidInputError('This worker already runs an adapter; create a new worker adapter instead.');
      const backend = await initBackend(init.backend);
      for (const spec of init.strategyModules ?? []) await registerModule(spec);
      model = await loadModel(init.model, options);
      try {
        adapter = await createAdapter(model, { strategy: init.strategy, ...init.options } as never);
      } catch (err) {
        model.dispose();
        model = null;
        throw err;
      }
      if (typeof metrics === 'function') onMetrics = metrics;
      else {
        // The answers to the records come back on this port: one that cannot be deserialised
        // would leave the call waiting for it (delivered()) unanswered, so the worker fails.
        metricsPort = metrics as unknown as MessageSource & { start?(): void };
        watchMessageErrors(metricsPort, WORKER_METRICS_MESSAGE_ERROR);
        metricsPort.start?.();
        onMetrics = Comlink.wrap<(r: MetricsRecord) => void>(metrics) as unknown as (r: MetricsRecord) => void;
      }
      // A callback into a main thread that went away must not fail a step: its error is dropped.
      subscription = adapter.metrics$.subscribe((r) => {
        const sent: Promise<unknown> = Promise.resolve(onMetrics?.(r))
          .catch(() => undefined)
          .finally(() => delivering.delete(sent));
        delivering.add(sent);
      });
      return { inputShape: [...adapter.inputShape], numClasses: adapter.numClasses, backend };
    },

    async step(batch, labels): Promise<StepOutput> {
      if (injected !== null && injected.remaining-- === 0) return fail(injected.kind, options.messages, metricsPort);
      let out: StepOutput;
      try {
        out = await need().step(fromWire(batch), labels);
      } finally {
        await delivered(); // the step's records (also those of a step that failed) go first
      }
      // probs may be a view of backend memory: send a copy of our own.
      const probs = out.probs.slice();
      return Comlink.transfer({ ...out, probs }, [probs.buffer, out.labels.buffer, out.confidence.buffer]);
    },

    async predict(batch): Promise<PredictOutput> {
      let out: PredictOutput;
      try {
        out = await need().predict(fromWire(batch));
      } finally {
        await delivered();
      }
      const probs = out.probs.slice();
      return Comlink.transfer({ ...out, probs }, [probs.buffer, out.labels.buffer, out.confidence.buffer]);
    },

    async reset() {
      try {
        await need().reset();
      } finally {
        await delivered(); // a reset's shift record (back to 'none') goes first, as a step's
      }
    },

    async snapshot() {
      const bytes = await need().snapshot();
      return Comlink.transfer(bytes, [bytes.buffer]);
    },

    async restore(bytes) {
      try {
        await need().restore(bytes);
      } finally {
        await delivered();
      }
    },

    async getConfig() {
      return need().getConfig();
    },

    async memory() {
      const m = tf.memory();
      return { numTensors: m.numTensors, numBytes: m.numBytes };
    },

    async dispose() {
      subscription?.unsubscribe();
      subscription = null;
      adapter?.dispose();
      adapter = null;
      model?.dispose();
      model = null;
      const cb = onMetrics as unknown as Partial<Comlink.ProxyMethods> | null;
      onMetrics = null;
      cb?.[Comlink.releaseProxy]?.();
    },

    async __injectFault(kind, afterSteps) {
      injected = { kind, remaining: afterSteps };
    },
  };
}
