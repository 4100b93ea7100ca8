/**
 * Faster wasm kernels on the backward path, built from tfjs-wasm's own forward kernels and
 * falling back to the original kernel for every case they do not cover:
 *
 * - `Conv2DBackpropInput` (NHWC, float32, any stride and padding): dx is the forward correlation
 *   of dy with the spatially flipped, in/out-transposed filter, which tfjs-wasm runs through
 *   XNNPACK (~10x its own backprop-input loop here). Stride 1 with odd kernels and 'same' padding
 *   (or 1x1 'valid') runs on dy as it is; every other case on dy with zeros inserted between its
 *   rows and columns and padded around (wasm/assembly/dilate_pad.ts), with 'valid' padding.
 * - `Tile` when it is a pure broadcast (every tiled axis has size 1), as in tfjs's BN gradient:
 *   Fill(0) + broadcasting Add.
 * - `Identity` (what tfjs runs to save a tensor for the backward pass) without a copy.
 * - `Reverse` along one axis of a float32 / int32 tensor (CoTTA's and ViDA's horizontal flips,
 *   the flipped filters above) as a plain copy loop over the wasm heap: tfjs-wasm's took 8 ms
 *   for a [64, 32, 32, 3] flip, 100x a copy. The values are moved, never computed.
 *
 * Each is checked against the cpu backend in tests/kernels (backward parity, full-model grads).
 */
import * as tf from '../../tf.js';
import { backendMemory, edgeExports, ptrOf, sizeOf, type WasmBackendLike } from './edgeModule.js';

type Info = tf.TensorInfo;
type Backend = { disposeData(dataId: unknown): void };
type KernelFn = (args: { inputs: Record<string, unknown>; backend: unknown; attrs?: Record<string, unknown> }) => Info;

const FAST = Symbol('edgeTtaFast');

function wasmKernel(name: string): KernelFn {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs-backend-wasm has no '${name}' kernel, which edge-tta's faster wasm kernels (src/backend/kernels/backpropViaForward.ts) need.`);
  return k.kernelFunc as unknown as KernelFn;
}

function marked(fn: KernelFn): tf.KernelFunc {
  (fn as unknown as Record<symbol, boolean>)[FAST] = true;
  return fn as unknown as tf.KernelFunc;
}

/** True if `config` is one of this module's wrappers (so registering again is a no-op). */
export function isBackpropViaForward(config: tf.KernelConfig | undefined): boolean {
  return config !== undefined && (config.kernelFunc as unknown as Record<symbol, boolean>)[FAST] === true;
}

/** The filter spatially flipped and in/out-transposed ([kh, kw, Cout, Cin]): dx = correlate(dy, it). */
function flippedTransposed(filter: Info, backend: unknown): Info {
  const rev = wasmKernel('Reverse')({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } });
  try {
    return wasmKernel('Transpose')({ inputs: { x: rev }, backend, attrs: { perm: [0, 1, 3, 2] } });
  } finally {
    (backend as Backend).disposeData(rev.dataId);
  }
}

/**
 * Flipped-transposed filters by the filter's dataId and shape, per backend. A filter's data never
 * changes under its dataId (tfjs tensors are immutable; `assign` gives a new one), so a model's conv
 * weights are transposed once, and XNNPACK, which caches its packed weights by the filter tensor,
 * packs them once too (at small batches repacking on every call cost more than the convolution).
 * The shape is part of the key because a dataId can be seen with several shapes: tfjs-wasm's
 * `Reshape` shares it, so a [1, 3, C, C] filter and its reshape to [3, 1, C, C] (a factorised pair
 * sharing weights) got one copy, and the second conv's input gradient was silently wrong (89%).
 * Entries whose filter has been disposed are freed at the next call. The copies live in the wasm
 * heap outside tfjs's tensor count (like XNNPACK's packed weights): one per conv layer trained through.
 */
const transposedFilters = new WeakMap<object, Map<object, Map<string, Info>>>();

function cachedFlippedTransposed(filter: Info, backend: unknown): Info {
  const b = backend as WasmBackendLike & Backend;
  let cache = transposedFilters.get(b);
  if (cache === undefined) transposedFilters.set(b, (cache = new Map()));
  for (const [id, byShape] of cache) {
    if (b.dataIdMap.has(id)) continue;
    for (const wt of byShape.values()) b.disposeData(wt.dataId);
    cache.delete(id);
  }
  let byShape = cache.get(filter.dataId);
  if (byShape === undefined) cache.set(filter.dataId, (byShape = new Map()));
  const key = filter.shape.join(',');
  let wt = byShape.get(key);
  if (wt === undefined) byShape.set(key, (wt = flippedTransposed(filter, backend)));
  return wt;
}

/** How many flipped-transposed filters `backend` holds (for tests). */
export function cachedTransposedFilters(backend: object): number {
  let n = 0;
  for (const byShape of transposedFilters.get(backend)?.values() ?? []) n += byShape.size;
  return n;
}

/** Wraps tfjs-wasm's `Conv2DBackpropInput`. */
export function fastConv2DBackpropInput(original: tf.KernelConfig): tf.KernelConfig {
  const origFn = original.kernelFunc as unknown as KernelFn;
  const fn: KernelFn = ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: Info; filter: Info };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as {
      strides: number | [number, number];
      pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
      dataFormat: string;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      inputShape: [number, number, number, number];
    };
    const empty = [dy, filter].some((t) => t.shape.some((d) => d === 0)) || inputShape.some((d) => d === 0);
    if (empty || dataFormat !== 'NHWC' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return origFn({ inputs, backend, attrs });
    const s = Array.isArray(strides) ? strides : [strides, strides];
    const [kh, kw] = filter.shape as [number, number, number, number];
    const oneByOne = kh === 1 && kw === 1;
    const wt = cachedFlippedTransposed(filter, backend);
    let out: Info;
    if (s[0] === 1 && s[1] === 1 && ((pad === 'same' && kh % 2 === 1 && kw % 2 === 1) || (pad === 'valid' && oneByOne))) {
      // 'same' with odd kernels pads symmetrically: the forward kernel's own padding is the one needed.
      out = wasmKernel('Conv2D')({ inputs: { x: dy, filter: wt }, backend, attrs: { ...VALID, pad: oneByOne ? 'valid' : 'same' } });
    } else {
      // Any stride and padding: dy with zeros between its rows and columns (stride - 1) and around
      // it (kernel - 1 - forward pad, and what completes the input size), then a 'valid' stride-1
      // forward conv. For stride 2 that is 4x the useful multiply-adds, at XNNPACK's speed.
      const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
      const hp = info.inHeight + kh - 1;
      const wp = info.inWidth + kw - 1;
      const b = backend as WasmBackendLike;
      const padded = b.makeOutput([info.batchSize, hp, wp, info.outChannels], 'float32');
      edgeExports(b).dilatePad(ptrOf(b, dy), ptrOf(b, padded), info.batchSize, info.outHeight, info.outWidth, info.outChannels,
        info.strideHeight, info.strideWidth, kh - 1 - info.padInfo.top, kw - 1 - info.padInfo.left, hp, wp);
      try {
        out = wasmKernel('Conv2D')({ inputs: { x: padded, filter: wt }, backend, attrs: { ...VALID, pad: 'valid' } });
      } finally {
        b.disposeData(padded.dataId); // also when the convolution runs out of memory
      }
    }
    return out;
  };
  return { ...original, kernelFunc: marked(fn) };
}

const VALID = { strides: [1, 1], dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined } as const;

/** Wraps tfjs-wasm's `Tile`. */
export function fastTile(original: tf.KernelConfig): tf.KernelConfig {
  const origFn = original.kernelFunc as unknown as KernelFn;
  const fn: KernelFn = ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    const { reps } = attrs as { reps: number[] };
    const broadcast = x.dtype === 'float32' && reps.length === x.shape.length && reps.every((r, i) => r === 1 || x.shape[i] === 1);
    if (!broadcast) return origFn({ inputs, backend, attrs });
    const shape = x.shape.map((d, i) => d * reps[i]!);
    const zeros = wasmKernel('Fill')({ inputs: {}, backend, attrs: { shape, value: 0, dtype: 'float32' } });
    const out = wasmKernel('Add')({ inputs: { a: zeros, b: x }, backend, attrs: {} });
    (backend as Backend).disposeData(zeros.dataId);
    return out;
  };
  return { ...original, kernelFunc: marked(fn) };
}

/**
 * Wraps tfjs-wasm's `Identity`: the output shares the input's data (a reference count, as
 * tfjs-wasm's own Reshape does, and as the cpu backend's Identity does) instead of a copy. tfjs
 * clones every tensor a gradient saves (`saveTensorsForBackwardMode`), so on wasm each activation
 * a backward pass needs was held twice, and written once more; tfjs tensors are immutable, so
 * sharing is safe. Strings keep the original (their data is not in the wasm heap).
 */
export function sharedIdentity(original: tf.KernelConfig): tf.KernelConfig {
  const origFn = original.kernelFunc as unknown as KernelFn;
  const fn: KernelFn = ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    if (x.dtype === 'string') return origFn({ inputs, backend, attrs });
    (backend as { incRef(dataId: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  return { ...original, kernelFunc: marked(fn) };
}

/** Wraps tfjs-wasm's `Reverse`: one axis, 4-byte elements, as a copy loop (see the file header). */
export function fastReverse(original: tf.KernelConfig): tf.KernelConfig {
  const origFn = original.kernelFunc as unknown as KernelFn;
  const fn: KernelFn = ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    const rank = x.shape.length;
    const dims = (attrs as { dims: number | number[] }).dims;
    const all = (Array.isArray(dims) ? dims : [dims]).map((d) => (d < 0 ? d + rank : d));
    const axes = all.filter((a) => x.shape[a]! > 1);
    // A repeated axis flips twice (tfjs's kernels apply each entry): left to tfjs-wasm.
    const repeated = new Set(all).size !== all.length;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || axes.length !== 1 || repeated) return origFn({ inputs, backend, attrs });
    const b = backend as WasmBackendLike;
    const out = b.makeOutput([...x.shape], x.dtype);
    const size = sizeOf(x.shape);
    if (size === 0) return out;
    const axis = axes[0]!;
    const n = x.shape[axis]!;
    const inner = sizeOf(x.shape.slice(axis + 1));
    const outer = size / (n * inner);
    const heap = new Int32Array(backendMemory(b).buffer); // 4-byte moves: the same bits for both dtypes
    const src = ptrOf(b, x) >> 2;
    const dst = ptrOf(b, out) >> 2;
    for (let o = 0; o < outer; o++) {
      const base = o * n * inner;
      for (let i = 0; i < n; i++) {
        const from = src + base + (n - 1 - i) * inner;
        const to = dst + base + i * inner;
        for (let k = 0; k < inner; k++) heap[to + k] = heap[from + k]!;
      }
    }
    return out;
  };
  return { ...original, kernelFunc: marked(fn) };
}

/** The wrappers, by the kernel they wrap. */
export const BACKPROP_VIA_FORWARD: ReadonlyArray<[string, (original: tf.KernelConfig) => tf.KernelConfig]> = Object.freeze([
  ['Conv2DBackpropInput', fastConv2DBackpropInput],
  ['Tile', fastTile],
  ['Identity', sharedIdentity],
  ['Reverse', fastReverse],
]);
