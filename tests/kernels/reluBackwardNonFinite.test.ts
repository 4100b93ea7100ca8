/**
 * The fused ReLU backward (wasm/assembly/relu_backward.ts via src/model/tapedActivation.ts) on
 * NaN, ±Infinity and -0: the input gradient of `tapedRelu` equals the layer's own tfjs gradient
 * computed on the cpu backend (dy * step(x) after the clip or minimum gradient), on the wasm
 * backend (fused kernel) and on cpu (the tfjs-op fallback). Before, a NaN x gave 0 (tfjs: NaN),
 * and a NaN or infinite dy where the mask is 0 gave 0 (tfjs: dy * 0 = NaN).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { tapedRelu, type ReluClip } from '../../src/model/tapedActivation.js';

const LAYERS: Array<[string, () => tf.layers.Layer, ReluClip]> = [
  ['ReLU', () => tf.layers.reLU(), { max: Infinity, maxInclusive: true }],
  ['ReLU maxValue 6', () => tf.layers.reLU({ maxValue: 6 }), { max: 6, maxInclusive: true }],
  ["Activation('relu6')", () => tf.layers.activation({ activation: 'relu6' }), { max: 6, maxInclusive: false }],
];

// Every x kind (NaN, ±Infinity, ±0, negative, inside, at and above the clip) with every dy kind
// (NaN, ±Infinity, positive, negative): 63 pairs, so both the SIMD loop and its scalar tail see them.
const X_KINDS = [NaN, Infinity, -Infinity, 0, -0, -1.5, 2.5, 6, 7];
const DY_KINDS = [NaN, Infinity, -Infinity, 1.25, -0.75, 3, -2];
const xs = X_KINDS.flatMap((x) => DY_KINDS.map(() => x));
const dys = X_KINDS.flatMap(() => DY_KINDS);

const at = (x: number, dy: number) => xs.findIndex((v, i) => Object.is(v, x) && Object.is(dys[i], dy));

/** Equal values: NaN equals NaN, -0 equals +0 (tfjs's sign of a zero gradient is not kept). */
const key = (v: number) => (Number.isNaN(v) ? 'NaN' : String(v + 0));

async function gradOn(backend: 'cpu' | 'wasm', f: (x: tf.Tensor) => tf.Tensor): Promise<string[]> {
  await initBackend({ backend });
  const x = tf.tensor(xs, [1, xs.length]);
  const dy = tf.tensor(dys, [1, dys.length]);
  const g = tf.grad(f)(x, dy);
  const out = Array.from(await g.data()).map(key);
  tf.dispose([x, dy, g]);
  return out;
}

describe('tapedRelu gradient on non-finite values', () => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const [name, make, clip] of LAYERS) {
    it(`${name}: equals the layer's gradient on the cpu backend, on wasm and on cpu`, async () => {
      const layer = make();
      const reference = await gradOn('cpu', (v) => layer.apply(v) as tf.Tensor);
      // The reference has the NaNs the fix is about: x NaN, and NaN dy where x < 0.
      expect(reference[at(NaN, 1.25)]).toBe('NaN');
      expect(reference[at(-1.5, NaN)]).toBe('NaN');
      for (const backend of ['wasm', 'cpu'] as const) {
        const ours = await gradOn(backend, (v) => tapedRelu(v, clip));
        const differs = xs.flatMap((x, i) => (ours[i] !== reference[i] ? [`${backend} x=${x} dy=${dys[i]}: ${ours[i]} vs ${reference[i]}`] : []));
        expect(differs).toEqual([]);
      }
    });
  }
});
