/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (missing in
 * tfjs-backend-wasm 4.22): NHWC, channel multiplier >= 1, every stride,
 * padding and dilation the forward kernel accepts
 * (wasm/assembly/depthwise_backprop_input.ts).
 */
import * as tf from '../../tf.js';
import { assertFloat32, edgeExports, ptrOf, sizeOf, zeroOutput, type WasmBackendLike } from './edgeModule.js';

interface Attrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

function depthwiseConv2dNativeBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs as unknown as Attrs;
  assertFloat32('DepthwiseConv2dNativeBackpropInput', { dy, filter });
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode, true);
  const out = backend.makeOutput(inputShape, 'float32');
  if (sizeOf(inputShape) === 0) return out;
  if (sizeOf(dy.shape) === 0 || sizeOf(filter.shape) === 0) {
    zeroOutput(backend, out);
    return out;
  }
  edgeExports(backend).depthwiseBackpropInput(
    ptrOf(backend, dy), ptrOf(backend, filter), ptrOf(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, filter.shape[3],
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left);
  return out;
}

/** KernelConfig of DepthwiseConv2dNativeBackpropInput on 'wasm'. */
export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
  setupFunc: (backend) => void edgeExports(backend as unknown as WasmBackendLike),
};
