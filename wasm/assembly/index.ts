// Entry point of edge_kernels.wasm: every export below is a kernel that works
// in place on tfjs-backend-wasm's memory (imported as env.memory).
export { conv2dBackpropFilter } from './conv2d_backprop_filter';
export { depthwiseBackpropFilter } from './depthwise_backprop_filter';
export { depthwiseBackpropInput } from './depthwise_backprop_input';
export { maxPoolGrad } from './max_pool_grad';
export { emaUpdate, setRngState, getRngState, stochasticRestore, mixBnStats, softmaxEntropy, lameSolve, adamStep } from './fused';
export { simdCeiling, simdCeilingChained } from './ceiling';
export { channelMoments, batchNormalize, batchNormBackward } from './batchnorm';
export { dilatePad } from './dilate_pad';
export { reluBackward } from './relu_backward';
export { warpGather, adjustHueRgb, rgbToGray } from './augment';
