// The shipped presets: valid options, the same configuration the selection script picked (its
// recorded output), and better than the source model on real corrupted images.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAdapter, initBackend, PRESETS, type PresetName } from '../../src/index.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';
import { continualStream } from '../../src/data/streams.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from '../../demos/bench/loadModel.js';

const SELECTION = path.join(DEFAULT_MODEL_DIR, 'preset-continual.json');

describe('PRESETS', () => {
  it('every preset is a valid, frozen configuration with its figures', () => {
    for (const name of Object.keys(PRESETS) as PresetName[]) {
      const p = PRESETS[name];
      const { strategy, ...own } = p.options as unknown as { strategy: string } & Record<string, unknown>;
      expect(() => resolveOptions(getStrategy(strategy), own)).not.toThrow();
      expect(Number.isInteger(p.batchSize) && p.batchSize > 0).toBe(true);
      for (const f of [p.validation, p.test]) {
        expect(f.meanError).toBeGreaterThan(0);
        expect(f.meanError).toBeLessThan(100);
        expect(f.imagesPerSec).toBeGreaterThan(0);
      }
      expect(Object.isFrozen(p)).toBe(true);
      expect(Object.isFrozen(p.options)).toBe(true);
    }
  });

  it("'continual' is the winner demos/bench/selectPreset.ts recorded, with its validation error", () => {
    const sel = JSON.parse(fs.readFileSync(SELECTION, 'utf8')) as {
      validation: { split: string; seed: number; perDomain: number };
      winner: { batch: number; options: Record<string, unknown>; meanError: number; imagesPerSec: number };
    };
    expect(sel.validation.split).toBe('train');
    expect(PRESETS.continual.options).toEqual(sel.winner.options);
    expect(PRESETS.continual.batchSize).toBe(sel.winner.batch);
    expect(PRESETS.continual.validation.meanError).toBeCloseTo(sel.winner.meanError, 2);
    expect(PRESETS.continual.validation.stream).toContain(`${sel.validation.perDomain} per domain, seed ${sel.validation.seed}`);
  });

  it("'continual' beats the source model on corrupted images it never saw in training", { timeout: 120_000 }, async () => {
    await initBackend({ backend: 'wasm' });
    // Test-split images (the validation stream used train images) of three hard domains.
    const stream = continualStream({
      data: loadFashionMnist('test'),
      seed: 3,
      perDomain: 2 * PRESETS.continual.batchSize,
      batchSize: PRESETS.continual.batchSize,
      domains: ['frost', 'fog', 'contrast'],
    });
    const errors: number[] = [];
    for (const options of [{ strategy: 'source' as const }, PRESETS.continual.options]) {
      const model = await loadSourceModel();
      // The class-correlation detector off: it answers a stream's first ~1,200 frames with the
      // source model, longer than this stream (tests/safety/classCorrelation.test.ts).
      const adapter = await createAdapter(model, { ...options, seed: 1, guard: { classGate: 0 } });
      let wrong = 0;
      let seen = 0;
      for (const batch of stream) {
        const out = await adapter.step({ data: batch.x, shape: batch.shape });
        out.labels.forEach((l, i) => (wrong += l === batch.labels[i] ? 0 : 1));
        seen += batch.labels.length;
      }
      adapter.dispose();
      model.dispose();
      errors.push(wrong / seen);
    }
    const [source, preset] = errors as [number, number];
    expect(source).toBeGreaterThan(0.5);
    expect(preset).toBeLessThan(source - 0.1);
  });
});
