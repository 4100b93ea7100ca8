import * as tf from '../tf.js';
import { setWasmPaths, setThreadsCount, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { BackendError, InvalidOptionError } from '../errors.js';
import { registerEdgeKernels } from './kernels/index.js';

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /** The tfjs backend to run on. Defaults to `'wasm'` (the edge backend; SIMD when the runtime has it). */
  backend?: 'wasm' | 'cpu';
  /**
   * Where the tfjs-backend-wasm `.wasm` files are served from, as a folder URL ending in `/`
   * or a map of file names to URLs. Not needed in Node (the files are found next to the
   * package). In browsers and Web Workers use absolute URLs. Must be set before the first
   * `initBackend` call, because tfjs reads it only when the wasm backend first starts.
   */
  wasmPaths?: string | Record<string, string>;
  /** Threads for XNNPACK when the page is cross-origin isolated. Defaults to tfjs's choice. */
  threads?: number;
}

/** What {@link initBackend} got. */
export interface BackendInfo {
  backend: 'wasm' | 'cpu';
  /** The wasm binary uses 128-bit SIMD. Always false on the cpu backend. */
  simd: boolean;
  /** Threads the wasm backend uses (1 in Node: tfjs-wasm never uses threads there). */
  threads: number;
  /** edge-tta's own WASM kernels (gradients tfjs-wasm lacks, fused ops) are registered. */
  edgeKernels: boolean;
}

let wasmPathsSet = false;

/**
 * Selects and readies a tfjs backend for adaptation.
 *
 * @example
 * const info = await initBackend({ backend: 'wasm' });
 * console.log(info); // { backend: 'wasm', simd: true, threads: 1, edgeKernels: true }
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  const backend = options.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new InvalidOptionError(`initBackend: unknown backend '${String(backend)}'. Valid backends: 'wasm', 'cpu'.`);
  }
  if (backend === 'wasm') {
    if (options.wasmPaths !== undefined && !wasmPathsSet) {
      setWasmPaths(options.wasmPaths as never);
      wasmPathsSet = true;
    }
    if (options.threads !== undefined) setThreadsCount(options.threads);
  }
  // setBackend resolves false (instead of throwing) when the wasm binary fails to load.
  const ok = await tf.setBackend(backend);
  if (!ok) {
    throw new BackendError(
      `initBackend: the '${backend}' backend failed to initialise. In a browser or Web Worker, ` +
        'pass `wasmPaths` with the absolute URL of the folder serving the tfjs-backend-wasm .wasm files.',
    );
  }
  await tf.ready();
  const edgeKernels = backend === 'wasm' ? await registerKernels() : false;
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
