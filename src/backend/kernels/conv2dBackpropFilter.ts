/**
 * Conv2DBackpropFilter for the wasm backend (tfjs-backend-wasm 4.22 has none):
 * the filter gradient of tf.conv2d, NHWC, every stride / padding ('same',
 * 'valid', explicit) tfjs accepts. Register-blocked 4x12 f32x4 GEMM per filter
 * tap, in place on the backend's memory (wasm/assembly/conv2d_backprop_filter.ts).
 */
import * as tf from '../../tf.js';
import { assertFloat32, edgeExports, ptrOf, sizeOf, zeroOutput, type WasmBackendLike } from './edgeModule.js';

interface Attrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Attrs;
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(
      `Conv2DBackpropFilter (edge-tta wasm kernel): dataFormat '${dataFormat}' is not supported; only 'NHWC' is. ` +
        'Transpose the input to NHWC (channels last) or run on the cpu backend.',
    );
  }
  assertFloat32('Conv2DBackpropFilter', { x, dy });
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const out = backend.makeOutput(filterShape, 'float32');
  if (sizeOf(filterShape) === 0) return out;
  if (sizeOf(x.shape) === 0 || sizeOf(dy.shape) === 0) {
    zeroOutput(backend, out);
    return out;
  }
  edgeExports(backend).conv2dBackpropFilter(
    ptrOf(backend, x), ptrOf(backend, dy), ptrOf(backend, out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left);
  return out;
}

/** KernelConfig of Conv2DBackpropFilter on 'wasm'. */
export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
  setupFunc: (backend) => void edgeExports(backend as unknown as WasmBackendLike),
};
