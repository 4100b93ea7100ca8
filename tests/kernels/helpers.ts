/** Helpers for the kernel parity tests: seeded data, backend switching, error metric. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createRng } from '../../src/random.js';

/** Seeded normal-ish values (sum of uniforms), reproducible across runs. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() + rng.next() + rng.next() - 1.5) * 2 * scale;
  return a;
}

/** max |a - b| / max |b| (0 when both are all zero). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}

/** Runs f on the named backend and returns its outputs' data (tensors disposed). */
export async function onBackend(name: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(name);
  const outs = tf.tidy(f);
  const list = Array.isArray(outs) ? outs : [outs];
  const data = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return data;
}

/** Runs a kernel directly by name (bypassing op-level asserts such as "no dilation in gradients"). */
export function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor;
}
