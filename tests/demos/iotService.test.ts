// The IoT demo service, run as a real process on loopback (127.0.0.1, ephemeral port): /metrics
// parses as Prometheus text (parse-prometheus-text-format) with the documented metrics, /healthz
// answers, /predict classifies an uploaded test frame and rejects hostile bodies with typed 4xx
// errors; then the process is killed (SIGKILL, no chance to save) and restarted, and the step
// count continues from the snapshot it had written to disk.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { decodeState } from '../../src/model/weights.js';
import { startIotService, type IotProcess } from '../helpers/iotProcess.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-iot-'));
const snapshotFile = path.join(dir, 'adapter.snapshot');
const children: ChildProcess[] = [];

/** Starts the service and resolves with its URL once it prints its `listening` line. */
function start(): Promise<IotProcess> {
  return startIotService(
    ['--port', '0', '--host', '127.0.0.1', '--snapshot', snapshotFile, '--snapshot-every', '5', '--fps', '200', '--batch', '8', '--max-wait', '40', '--per-domain', '40', '--log-every', '0'],
    children,
  );
}

async function scrape(url: string): Promise<Map<string, PromFamily>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text()); // throws on an invalid line
  return new Map(families.map((f) => [f.name, f]));
}

const value = (m: Map<string, PromFamily>, name: string): number => Number(m.get(name)?.metrics[0]?.value ?? NaN);

/** `edge_tta_snapshot_restore` as result -> value. */
const restoreGauge = (m: Map<string, PromFamily>): Record<string, number> =>
  Object.fromEntries((m.get('edge_tta_snapshot_restore')?.metrics ?? []).map((r) => [r.labels!.result!, Number(r.value)]));

/** Polls `check` until it returns true (or fails the test after `ms`). */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IoT service (loopback)', () => {
  it('serves Prometheus metrics, health and predictions; a killed service restarts from its snapshot', async () => {
    const test = loadFashionMnist('test');
    const first = await start();
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.restoredSteps).toBe(0);
    expect(first.restore).toBe('none');

    // Metrics: valid exposition text with the documented families, once a snapshot has been written.
    let m = new Map<string, PromFamily>();
    await until('a first snapshot', 90_000, async () => {
      m = await scrape(first.url);
      return value(m, 'edge_tta_snapshot_steps') >= 5;
    });
    const types: Record<string, PromFamily['type']> = {
      edge_tta_steps_total: 'COUNTER', edge_tta_adapter_steps: 'GAUGE', edge_tta_restored_steps: 'GAUGE', edge_tta_frames_total: 'COUNTER',
      edge_tta_camera_frames_total: 'COUNTER', edge_tta_frames_dropped_total: 'COUNTER', edge_tta_frame_errors_total: 'COUNTER',
      edge_tta_step_duration_seconds: 'HISTOGRAM', edge_tta_entropy_nats: 'GAUGE', edge_tta_confidence: 'GAUGE',
      edge_tta_running_accuracy: 'GAUGE', edge_tta_predictions_total: 'COUNTER', edge_tta_tensors: 'GAUGE', edge_tta_tensor_bytes: 'GAUGE',
      edge_tta_metrics_records_total: 'COUNTER', edge_tta_guard_events_total: 'COUNTER', edge_tta_snapshots_total: 'COUNTER',
      edge_tta_update_steps_total: 'COUNTER', edge_tta_snapshot_restore: 'GAUGE', edge_tta_shift_state: 'GAUGE', edge_tta_shift_distance: 'GAUGE',
      edge_tta_snapshot_steps: 'GAUGE', nodejs_heap_size_used_bytes: 'GAUGE', process_resident_memory_bytes: 'GAUGE',
    };
    for (const [name, type] of Object.entries(types)) expect(m.get(name)?.type, name).toBe(type);
    const steps = value(m, 'edge_tta_steps_total');
    expect(steps).toBeGreaterThanOrEqual(5);
    expect(value(m, 'edge_tta_adapter_steps')).toBeGreaterThanOrEqual(steps);
    const hist = m.get('edge_tta_step_duration_seconds')!.metrics[0]!;
    expect(Number(hist.count)).toBe(steps);
    expect(Number(hist.buckets!['+Inf'])).toBe(steps);
    expect(Number(hist.sum)).toBeGreaterThan(0);
    // Every step is counted once by what the safety layer let it do.
    const updates = m.get('edge_tta_update_steps_total')!.metrics;
    expect(updates.reduce((a, r) => a + Number(r.value), 0)).toBe(steps);
    for (const r of updates) expect(['adapt', 'predict', 'source']).toContain(r.labels?.mode);
    const records = m.get('edge_tta_metrics_records_total')!.metrics;
    expect(Number(records.find((r) => r.labels?.kind === 'step')?.value)).toBe(steps);
    expect(restoreGauge(m)).toEqual({ restored: 0, none: 1, rejected: 0 });
    // bn-adapt's guard has a shift detector (guard.minShift): it starts in 'none' and its first
    // batch of gaussian noise (the first domain) is far enough to turn updates on: a shift record
    // at step 0, so the state gauge is there, one state at 1.
    expect(Number(records.find((r) => r.labels?.kind === 'shift')?.value)).toBeGreaterThanOrEqual(1);
    const shiftStates = Object.fromEntries(m.get('edge_tta_shift_state')!.metrics.map((r) => [r.labels!.state!, Number(r.value)]));
    expect(Object.keys(shiftStates).sort()).toEqual(['adapting', 'none', 'steady']);
    expect(Object.values(shiftStates).sort()).toEqual([0, 0, 1]);
    expect(value(m, 'edge_tta_shift_distance')).toBeGreaterThan(0);
    // Every predicted frame has a class: the per-class counts sum to the frames.
    const perClass = m.get('edge_tta_predictions_total')!.metrics.reduce((a, r) => a + Number(r.value), 0);
    expect(perClass).toBe(value(m, 'edge_tta_frames_total'));
    expect(value(m, 'edge_tta_running_accuracy')).toBeGreaterThan(0.3); // far above chance (0.1) on the continual stream
    expect(value(m, 'edge_tta_tensors')).toBeGreaterThan(0);
    expect(value(m, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

    // Health.
    const health = await (await fetch(`${first.url}/healthz`)).json() as { status: string; strategy: string; mode: string; steps: number };
    expect(health).toMatchObject({ status: 'ok', strategy: 'bn-adapt', mode: 'worker' });

    // /predict: real test frames as raw bytes and as a PGM; hostile bodies get typed 4xx errors.
    // 20 clean test frames, two of each class (the split is ordered by class): bn-adapt predicts
    // with the batch's own statistics, so the batch must not be all one class.
    const picked = Array.from({ length: 20 }, (_, k) => k * 500);
    const frames = Buffer.concat(picked.map((i) => Buffer.from(test.images.subarray(i * 784, (i + 1) * 784))));
    const res = await fetch(`${first.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: frames });
    expect(res.status).toBe(200);
    const pred = await res.json() as { steps: number; predictions: { label: number; class: string; confidence: number; probabilities: number[] }[] };
    expect(pred.predictions).toHaveLength(20);
    for (const p of pred.predictions) {
      expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(p.confidence).toBeCloseTo(Math.max(...p.probabilities), 6);
      expect(p.label).toBe(p.probabilities.indexOf(p.confidence));
    }
    // Clean frames are mostly right (the model's clean accuracy is 90.7%; 12/20 leaves room for the adapted state).
    expect(pred.predictions.filter((p, k) => p.label === test.labels[picked[k]!]).length).toBeGreaterThanOrEqual(12);
    const pgm = Buffer.concat([Buffer.from('P5\n# a test frame\n28 28\n255\n'), Buffer.from(test.images.subarray(0, 784))]);
    const pgmRes = await (await fetch(`${first.url}/predict`, { method: 'POST', headers: { 'content-type': 'image/x-portable-graymap' }, body: pgm })).json() as typeof pred;
    expect(pgmRes.predictions[0]!.probabilities).toHaveLength(10);
    const bad: [RequestInit, number, string][] = [
      [{ method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(783) }, 400, 'InvalidFrame'],
      [{ method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(0) }, 400, 'InvalidFrame'],
      [{ method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(65 * 784) }, 413, 'PayloadTooLarge'],
      [{ method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }, 415, 'UnsupportedMediaType'],
      [{ method: 'POST', headers: { 'content-type': 'image/x-portable-graymap' }, body: Buffer.from('P5\n32 32\n255\n') }, 400, 'InvalidFrame'],
      [{ method: 'POST', headers: { 'content-type': 'image/x-portable-graymap' }, body: Buffer.concat([Buffer.from('P5\n28 28\n100\n'), Buffer.alloc(784, 200)]) }, 400, 'InvalidFrame'],
      [{ method: 'GET' }, 405, 'MethodNotAllowed'],
    ];
    for (const [init, status, code] of bad) {
      const r = await fetch(`${first.url}/predict`, init);
      expect(r.status, code).toBe(status);
      expect((await r.json() as { error: string }).error).toBe(code);
    }
    expect((await fetch(`${first.url}/nope`)).status).toBe(404);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200); // still serving after the bad requests

    // Kill without warning: only the periodic snapshot on disk survives.
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const saved = decodeState(new Uint8Array(fs.readFileSync(snapshotFile))).meta as { stepId: number; strategy: string };
    expect(saved.strategy).toBe('bn-adapt');
    expect(saved.stepId).toBeGreaterThanOrEqual(5);
    // A kill mid-write may leave a torn temp file beside the snapshot (never the snapshot itself);
    // the restarted service removes it before it reads the snapshot.
    const second = await start();
    const killedPid = first.child.pid;
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(`.tmp`) && f.includes(`.${killedPid}.`))).toEqual([]);
    expect(second.restoredSteps).toBe(saved.stepId);
    expect(second.restore).toBe('restored');
    await until('steps after the restart', 90_000, async () => {
      m = await scrape(second.url);
      return value(m, 'edge_tta_steps_total') >= 2;
    });
    expect(value(m, 'edge_tta_restored_steps')).toBe(saved.stepId);
    expect(restoreGauge(m)).toEqual({ restored: 1, none: 0, rejected: 0 });
    // The adapter's count continues from the snapshot: restored + the steps run since.
    expect(value(m, 'edge_tta_adapter_steps')).toBeGreaterThanOrEqual(saved.stepId + value(m, 'edge_tta_steps_total'));
    const health2 = await (await fetch(`${second.url}/healthz`)).json() as { steps: number; restoredSteps: number };
    expect(health2.restoredSteps).toBe(saved.stepId);
    expect(health2.steps).toBeGreaterThan(saved.stepId);

    // A graceful stop writes a last snapshot at the current count.
    second.child.kill('SIGTERM');
    const code = await new Promise((r) => second.child.once('exit', r));
    expect(code).toBe(0);
    const last = decodeState(new Uint8Array(fs.readFileSync(snapshotFile))).meta as { stepId: number };
    expect(last.stepId).toBeGreaterThanOrEqual(health2.steps);
  }, 300_000);
});
