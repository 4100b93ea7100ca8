/**
 * Puts what the examples load at run time next to them: the shipped Fashion-MNIST model
 * (demos/bench/model: model.json + weights.bin) and `samples.bin`, a few test-split images
 * with their labels. The files are generated, not committed (see .gitignore).
 *
 *   npm run examples:assets                                  # into the examples in the repo
 *   tsx examples/assets.ts --node <dir> --vite <dir>         # into copies (the consumer check)
 *
 * samples.bin: 'ETTASMP1' (8 bytes), count (uint32 LE), count labels (uint8), then count
 * 28x28 grayscale images (uint8, row-major).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IMAGE_SIZE, loadFashionMnist } from '../src/data/fashionMnist.js';
import { Rng } from '../src/random.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODEL_DIR = join(HERE, '..', 'demos', 'bench', 'model');

/** `count` test images in a seeded shuffle (every class appears), in the samples.bin format. */
export function sampleBytes(count: number): Buffer {
  const test = loadFashionMnist('test');
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

/** Writes model.json, weights.bin and samples.bin into `dir` (the model under `dir/model`). */
export function writeAssets(dir: string, count = 256): void {
  mkdirSync(join(dir, 'model'), { recursive: true });
  for (const f of ['model.json', 'weights.bin']) copyFileSync(join(MODEL_DIR, f), join(dir, 'model', f));
  writeFileSync(join(dir, 'samples.bin'), sampleBytes(count));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      node: { type: 'string', default: join(HERE, 'node-service') },
      vite: { type: 'string', default: join(HERE, 'vite-camera') },
    },
  });
  writeAssets(join(values.node, 'assets'));
  writeAssets(join(values.vite, 'public'));
  console.log(`examples: wrote model/ and samples.bin into ${join(values.node, 'assets')} and ${join(values.vite, 'public')}`);
}
