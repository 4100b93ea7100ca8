/**
 * Every built-in strategy's instance carries its definition's name and needs, and the errors it
 * throws after dispose() name it (the messages of BaseStrategy use the instance's name).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, initBackend } from '../../src/index.js';
import { createTarget } from '../../src/model/target.js';
import { getStrategy, listStrategies, resolveOptions } from '../../strategies/registry.js';
import { randomBatch, smallResNet } from '../helpers/models.js';

describe('built-in strategy instances', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const name of listStrategies()) {
    it(`'${name}': the instance has the definition's name and needs; after dispose() its errors name it`, () => {
      const def = getStrategy(name);
      const model = smallResNet([8, 8, 1], 3);
      const s = def.create(createTarget(model), resolveOptions(def, {}) as never, { seed: 1 });
      expect(s.name).toBe(name);
      expect(s.needs).toEqual(def.needs);
      const x = randomBatch([2, 8, 8, 1]);
      tf.dispose(s.step(x).probs);
      s.dispose();
      for (const use of [() => s.step(x), () => s.snapshot(), () => s.reset()]) {
        expect(use).toThrow(DisposedError);
        expect(use).toThrow(`Strategy '${name}' was used after dispose().`);
      }
      x.dispose();
    });
  }
});
