/**
 * Which state tensors a strategy refuses to restore with a negative value: variances and Adam's
 * second moments (a negative one turns the next step into NaN), and no others.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { InvalidSnapshotError } from '../../src/errors.js';
import type { Strategy } from '../../strategies/strategy.js';

/**
 * For every state tensor, restores the snapshot with one value of that tensor set to -1: the
 * restore must throw InvalidSnapshotError naming the strategy and the tensor exactly when the
 * tensor's name matches `nonNegative`; otherwise it must succeed. Leaves the strategy in the
 * snapshot's state. Returns the names found non-negative (so a caller can check there are some).
 */
export function expectNonNegativeState(s: Strategy, strategyName: string, nonNegative: RegExp): string[] {
  const snap = s.snapshot();
  const refused: string[] = [];
  try {
    for (const name of Object.keys(snap.tensors)) {
      const values = snap.tensors[name]!.dataSync().slice();
      values[0] = -1;
      const bad = tf.tensor(values, snap.tensors[name]!.shape, snap.tensors[name]!.dtype);
      try {
        const restore = () => s.restore({ tensors: { ...snap.tensors, [name]: bad }, meta: snap.meta });
        if (nonNegative.test(name)) {
          expect(restore, name).toThrow(InvalidSnapshotError);
          expect(restore, name).toThrow(`Strategy '${strategyName}': snapshot tensor '${name}' holds -1 at index 0; values must be finite and >= 0.`);
          refused.push(name);
        } else {
          expect(restore, name).not.toThrow();
        }
      } finally {
        bad.dispose();
      }
    }
    s.restore(snap);
  } finally {
    tf.dispose(Object.values(snap.tensors));
  }
  return refused;
}
