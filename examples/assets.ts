/**
 * Puts what the examples load at run time next to them: the shipped Fashion-MNIST model
 * (demos/bench/model: model.json + weights.bin) and `samples.bin`, test-split images with their
 * labels: 1,024 for each example (enough to get past the guard's ~580-frame startup and adapt).
 * The files are generated, not committed (see .gitignore).
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
import { sampleBinary } from '../demos/browser-camera/samples.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODEL_DIR = join(HERE, '..', 'demos', 'bench', 'model');

/** Writes model.json, weights.bin and samples.bin into `dir` (the model under `dir/model`). */
export function writeAssets(dir: string, count = 1024): void {
  mkdirSync(join(dir, 'model'), { recursive: true });
  for (const f of ['model.json', 'weights.bin']) copyFileSync(join(MODEL_DIR, f), join(dir, 'model', f));
  writeFileSync(join(dir, 'samples.bin'), sampleBinary(count));
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
