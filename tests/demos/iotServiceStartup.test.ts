// The IoT demo service's start-up with a snapshot it cannot use. Run as real processes on
// loopback: a folder, an oversized file or bytes `adapter.restore` rejects at the snapshot path
// are moved aside (`<file>.rejected-<time>`, contents intact), the service starts from the
// source model and says so (`"restore":"rejected"` on its first line, `edge_tta_snapshot_restore`),
// where before it exited at start (a crash loop under a supervisor) or left the file in place;
// a path whose folder is a file cannot even be moved aside, and the service still starts.
// In this process: a start that fails after the adapter was made (the port is taken, the worker
// is gone) stops the adapter's worker, and a snapshot the adapter never judged stays in place;
// in-thread, a start the strategy's options fail leaves no model weights behind.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { decodeState } from '../../src/model/weights.js';
import type { WorkerAdapter } from '../../workers/node.js';
import { startIotService as startProcess, type IotProcess } from '../helpers/iotProcess.js';

// In-process starts: the worker adapter the service makes, captured; `stopFirst` stops it
// (`terminate()`) before the service gets it, so its calls reject (DisposedError): an adapter
// that is gone during start-up.
const captured: { adapter?: WorkerAdapter; stopFirst?: boolean } = {};
vi.mock('../../workers/node.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../workers/node.js')>();
  return {
    ...real,
    createWorkerAdapter: async (...args: Parameters<typeof real.createWorkerAdapter>) => {
      const adapter = (captured.adapter = await real.createWorkerAdapter(...args));
      if (captured.stopFirst) await adapter.terminate();
      return adapter;
    },
  };
});
const { startIotService } = await import('../../demos/node-iot/service.js');
const { quarantineSnapshot } = await import('../../demos/node-iot/snapshotStore.js');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-iot-startup-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function start(snapshot: string, ...extra: string[]): Promise<IotProcess> {
  return startProcess(['--port', '0', '--snapshot', snapshot, '--snapshot-every', '0', '--fps', '50', '--batch', '8', '--log-every', '0', ...extra], children);
}

/** `edge_tta_snapshot_restore` as result -> value. */
async function restoreGauge(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const family = parsePrometheusTextFormat(text).find((f) => f.name === 'edge_tta_snapshot_restore');
  expect(family?.type).toBe('GAUGE');
  return Object.fromEntries(family!.metrics.map((m) => [m.labels!.result!, Number(m.value)]));
}

/** The names beside `file` that it was moved to. */
const movedAside = (file: string): string[] => fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(`${path.basename(file)}.rejected-`));

async function stop(p: IotProcess): Promise<number | null> {
  p.child.kill('SIGTERM');
  return new Promise((r) => p.child.once('exit', r));
}

describe('IoT service start-up with an unusable snapshot (real processes)', () => {
  it('a folder at the snapshot path: moved aside with its contents, the service starts from source and later writes its own snapshot there', async () => {
    const file = path.join(dir, 'folder.snapshot');
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'operator-notes.txt'), 'keep me');
    const p = await start(file);
    expect(p.restore).toBe('rejected');
    expect(p.restoredSteps).toBe(0);
    expect(p.output()).toMatch(/snapshot .*folder\.snapshot not usable \(Error: Snapshot path .* is not a file\.\); moved to .*folder\.snapshot\.rejected-\d{8}T\d{6}\.\d{3}Z; starting from the source model/);
    expect(await restoreGauge(p.url)).toEqual({ restored: 0, none: 0, rejected: 1 });
    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    const [moved] = movedAside(file);
    expect(fs.readFileSync(path.join(dir, moved!, 'operator-notes.txt'), 'utf8')).toBe('keep me');
    // The path is free again: the last snapshot is written there, and the next start restores it.
    expect(await stop(p)).toBe(0);
    expect((decodeState(new Uint8Array(fs.readFileSync(file))).meta as { strategy: string }).strategy).toBe('bn-adapt');
  }, 180_000);

  it('a file over --snapshot-max-mb and bytes the adapter rejects: both moved aside unchanged, the service starts from source', async () => {
    const big = path.join(dir, 'big.snapshot');
    const bigBytes = Buffer.alloc(3000, 7);
    fs.writeFileSync(big, bigBytes);
    const bad = path.join(dir, 'bad.snapshot');
    const badBytes = Buffer.from('not an edge-tta state at all');
    fs.writeFileSync(bad, badBytes);
    // --snapshot-max-mb 0.002: 2,097 bytes.
    const [p1, p2] = await Promise.all([start(big, '--snapshot-max-mb', '0.002'), start(bad)]);
    expect(p1.output()).toMatch(/not usable \(Error: Snapshot .* is 3000 bytes, more than the 2097 allowed \(--snapshot-max-mb\)\.\); moved to/);
    expect(p2.output()).toMatch(/not usable \(InvalidSnapshotError: restore \(bn-adapt\): .*\); moved to/);
    for (const [p, file, bytes] of [[p1, big, bigBytes], [p2, bad, badBytes]] as const) {
      expect(p.restore).toBe('rejected');
      expect(await restoreGauge(p.url)).toEqual({ restored: 0, none: 0, rejected: 1 });
      expect(fs.existsSync(file)).toBe(false); // not there for the next start (--snapshot-every 0: nothing written yet)
      const moved = movedAside(file);
      expect(moved).toHaveLength(1);
      expect(fs.readFileSync(path.join(dir, moved[0]!)).equals(bytes)).toBe(true);
    }
    await Promise.all([stop(p1), stop(p2)]);
  }, 180_000);

  it('a snapshot path under a file (ENOTDIR): not readable, cannot be moved aside either; logged, and the service starts', async () => {
    const notDir = path.join(dir, 'plain-file');
    fs.writeFileSync(notDir, 'x');
    const p = await start(path.join(notDir, 'a.snapshot'));
    expect(p.restore).toBe('rejected');
    expect(p.output()).toMatch(/not usable \(Error: ENOTDIR: .*\); could not move it aside \(ENOTDIR: .*\); starting from the source model/);
    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    expect(fs.readFileSync(notDir, 'utf8')).toBe('x');
    await stop(p);
  }, 180_000);
});

describe('IoT service start-up failures (in this process)', () => {
  const blank = { data: new Float32Array(784), shape: [1, 28, 28, 1] };

  it('a taken port fails the start and stops the worker it made (no leaked adapter)', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      captured.stopFirst = false;
      await expect(startIotService({ port, logEvery: 0, snapshotPath: path.join(dir, 'port.snapshot') })).rejects.toThrow(/EADDRINUSE/);
      await expect(captured.adapter!.predict(blank)).rejects.toMatchObject({ name: 'DisposedError' });
    } finally {
      spy.mockRestore();
      holder.close();
    }
  }, 120_000);

  it('in-thread, options the strategy refuses fail the start and leave no weights behind', async () => {
    const tf = await import('@tensorflow/tfjs');
    const { initBackend, InvalidOptionError } = await import('../../src/index.js');
    await initBackend({ backend: 'wasm' });
    const before = tf.memory().numTensors;
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await expect(
        startIotService({ port: 0, logEvery: 0, inThread: true, strategy: 'tent', strategyOptions: { lr: -1 }, snapshotPath: path.join(dir, 'opts.snapshot') }),
      ).rejects.toThrow(InvalidOptionError);
    } finally {
      spy.mockRestore();
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('a worker that is gone during the restore fails the start; the snapshot it never judged stays in place', async () => {
    const file = path.join(dir, 'untried.snapshot');
    fs.writeFileSync(file, 'maybe a good snapshot');
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      captured.stopFirst = true;
      await expect(startIotService({ port: 0, logEvery: 0, snapshotPath: file })).rejects.toMatchObject({ name: 'DisposedError' });
    } finally {
      captured.stopFirst = false;
      spy.mockRestore();
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('maybe a good snapshot');
    expect(movedAside(file)).toEqual([]);
  }, 120_000);

  it('quarantineSnapshot never renames over an earlier rejected snapshot', async () => {
    const file = path.join(dir, 'twice.snapshot');
    const at = new Date('2026-01-02T03:04:05.678Z');
    fs.writeFileSync(file, 'first');
    const first = await quarantineSnapshot(file, at);
    fs.writeFileSync(file, 'second');
    const second = await quarantineSnapshot(file, at);
    expect(path.basename(first)).toBe('twice.snapshot.rejected-20260102T030405.678Z');
    expect(path.basename(second)).toBe('twice.snapshot.rejected-20260102T030405.678Z-1');
    expect([fs.readFileSync(first, 'utf8'), fs.readFileSync(second, 'utf8')]).toEqual(['first', 'second']);
    expect(fs.existsSync(file)).toBe(false);
  });
});
