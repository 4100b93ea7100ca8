import * as tf from '../tf.js';
import { setWasmPaths, setThreadsCount, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors.js';
import { registerEdgeKernels } from './kernels/index.js';
import { installMemoryGuard, setMemoryLimit } from './memoryGuard.js';
import { prepareWasmThreads } from './wasmThreads.js';
import { checkBackendOptions, type BackendOptions } from './backendOptions.js';

/** Options of {@link initBackend}. */
export type { BackendOptions } from './backendOptions.js';

/** What {@link initBackend} got. */
export interface BackendInfo {
  backend: 'wasm' | 'cpu';
  /** The wasm binary uses 128-bit SIMD. Always false on the cpu backend. */
  simd: boolean;
  /** XNNPACK threads the wasm backend uses (1 unless `threads` asked for more and the runtime allows it). */
  threads: number;
  /** edge-tta's own WASM kernels (gradients tfjs-wasm lacks, fused ops) are registered. */
  edgeKernels: boolean;
}

/**
 * Readies a tfjs backend for adaptation, respecting what the app already set up.
 *
 * - A backend the app already made active is used as it is: nothing is re-initialised and no
 *   tfjs setting changes (`wasmPaths` and `threads` then have no effect: tfjs reads them only
 *   when the wasm backend first starts).
 * - Otherwise it makes `backend` the active tfjs backend (tfjs has one active backend per
 *   thread, so this is what the app asks for by calling it), setting `wasmPaths` / `threads`
 *   first when given.
 * - edge-tta's WASM kernels are registered for the `'wasm'` backend only; other backends'
 *   kernels are never touched.
 * - It may be called any number of times; later calls return the same figures.
 *
 * The `'cpu'` backend must be registered by the app (`import '@tensorflow/tfjs-backend-cpu'`,
 * or the `@tensorflow/tfjs` umbrella); edge-tta does not import it.
 *
 * @example
 * const info = await initBackend({ backend: 'wasm', wasmPaths: '/tfjs-wasm/' });
 * console.log(info); // { backend: 'wasm', simd: true, threads: 1, edgeKernels: true }
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  checkBackendOptions(options);
  const backend = options.backend ?? 'wasm';
  const threads = options.threads;
  const limitMB = options.memoryLimitMB;
  if (tf.findBackendFactory(backend) === null) {
    throw new BackendError(
      `initBackend: no '${backend}' backend is registered with this copy of tfjs-core. ` +
        (backend === 'cpu'
          ? "Import '@tensorflow/tfjs-backend-cpu' in your app first."
          : "Import '@tensorflow/tfjs-backend-wasm' (a peer dependency of edge-tta) and make sure one copy of @tensorflow/tfjs-core is installed (`npm ls @tensorflow/tfjs-core`)."),
    );
  }
  // tf.getBackend() and engine().registry only read state; tf.ready() and tf.findBackend()
  // would start a backend (the highest-priority one, or wasm before its paths are set).
  if (tf.getBackend() === backend) {
    await tf.ready(); // the app's own set-up may still be pending
  } else {
    // tfjs reads wasmPaths and the thread count only when the wasm backend first starts.
    const startsWasm = backend === 'wasm' && !('wasm' in tf.engine().registry);
    if (startsWasm) {
      try {
        if (options.wasmPaths !== undefined) setWasmPaths(options.wasmPaths as never);
      } catch (e) {
        throw new BackendError(`initBackend: tfjs-backend-wasm refused wasmPaths: ${(e as Error).message}`);
      }
      if (threads !== undefined) setThreadsCount(threads);
    }
    const restore = startsWasm && threads !== undefined && threads > 1 ? prepareWasmThreads(threads) : () => {};
    // setBackend resolves false (instead of throwing) when the wasm binary fails to load.
    let ok: boolean;
    try {
      ok = await tf.setBackend(backend);
    } finally {
      restore();
    }
    if (!ok) {
      throw new BackendError(
        `initBackend: the '${backend}' backend failed to initialise. In a browser or Web Worker, ` +
          'pass `wasmPaths` with the absolute URL of the folder serving the tfjs-backend-wasm .wasm files.',
      );
    }
  }
  const edgeKernels = backend === 'wasm' ? await registerKernels() : false;
  if (limitMB !== undefined) setMemoryLimit(limitMB * 2 ** 20);
  if (backend === 'wasm') installMemoryGuard(tf.engine().registry['wasm'] as never);
  return {
    backend,
    simd: backend === 'wasm' ? Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) : false,
    threads: backend === 'wasm' ? getThreadsCount() : 1,
    edgeKernels,
  };
}

/** Registers edge-tta's WASM kernels; plugged in by the kernels module. */
async function registerKernels(): Promise<boolean> {
  return (await registerEdgeKernels()).edgeKernels;
}
