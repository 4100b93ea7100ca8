import { describe, expect, it } from 'vitest';
import {
  CONTINUAL_DOMAINS, classSortedStream, cleanStream, continualStream, dirichletStream, singleDomainStream, streamFromSpec,
  type StreamBatch,
} from '../../src/data/streams.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';

const collect = (s: Iterable<StreamBatch>) => [...s];

describe('streams', () => {
  it('continual: 15 domains in the standard order, N per domain, batches never straddle domains', () => {
    const s = continualStream({ perDomain: 10, batchSize: 4, seed: 3 });
    expect(s.domains).toEqual(CONTINUAL_DOMAINS);
    expect(s.domains[0]).toBe('gaussian_noise');
    expect(s.domains[14]).toBe('jpeg_compression');
    expect(s.total).toBe(150);
    const batches = collect(s);
    expect(batches.map((b) => b.shape[0]).slice(0, 3)).toEqual([4, 4, 2]); // 10 = 4 + 4 + 2
    const order: string[] = [];
    for (const b of batches) if (order.at(-1) !== b.domain) order.push(b.domain);
    expect(order).toEqual([...CONTINUAL_DOMAINS]);
    expect(batches.reduce((a, b) => a + b.shape[0], 0)).toBe(150);
    expect(batches.at(-1)!.offset).toBe(148);
    for (const b of batches) {
      expect(b.x.length).toBe(b.shape[0] * 784);
      expect(b.shape.slice(1)).toEqual([28, 28, 1]);
    }
  });

  it('is deterministic for a seed, and an image gets the same corruption whatever the batch size', () => {
    const a = collect(singleDomainStream('shot_noise', { perDomain: 6, batchSize: 6, seed: 2 }))[0]!;
    const b = collect(singleDomainStream('shot_noise', { perDomain: 6, batchSize: 2, seed: 2 }));
    expect(Array.from(a.indices)).toEqual(b.flatMap((x) => Array.from(x.indices)));
    expect(Array.from(a.x)).toEqual(b.flatMap((x) => Array.from(x.x)));
    const c = collect(singleDomainStream('shot_noise', { perDomain: 6, batchSize: 6, seed: 9 }))[0]!;
    expect(Array.from(c.indices)).not.toEqual(Array.from(a.indices)); // the seed drives the shuffle
  });

  it('labels match the test split; the clean stream covers all 10,001 images once', () => {
    const test = loadFashionMnist('test');
    const s = cleanStream({ batchSize: 2000 });
    expect(s.total).toBe(10_001);
    const seen = new Uint8Array(test.n);
    for (const b of s) {
      b.indices.forEach((idx, i) => {
        seen[idx]!++;
        expect(b.labels[i]).toBe(test.labels[idx]);
      });
      expect(b.domain).toBe('clean');
    }
    expect(seen.every((v) => v === 1)).toBe(true);
  });

  it('class-sorted: labels non-decreasing within each domain', () => {
    const s = classSortedStream({ perDomain: 200, batchSize: 50, domains: ['clean', 'fog'] });
    const byDomain = new Map<string, number[]>();
    for (const b of s) byDomain.set(b.domain, [...(byDomain.get(b.domain) ?? []), ...b.labels]);
    for (const labels of byDomain.values()) {
      expect(labels.length).toBe(200);
      for (let i = 1; i < labels.length; i++) expect(labels[i]).toBeGreaterThanOrEqual(labels[i - 1]!);
    }
  });

  it('dirichlet: same images as the i.i.d. subset, far fewer label changes at low concentration', () => {
    const runs = (labels: number[]) => labels.reduce((r, l, i) => r + (i > 0 && l !== labels[i - 1] ? 1 : 0), 1);
    const labelsOf = (it: Iterable<StreamBatch>) => collect(it).flatMap((b) => Array.from(b.labels));
    const idsOf = (it: Iterable<StreamBatch>) => collect(it).flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b);
    const opts = { perDomain: 1000, batchSize: 100, domains: ['clean'] as const, seed: 4 };
    const iid = cleanStream(opts);
    const low = dirichletStream({ ...opts, concentration: 0.1 });
    const high = dirichletStream({ ...opts, concentration: 100 });
    expect(idsOf(low)).toEqual(idsOf(iid));
    // i.i.d. order changes label ~900 times in 1000 images; Dir(0.1) slots keep long runs
    expect(runs(labelsOf(low))).toBeLessThan(runs(labelsOf(iid)) / 8);
    expect(runs(labelsOf(low))).toBeLessThan(runs(labelsOf(high)));
    expect(low.name).toBe('dirichlet(0.1)');
  });

  it('parses CLI specs and names the valid ones on error', () => {
    expect(streamFromSpec('single:fog', { perDomain: 1 }).domains).toEqual(['fog']);
    expect(streamFromSpec('dirichlet:0.5', { perDomain: 1 }).name).toBe('dirichlet(0.5)');
    expect(() => streamFromSpec('rainy')).toThrow(/Valid: continual, clean, single:<corruption>/);
    expect(() => singleDomainStream('rain' as never)).toThrow(/Valid domains: clean, gaussian_noise/);
  });
});
