// The IoT demo service as an HTTP server, run as a real process on loopback: how it treats
// connections, not just bodies. An oversized upload without Content-Length (chunked) is refused
// with a 413 the client receives, and the kept-alive connection it came on still serves the
// next request; a stalled body is cut with a 408 at the documented 10 s; a SIGTERM lets a
// request in flight finish before the process exits.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIotService, type IotProcess } from '../helpers/iotProcess.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-iot-http-'));
const children: ChildProcess[] = [];

/** Starts the service; resolves with its port once it prints its `listening` line. */
function start(): Promise<IotProcess> {
  return startIotService(['--port', '0', '--snapshot', path.join(dir, 'adapter.snapshot'), '--snapshot-every', '0', '--fps', '50', '--batch', '8', '--log-every', '0'], children);
}

interface Answer { status?: number; body?: string; error?: string; ms: number }

/** A POST /predict; `write` sends the body (and must end the request). */
function post(port: number, agent: http.Agent | false, headers: http.OutgoingHttpHeaders, write: (r: http.ClientRequest) => void): Promise<Answer> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', headers, agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body, ms: Date.now() - t0 }));
    });
    r.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, ms: Date.now() - t0 }));
    write(r);
  });
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IoT service connections (loopback)', () => {
  let service: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    service = await start();
  }, 120_000);
  const raw = { 'content-type': 'application/octet-stream' };

  it('refuses an oversized chunked upload with a 413 the client receives, and the kept-alive connection keeps serving', async () => {
    const { port, output } = service;
    // 20 chunks of 8 frames (160 frames, over the 64-frame limit), no Content-Length.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let round = 0; round < 3; round++) {
      const big = await post(port, agent, { ...raw, 'transfer-encoding': 'chunked' }, (r) => {
        void (async () => {
          for (let i = 0; i < 20; i++) if (!r.write(Buffer.alloc(8 * 784, 7))) await new Promise((d) => r.once('drain', d));
          r.end();
        })();
      });
      expect(big.error, output()).toBeUndefined();
      expect(big.status).toBe(413);
      expect(JSON.parse(big.body!)).toMatchObject({ error: 'PayloadTooLarge', message: expect.stringContaining('at most 64 frames') });
      // The same socket carries the next request, answered at once (not a 408 after the request timeout).
      const next = await post(port, agent, raw, (r) => r.end(Buffer.alloc(2 * 784, 90)));
      expect(next.status, JSON.stringify(next)).toBe(200);
      expect(next.ms).toBeLessThan(5_000);
      expect((JSON.parse(next.body!) as { predictions: unknown[] }).predictions).toHaveLength(2);
    }
    agent.destroy();
  }, 60_000);

  it('a body that never finishes is answered 408 about 10 s after the request began (not up to 40 s)', async () => {
    const { port } = service;
    const stalled = await post(port, false, { ...raw, 'content-length': String(4 * 784) }, (r) => {
      r.write(Buffer.alloc(784, 100)); // and nothing more
    });
    expect(stalled.status, JSON.stringify(stalled)).toBe(408);
    expect(stalled.ms).toBeGreaterThanOrEqual(9_500);
    expect(stalled.ms).toBeLessThan(13_000);
  }, 60_000);

  it('/predict says when the guard answers with the source model, as a step would', async () => {
    // The camera's batches of 8 are too small for the class-correlation detector to observe, so it
    // is still in its startup: a step on 16 frames would answer with the source model, and so does /predict.
    const answer = await post(service.port, false, { ...raw, 'content-length': String(16 * 784) }, (r) => r.end(Buffer.alloc(16 * 784, 90)));
    expect(answer.status, answer.body).toBe(200);
    const body = JSON.parse(answer.body!) as { sourceAnswer?: string; predictions: unknown[] };
    expect(body.predictions).toHaveLength(16);
    expect(body.sourceAnswer).toBe('class-correlated');
  }, 60_000);

  it('SIGTERM answers a request in flight before the process exits 0 (with a last snapshot)', async () => {
    const { child, port, output } = service;
    // The body is half sent when SIGTERM arrives; the rest follows 0.5 s later.
    const inFlight = post(port, false, { ...raw, 'content-length': String(4 * 784) }, (r) => {
      r.write(Buffer.alloc(2 * 784, 100));
      setTimeout(() => child.kill('SIGTERM'), 300);
      setTimeout(() => r.end(Buffer.alloc(2 * 784, 30)), 800);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const answer = await inFlight;
    expect(answer.error, output()).toBeUndefined();
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body!) as { predictions: unknown[] }).predictions).toHaveLength(4);
    expect(await exited).toBe(0);
    expect(output()).toContain('SIGTERM: writing a last snapshot');
    expect(fs.existsSync(path.join(dir, 'adapter.snapshot'))).toBe(true);
  }, 60_000);
});
