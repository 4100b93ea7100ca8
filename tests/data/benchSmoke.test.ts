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
