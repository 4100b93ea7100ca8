import { describe, expect, it } from 'vitest';
import {
  CORRUPTIONS, CORRUPTION_FUNCTIONS, corrupt, corruptBatch, jpegRoundTrip, quantTable, type CorruptionName, type Severity,
} from '../../src/corruptions/index.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { Rng } from '../../src/random.js';

const test = loadFashionMnist('test');
const gray = (i: number) => Float32Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
const IMGS = Array.from({ length: 16 }, (_, k) => gray((k * 631) % 10_001));
const NO_RANDOMNESS = new Set<CorruptionName>(['defocus_blur', 'zoom_blur', 'brightness', 'contrast', 'pixelate', 'jpeg_compression']);

function l2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

describe('corruptions', () => {
  it('lists the 15 corruptions in the continual order, frozen', () => {
    expect(CORRUPTIONS).toEqual([
      'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
      'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression',
    ]);
    expect(Object.isFrozen(CORRUPTIONS)).toBe(true);
    expect(Object.keys(CORRUPTION_FUNCTIONS).sort()).toEqual([...CORRUPTIONS].sort());
  });

  for (const name of CORRUPTIONS) {
    describe(name, () => {
      it('is deterministic for a fixed seed, keeps shape, range and type', () => {
        const img = { data: IMGS[1]!, height: 28, width: 28, channels: 1 };
        for (const severity of [1, 3, 5] as Severity[]) {
          const a = corrupt(img, { name, severity, seed: 42 });
          const b = corrupt(img, { name, severity, seed: 42 });
          expect(a.data).toBeInstanceOf(Float32Array);
          expect(a.data.length).toBe(784);
          expect([a.height, a.width, a.channels]).toEqual([28, 28, 1]);
          expect(Array.from(a.data)).toEqual(Array.from(b.data));
          expect(Math.min(...a.data)).toBeGreaterThanOrEqual(0);
          expect(Math.max(...a.data)).toBeLessThanOrEqual(1);
          expect(a.data.some((v) => Number.isNaN(v))).toBe(false);
        }
        expect(Array.from(img.data)).toEqual(Array.from(IMGS[1]!)); // input untouched
        if (!NO_RANDOMNESS.has(name)) {
          const c = corrupt(img, { name, severity: 5, seed: 43 });
          expect(l2(c.data, corrupt(img, { name, severity: 5, seed: 42 }).data)).toBeGreaterThan(0);
        }
      });

      it('moves the image further from the clean one as severity grows (mean over 16 images)', () => {
        const d = [1, 2, 3, 4, 5].map((severity) =>
          IMGS.reduce((s, im, k) => s + l2(corrupt({ data: im, height: 28, width: 28, channels: 1 }, { name, severity: severity as Severity, seed: k }).data, im), 0) / IMGS.length,
        );
        expect(d[0]).toBeGreaterThan(0.1);
        // non-decreasing, with 2% slack for motion blur's severities 3 and 4 (equal
        // up to their random angle, as in the reference)
        for (let s = 1; s < 5; s++) expect(d[s]!, `severity ${s + 1} vs ${s}: ${d.map((v) => v.toFixed(2))}`).toBeGreaterThanOrEqual(d[s - 1]! * 0.98);
        expect(d[4]).toBeGreaterThan(d[0]!);
      });

      it('works on RGB uint8 images (uint8 in, uint8 out)', () => {
        const rng = new Rng(5);
        const rgb = new Uint8Array(32 * 24 * 3).map(() => rng.int(0, 256));
        const out = corrupt({ data: rgb, height: 32, width: 24, channels: 3 }, { name, severity: 4, seed: 1 });
        expect(out.data).toBeInstanceOf(Uint8Array);
        expect([out.height, out.width, out.channels, out.data.length]).toEqual([32, 24, 3, rgb.length]);
        expect(Array.from(out.data)).toEqual(Array.from(corrupt({ data: rgb, height: 32, width: 24, channels: 3 }, { name, severity: 4, seed: 1 }).data));
        expect(l2(out.data, rgb)).toBeGreaterThan(0);
      });
    });
  }

  it('corruptBatch equals per-image corrupt with the given seeds', () => {
    const x = new Float32Array(2 * 784);
    x.set(IMGS[0]!, 0);
    x.set(IMGS[2]!, 784);
    const out = corruptBatch(x, [2, 28, 28, 1], { name: 'fog', severity: 3, seeds: [7, 9] });
    expect(Array.from(out.subarray(784))).toEqual(Array.from(corrupt({ data: IMGS[2]!, height: 28, width: 28, channels: 1 }, { name: 'fog', severity: 3, seed: 9 }).data));
  });

  it('rejects unknown names, bad severities and bad shapes with the valid choices', () => {
    const img = { data: IMGS[0]!, height: 28, width: 28, channels: 1 };
    expect(() => corrupt(img, { name: 'rain' as CorruptionName })).toThrow(/Valid names: gaussian_noise/);
    expect(() => corrupt(img, { name: 'fog', severity: 6 as Severity })).toThrow(/1 to 5/);
    expect(() => corrupt({ ...img, height: 27 }, { name: 'fog' })).toThrow(/height\*width\*channels/);
    // seeds are 32-bit integers: 1.5 gave seed 1's noise, -1 gave 4294967295's
    for (const seed of [1.5, -1, 2 ** 32, NaN]) {
      expect(() => corrupt(img, { name: 'fog', seed }), String(seed)).toThrow(/seed must be an integer in \[0, 4294967295\]/);
      expect(() => corruptBatch(IMGS[0]!, [1, 28, 28, 1], { name: 'fog', seed }), String(seed)).toThrow(/seed must be an integer/);
      expect(() => corruptBatch(IMGS[0]!, [1, 28, 28, 1], { name: 'fog', seeds: [seed] }), String(seed)).toThrow(/seed must be an integer/);
    }
  });

  it('JPEG: IJG quality scaling and a near-lossless round trip at quality 100', () => {
    // libjpeg: quality 50 keeps the base table, quality 80 scales it by 0.4
    expect(quantTable([16, 11, 10], 50)).toEqual(Int32Array.from([16, 11, 10]));
    expect(quantTable([16, 11, 10], 80)).toEqual(Int32Array.from([6, 4, 4]));
    const im = { d: IMGS[3]!, h: 28, w: 28, c: 1 };
    expect(l2(jpegRoundTrip(im, 100).d, im.d)).toBeLessThan(0.05);
    expect(l2(jpegRoundTrip(im, 40).d, im.d)).toBeGreaterThan(l2(jpegRoundTrip(im, 80).d, im.d));
  });
});
