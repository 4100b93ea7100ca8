/**
 * Create / step / snapshot / restore / reset / dispose cycles leave tf.memory() where it was,
 * for every registered strategy (with its defaults, so a new strategy is covered as soon as it
 * is registered) and every option that allocates state of its own (issue 14, reproduction 7:
 * `stats: 'ema'` used to leak 2 tensors per BN layer per adapter).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, listStrategies } from '../../src/index.js';
import { injectVidaAdapters } from '../../strategies/vidaAdapters.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const CYCLES = 5;

/** Options that allocate (moving statistics, optimisers, teacher copies, adapters, augmentation paths). */
function variants(adapterWeights: Uint8Array): Array<[string, Record<string, unknown>]> {
  const fast = { cotta: { augmentations: 2 }, vida: { augmentations: 2, highRank: 4 } } as Record<string, Record<string, unknown>>;
  const defaults = listStrategies().map((s) => [s, fast[s] ?? {}] as [string, Record<string, unknown>]);
  return [
    ...defaults,
    ['bn-adapt', { stats: 'ema' }],
    ['alpha-bn', { stats: 'ema' }],
    ['alpha-bn', { alpha: 0 }],
    ['tent', { stats: 'ema' }],
    ['tent', { optimizer: 'sgd' }],
    ['tent', { optimizer: 'sgd', stats: 'ema' }],
    ['lame', { affinity: 'knn' }],
    ['lame', { affinity: 'linear' }],
    ['lame', { featuresLayer: 'gap' }],
    ['cotta', { augmentations: 2, threshold: 2 }], // always augments
    ['cotta', { augmentations: 2, threshold: 0, restoreProb: 0 }],
    ['vida', { augmentations: 2, highRank: 4, adaptersOnly: true }],
    ['vida', { augmentations: 2, highRank: 4, hka: 'official', layers: 'conv+dense' }],
    ['vida', { augmentations: 2, highRank: 4, adapterWeights }],
  ];
}

describe('adapter lifecycles leave no tensor behind', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it(`${CYCLES} create/step/snapshot/restore/reset/dispose cycles per strategy and allocating option`, { timeout: 600_000 }, async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const x = randomBatch([4, 8, 8, 1], 2);
    // Warmed-up adapter bytes for the `adapterWeights` variant (their own tensors freed here).
    const adapters = injectVidaAdapters(new ModelExecutor(model).info, { layers: 'conv', lowRank: 1, highRank: 4, seed: 1 });
    const adapterWeights = adapters.encode();
    adapters.dispose();

    const cycle = async (strategy: string, options: Record<string, unknown>) => {
      const adapter = await createAdapter(model, { strategy, seed: 1, ...options } as never);
      await adapter.step(x);
      const snap = await adapter.snapshot();
      await adapter.step(x);
      await adapter.restore(snap);
      await adapter.predict(x);
      await adapter.reset();
      await adapter.step(x);
      adapter.dispose();
    };
    const leaks: string[] = [];
    for (const [strategy, options] of variants(adapterWeights)) {
      await cycle(strategy, options); // first-use set-up (kernels, caches)
      const before = tf.memory();
      for (let i = 0; i < CYCLES; i++) await cycle(strategy, options);
      const after = tf.memory();
      if (after.numTensors !== before.numTensors || after.numBytes !== before.numBytes) {
        leaks.push(`${strategy} ${JSON.stringify(options, (k, v) => (k === 'adapterWeights' ? 'bytes' : v))}: +${after.numTensors - before.numTensors} tensors, +${after.numBytes - before.numBytes} bytes`);
      }
    }
    expect(leaks).toEqual([]);
    x.dispose();
  });
});
