/**
 * A runtime whose WebAssembly cannot compile edge-tta's SIMD kernels (Safari before 16.4) gets a
 * BackendError naming the fix (the cpu backend), not the engine's raw CompileError, and a later
 * initBackend on a runtime that can compile them works (the failure is not cached). Emulated by
 * a WebAssembly.compile that refuses, after tfjs-backend-wasm itself has started (its own
 * binaries have a non-SIMD fallback; edge-tta's kernels do not).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError, initBackend } from '../../src/index.js';

const realCompile = WebAssembly.compile;

describe('initBackend on a runtime without WebAssembly SIMD', () => {
  afterEach(() => {
    WebAssembly.compile = realCompile;
  });

  it("is a BackendError naming the cpu backend, and a runtime that compiles them is fine afterwards", async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    WebAssembly.compile = () => Promise.reject(new WebAssembly.CompileError('WebAssembly.compile(): invalid simd opcode'));
    const err = await initBackend({ backend: 'wasm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/need 128-bit SIMD.*invalid simd opcode.*initBackend\(\{ backend: 'cpu' \}\)/);
    WebAssembly.compile = realCompile;
    const info = await initBackend({ backend: 'wasm' });
    expect(info).toMatchObject({ backend: 'wasm', edgeKernels: true });
  });
});
