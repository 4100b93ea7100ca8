/**
 * zeroOutput (src/backend/kernels/edgeModule.ts) after the wasm memory grows: the kernels that
 * call it (here MaxPoolGrad with an empty dy) still zero their output. It takes its view of
 * `backend.wasm.HEAPU8.buffer` at the call, after the output is allocated; Emscripten replaces
 * HEAPU8 when the memory grows (the old buffer is detached), so a view kept from before a growth
 * would throw or write nowhere. This test fails for such a cached view.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { backendMemory, type WasmBackendLike } from '../../src/backend/kernels/edgeModule.js';

function emptyGrad(input: tf.Tensor4D): tf.Tensor {
  // A 6x6 window over a 5x5 image, 'valid' padding: no window fits, dy is [n, 0, 0, c] and the
  // gradient all zero.
  const dy = tf.zeros([input.shape[0], 0, 0, input.shape[3]]);
  const output = tf.zeros([input.shape[0], 0, 0, input.shape[3]]);
  const g = tf.engine().runKernel('MaxPoolGrad', { dy, input, output } as never, { filterSize: 6, strides: 1, pad: 'valid' } as never) as tf.Tensor;
  tf.dispose([dy, output]);
  return g;
}

describe('zeroOutput after the wasm memory grows', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('MaxPoolGrad with an empty dy gives zeros before and after a growth, on reused non-zero memory', async () => {
    const backend = tf.backend() as unknown as WasmBackendLike;
    const shape: [number, number, number, number] = [2, 5, 5, 3];
    const size = 2 * 5 * 5 * 3;
    // Non-zero memory for the output to land on: malloc reuses a block just freed.
    const dirty = () => tf.fill([size], 7).dispose();
    const input = tf.ones(shape) as tf.Tensor4D;

    dirty();
    const first = emptyGrad(input);
    expect(Array.from(await first.data())).toEqual(new Array(size).fill(0));
    first.dispose();

    // Grow the memory: a tensor larger than all of it.
    const before = backendMemory(backend).buffer;
    const oldHeap = backend.wasm.HEAPU8.buffer;
    const big = tf.zeros([Math.ceil(before.byteLength / 4) + (1 << 20)]);
    expect(backendMemory(backend).buffer.byteLength).toBeGreaterThan(before.byteLength);
    expect(oldHeap.byteLength).toBe(0); // detached by the growth

    dirty();
    const second = emptyGrad(input);
    expect(second.shape).toEqual(shape);
    expect(Array.from(await second.data())).toEqual(new Array(size).fill(0));
    tf.dispose([second, big, input]);
  });
});
