/**
 * Fallback `Conv2DBackpropFilter` for the tfjs `wasm` backend, composed from
 * kernels tfjs-wasm already has (Pad, StridedSlice, Reshape, BatchMatMul,
 * Concat). Used by `trainSource.ts` ONLY when the SDK's own kernels
 * (`registerEdgeKernels()` in src/backend/kernels) are not available, so the
 * source model can be trained without them. Not part of the SDK.
 *
 * dW[kh, kw, ci, co] = sum over (n, oh, ow) of xpad[n, oh*s+kh, ow*s+kw, ci] * dy[n, oh, ow, co]:
 * one strided slice of the padded input per kernel tap, then one matmul.
 */
import * as tf from '@tensorflow/tfjs';

type KernelFn = (args: { inputs: Record<string, unknown>; backend: unknown; attrs?: Record<string, unknown> }) => tf.TensorInfo;

function kernel(name: string): KernelFn {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs-wasm has no '${name}' kernel; the fallback Conv2DBackpropFilter cannot be built.`);
  return k.kernelFunc as unknown as KernelFn;
}

/** Registers the fallback if the wasm backend has no Conv2DBackpropFilter yet. Returns true if it registered one. */
export function registerFallbackConv2DBackpropFilter(): boolean {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return false;
  const pad = kernel('PadV2');
  const slice = kernel('StridedSlice');
  const reshape = kernel('Reshape');
  const matmul = kernel('BatchMatMul');
  const concat = kernel('Concat');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: { x: tf.TensorInfo; dy: tf.TensorInfo }; backend: { disposeData(id: unknown): void }; attrs: Record<string, unknown> }) => {
      const { x, dy } = inputs;
      const { strides, pad: padAttr, dataFormat, dimRoundingMode, filterShape } = attrs as {
        strides: [number, number] | number;
        pad: 'same' | 'valid' | number;
        dataFormat: 'NHWC' | 'NCHW';
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
        filterShape: [number, number, number, number];
      };
      if (dataFormat === 'NCHW') throw new Error('Fallback Conv2DBackpropFilter supports NHWC only.');
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number], filterShape, strides, 1, padAttr as never, dimRoundingMode, false, 'channelsLast',
      );
      const [n, , , ci] = x.shape;
      const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw } = info;
      const co = info.outChannels;
      const p = info.padInfo;
      const temps: tf.TensorInfo[] = [];
      const xp = pad({
        inputs: { x },
        backend,
        attrs: { paddings: [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]], constantValue: 0 },
      });
      temps.push(xp);
      const m = n * oh * ow;
      const dyr = reshape({ inputs: { x: dy }, backend, attrs: { shape: [1, m, co] } });
      temps.push(dyr);
      const taps: tf.TensorInfo[] = [];
      for (let kh = 0; kh < fh; kh++) {
        for (let kw = 0; kw < fw; kw++) {
          const sl = slice({
            inputs: { x: xp },
            backend,
            attrs: {
              begin: [0, kh, kw, 0],
              end: [n, kh + (oh - 1) * sh + 1, kw + (ow - 1) * sw + 1, ci],
              strides: [1, sh, sw, 1],
              beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
            },
          });
          const r = reshape({ inputs: { x: sl }, backend, attrs: { shape: [1, m, ci] } });
          const mm = matmul({ inputs: { a: r, b: dyr }, backend, attrs: { transposeA: true, transposeB: false } });
          temps.push(sl, r);
          taps.push(mm);
        }
      }
      const cat = concat({ inputs: taps as unknown as Record<string, unknown> /* tfjs passes Concat an array */, backend, attrs: { axis: 0 } });
      temps.push(...taps);
      const out = reshape({ inputs: { x: cat }, backend, attrs: { shape: [fh, fw, ci, co] } });
      temps.push(cat);
      for (const t of temps) backend.disposeData(t.dataId);
      return out;
    }) as never,
  });
  return true;
}

/**
 * Speeds up `Conv2DBackpropInput` on wasm for stride-1, dilation-1 NHWC convs
 * (the bulk of this model's backward pass): dx is the forward correlation of
 * dy with the spatially flipped, in/out-transposed filter, which tfjs-wasm
 * runs through XNNPACK (~10x faster than its own backprop-input loop here).
 * Other configurations go to the original tfjs-wasm kernel. Training-time
 * helper of the benchmark, not part of the SDK. Returns true if it replaced the kernel.
 */
export function registerFastConv2DBackpropInput(): boolean {
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!original || (original.kernelFunc as { edgeTtaFast?: boolean }).edgeTtaFast) return false;
  const origFn = original.kernelFunc as unknown as KernelFn;
  const reverse = kernel('Reverse');
  const transpose = kernel('Transpose');
  const conv = kernel('Conv2D');
  const fn = (({ inputs, backend, attrs }: { inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo }; backend: { disposeData(id: unknown): void }; attrs: Record<string, unknown> }) => {
    const { strides, pad, dataFormat, inputShape } = attrs as {
      strides: [number, number] | number; pad: 'same' | 'valid' | number; dataFormat: string; inputShape: number[];
    };
    const s = Array.isArray(strides) ? strides : [strides, strides];
    const [kh, kw] = inputs.filter.shape;
    // Forward 'same' with odd kernels and stride 1 pads (k-1)/2 on each side; so does the transposed conv.
    const ok = s[0] === 1 && s[1] === 1 && dataFormat === 'NHWC' && (pad === 'same' || (pad === 'valid' && kh === 1 && kw === 1)) && kh % 2 === 1 && kw % 2 === 1;
    if (!ok) return origFn({ inputs, backend, attrs });
    const rev = reverse({ inputs: { x: inputs.filter }, backend, attrs: { dims: [0, 1] } });
    const wt = transpose({ inputs: { x: rev }, backend, attrs: { perm: [0, 1, 3, 2] } });
    const out = conv({
      inputs: { x: inputs.dy, filter: wt },
      backend,
      attrs: { strides: [1, 1], pad: kh === 1 && kw === 1 ? 'valid' : 'same', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
    });
    backend.disposeData(rev.dataId);
    backend.disposeData(wt.dataId);
    void inputShape;
    return out;
  }) as unknown as tf.KernelFunc & { edgeTtaFast?: boolean };
  fn.edgeTtaFast = true;
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: fn });
  return true;
}

/**
 * Speeds up `Tile` on wasm when it is a pure broadcast (every tiled axis has
 * size 1 in the input), as in tfjs's batchNorm gradient, by Fill(0) + Add
 * with broadcasting. Other cases go to the original tfjs-wasm kernel.
 * Training-time helper of the benchmark, not part of the SDK.
 */
export function registerFastTile(): boolean {
  const original = tf.getKernel('Tile', 'wasm');
  if (!original || (original.kernelFunc as { edgeTtaFast?: boolean }).edgeTtaFast) return false;
  const origFn = original.kernelFunc as unknown as KernelFn;
  const fill = kernel('Fill');
  const add = kernel('Add');
  const fn = (({ inputs, backend, attrs }: { inputs: { x: tf.TensorInfo }; backend: { disposeData(id: unknown): void }; attrs: { reps: number[] } }) => {
    const { x } = inputs;
    const { reps } = attrs;
    const pure = x.dtype === 'float32' && reps.length === x.shape.length && reps.every((r, i) => r === 1 || x.shape[i] === 1);
    if (!pure) return origFn({ inputs, backend, attrs });
    const shape = x.shape.map((d, i) => d * reps[i]);
    const z = fill({ inputs: {}, backend, attrs: { shape, value: 0, dtype: 'float32' } });
    const out = add({ inputs: { a: z, b: x }, backend, attrs: {} });
    backend.disposeData(z.dataId);
    return out;
  }) as unknown as tf.KernelFunc & { edgeTtaFast?: boolean };
  fn.edgeTtaFast = true;
  tf.unregisterKernel('Tile', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: fn });
  return true;
}
