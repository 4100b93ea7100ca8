import { describe, expect, it } from 'vitest';
import { UsageError } from '../../demos/cli.js';
import { finalists, parseSelectArgs, pickWinner, SPEED_MARGIN, stageCandidates, type Scored } from '../../demos/bench/selectPreset.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';

const scored = (label: string, meanError: number, imagesPerSec: number): Scored => ({
  label,
  batch: 64,
  options: { strategy: 'bn-adapt' },
  meanError,
  imagesPerSec,
  domainError: {},
});

describe('selectPreset', () => {
  it('picks the lowest error, or the fastest candidate within the tolerance of it', () => {
    const a = scored('a', 20.0, 30);
    const b = scored('b', 20.15, 600);
    const c = scored('c', 20.5, 1000);
    expect(pickWinner([a, b, c], 0.2).label).toBe('b');
    expect(pickWinner([a, b, c], 0.1).label).toBe('a');
    expect(pickWinner([c, b, a], 1).label).toBe('c');
    expect(() => pickWinner([], 0.2)).toThrow(/no candidate/);
  });

  it(`takes a faster candidate within the tolerance only if it is ${SPEED_MARGIN}x as fast; never one that needs model files`, () => {
    expect(SPEED_MARGIN).toBe(1.5);
    const best = scored('best', 20.0, 300);
    // 1.4x as fast and 0.15 behind: timing noise, the best stays; 1.5x: taken.
    expect(pickWinner([best, scored('near', 20.15, 420)], 0.2).label).toBe('best');
    expect(pickWinner([best, scored('near', 20.15, 450)], 0.2).label).toBe('near');
    // ViDA with adapters made for this model: lower error, still not the winner.
    const vida = { ...scored('vida', 19.6, 900), modelFiles: 'vida-adapters.bin' };
    expect(pickWinner([best, vida], 0.2).label).toBe('best');
    expect(() => pickWinner([vida], 0.2)).toThrow(/model files/);
    // The slow stage's ViDA candidate is marked.
    expect(stageCandidates('slow', best).every((c) => c.modelFiles !== undefined)).toBe(true);
  });

  it('the confirm stage re-runs the best candidate of each strategy', () => {
    const roid = (l: string, e: number): Scored => ({ ...scored(l, e, 20), options: { strategy: 'roid', lr: e } });
    const picked = finalists([scored('bn64', 22.2, 600), roid('roid-a', 22.4), scored('bn128', 22.1, 500), roid('roid-b', 22.3)]);
    expect(picked.map((s) => s.label)).toEqual(['bn128', 'roid-b']);
  });

  it('every candidate of every stage is a valid strategy configuration, with a unique label', () => {
    const statistics = stageCandidates('statistics', null);
    const best = statistics.find((c) => c.options.stats === 'ema')!;
    const later = [...stageCandidates('self-training', best), ...stageCandidates('slow', best)];
    const labels = [...statistics, ...later].map((c) => c.label);
    expect(new Set(labels).size).toBe(labels.length);
    for (const c of [...statistics, ...later]) {
      const { strategy, ...own } = c.options;
      expect(c.label.split('@')[0]).toBe(strategy);
      expect(() => resolveOptions(getStrategy(strategy), own)).not.toThrow();
    }
    // Stage 2 inherits the batch size and the statistics of the best so far.
    for (const c of stageCandidates('self-training', best)) {
      expect(c.batch).toBe(best.batch);
      expect(c.options.stats).toBe('ema');
      expect(c.options.statsMomentum).toBe(best.options.statsMomentum);
    }
  });

  it('parses its command line strictly', () => {
    expect(parseSelectArgs([])).toMatchObject({ perDomain: 500, confirmPerDomain: 1000, seed: 2, order: { kind: 'iid' }, tolerance: 0.2, backend: 'wasm' });
    expect(parseSelectArgs(['--from', 'a.json', '--stages', 'confirm'])).toMatchObject({ from: 'a.json', stages: ['confirm'] });
    expect(parseSelectArgs(['--order', 'dirichlet:0.1', '--stages', 'statistics'])).toMatchObject({
      order: { kind: 'dirichlet', concentration: 0.1 },
      stages: ['statistics'],
    });
    expect(parseSelectArgs(['--help'])).toBe('help');
    expect(() => parseSelectArgs(['--order', 'sorted'])).toThrow(UsageError);
    expect(() => parseSelectArgs(['--stages', 'fast'])).toThrow(UsageError);
    expect(() => parseSelectArgs(['--bogus'])).toThrow(UsageError);
  });
});
