// The IoT demo service while its adapter's worker hangs: a /predict is answered 503 after 10 s,
// and `close()` (what SIGTERM / SIGINT run) does not wait for the worker's call timeout (5 min
// by default) to write a last snapshot. The service runs in this process on loopback, with its
// worker adapter captured so a hang can be injected (`injectFault('never')`: the worker never
// answers its next call).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { WorkerAdapter } from '../../workers/node.js';

const captured: { adapter?: WorkerAdapter & { injectFault(kind: 'never' | 'exit', afterSteps: number): Promise<void> } } = {};
vi.mock('../../workers/node.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../workers/node.js')>();
  return {
    ...real,
    createWorkerAdapter: async (...args: Parameters<typeof real.createWorkerAdapter>) =>
      (captured.adapter = (await real.createWorkerAdapter(...args)) as NonNullable<typeof captured.adapter>),
  };
});
const { startIotService } = await import('../../demos/node-iot/service.js');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-iot-hang-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Starts the service in this process (worker adapter) and waits until it has taken 2 steps. */
async function startStepping(snapshotName: string): Promise<Awaited<ReturnType<typeof startIotService>>> {
  const service = await startIotService({ port: 0, fps: 50, batch: 8, logEvery: 0, snapshotEvery: 0, snapshotPath: path.join(dir, snapshotName) });
  const until = Date.now() + 30_000;
  while (((await (await fetch(`${service.url}/healthz`)).json()) as { steps: number }).steps < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return service;
}

describe('IoT service with a hung worker', () => {
  it('/predict answers 503 after 10 s; close() gives up on the last snapshot after the 10 s grace, stops the worker and resolves', async () => {
    const logs: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((m: unknown) => void logs.push(String(m)));
    try {
      const service = await startStepping('a.snapshot');
      const adapter = captured.adapter!;
      void adapter.injectFault('never', 0).catch(() => undefined); // the next call never answers
      await new Promise((r) => setTimeout(r, 1_000));

      // A /predict is answered 503 after 10 s (docs: requests time out after 10 s), not held open.
      const p0 = Date.now();
      const res = await fetch(`${service.url}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(2 * 784, 60), signal: AbortSignal.timeout(30_000),
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: 'AdapterTimeout', message: expect.stringContaining('did not answer within 10 s') });
      expect(Date.now() - p0).toBeGreaterThanOrEqual(9_000);
      expect(Date.now() - p0).toBeLessThan(15_000);

      const t0 = Date.now();
      await service.close();
      const ms = Date.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(9_000); // the grace
      expect(ms).toBeLessThan(20_000); // not the worker's 5-minute call timeout
      expect(logs.some((l) => l.includes('last snapshot not written'))).toBe(true);
      // The worker was stopped: the adapter refuses calls.
      await expect(adapter.predict({ data: new Float32Array(784), shape: [1, 28, 28, 1] })).rejects.toThrow();
    } finally {
      spy.mockRestore();
    }
  }, 60_000);

  it('/predict answers 503 AdapterUnavailable once the worker has crashed, and /healthz 503', async () => {
    const logs: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((m: unknown) => void logs.push(String(m)));
    try {
      const service = await startStepping('b.snapshot');
      void captured.adapter!.injectFault('exit', 0).catch(() => undefined); // the worker exits at its next step
      let res: Response | undefined;
      for (let i = 0; i < 50; i++) {
        res = await fetch(`${service.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(2 * 784, 60) });
        if (res.status !== 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(res!.status).toBe(503);
      expect(await res!.json()).toMatchObject({ error: 'AdapterUnavailable', message: expect.stringContaining('Worker') });
      expect((await fetch(`${service.url}/healthz`)).status).toBe(503);
      await service.close();
    } finally {
      spy.mockRestore();
    }
  }, 60_000);
});
