/**
 * `samples.bin`, the sample frames the browser demo and the examples load: 'ETTASMP1' (8 bytes),
 * count (uint32 LE), count labels (uint8), then count 28x28 grayscale images (uint8, row-major).
 */
import { IMAGE_SIZE, loadFashionMnist } from '../../src/data/fashionMnist.js';
import { Rng } from '../../src/random.js';

/** `n` test-split images (a seeded shuffle, so every class appears) with their labels, as `samples.bin`. */
export function sampleBinary(n: number): Buffer {
  const test = loadFashionMnist('test');
  const count = Math.max(1, Math.min(test.n, Math.floor(n)));
  const order = new Int32Array(test.n).map((_, i) => i);
  new Rng(2026).shuffle(order);
  const out = Buffer.alloc(12 + count * (1 + IMAGE_SIZE));
  out.write('ETTASMP1', 0, 'latin1');
  out.writeUInt32LE(count, 8);
  for (let k = 0; k < count; k++) {
    const i = order[k]!;
    out[12 + k] = test.labels[i]!;
    out.set(test.images.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), 12 + count + k * IMAGE_SIZE);
  }
  return out;
}
