import { describe, expect, it } from 'vitest';
import {
  CONTINUAL_DOMAINS, GRADUAL_FIRST, GRADUAL_SEVERITIES, classSortedStream, cleanStream, continualStream, dirichletStream, gradualStream,
  longStream, mixedStream, parseStreamSpec, singleDomainStream, streamFromSpec, type StreamBatch, type TestStream,
} from '../../src/data/streams.js';
import { TEST_IMAGES, loadFashionMnist } from '../../src/data/fashionMnist.js';

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

  it('takes only 32-bit integer seeds: a fraction or a wrapped value would silently replay another seed', () => {
    for (const seed of [1.5, -1, 2 ** 32, NaN]) {
      expect(() => continualStream({ perDomain: 1, seed }), String(seed)).toThrow(RangeError);
      expect(() => mixedStream({ perDomain: 1, seed }), String(seed)).toThrow(/seed must be an integer in \[0, 4294967295\]/);
    }
    const idx = (seed: number) => collect(singleDomainStream('fog', { perDomain: 20, batchSize: 20, seed }))[0]!.indices.join();
    expect(idx(0)).not.toEqual(idx(2 ** 32 - 1)); // both ends of the range are valid and distinct
  });

  it('perDomain is a whole number of images, at most the split (it was cut silently: 0.5 gave an empty stream, 20,000 gave 10,001)', () => {
    const test = loadFashionMnist('test');
    expect(continualStream({ perDomain: test.n, domains: ['fog'] }).total).toBe(10_001);
    expect(() => continualStream({ perDomain: test.n + 1 })).toThrow(/perDomain must be a whole number from 1 to 10001 \(the images of the split\); got 10002/);
    expect(() => mixedStream({ perDomain: 0.5 })).toThrow(/perDomain must be a whole number from 1 to 10001 .*; got 0.5/);
    expect(() => gradualStream({ perDomain: 2.5 })).toThrow(RangeError);
    const small = { ...test, n: 3, labels: test.labels.subarray(0, 3), images: test.images.subarray(0, 3 * 784) };
    expect(() => cleanStream({ data: small, perDomain: 4 })).toThrow(/from 1 to 3 .*; got 4/);
    expect(TEST_IMAGES).toBe(test.n);
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

  it('dirichlet: a huge δ approaches i.i.d. and keeps every frame; δ = Infinity is rejected', () => {
    const opts = { perDomain: 50, batchSize: 8, domains: ['clean'] as const, seed: 3 };
    const framesIn = (s: TestStream) => collect(s).flatMap((b) => Array.from(b.indices));
    const labelsIn = (s: TestStream) => collect(s).flatMap((b) => Array.from(b.labels));
    const iid = framesIn(cleanStream(opts)).sort((a, b) => a - b);
    // Dir(1e308)'s gamma draws sum to Infinity: the proportions were all 0 and every class went to the
    // last slot in one block (10 label runs in 50 frames, the opposite of the i.i.d. limit).
    const huge = dirichletStream({ ...opts, concentration: 1e308 });
    expect(framesIn(huge).sort((a, b) => a - b)).toEqual(iid);
    expect(labelRuns(labelsIn(huge))).toBeGreaterThan(25);
    // δ must be finite: Infinity gave NaN proportions, dropped every frame and played empty batches
    expect(() => streamFromSpec('mixed+dirichlet:Infinity', { perDomain: 1 })).toThrow(/Dirichlet δ must be a finite number > 0/);
    expect(() => dirichletStream({ perDomain: 1, concentration: Infinity })).toThrow(/concentration must be a finite number > 0/);
  });

  it('parses CLI specs and names the valid ones on error', () => {
    expect(streamFromSpec('single:fog', { perDomain: 1 }).domains).toEqual(['fog']);
    expect(streamFromSpec('dirichlet:0.5', { perDomain: 1 }).name).toBe('dirichlet(0.5)');
    expect(() => streamFromSpec('rainy')).toThrow(/Valid: continual \| gradual \| mixed \| long/);
    expect(streamFromSpec('mixed+dirichlet:0.1', { perDomain: 1 }).name).toBe('mixed+dirichlet(0.1)');
    expect(streamFromSpec('mixed+class-sorted', { perDomain: 1 }).name).toBe('mixed+class-sorted');
    expect(streamFromSpec('gradual', { perDomain: 1 }).name).toBe('gradual');
    expect(streamFromSpec('long', { perDomain: 1 }).rounds).toBe(10);
    expect(streamFromSpec('long:3', { perDomain: 1 }).rounds).toBe(3);
    expect(streamFromSpec('class-sorted', { perDomain: 1 }).name).toBe('class-sorted');
    expect(() => streamFromSpec('mixed+dirichlet:0', { perDomain: 1 })).toThrow(/δ must be a finite number > 0/);
    expect(() => streamFromSpec('long:0', { perDomain: 1 })).toThrow(/rounds must be a positive integer/);
    expect(() => streamFromSpec('mixed+sorted', { perDomain: 1 })).toThrow(/Unknown stream 'mixed\+sorted'/);
    expect(() => singleDomainStream('rain' as never)).toThrow(/Valid domains: clean, gaussian_noise/);
  });

  it('parseStreamSpec checks a spec without building the stream (what streamFromSpec builds)', () => {
    expect(parseStreamSpec('continual')).toEqual({ layout: 'continual', order: { kind: 'iid' } });
    expect(parseStreamSpec('dirichlet')).toEqual({ layout: 'continual', order: { kind: 'dirichlet', concentration: 0.1 } });
    expect(parseStreamSpec('mixed+dirichlet:0.5')).toEqual({ layout: 'mixed', order: { kind: 'dirichlet', concentration: 0.5 } });
    expect(parseStreamSpec('gradual+class-sorted')).toEqual({ layout: 'gradual', order: { kind: 'class-sorted' } });
    expect(parseStreamSpec('long')).toEqual({ layout: 'long', order: { kind: 'iid' }, rounds: 10 });
    expect(parseStreamSpec('long:3+class-sorted')).toEqual({ layout: 'long', order: { kind: 'class-sorted' }, rounds: 3 });
    expect(parseStreamSpec('clean')).toEqual({ layout: 'clean' });
    expect(parseStreamSpec('single:fog')).toEqual({ layout: 'single', domain: 'fog' });
    expect(parseStreamSpec('single:clean')).toEqual({ layout: 'single', domain: 'clean' });
    expect(() => parseStreamSpec('single:rain')).toThrow(/Unknown stream domain 'rain'/);
    expect(() => parseStreamSpec('long:2.5')).toThrow(/rounds must be a positive integer/);
    expect(() => parseStreamSpec('mixed+')).toThrow(/Unknown stream 'mixed\+'/);
    expect(() => parseStreamSpec('')).toThrow(/Unknown stream ''/);
  });
});

/** Flattens a stream to per-frame records (domain, severity, test index, label, round). */
function framesOf(s: TestStream) {
  const out: { domain: string; severity: number; index: number; label: number; round: number; segment: number }[] = [];
  for (const b of s) {
    expect(b.x.length).toBe(b.shape[0] * 784);
    expect(b.frameDomains.length).toBe(b.shape[0]);
    for (let i = 0; i < b.shape[0]; i++) {
      out.push({ domain: b.frameDomains[i]!, severity: b.severities[i]!, index: b.indices[i]!, label: b.labels[i]!, round: b.round, segment: b.segment });
    }
    if (b.domain !== 'mixed') expect(new Set(b.frameDomains)).toEqual(new Set([b.domain]));
  }
  return out;
}
const labelRuns = (labels: number[]) => labels.reduce((r, l, i) => r + (i > 0 && l !== labels[i - 1] ? 1 : 0), 1);
const key = (f: { domain: string; index: number }) => `${f.domain}/${f.index}`;

describe('hard streams', () => {
  const N = 12;

  it('mixed: the continual images of all 15 domains, each exactly once, shuffled together; seeded', () => {
    const cont = framesOf(continualStream({ perDomain: N, batchSize: 7, seed: 5 }));
    const mixed = mixedStream({ perDomain: N, batchSize: 7, seed: 5 });
    expect(mixed.name).toBe('mixed');
    expect(mixed.domains).toEqual(CONTINUAL_DOMAINS);
    expect(mixed.domainSizes).toEqual(CONTINUAL_DOMAINS.map(() => N));
    expect(mixed.segments).toEqual([{ domain: 'mixed', severity: 5, round: 0, size: 15 * N }]);
    const frames = framesOf(mixed);
    expect(frames.length).toBe(15 * N);
    expect(new Set(frames.map(key)).size).toBe(15 * N); // no frame twice
    expect(frames.map(key).sort()).toEqual(cont.map(key).sort()); // the same images as continual
    // Consecutive frames mostly change domain (15 equally likely domains: ~14/15 of the time).
    const changes = frames.filter((f, i) => i > 0 && f.domain !== frames[i - 1]!.domain).length;
    expect(changes).toBeGreaterThan(0.8 * frames.length);
    // Deterministic for a seed, different for another; batches of 7 and of 1 give the same sequence.
    expect(framesOf(mixedStream({ perDomain: N, batchSize: 1, seed: 5 }))).toEqual(frames.map((f) => ({ ...f })));
    expect(framesOf(mixedStream({ perDomain: N, batchSize: 7, seed: 6 })).map(key)).not.toEqual(frames.map(key));
  });

  it('mixed: a frame gets the same pixels as in the continual stream (same corruption noise)', () => {
    const pixels = (s: TestStream) => {
      const m = new Map<string, number[]>();
      for (const b of s) b.indices.forEach((idx, i) => m.set(`${b.frameDomains[i]}/${idx}`, Array.from(b.x.subarray(i * 784, (i + 1) * 784))));
      return m;
    };
    const opts = { perDomain: 3, seed: 2, domains: ['fog', 'shot_noise', 'clean'] as const };
    const a = pixels(continualStream({ ...opts, batchSize: 3 }));
    const b = pixels(mixedStream({ ...opts, batchSize: 2 }));
    expect(b.size).toBe(9);
    for (const [k, v] of b) expect(v).toEqual(a.get(k));
  });

  it('gradual: severities 5..1 on the first corruption, then 1..5..1 on each, every visit plays the subset once', () => {
    const s = gradualStream({ perDomain: N, batchSize: 5, seed: 3, domains: ['gaussian_noise', 'fog', 'contrast'] });
    expect([...GRADUAL_FIRST]).toEqual([5, 4, 3, 2, 1]);
    expect([...GRADUAL_SEVERITIES]).toEqual([1, 2, 3, 4, 5, 4, 3, 2, 1]);
    expect(s.segments.map((g) => `${g.domain}${g.severity}`)).toEqual([
      ...[5, 4, 3, 2, 1].map((v) => `gaussian_noise${v}`),
      ...[1, 2, 3, 4, 5, 4, 3, 2, 1].map((v) => `fog${v}`),
      ...[1, 2, 3, 4, 5, 4, 3, 2, 1].map((v) => `contrast${v}`),
    ]);
    expect(s.total).toBe(N * 23);
    expect(s.domainSizes).toEqual([5 * N, 9 * N, 9 * N]);
    const frames = framesOf(s);
    const subsetOf = (d: string) => framesOf(continualStream({ perDomain: N, seed: 3, domains: [d as 'fog'] })).map((f) => f.index).sort();
    s.segments.forEach((seg, si) => {
      const fs = frames.filter((f) => f.segment === si);
      expect(fs.length).toBe(N);
      expect(fs.every((f) => f.domain === seg.domain && f.severity === seg.severity)).toBe(true);
      expect(fs.map((f) => f.index).sort()).toEqual(subsetOf(seg.domain)); // the domain's subset, each image once
    });
    // Visits are reshuffled: the two severity-1 visits of fog play different orders.
    const fogOnes = s.segments.flatMap((g, si) => (g.domain === 'fog' && g.severity === 1 ? [si] : []));
    const order = (si: number) => frames.filter((f) => f.segment === si).map((f) => f.index);
    expect(order(fogOnes[0]!)).not.toEqual(order(fogOnes[1]!));
  });

  it('gradual: the severity really changes the frames (distance to the clean image grows with it)', () => {
    const test = loadFashionMnist('test');
    const s = gradualStream({ perDomain: 20, batchSize: 20, seed: 1, domains: ['gaussian_noise'] });
    const dist = new Map<number, number>();
    for (const b of s) {
      let d = 0;
      for (let i = 0; i < b.shape[0]; i++) for (let p = 0; p < 784; p++) d += Math.abs(b.x[i * 784 + p]! - test.images[b.indices[i]! * 784 + p]! / 255);
      dist.set(b.severities[0]!, d);
    }
    for (let v = 2; v <= 5; v++) expect(dist.get(v)!).toBeGreaterThan(dist.get(v - 1)!);
  });

  it('long: the continual sequence repeated, identical in every round', () => {
    const once = framesOf(continualStream({ perDomain: 4, batchSize: 3, seed: 8 }));
    const s = longStream({ perDomain: 4, batchSize: 3, seed: 8 });
    expect(s.name).toBe('long');
    expect(s.rounds).toBe(10);
    expect(s.total).toBe(10 * once.length);
    expect(s.domains).toEqual(CONTINUAL_DOMAINS);
    expect(s.domainSizes).toEqual(CONTINUAL_DOMAINS.map(() => 40));
    const frames = framesOf(s);
    for (let r = 0; r < 10; r++) {
      const round = frames.filter((f) => f.round === r);
      expect(round.map(({ domain, severity, index, label }) => ({ domain, severity, index, label })))
        .toEqual(once.map(({ domain, severity, index, label }) => ({ domain, severity, index, label })));
    }
    // Pixels of a round equal the first round's.
    const [b0] = [...s];
    const later = [...s].find((b) => b.round === 7 && b.segment === 7 * 15)!;
    expect(Array.from(later.x)).toEqual(Array.from(b0!.x));
  });

  it('mixed+dirichlet: the mixed frames, far fewer label changes, every domain still exactly N', () => {
    const opts = { perDomain: 40, batchSize: 64, seed: 4 };
    const mixed = framesOf(mixedStream(opts));
    const corr = framesOf(streamFromSpec('mixed+dirichlet:0.1', opts));
    expect(corr.map(key).sort()).toEqual(mixed.map(key).sort());
    const iidRuns = labelRuns(mixed.map((f) => f.label));
    const corrRuns = labelRuns(corr.map((f) => f.label));
    expect(iidRuns).toBeGreaterThan(0.8 * mixed.length);
    expect(corrRuns).toBeLessThan(iidRuns / 8);
    // Still mixed in domain: consecutive frames mostly change domain.
    expect(corr.filter((f, i) => i > 0 && f.domain !== corr[i - 1]!.domain).length).toBeGreaterThan(0.8 * corr.length);
    // Batches see few classes (labels correlate in time): mean distinct labels per batch of 64.
    const distinct = (fs: typeof mixed) => {
      let sum = 0;
      let n = 0;
      for (let i = 0; i < fs.length; i += 64) {
        sum += new Set(fs.slice(i, i + 64).map((f) => f.label)).size;
        n++;
      }
      return sum / n;
    };
    expect(distinct(mixed)).toBeGreaterThan(9);
    expect(distinct(corr)).toBeLessThan(6);
    expect(framesOf(streamFromSpec('mixed+dirichlet:0.1', opts))).toEqual(corr); // seeded
  });

  it('every stream kind runs at batch size 1', () => {
    for (const spec of ['continual', 'gradual', 'mixed', 'mixed+dirichlet:0.1', 'long:2', 'clean', 'class-sorted', 'dirichlet:0.1']) {
      const s = streamFromSpec(spec, { perDomain: 2, batchSize: 1, seed: 1 });
      let batches = 0;
      for (const b of s) {
        expect(b.shape[0]).toBe(1);
        batches++;
      }
      expect(batches).toBe(s.total);
    }
  });
});
