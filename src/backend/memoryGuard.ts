/**
 * A typed out-of-memory error instead of a wasm abort. tfjs-backend-wasm allocates every tensor
 * with its module's `_malloc`; when the heap cannot grow (4 GiB is the most a wasm32 heap can
 * address, and the host may refuse earlier), the runtime calls `abort()`, which kills the tfjs
 * backend and, in Node, the process. The guard wraps that `_malloc` and refuses an allocation
 * that would take the live tensor bytes past a limit, throwing {@link OutOfMemoryError} from the
 * tfjs op that asked: the step fails before anything is allocated, its `tf.tidy` frees what it
 * had made, and the adapter's state is unchanged.
 *
 * The limit counts tensor bytes (`tf.memory().numBytes`), not the heap: below it, the heap also
 * holds XNNPACK's packed weights and scratch, the allocator's free lists and fragmentation; the
 * default leaves 1 GiB of the 4 GiB address space for those.
 */
import * as tf from '../tf.js';
import { OutOfMemoryError } from '../errors.js';
import { DEFAULT_MEMORY_LIMIT_MB } from './backendOptions.js';

/** Default limit of live tensor bytes on the wasm backend: 3 GiB. */
export const DEFAULT_MEMORY_LIMIT_BYTES = DEFAULT_MEMORY_LIMIT_MB * 2 ** 20;

let limitBytes = DEFAULT_MEMORY_LIMIT_BYTES;
const guarded = new WeakSet<object>();

interface MallocHolder {
  _malloc(n: number): number;
  _free(p: number): void;
}

/** Sets the limit of live tensor bytes on the wasm backend (applies to every guarded backend). */
export function setMemoryLimit(bytes: number): void {
  limitBytes = bytes;
}

/** The current limit of live tensor bytes. */
export function memoryLimit(): number {
  return limitBytes;
}

const mb = (n: number) => (n / 2 ** 20).toFixed(1);

/** Wraps the wasm module's `_malloc` of `backend` (once; later calls do nothing). */
export function installMemoryGuard(backend: { wasm?: MallocHolder } | undefined): void {
  const wasm = backend?.wasm;
  // A module without an allocator (a bare memory handed to the kernels) has nothing to guard.
  if (wasm === undefined || typeof wasm._malloc !== 'function' || guarded.has(wasm)) return;
  guarded.add(wasm);
  // Emscripten's `_malloc` is a stub that, on its first call, replaces itself on the module with
  // the wasm export: call it once so the wrapper below is not overwritten by that stub.
  wasm._free(wasm._malloc(16));
  const malloc = wasm._malloc.bind(wasm);
  wasm._malloc = (n: number): number => {
    const live = tf.engine().state.numBytes;
    if (n > 0 && live + n > limitBytes) {
      throw new OutOfMemoryError(
        `Out of wasm memory: an allocation of ${mb(n)} MB with ${mb(live)} MB of tensors live would pass the limit of ${mb(limitBytes)} MB ` +
          '(initBackend({ memoryLimitMB })). The step was refused and changed nothing. Use a smaller batch, dispose other adapters in this ' +
          'thread (or run them in workers: each worker has its own heap), or a strategy with a smaller peak (docs/performance.md).',
      );
    }
    return malloc(n);
  };
}
