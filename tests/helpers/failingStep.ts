/**
 * A step that fails part-way must rethrow its error, leak no tensor and commit nothing. This
 * helper makes one method of the strategy throw (the student's forward pass through the model's
 * executor, or the optimiser's update), steps, and checks all three against a snapshot taken before.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { LayersTarget } from '../../src/model/target.js';
import { disposeTensors } from '../../src/model/weights.js';
import type { Strategy } from '../../strategies/strategy.js';

/** `owner.method` throws during one `s.step(x)`; restored afterwards. */
export function expectFailedStepCommitsNothing(s: Strategy, x: tf.Tensor4D, where: 'forward' | 'update', optimiser = 'adam'): void {
  const before = s.snapshot();
  const boom = new Error(`boom in the ${where}`);
  const owner = (where === 'forward' ? (s as unknown as { target: LayersTarget }).target.executor : (s as unknown as Record<string, object>)[optimiser]) as Record<string, unknown>;
  expect(owner, `the strategy's ${where === 'forward' ? 'executor' : optimiser}`).toBeDefined();
  const method = where === 'forward' ? 'logits' : 'step';
  const original = owner[method];
  owner[method] = () => {
    throw boom;
  };
  const tensors = tf.memory().numTensors;
  try {
    expect(() => s.step(x)).toThrow(boom);
    expect(tf.memory().numTensors, `tensors after a failed ${where}`).toBe(tensors);
  } finally {
    owner[method] = original;
  }
  const after = s.snapshot();
  for (const name of Object.keys(before.tensors)) {
    expect(Array.from(after.tensors[name]!.dataSync()), name).toEqual(Array.from(before.tensors[name]!.dataSync()));
  }
  expect(after.meta).toEqual(before.meta);
  disposeTensors(before.tensors);
  disposeTensors(after.tensors);
}
