/**
 * The fused hue shift (wasm/assembly/augment.ts `adjustHueRgb`, src/augment/colorJitter.ts
 * `adjustHue` on wasm) equals the tfjs-op chain it replaces (`adjustHueOps` on wasm) bit for bit on
 * pixels with NaN, ±Infinity, -0 and values outside [0, 1]. The chain on wasm drops a NaN green or
 * blue in maximum/minimum and clips NaN to 0 (tfjs-backend-wasm's pmax/pmin), and its masked-sum
 * pick turns an infinite or NaN maximum into NaN in all three channels; before, the kernel gave NaN
 * for any NaN channel and kept +Infinity and a picked -0.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { adjustHue, adjustHueOps } from '../../src/augment/index.js';
import { initBackend } from '../../src/index.js';

/** Bit-level equality but for NaN payloads: -0 and +0 differ, NaN equals NaN. */
const key = (v: number) => (Object.is(v, -0) ? '-0' : String(v));

// Every triple of these values as one pixel (1000 pixels).
const VALUES = [NaN, Infinity, -Infinity, -0, 0, 0.3, 0.7, 1, 1.5, -0.5];
const pixels = VALUES.flatMap((r) => VALUES.flatMap((g) => VALUES.map((b) => [r, g, b])));

describe('adjustHue on wasm with non-finite and out-of-range pixels', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('equals adjustHueOps bit for bit', () => {
    const x = tf.tensor4d(pixels.flat(), [1, 10, 100, 3]);
    for (const shift of [0.06, -0.3, 0.5, 0]) {
      tf.tidy(() => {
        const fused = Array.from(adjustHue(x, shift).dataSync()).map(key);
        const ops = Array.from(adjustHueOps(x, shift).dataSync()).map(key);
        const differs = pixels.flatMap((p, i) => {
          const a = fused.slice(3 * i, 3 * i + 3).join();
          const b = ops.slice(3 * i, 3 * i + 3).join();
          return a === b ? [] : [`shift ${shift} [${p}]: ${a} vs ${b}`];
        });
        expect(differs).toEqual([]);
      });
    }
    x.dispose();
  });

  it('gives the values of the op chain worked out by hand', () => {
    const x = tf.tensor4d([0.2, NaN, 0.3, NaN, 0.2, 0.3, Infinity, 0.2, 0.3, -0, -0, -0], [1, 1, 4, 3]);
    const out = tf.tidy(() => Array.from(adjustHue(x, 0.06).dataSync()).map(key));
    // g NaN: max 0.3 and min 0.2 without it, hue NaN -> case 0: (v, t, p) = (0.3, clip(NaN) = 0, 0.3 * (1 - s)), s = (0.3 - 0.2) / 0.3.
    const f = Math.fround;
    const [v, m] = [f(0.3), f(0.2)];
    expect(out.slice(0, 3)).toEqual([key(v), '0', key(f(v * f(1 - f(f(v - m) / v))))]);
    // r NaN: the maximum is NaN; r +Infinity: v is infinite; both NaN in all channels.
    expect(out.slice(3, 9)).toEqual(['NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN']);
    // Black -0: +0 out.
    expect(out.slice(9)).toEqual(['0', '0', '0']);
    x.dispose();
  });
});
