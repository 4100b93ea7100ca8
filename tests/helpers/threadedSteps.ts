/**
 * Child process of tests/backend/wasmThreads.test.ts: starts the wasm backend with
 * `initBackend({ threads })` (argv[2]), runs a few seeded steps of Tent, CoTTA (every batch
 * augmented) and ViDA on the seeded ResNet-14 of bench:perf, and prints one JSON line: the
 * threads the backend got and, per strategy, a SHA-256 of every step's output probabilities (`probs`).
 * It never calls process.exit: the test also checks that the process ends on its own.
 */
import '@tensorflow/tfjs-backend-wasm';
import { createHash } from 'node:crypto';
import { createAdapter, initBackend } from '../../src/index.js';
import { resnet14 } from '../../demos/bench/perfModels.js';
import { mulberry32 } from '../../src/random.js';

const threads = Number(process.argv[2]);
const info = await initBackend({ backend: 'wasm', threads });
const hashes: Record<string, string> = {};
const options = {
  tent: { strategy: 'tent' },
  cotta: { strategy: 'cotta', threshold: 2 },
  vida: { strategy: 'vida' },
} as const;
for (const [name, opts] of Object.entries(options)) {
  const adapter = await createAdapter(resnet14(1), { ...opts, seed: 3, guard: false } as never);
  const rand = mulberry32(7);
  const hash = createHash('sha256');
  for (let step = 0; step < 3; step++) {
    const data = Float32Array.from({ length: 8 * 32 * 32 * 3 }, () => rand() * 2 - 1);
    const out = await adapter.step({ data, shape: [8, 32, 32, 3] });
    hash.update(new Uint8Array(out.probs.buffer, out.probs.byteOffset, out.probs.byteLength));
  }
  adapter.dispose();
  hashes[name] = hash.digest('hex');
}
process.stdout.write(`${JSON.stringify({ threads: info.threads, hashes })}\n`);
