/** strategies/adam.ts against hand-computed torch.optim.Adam updates. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam } from '../../strategies/adam.js';

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
