/**
 * registerEdgeKernels: idempotent, works after tf.setBackend('wasm') (the
 * kernels bind themselves to the live backend: setupFunc only runs on
 * setBackend), replaces tfjs-wasm's MaxPoolGrad, and is what initBackend
 * reports as `edgeKernels`. (Registration *before* setBackend is covered by
 * the other files in this folder, which register on 'cpu' first.)
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerEdgeKernels } from '../../src/backend/kernels/index.js';
import { initBackend } from '../../src/backend/initBackend.js';
import { edgeExports, type WasmBackendLike } from '../../src/backend/kernels/edgeModule.js';

describe('registerEdgeKernels', () => {
  it('registered after setBackend("wasm"): gradients of conv2d and depthwiseConv2d work at once', async () => {
    await tf.setBackend('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const info = await registerEdgeKernels();
    expect(info.edgeKernels).toBe(true);
    expect(info.registered).toEqual([
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'MaxPoolGrad',
      'Conv2DBackpropInput',
      'Tile',
      'Identity',
      'Reverse',
    ]);
    expect(info.replaced).toEqual(['MaxPoolGrad', 'Conv2DBackpropInput', 'Tile', 'Identity', 'Reverse']);
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const g = tf.grads((f: tf.Tensor, d: tf.Tensor) => tf.add(tf.conv2d(x, f as tf.Tensor4D, 1, 'same').sum(), tf.depthwiseConv2d(x, d as tf.Tensor4D, 1, 'valid').sum()));
    const [gf, gd] = g([tf.ones([3, 3, 2, 1]), tf.ones([3, 3, 2, 1])]);
    // With x = 1 and dy = 1, dW[r, s] counts the output pixels whose input pixel is inside the image
    // ('same' 3x3 on 4x4): 16 (centre tap), 12 (edge taps), 9 (corner taps); 'valid' depthwise: 2x2 = 4 each.
    expect(Array.from(await gf!.data()).slice(0, 9 * 2).filter((_, i) => i % 2 === 0)).toEqual([9, 12, 9, 12, 16, 12, 9, 12, 9]);
    expect(Array.from(await gd!.data())).toEqual(new Array(18).fill(4));
  });
  it('is idempotent', async () => {
    const a = await registerEdgeKernels();
    const b = await registerEdgeKernels();
    expect(b).toBe(a);
    expect(tf.getKernelsForBackend('wasm').filter((k) => k.kernelName === 'MaxPoolGrad')).toHaveLength(1);
  });
  it('initBackend({backend: "wasm"}) reports edgeKernels: true', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info.edgeKernels).toBe(true);
    expect(info.backend).toBe('wasm');
  });
  it("links to a shared memory too (tfjs-wasm's threaded build, cross-origin-isolated pages)", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const ex = edgeExports({ wasm: { asm: { memory } } } as unknown as WasmBackendLike);
    const f = new Float32Array(memory.buffer);
    f.set([1, 2, 3, 4, 5], 0);
    f.set([3, 3, 3, 3, 3], 8);
    ex.emaUpdate(0, 32, 64, 5, 0.5);
    expect(Array.from(f.subarray(16, 21))).toEqual([2, 2.5, 3, 3.5, 4]);
  });
});
