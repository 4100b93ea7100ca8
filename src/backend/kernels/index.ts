/**
 * edge-tta's WASM SIMD kernels for tfjs-backend-wasm: the gradient kernels it
 * lacks (so tf.grad / variableGrads / optimizer.minimize work on conv nets)
 * and a correct MaxPoolGrad in place of its own.
 *
 * @example
 * await tf.setBackend('wasm');           // before or after, either works
 * const info = await registerEdgeKernels();
 * // { edgeKernels: true, registered: ['Conv2DBackpropFilter', ...], replaced: ['MaxPoolGrad'], ... }
 */
import * as tf from '../../tf.js';
import { compileEdgeModule, edgeExports, edgeWasmByteLength, type WasmBackendLike } from './edgeModule.js';
import { conv2DBackpropFilterConfig } from './conv2dBackpropFilter.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './depthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './depthwiseConv2dNativeBackpropInput.js';
import { maxPoolGradConfig } from './maxPoolGrad.js';
import { BACKPROP_VIA_FORWARD, isBackpropViaForward } from './backpropViaForward.js';

/** What {@link registerEdgeKernels} did. */
export interface EdgeKernelsInfo {
  /** Always true once the promise resolves. */
  edgeKernels: true;
  /** Kernel names now served by edge-tta on 'wasm'. */
  registered: string[];
  /** Of those, the ones that replaced a tfjs-backend-wasm kernel (unregistered first). */
  replaced: string[];
  /** Size of the SIMD module in bytes. */
  wasmBytes: number;
}

/** Every kernel config this module registers, in order. */
export const EDGE_KERNEL_CONFIGS: readonly tf.KernelConfig[] = Object.freeze([
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  maxPoolGradConfig,
]);

let registration: Promise<EdgeKernelsInfo> | null = null;

/**
 * Registers edge-tta's kernels for the 'wasm' backend. Idempotent (later calls
 * return the first result). Works before or after `tf.setBackend('wasm')`:
 * when the wasm backend already exists the module is bound to its memory now,
 * otherwise each kernel's `setupFunc` does it on `setBackend`.
 */
export function registerEdgeKernels(): Promise<EdgeKernelsInfo> {
  registration ??= doRegister().catch((e: unknown) => {
    registration = null;
    throw e;
  });
  return registration;
}

async function doRegister(): Promise<EdgeKernelsInfo> {
  await compileEdgeModule();
  const registered: string[] = [];
  const replaced: string[] = [];
  for (const config of EDGE_KERNEL_CONFIGS) {
    const existing = tf.getKernel(config.kernelName, 'wasm');
    if (existing?.kernelFunc === config.kernelFunc) {
      registered.push(config.kernelName);
      continue;
    }
    if (existing) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      replaced.push(config.kernelName);
    }
    tf.registerKernel(config);
    registered.push(config.kernelName);
  }
  // Faster Conv2DBackpropInput (stride 1) and broadcast Tile from tfjs-wasm's own forward kernels.
  for (const [name, wrap] of BACKPROP_VIA_FORWARD) {
    const existing = tf.getKernel(name, 'wasm');
    if (existing === undefined) continue;
    if (!isBackpropViaForward(existing)) {
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel(wrap(existing));
      replaced.push(name);
    }
    registered.push(name);
  }
  // A backend created before registration never runs our setupFuncs: bind now.
  const wasmBackend = tf.engine().registry['wasm'] as unknown as WasmBackendLike | undefined;
  if (wasmBackend) edgeExports(wasmBackend);
  return { edgeKernels: true, registered, replaced, wasmBytes: edgeWasmByteLength() };
}
