/**
 * MaxPoolGrad for the wasm backend, replacing tfjs-backend-wasm 4.22's kernel,
 * which drops the gradient of windows whose maximum is <= ~1e-38. Same
 * semantics as the CPU backend: the gradient goes to the first strictly
 * greatest in-image value of each window (wasm/assembly/max_pool_grad.ts).
 */
import * as tf from '../../tf.js';
import { assertFloat32, edgeExports, ptrOf, sizeOf, zeroOutput, type WasmBackendLike } from './edgeModule.js';

interface Attrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as Attrs;
  assertFloat32('MaxPoolGrad', { dy, input });
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const out = backend.makeOutput(input.shape, 'float32');
  if (sizeOf(input.shape) === 0) return out;
  if (sizeOf(dy.shape) === 0) {
    zeroOutput(backend, out);
    return out;
  }
  edgeExports(backend).maxPoolGrad(
    ptrOf(backend, input), ptrOf(backend, dy), ptrOf(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left);
  return out;
}

/** KernelConfig of MaxPoolGrad on 'wasm' (replaces tfjs-backend-wasm's). */
export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
  setupFunc: (backend) => void edgeExports(backend as unknown as WasmBackendLike),
};
