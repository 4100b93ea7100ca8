/**
 * Loads edge_kernels.wasm (built from wasm/assembly by wasm/build.mjs) and
 * instantiates it once per tfjs-backend-wasm instance, importing that
 * backend's own `WebAssembly.Memory`: the kernels read and write tensors in
 * place at `backend.dataIdMap.get(dataId).memoryOffset`, with no copies.
 *
 * The module has no static data, no allocator and no stack (the build checks
 * it), so it never writes anywhere but the output addresses it is given.
 * Memory growth is transparent: the kernels address the shared Memory object,
 * and JS-side views are created after every allocation.
 */
import * as tf from '../../tf.js';
import { EDGE_KERNELS_SHARED_WASM_BASE64, EDGE_KERNELS_WASM_BASE64 } from './edgeKernelsBinary.generated.js';
import { installMemoryGuard } from '../memoryGuard.js';
import { BackendError } from '../../errors.js';

/** The exports of edge_kernels.wasm (see wasm/assembly/index.ts). Pointers are byte offsets. */
export interface EdgeExports {
  conv2dBackpropFilter(x: number, dy: number, dw: number, N: number, H: number, W: number, Ci: number,
    Ho: number, Wo: number, Co: number, KH: number, KW: number, sh: number, sw: number, dh: number,
    dw_: number, pt: number, pl: number): void;
  depthwiseBackpropFilter(x: number, dy: number, dw: number, N: number, H: number, W: number, C: number,
    Ho: number, Wo: number, M: number, KH: number, KW: number, sh: number, sw: number, dh: number,
    dw_: number, pt: number, pl: number): void;
  depthwiseBackpropInput(dy: number, f: number, dx: number, N: number, H: number, W: number, C: number,
    Ho: number, Wo: number, M: number, KH: number, KW: number, sh: number, sw: number, dh: number,
    dw_: number, pt: number, pl: number): void;
  maxPoolGrad(x: number, dy: number, dx: number, N: number, H: number, W: number, C: number,
    Ho: number, Wo: number, FH: number, FW: number, sh: number, sw: number, dh: number, dw_: number,
    pt: number, pl: number): void;
  emaUpdate(teacher: number, student: number, out: number, n: number, m: number): void;
  setRngState(s: number): void;
  getRngState(): number;
  stochasticRestore(current: number, source: number, out: number, n: number, p: number): number;
  mixBnStats(srcMean: number, srcVar: number, bMean: number, bVar: number, outMean: number,
    outVar: number, n: number, alpha: number): void;
  softmaxEntropy(logits: number, out: number, B: number, K: number): void;
  lameSolve(probs: number, feats: number, out: number, scratch: number, B: number, K: number,
    D: number, kind: number, knn: number, lambda: number, maxIter: number, tol: number): number;
  adamStep(p: number, g: number, m: number, v: number, outP: number, outM: number, outV: number, n: number,
    b1: number, omb1: number, b2: number, omb2: number, sc2: number, eps: number, step: number): void;
  channelMoments(x: number, mean: number, variance: number, scratch: number, R: number, C: number): void;
  batchNormalize(x: number, mean: number, variance: number, gamma: number, beta: number, out: number, scratch: number,
    R: number, C: number, eps: number): void;
  batchNormBackward(x: number, dy: number, mean: number, variance: number, gamma: number, dx: number, dgamma: number,
    dbeta: number, scratch: number, R: number, C: number, eps: number, weight: number): void;
  warpGather(x: number, index: number, weights: number, out: number, N: number, HW: number, M: number, C: number): void;
  adjustHueRgb(x: number, out: number, P: number, shiftPlusOne: number): void;
  rgbToGray(x: number, out: number, P: number): void;
  reluBackward(x: number, dy: number, dx: number, n: number, maxValue: number, inclusive: number): void;
  dilatePad(dy: number, out: number, N: number, Ho: number, Wo: number, C: number, sh: number, sw: number,
    top: number, left: number, Hp: number, Wp: number): void;
  simdCeiling(iters: number, p: number): number;
  simdCeilingChained(iters: number, a: number, b: number): number;
}

/** The parts of tfjs-backend-wasm's BackendWasm the kernels use (not all are in its typings). */
export interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { memoryOffset: number; shape: number[]; dtype: string; refCount: number } | undefined; has(dataId: object): boolean };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  refCount(dataId: object): number;
  disposeData(dataId: object, force?: boolean): boolean;
  wasm: {
    HEAPU8: Uint8Array;
    _malloc(n: number): number;
    _free(p: number): void;
    asm?: { memory?: WebAssembly.Memory };
    wasmMemory?: WebAssembly.Memory;
  };
}

// Two builds of the same code: for an ordinary memory (tfjs-wasm's SIMD
// binary) and for a shared one (its threaded-SIMD binary, in cross-origin
// isolated pages). Index 0 = ordinary, 1 = shared.
const compiled: [WebAssembly.Module | null, WebAssembly.Module | null] = [null, null];
let compiling: Promise<unknown> | null = null;
const instances = new WeakMap<object, EdgeExports>();

function wasmBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const bin = atob(shared ? EDGE_KERNELS_SHARED_WASM_BASE64 : EDGE_KERNELS_WASM_BASE64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** Size of edge_kernels.wasm in bytes. */
export function edgeWasmByteLength(): number {
  return Math.floor((EDGE_KERNELS_WASM_BASE64.length * 3) / 4);
}

/**
 * Compiles both variants asynchronously (allowed everywhere, including a browser main thread).
 * A runtime without WebAssembly SIMD (Safari before 16.4) cannot compile them: a `BackendError`
 * naming the fix instead of the engine's CompileError. A failure is not cached (a later call
 * compiles again).
 */
export async function compileEdgeModule(): Promise<void> {
  compiling ??= Promise.all([false, true].map(async (shared) => {
    compiled[shared ? 1 : 0] ??= await WebAssembly.compile(wasmBytes(shared));
  })).then(
    () => undefined,
    (e: unknown) => {
      compiling = null;
      if (!(e instanceof WebAssembly.CompileError)) throw e;
      throw new BackendError(
        `initBackend: edge-tta's WebAssembly kernels need 128-bit SIMD, which this runtime cannot compile (${e.message}). ` +
          "Browsers without WebAssembly SIMD (e.g. Safari before 16.4) can run edge-tta on the cpu backend: install @tensorflow/tfjs-backend-cpu and call initBackend({ backend: 'cpu' }).",
      );
    },
  );
  await compiling;
}

function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** The WebAssembly.Memory of a tfjs-backend-wasm instance. */
export function backendMemory(backend: WasmBackendLike): WebAssembly.Memory {
  const mem = backend.wasm?.asm?.memory ?? backend.wasm?.wasmMemory;
  if (!(mem instanceof WebAssembly.Memory)) {
    throw new Error(
      'edge-tta kernels: could not find the WebAssembly.Memory of the tfjs wasm backend ' +
        '(looked at backend.wasm.asm.memory and backend.wasm.wasmMemory). The kernels are built for ' +
        '@tensorflow/tfjs-backend-wasm 4.22; pin that version.',
    );
  }
  return mem;
}

/**
 * The kernels bound to this backend's memory; instantiated on first use
 * (this is the kernels' set-up: it runs from `setupFunc` on `setBackend`, or
 * lazily from the first kernel call when the kernels were registered after it).
 */
export function edgeExports(backend: WasmBackendLike): EdgeExports {
  let ex = instances.get(backend);
  if (ex) return ex;
  const memory = backendMemory(backend);
  const v = isShared(memory) ? 1 : 0;
  if (!compiled[v]) {
    // Synchronous compile: fine in Node and workers; a browser main thread
    // refuses modules > 4 KB, so there call `await registerEdgeKernels()` first.
    try {
      compiled[v] = new WebAssembly.Module(wasmBytes(v === 1));
    } catch (e) {
      throw new Error(
        `edge-tta kernels: the WASM module is not compiled yet and synchronous compilation failed (${String(e)}). ` +
          'Call `await registerEdgeKernels()` (or `await initBackend({backend: "wasm"})`) before running kernels.',
      );
    }
  }
  const instance = new WebAssembly.Instance(compiled[v]!, { env: { memory, exp: Math.exp, log: Math.log } });
  ex = instance.exports as unknown as EdgeExports;
  instances.set(backend, ex);
  // Wherever edge-tta binds to a wasm backend, allocations past the limit become a typed error.
  installMemoryGuard(backend);
  return ex;
}

/** Byte offset of a tensor's data in the backend's memory. */
export function ptrOf(backend: WasmBackendLike, t: { dataId: object }): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (d == null) throw new Error('edge-tta kernels: tensor data is not on the wasm backend (was it disposed?).');
  return d.memoryOffset;
}

/** Throws unless every tensor is float32. */
export function assertFloat32(kernel: string, tensors: Record<string, tf.TensorInfo>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32') {
      throw new Error(`${kernel} (edge-tta wasm kernel): input '${name}' has dtype ${t.dtype}; only float32 is supported. Cast it with tf.cast(x, 'float32').`);
    }
  }
}

/** Fills a float32 output with zeros (makeOutput memory is not zeroed). */
export function zeroOutput(backend: WasmBackendLike, out: tf.TensorInfo): void {
  const size = out.shape.reduce((a, b) => a * b, 1);
  if (size === 0) return;
  // Not stale after a memory growth: the view is made here, after makeOutput (the allocation that
  // may grow the memory), and used at once; Emscripten's growth replaces HEAPU8 with a view of the
  // new buffer (tests/kernels/zeroOutputGrowth.test.ts).
  new Float32Array(backend.wasm.HEAPU8.buffer, ptrOf(backend, out), size).fill(0);
}

/** Product of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
