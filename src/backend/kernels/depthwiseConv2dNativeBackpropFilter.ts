/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (missing in
 * tfjs-backend-wasm 4.22): NHWC, channel multiplier >= 1, every stride,
 * padding and dilation the forward kernel accepts
 * (wasm/assembly/depthwise_backprop_filter.ts).
 */
import * as tf from '../../tf.js';
import { assertFloat32, edgeExports, ptrOf, sizeOf, zeroOutput, type WasmBackendLike } from './edgeModule.js';

interface Attrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function depthwiseConv2dNativeBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs as unknown as Attrs;
  assertFloat32('DepthwiseConv2dNativeBackpropFilter', { x, dy });
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true);
  const out = backend.makeOutput(filterShape, 'float32');
  if (sizeOf(filterShape) === 0) return out;
  if (sizeOf(x.shape) === 0 || sizeOf(dy.shape) === 0) {
    zeroOutput(backend, out);
    return out;
  }
  edgeExports(backend).depthwiseBackpropFilter(
    ptrOf(backend, x), ptrOf(backend, dy), ptrOf(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, filterShape[3],
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left);
  return out;
}

/** KernelConfig of DepthwiseConv2dNativeBackpropFilter on 'wasm'. */
export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
  setupFunc: (backend) => void edgeExports(backend as unknown as WasmBackendLike),
};
