/** strategies/adam.ts against hand-computed torch.optim.Adam updates. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam } from '../../strategies/adam.js';
import { initBackend } from '../../src/index.js';

/** Adam written out in tfjs ops (the path off wasm), for the bit-for-bit check of the fused one. */
function adamOps(p: Float32Array, grads: Float32Array[], lr: number, beta1: number, beta2: number): number[][] {
  return tf.tidy(() => {
    let [pt, m, v] = [tf.tensor1d(p), tf.zeros([p.length]), tf.zeros([p.length])];
    const out: number[][] = [];
    grads.forEach((gv, k) => {
      const t = k + 1;
      const [c1, c2] = [1 - beta1 ** t, 1 - beta2 ** t];
      const g = tf.tensor1d(gv);
      m = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
      v = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(c2)), 1e-8);
      pt = tf.sub(pt, tf.mul(tf.div(m, denom), lr / c1));
      out.push([...pt.dataSync(), ...m.dataSync(), ...v.dataSync()]);
    });
    return out;
  });
}

describe('Adam', () => {
  it('matches the hand-computed PyTorch Adam update for two steps', async () => {
    await tf.setBackend('cpu');
    const p = tf.variable(tf.tensor1d([1, -2]));
    const adam = new Adam([p], { lr: 0.1 });
    // Step 1, g = [0.5, -1]: m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2;
    // p -= 0.1 * g / (|g| + 1e-8)  ->  [0.9, -1.9].
    adam.step([tf.tensor1d([0.5, -1])]);
    expect(Array.from(p.dataSync())).toEqual([expect.closeTo(0.9, 6), expect.closeTo(-1.9, 6)]);
    // Step 2, g = [0.5, 0]: m = 0.9*0.05 + 0.05 = 0.095, v = 0.999*0.00025 + 0.00025 = 0.00049975
    // m_hat = 0.095 / 0.19 = 0.5, v_hat = 0.00049975 / 0.001999 = 0.25 -> p0 -= 0.1 * 0.5 / 0.5.
    // p1: m = -0.09, v = 0.000999; m_hat = -0.4737, v_hat = 0.49975 -> p1 -= 0.1 * -0.4737 / 0.70693.
    adam.step([tf.tensor1d([0.5, 0])]);
    const m1 = -0.09 / 0.19;
    const v1 = 0.000999 / (1 - 0.999 ** 2);
    expect(p.dataSync()[0]).toBeCloseTo(0.8, 6);
    expect(p.dataSync()[1]).toBeCloseTo(-1.9 - (0.1 * m1) / (Math.sqrt(v1) + 1e-8), 5);
    expect(adam.t).toBe(2);
    expect([...adam.stateVariables().keys()]).toEqual(['adam/m/0', 'adam/v/0']);
    adam.dispose();
    p.dispose();
  });

  it('on wasm (one fused pass per parameter) equals its tfjs ops bit for bit over 6 steps', async () => {
    await initBackend({ backend: 'wasm' });
    const n = 37; // a SIMD tail
    const init = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2);
    const grads = Array.from({ length: 6 }, (_, k) => Float32Array.from({ length: n }, (_, i) => Math.cos(i * (k + 1)) * 10 ** ((i % 7) - 4)));
    const want = adamOps(init, grads, 3e-3, 0.85, 0.995);
    const p = tf.variable(tf.tensor1d(init));
    const adam = new Adam([p], { lr: 3e-3, beta1: 0.85, beta2: 0.995 });
    const vars = [...adam.stateVariables().values()];
    grads.forEach((g, k) => {
      const gt = tf.tensor1d(g);
      adam.step([gt]);
      gt.dispose();
      expect([...p.dataSync(), ...vars[0]!.dataSync(), ...vars[1]!.dataSync()]).toEqual(want[k]);
    });
    expect(want[5]!.slice(0, n)).not.toEqual(Array.from(init)); // it moved
    adam.dispose();
    p.dispose();
    await tf.setBackend('cpu');
  });

  it('its moment variables are not trainable (an optimiser over every trainable variable must not train them)', () => {
    const p = tf.variable(tf.ones([3, 2]));
    const adam = new Adam([p], { lr: 0.1 });
    const moments = [...adam.stateVariables().values()];
    expect(moments).toHaveLength(2);
    for (const v of moments) expect(v.trainable).toBe(false);
    adam.dispose();
    p.dispose();
  });

  it('creating and disposing an optimiser leaves no tensor behind', () => {
    const p = tf.variable(tf.ones([3, 2]));
    const before = tf.memory().numTensors;
    new Adam([p], { lr: 0.1 }).dispose();
    expect(tf.memory().numTensors).toBe(before);
    p.dispose();
  });
});
