/**
 * initBackend({ threads }) in Node: edge-tta starts tfjs-wasm's threaded build there (tfjs does
 * not), with exactly the threads asked for (tfjs would halve them). Each run is its own Node
 * process (the backend starts once per process): tests/helpers/threadedSteps.ts runs Tent,
 * CoTTA (every batch augmented) and ViDA for three seeded steps on the bench:perf ResNet-14 and
 * prints the threads it got and a hash of every output. With two threads the outputs must be
 * the single-thread outputs bit for bit (XNNPACK splits a convolution by output tiles, each
 * computed as on one thread), and the process must end by itself (the pthread workers are
 * unref'd: a service that finishes its work exits). A worker adapter started with
 * `backend: { threads: 2 }` runs two threads inside its worker_threads Worker and predicts what
 * this process does on one.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-wasm';
import { createAdapter, initBackend, InvalidOptionError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { resnet14 } from '../../demos/bench/perfModels.js';
import { mulberry32 } from '../../src/random.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface ChildResult {
  threads: number;
  hashes: Record<string, string>;
}

/** Runs the helper with `threads`; rejects if it fails or has not exited on its own after 100 s. */
function run(threads: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tests/helpers/threadedSteps.ts', String(threads)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`threads ${threads}: the process did not exit on its own within 100 s. stdout: ${out.slice(-500)}`));
    }, 100_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`threads ${threads}: exit code ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

describe('initBackend({ threads }) in Node', () => {
  it('runs two XNNPACK threads, gives the one-thread outputs bit for bit, and lets the process exit', async () => {
    const [one, two] = await Promise.all([run(1), run(2)]);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(Object.keys(two.hashes).sort()).toEqual(['cotta', 'tent', 'vida']);
    expect(new Set(Object.values(one.hashes)).size).toBe(3); // three different streams of outputs
    expect(two.hashes).toEqual(one.hashes);
  }, 240_000);

  it('a worker adapter with backend { threads: 2 } predicts what an in-thread adapter on one thread does', async () => {
    await initBackend({ backend: 'wasm' });
    const worker = await createWorkerAdapter({ model: resnet14(2), strategy: 'tent', seed: 5, guard: false, backend: { backend: 'wasm', threads: 2 } } as never);
    const local = await createAdapter(resnet14(2), { strategy: 'tent', seed: 5, guard: false } as never);
    try {
      expect(worker.backend.threads).toBe(2);
      const rand = mulberry32(11);
      for (let step = 0; step < 3; step++) {
        const data = Float32Array.from({ length: 4 * 32 * 32 * 3 }, () => rand());
        const [a, b] = [await local.step({ data: data.slice(), shape: [4, 32, 32, 3] }), await worker.step({ data, shape: [4, 32, 32, 3] })];
        expect(Array.from(b.probs)).toEqual(Array.from(a.probs));
      }
    } finally {
      local.dispose();
      await worker.terminate();
    }
  });

  it('refuses a thread count outside 1..8 with a typed error, before starting anything', async () => {
    for (const threads of [0, 9, 1.5, Number.NaN, '2' as never]) {
      await expect(initBackend({ backend: 'wasm', threads })).rejects.toBeInstanceOf(InvalidOptionError);
    }
  });
});
