/**
 * Starting tfjs-backend-wasm with a chosen number of XNNPACK threads, in Node as in browsers.
 *
 * tfjs-wasm ships a threaded SIMD build (pthreads run as workers over a shared wasm memory), but:
 * 1. In Node it never uses it: its `WASM_HAS_MULTITHREAD_SUPPORT` flag is false there (tfjs issue
 *    3830), and the build's pthread workers are created from `blob:` URLs, which worker_threads
 *    cannot load.
 * 2. It caps the thread count at half the logical cores the runtime reports (its C++ guesses that
 *    every core runs two hyperthreads), so on a two-core phone, Raspberry Pi or VM it runs one
 *    thread whatever `setThreadsCount` asks.
 *
 * {@link prepareWasmThreads} lifts both for the moment the backend starts and returns a function
 * that undoes every global change. The pool is tfjs's own (8 pthread workers made at start-up, of
 * which XNNPACK uses `threads`); in Node its workers are unref'd, so they never keep a process alive.
 * Node needs `process.getBuiltinModule` (Node >= 20.16): this file imports no `node:` module, so
 * it stays safe in browser bundles.
 */
import * as tf from '../tf.js';
import { BackendError } from '../errors.js';

/** tfjs-wasm's threaded build pre-creates 8 pthread workers and caps XNNPACK's pool at 8. */
export { MAX_WASM_THREADS } from './backendOptions.js';

const THREADED_GLUE = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
const THREADED_WORKER = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return typeof p?.versions?.node === 'string' ? p : undefined;
}

/**
 * Makes the next start of the wasm backend use its threaded build with `threads` XNNPACK threads.
 * Call it right before `tf.setBackend('wasm')` and call the returned function right after.
 */
export function prepareWasmThreads(threads: number): () => void {
  const proc = nodeProcess();
  if (proc === undefined) return reportLogicalCores(threads);
  if (typeof proc.getBuiltinModule !== 'function') {
    throw new BackendError(
      `initBackend: threads: ${threads} in Node needs process.getBuiltinModule (Node >= 20.16); this is Node ${proc.versions?.node}. Leave threads unset for one thread.`,
    );
  }
  const builtin = proc.getBuiltinModule.bind(proc);
  const restorePthreads = allowNodePthreads(builtin);
  const restoreCores = reportNodeCores(builtin, threads);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  return () => {
    restoreCores();
    restorePthreads();
  };
}

/** Browsers: tfjs reads navigator.hardwareConcurrency (halved) when its module starts. */
function reportLogicalCores(threads: number): () => void {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav === undefined) return () => {};
  Object.defineProperty(nav, 'hardwareConcurrency', { value: 2 * threads, configurable: true });
  return () => {
    delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency; // the prototype's getter again
  };
}

/** Node: emscripten reads `os.cpus().length` (halved by tfjs) when the module starts. */
function reportNodeCores(builtin: (id: string) => unknown, threads: number): () => void {
  const os = builtin('node:os') as { cpus: () => unknown[] };
  const cpus = os.cpus;
  os.cpus = () => {
    const real = cpus.call(os);
    return real.length >= 2 * threads ? real : Array.from({ length: 2 * threads }, (_, i) => real[i % Math.max(1, real.length)]);
  };
  return () => {
    os.cpus = cpus;
  };
}

/**
 * Node: the threaded glue assigns `global.Worker = worker_threads.Worker` and then makes each
 * pthread worker with `new Worker(blobUrl)`. While the backend starts, `Worker` is a subclass that
 * runs tfjs's worker source from a string instead, with `importScripts` (which the worker uses to
 * load the glue from the blob) loading the same glue from the installed package.
 */
function allowNodePthreads(builtin: (id: string) => unknown): () => void {
  const { Worker: NodeWorker } = builtin('node:worker_threads') as { Worker: new (src: string | URL, opts?: object) => NodeWorkerLike };
  const { createRequire } = builtin('node:module') as { createRequire: (from: string) => NodeRequire };
  const require = createRequire(import.meta.url);
  let glue: string;
  let workerContents: string;
  try {
    glue = require.resolve(THREADED_GLUE);
    workerContents = (require(THREADED_WORKER) as { wasmWorkerContents: string }).wasmWorkerContents;
  } catch (e) {
    throw new BackendError(`initBackend: threads need tfjs-backend-wasm's threaded build (${THREADED_GLUE}): ${(e as Error).message}`);
  }
  // tfjs escapes newlines the same way before it makes its blob (the source holds "\n" in strings).
  const source =
    workerContents.replace(/\n/g, '\\n') +
    `\nglobal.importScripts = function () { global.WasmBackendModuleThreadedSimd = require(${JSON.stringify(glue)}); };\n`;

  class PthreadWorker extends NodeWorker {
    constructor(url: string | URL, options?: object) {
      const fromBlob = String(url).startsWith('blob:');
      super(fromBlob ? source : url, fromBlob ? { ...options, eval: true } : options);
      super.unref();
    }

    /** emscripten refs a worker while it runs a pthread; XNNPACK's pool threads run forever. */
    override ref(): void {}
  }

  const g = globalThis as { Worker?: unknown };
  const had = Object.getOwnPropertyDescriptor(g, 'Worker');
  Object.defineProperty(g, 'Worker', { get: () => PthreadWorker, set: () => {}, configurable: true });
  return () => {
    if (had === undefined) delete g.Worker;
    else Object.defineProperty(g, 'Worker', had);
  };
}

interface NodeWorkerLike {
  unref(): void;
  ref(): void;
}

interface NodeRequire {
  (id: string): unknown;
  resolve(id: string): string;
}
