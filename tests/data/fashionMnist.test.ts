import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFashionMnist, labelsOf, toFloat32, IMAGE_SIZE } from '../../src/data/fashionMnist.js';

describe('Fashion-MNIST loader', () => {
  it('has the fixed split: 59,999 train and 10,001 test images (empty entries skipped, not renumbered)', () => {
    const train = loadFashionMnist('train');
    const test = loadFashionMnist('test');
    expect(train.n).toBe(59_999);
    expect(test.n).toBe(10_001);
    expect(train.images.length).toBe(train.n * IMAGE_SIZE);
    expect(test.labels.length).toBe(test.n);
    const counts = (l: Uint8Array) => Array.from({ length: 10 }, (_, c) => l.filter((v) => v === c).length);
    // class 0 has 7,002 entries with empty ones at positions 1000 (train) and 7001 (test)
    expect(counts(train.labels)).toEqual([5999, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000]);
    expect(counts(test.labels)).toEqual([1001, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);
  });

  it('converts to float32 in [0, 1] and picks indices', () => {
    const test = loadFashionMnist('test');
    const x = toFloat32(test, [5, 2]);
    expect(x.length).toBe(2 * IMAGE_SIZE);
    expect(x[IMAGE_SIZE + 100]).toBeCloseTo(test.images[2 * IMAGE_SIZE + 100]! / 255, 6);
    expect(Array.from(labelsOf(test, [5, 2]))).toEqual([test.labels[5], test.labels[2]]);
    expect(Math.max(...x)).toBeLessThanOrEqual(1);
  });

  it('caches a binary with a checksum and rebuilds it when the sources change', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-'));
    const src = path.join(dir, 'src');
    const cache = path.join(dir, 'cache');
    fs.mkdirSync(src);
    const img = (v: number) => new Array(IMAGE_SIZE).fill(v);
    for (let c = 0; c < 10; c++) fs.writeFileSync(path.join(src, `${c}.json`), JSON.stringify({ data: [img(c), [], img(c + 1)] }));
    const a = loadFashionMnist('train', { sourceDir: src, cacheDir: cache });
    expect(a.n).toBe(20); // the empty entry is skipped
    expect(fs.readdirSync(cache).some((f) => f.endsWith('.bin'))).toBe(true);
    // change one source file (size changes -> checksum changes): the cache must be rebuilt
    fs.writeFileSync(path.join(src, '3.json'), JSON.stringify({ data: [img(3), img(4), img(5)] }));
    const b = loadFashionMnist('train', { sourceDir: src, cacheDir: cache });
    expect(b.n).toBe(21);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
