/**
 * Faster wasm kernels on the backward path, built from tfjs-wasm's own forward kernels and
 * falling back to the original kernel for every case they do not cover:
 *
 * - `Conv2DBackpropInput` for stride 1, NHWC, odd kernels with 'same' padding (or 1x1 'valid'):
 *   dx is the forward correlation of dy with the spatially flipped, in/out-transposed filter,
 *   which tfjs-wasm runs through XNNPACK (~10x its own backprop-input loop here).
 * - `Tile` when it is a pure broadcast (every tiled axis has size 1), as in tfjs's BN gradient:
 *   Fill(0) + broadcasting Add.
 *
 * Both are checked against the cpu backend in tests/kernels (backward parity, full-model grads).
 */
import * as tf from '../../tf.js';

type Info = tf.TensorInfo;
type Backend = { disposeData(dataId: unknown): void };
type KernelFn = (args: { inputs: Record<string, unknown>; backend: unknown; attrs?: Record<string, unknown> }) => Info;

const FAST = Symbol('edgeTtaFast');

function wasmKernel(name: string): KernelFn {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs-backend-wasm has no '${name}' kernel, which edge-tta's fast ${name === 'Conv2D' ? 'Conv2DBackpropInput' : 'Tile'} needs.`);
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

/** Wraps tfjs-wasm's `Conv2DBackpropInput`. */
export function fastConv2DBackpropInput(original: tf.KernelConfig): tf.KernelConfig {
  const origFn = original.kernelFunc as unknown as KernelFn;
  const fn: KernelFn = ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: Info; filter: Info };
    const { strides, pad, dataFormat } = attrs as { strides: number | [number, number]; pad: unknown; dataFormat: string };
    const s = Array.isArray(strides) ? strides : [strides, strides];
    const [kh, kw] = filter.shape as [number, number, number, number];
    const oneByOne = kh === 1 && kw === 1;
    const covered =
      s[0] === 1 && s[1] === 1 && dataFormat === 'NHWC' && kh % 2 === 1 && kw % 2 === 1 && (pad === 'same' || (pad === 'valid' && oneByOne));
    if (!covered) return origFn({ inputs, backend, attrs });
    const b = backend as Backend;
    const rev = wasmKernel('Reverse')({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } });
    const wt = wasmKernel('Transpose')({ inputs: { x: rev }, backend, attrs: { perm: [0, 1, 3, 2] } });
    const out = wasmKernel('Conv2D')({
      inputs: { x: dy, filter: wt },
      backend,
      attrs: { strides: [1, 1], pad: oneByOne ? 'valid' : 'same', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
    });
    b.disposeData(rev.dataId);
    b.disposeData(wt.dataId);
    return out;
  };
  return { ...original, kernelFunc: marked(fn) };
}

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

/** The wrappers, by the kernel they wrap. */
export const BACKPROP_VIA_FORWARD: ReadonlyArray<[string, (original: tf.KernelConfig) => tf.KernelConfig]> = Object.freeze([
  ['Conv2DBackpropInput', fastConv2DBackpropInput],
  ['Tile', fastTile],
]);
