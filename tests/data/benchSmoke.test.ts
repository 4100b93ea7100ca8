// CI smoke run of the benchmark: 300 images (20 per domain) of the continual
// stream through the shipped model with the `source` strategy.
import { describe, expect, it } from 'vitest';
import { formatTable, runBenchmark } from '../../demos/bench/runner.js';
import { CONTINUAL_DOMAINS } from '../../src/data/streams.js';

describe('benchmark smoke run', () => {
  it('runs source over a 300-image continual stream and lists unknown strategies as not implemented', async () => {
    const events: number[] = [];
    const res = await runBenchmark(
      { strategies: ['source', 'no-such-method'], stream: 'continual', perDomain: 20, batch: 32, backend: 'wasm', seed: 1, severity: 5 },
      (e) => events.push(e.done),
    );
    expect(res.domains).toEqual([...CONTINUAL_DOMAINS]);
    expect(res.domainSizes.reduce((a, b) => a + b, 0)).toBe(300);
    expect(res.backend).toBe('wasm');
    expect(typeof res.simd).toBe('boolean');
    expect(res.gitCommit).toMatch(/^[0-9a-f]{40}$|^unknown$/);
    const [src, missing] = res.results;
    expect(src!.status).toBe('ok');
    expect(src!.images).toBe(300);
    expect(Object.keys(src!.domainError!)).toEqual([...CONTINUAL_DOMAINS]);
    for (const v of Object.values(src!.domainError!)) expect(v).toBeGreaterThanOrEqual(0);
    expect(src!.meanError!).toBeGreaterThan(0);
    expect(src!.meanError!).toBeLessThan(100);
    expect(src!.imagesPerSec!).toBeGreaterThan(0);
    expect(src!.peakBytes!).toBeGreaterThan(0);
    expect(missing).toEqual({ strategy: 'no-such-method', status: 'not implemented' });
    expect(events.at(-1)).toBe(300);
    const table = formatTable(res);
    expect(table).toMatch(/\| source \|/);
    expect(table).toMatch(/no-such-method .*not implemented/);
  });
});

describe('benchmark on hard streams', () => {
  const base = { strategies: ['source'], perDomain: 12, batch: 16, backend: 'wasm' as const, seed: 1, severity: 5 as const };

  it('mixed: per-domain errors are scored by each frame\'s domain and equal the continual ones for the stateless source model', async () => {
    const cont = await runBenchmark({ ...base, stream: 'continual' });
    const mixed = await runBenchmark({ ...base, stream: 'mixed', batch: 7 });
    expect(mixed.stream).toBe('mixed');
    expect(mixed.domains).toEqual([...CONTINUAL_DOMAINS]);
    expect(mixed.segments).toEqual([{ domain: 'mixed', severity: 5, round: 0, size: 180 }]);
    const [a, b] = [cont.results[0]!, mixed.results[0]!];
    expect(b.status).toBe('ok');
    expect(Object.keys(b.domainError!)).toEqual([...CONTINUAL_DOMAINS]);
    // Same images with the same pixels; source predicts each image on its own (BN moving statistics).
    for (const d of CONTINUAL_DOMAINS) expect(b.domainError![d]).toBeCloseTo(a.domainError![d]!, 6);
    expect(b.meanError).toBeCloseTo(a.meanError!, 6);
    expect(b.domainStats!['mixed']).toBeDefined();
  });

  it('long: one error per round, equal rounds for the stateless source model; gradual: error per severity', async () => {
    const long = await runBenchmark({ ...base, perDomain: 4, stream: 'long:3' });
    const r = long.results[0]!;
    expect(long.rounds).toBe(3);
    expect(r.roundError).toHaveLength(3);
    expect(r.roundError![1]).toBeCloseTo(r.roundError![0]!, 6);
    expect(r.roundError![2]).toBeCloseTo(r.roundError![0]!, 6);
    expect(r.images).toBe(3 * 15 * 4);
    const grad = await runBenchmark({ ...base, perDomain: 2, batch: 1, stream: 'gradual' });
    const g = grad.results[0]!;
    expect(g.images).toBe(2 * (5 + 9 * 14));
    expect(Object.keys(g.severityError!)).toEqual(['1', '2', '3', '4', '5']);
    expect(formatTable(grad)).toMatch(/source: error % by severity 1: [\d.]+, 2: /);
    // gradual plays severities 1-5 and clean none: both were recorded and printed as 'severity 5'
    expect(long.severity).toBe(5);
    expect(grad.severity).toBeNull();
    expect(formatTable(grad)).toMatch(/stream gradual \(severities 1-5, 2 per domain, 262 images\)/);
    const clean = await runBenchmark({ ...base, perDomain: 3, stream: 'clean' });
    expect(clean.severity).toBeNull();
    expect(formatTable(clean)).toMatch(/stream clean \(no corruption, 3 per domain, 3 images\)/);
    expect(formatTable(long)).toMatch(/stream long\(3\) \(severity 5, 4 per domain, 180 images\)/);
    expect(formatTable(long)).toMatch(/source: error % by round [\d.]+ \/ [\d.]+ \/ [\d.]+/);
  });
});
