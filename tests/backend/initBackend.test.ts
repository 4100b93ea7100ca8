/**
 * initBackend respects the app's tfjs set-up: a wasm backend the app already started is used
 * as it is (same instance, nothing re-initialised, wasmPaths and threads then ignored), edge-tta's
 * kernels go to 'wasm' only, and calling it twice is harmless. This file imports tfjs-core, the
 * cpu and the wasm backends the way an app does, not the umbrella.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { EDGE_KERNEL_CONFIGS } from '../../src/backend/kernels/index.js';
import { BackendError, initBackend, InvalidOptionError } from '../../src/index.js';

const edgeKernelFuncs = new Set(EDGE_KERNEL_CONFIGS.map((k) => k.kernelFunc));

describe('initBackend', () => {
  it('uses the wasm backend the app already started, and ignores wasmPaths / threads then', async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    const appBackend = tf.backend();
    // Would make tfjs fetch the binaries from nowhere if initBackend re-initialised the backend.
    const info = await initBackend({ backend: 'wasm', wasmPaths: 'https://invalid.example/none/', threads: 3 });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.backend()).toBe(appBackend);
    expect(info).toEqual({ backend: 'wasm', simd: true, threads: 1, edgeKernels: true });
    const y = tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'valid');
    expect(Array.from(await y.data())).toEqual([9]);
    y.dispose();
  });

  it('may be called twice: same figures, same backend instance, kernels registered once', async () => {
    const first = await initBackend();
    const backendObject = tf.backend();
    const second = await initBackend({ backend: 'wasm' });
    expect(second).toEqual(first);
    expect(tf.backend()).toBe(backendObject);
    const wasmKernels = tf.getKernelsForBackend('wasm').filter((k) => edgeKernelFuncs.has(k.kernelFunc));
    expect(wasmKernels.map((k) => k.kernelName).sort()).toEqual(EDGE_KERNEL_CONFIGS.map((k) => k.kernelName).sort());
  });

  it("registers edge-tta's kernels for 'wasm' only: the cpu backend keeps its own", async () => {
    const info = await initBackend({ backend: 'cpu' });
    expect(info).toEqual({ backend: 'cpu', simd: false, threads: 1, edgeKernels: false });
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.getKernelsForBackend('cpu').filter((k) => edgeKernelFuncs.has(k.kernelFunc))).toEqual([]);
    // Back to wasm: the app's instance from the first test is still there (not re-created).
    const again = await initBackend({ backend: 'wasm' });
    expect(again.edgeKernels).toBe(true);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('names a bad backend, and a backend the app never registered', async () => {
    await expect(initBackend({ backend: 'webgl' as never })).rejects.toThrow(InvalidOptionError);
    // A JavaScript caller passing the name alone gets told, not a wasm backend it did not ask for.
    for (const bad of ['cpu', 42, null, ['cpu']]) {
      await expect(initBackend(bad as never)).rejects.toThrow(/initBackend: options is .*pass an object/);
    }
    const factory = tf.findBackendFactory('cpu')!;
    tf.removeBackend('cpu');
    try {
      const err = await initBackend({ backend: 'cpu' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendError);
      expect((err as Error).message).toContain("Import '@tensorflow/tfjs-backend-cpu'");
      expect(tf.getBackend()).toBe('wasm');
    } finally {
      tf.registerBackend('cpu', factory, 1);
    }
  });
});
