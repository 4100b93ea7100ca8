/**
 * The worker adapter's `backend` option is initBackend's options object. Anything else used to
 * reach the worker's initBackend, which read no field of it and started wasm: `backend: 'cpu'`
 * ran on wasm without a word. It is refused with InvalidOptionError before a worker starts, and
 * so are bad fields of it (a thread count, a memory limit, a backend name), which the worker found
 * only after its spawn, seconds later.
 */
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidOptionError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { smallResNet } from '../helpers/models.js';

describe('worker adapter backend option', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it("refuses a backend that is not an options object (e.g. 'cpu' for { backend: 'cpu' }) before starting a worker", async () => {
    let spawned = 0;
    const worker = (): Worker => {
      spawned++;
      return new Worker(new URL('../../workers/node.worker.dev.mjs', import.meta.url));
    };
    const bad = ['cpu', 'wasm', 42, true, [], { threads: 0 }, { threads: 2.5 }, { threads: 1e9 }, { backend: 'webgl' }, { memoryLimitMB: 5000 }];
    for (const backend of bad) {
      const err = await createWorkerAdapter({ model: smallResNet([8, 8, 1], 3), strategy: 'source', backend: backend as never, worker }).then(
        async (a) => {
          await a.terminate();
          return a.backend;
        },
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(backend)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(/^createWorkerAdapter: backend: initBackend: /);
    }
    expect(spawned).toBe(0);
  });
});
