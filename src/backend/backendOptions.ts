/**
 * The options of `initBackend` and their checks, apart from `initBackend` itself: this file
 * imports no tfjs, so the calling side of `createWorkerAdapter` checks a worker's `backend`
 * option before it spawns the worker (a bad thread count was found only seconds later, in it).
 */
import { InvalidOptionError } from '../errors.js';

/** The most XNNPACK threads `initBackend` starts (tfjs-wasm's pthread pool). */
export const MAX_WASM_THREADS = 8;

/** The default `memoryLimitMB`: 3 GiB of the 4 GiB a wasm heap can address. */
export const DEFAULT_MEMORY_LIMIT_MB = 3072;

export interface BackendOptions {
  /** The tfjs backend to run on. Defaults to `'wasm'` (the edge backend; SIMD when the runtime has it). */
  backend?: 'wasm' | 'cpu';
  /**
   * Where the tfjs-backend-wasm `.wasm` files are served from, as a folder URL ending in `/`
   * or a map of file names to URLs. Not needed in Node (the files are found next to the
   * package). In browsers and Web Workers use absolute URLs. Used only when this call starts
   * the wasm backend (tfjs reads it once, when the backend first starts).
   */
  wasmPaths?: string | Record<string, string>;
  /**
   * XNNPACK threads of the wasm backend (convolutions and matrix products run on them; 1 to 8).
   * In browsers it needs a cross-origin-isolated page (tfjs-wasm's threaded build needs
   * SharedArrayBuffer); elsewhere the backend runs one thread. In Node (>= 20.16) edge-tta starts
   * tfjs-wasm's threaded build itself, which tfjs does not do there. Unlike tfjs's
   * `setThreadsCount`, the count is not halved to guess away hyperthreads: `threads: 2` on a
   * two-core device runs two. Defaults to tfjs's choice (half the logical cores in an isolated
   * page; one thread in Node). Used only when this call starts the wasm backend.
   */
  threads?: number;
  /**
   * The most live tensor memory on the wasm backend, in MB. An allocation past it throws
   * `OutOfMemoryError` (the step fails and changes nothing) instead of exhausting the wasm heap,
   * which aborts the tfjs runtime. Defaults to 3072 (3 GiB of the 4 GiB a wasm heap can address).
   */
  memoryLimitMB?: number;
}

/**
 * Throws `InvalidOptionError` unless `options` is an object whose fields are valid (`backend`
 * 'wasm' or 'cpu', `threads` an integer from 1 to {@link MAX_WASM_THREADS}, `memoryLimitMB` in
 * (0, 4096]). Whether the backend is registered is `initBackend`'s check, in the thread that runs it.
 */
export function checkBackendOptions(options: unknown): asserts options is BackendOptions {
  // A JavaScript caller's initBackend('cpu') must not start wasm without a word.
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError(`initBackend: options is ${JSON.stringify(options)?.slice(0, 80) ?? String(options)}; pass an object, e.g. initBackend({ backend: 'cpu' }).`);
  }
  const o = options as BackendOptions;
  const backend = o.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new InvalidOptionError(`initBackend: unknown backend '${String(backend)}'. Valid backends: 'wasm', 'cpu'.`);
  }
  const limitMB = o.memoryLimitMB;
  if (limitMB !== undefined && !(typeof limitMB === 'number' && Number.isFinite(limitMB) && limitMB > 0 && limitMB <= 4096)) {
    throw new InvalidOptionError(`initBackend: memoryLimitMB is ${String(limitMB)}; it must be a number of MB in (0, 4096] (a wasm heap addresses at most 4 GiB). Defaults to ${DEFAULT_MEMORY_LIMIT_MB}.`);
  }
  const threads = o.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_WASM_THREADS)) {
    throw new InvalidOptionError(`initBackend: threads is ${String(threads)}; it must be an integer from 1 to ${MAX_WASM_THREADS} (tfjs-wasm's pthread pool).`);
  }
}
