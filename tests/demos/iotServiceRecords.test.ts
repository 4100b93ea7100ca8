// The IoT demo service's metrics from the adapter's guard and shift records. A real process on
// loopback, with a guard that trips on purpose (`--opt guard={"minEntropy":1,...}`: the moving
// entropy is always under ln(10), so entropy collapse trips at every check once 64 frames were
// seen): its trips are counted by action and by the signal that tripped, and bn-adapt's shift
// detector (guard.minShift) shows as `edge_tta_shift_state` / `edge_tta_shift_distance`. Then,
// in this process: no shift series before the first shift record, and records with hostile fields
// (they cross a worker boundary) only ever become the label value 'unknown' in valid exposition text.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { ServiceMetrics } from '../../demos/node-iot/metrics.js';
import type { MetricsRecord } from '../../src/metrics/stepMetrics.js';
import { startIotService } from '../helpers/iotProcess.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-iot-records-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

const families = (text: string): Map<string, PromFamily> => new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
const series = (m: Map<string, PromFamily>, name: string) => (m.get(name)?.metrics ?? []).map((r) => ({ labels: r.labels ?? {}, value: Number(r.value) }));

describe('IoT service: guard and shift records', () => {
  it('guard trips are counted by action and signal; the shift detector state and distance are exposed', async () => {
    // classGate 0: no class-correlation gate, so steps adapt (a step answered by the source model is not checked by the guard).
    const p = await startIotService(
      ['--port', '0', '--snapshot', path.join(dir, 'a.snapshot'), '--snapshot-every', '0', '--fps', '200', '--batch', '8', '--max-wait', '40', '--log-every', '0',
        '--opt', 'guard={"minEntropy":1,"classGate":0}'],
      children,
    );
    let m = new Map<string, PromFamily>();
    const count = (kind: string) => series(m, 'edge_tta_metrics_records_total').find((r) => r.labels.kind === kind)?.value ?? 0;
    // Steps answered by the source model after a trip (a guard record and its step's record arrive
    // from the worker one after the other: a scrape may fall between them, so wait for both).
    const tripSteps = () => series(m, 'edge_tta_update_steps_total').find((r) => r.labels.mode === 'source' && r.labels.reason === 'guard-trip')?.value ?? 0;
    const end = Date.now() + 90_000;
    while (Date.now() < end) {
      m = families(await (await fetch(`${p.url}/metrics`)).text());
      if (count('guard') > 0 && tripSteps() === count('guard')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const guard = series(m, 'edge_tta_guard_events_total');
    expect(guard.length, p.output()).toBeGreaterThan(0);
    for (const g of guard) {
      expect(g.labels.signal).toBe('entropy-collapse');
      expect(['rollback', 'reset', 'freeze']).toContain(g.labels.action);
    }
    expect(guard.reduce((a, g) => a + g.value, 0)).toBe(count('guard'));
    expect(tripSteps()).toBe(count('guard'));

    expect(count('shift')).toBeGreaterThanOrEqual(1);
    const state = series(m, 'edge_tta_shift_state');
    expect(state.map((s) => s.labels.state).sort()).toEqual(['adapting', 'none', 'steady']);
    expect(state.filter((s) => s.value === 1)).toHaveLength(1);
    expect(state.filter((s) => s.value === 0)).toHaveLength(2);
    expect(series(m, 'edge_tta_shift_distance')[0]!.value).toBeGreaterThan(0);
    p.child.kill('SIGTERM');
    expect(await new Promise((r) => p.child.once('exit', r))).toBe(0);
  }, 180_000);

  it('hostile record fields become the label value unknown; the text stays valid exposition', async () => {
    const metrics = new ServiceMetrics({ strategy: 'bn-adapt', mode: 'worker' });
    const memory = { numTensors: 1, numBytes: 4 };
    const hostile = 'x"} 1\nedge_tta_fake 9';
    const record = (r: object) => r as unknown as MetricsRecord;
    // No shift record yet (none ever, for a strategy without the detector): no shift series at all, not a distance of 0.
    let m = families(await metrics.registry.metrics());
    expect(m.has('edge_tta_shift_distance')).toBe(false);
    expect(series(m, 'edge_tta_shift_state')).toEqual([]);
    metrics.observe(record({ kind: 'guard', stepId: 3, signal: hostile, value: 0, threshold: 0, action: 'rollback', frozenSteps: 0, trips: 1, time: 0, memory }));
    metrics.observe(record({ kind: 'guard', stepId: 4, signal: 'class-collapse', action: { toString: () => 'reset' }, time: 0, memory }));
    metrics.observe(record({ kind: 'shift', stepId: 5, from: 'none', to: 'adapting', distance: 0.4, time: 0, memory }));
    m = families(await metrics.registry.metrics());
    expect(m.has('edge_tta_fake')).toBe(false);
    expect(series(m, 'edge_tta_guard_events_total')).toEqual([
      { labels: { action: 'rollback', signal: 'unknown' }, value: 1 },
      { labels: { action: 'unknown', signal: 'class-collapse' }, value: 1 },
    ]);
    expect(series(m, 'edge_tta_shift_state')).toEqual([
      { labels: { state: 'none' }, value: 0 },
      { labels: { state: 'adapting' }, value: 1 },
      { labels: { state: 'steady' }, value: 0 },
    ]);
    expect(series(m, 'edge_tta_shift_distance')).toEqual([{ labels: {}, value: 0.4 }]);

    // A state outside none / adapting / steady is 'unknown' (kept from then on); a non-finite distance is not taken.
    metrics.observe(record({ kind: 'shift', stepId: 6, from: 'adapting', to: hostile, distance: Number.NaN, time: 0, memory }));
    m = families(await metrics.registry.metrics());
    expect(Object.fromEntries(series(m, 'edge_tta_shift_state').map((s) => [s.labels.state, s.value]))).toEqual({ none: 0, adapting: 0, steady: 0, unknown: 1 });
    expect(series(m, 'edge_tta_shift_distance')[0]!.value).toBe(0.4);
    metrics.observe(record({ kind: 'shift', stepId: 7, from: 'adapting', to: 'none', distance: 0.09, time: 0, memory }));
    m = families(await metrics.registry.metrics());
    expect(Object.fromEntries(series(m, 'edge_tta_shift_state').map((s) => [s.labels.state, s.value]))).toEqual({ none: 1, adapting: 0, steady: 0, unknown: 0 });
    expect(series(m, 'edge_tta_shift_distance')[0]!.value).toBe(0.09);

    // Between state changes the gauge follows each step's update.shiftDistance (it stayed at the
    // last shift record's value); a step without one, or a non-finite one, leaves it as it is.
    const step = (update: object) =>
      record({ kind: 'step', stepId: 8, strategy: 'bn-adapt', batchSize: 1, stepMs: 1, meanEntropy: 0, meanConfidence: 1, classHistogram: [1], labeledFrames: 0, framesDropped: 0, frameErrors: 0, stats: {}, memory, update: { mode: 'adapt', stepsRun: 1, stepsSkipped: 0, ...update } });
    metrics.observe(step({ shiftDistance: 0.21 }));
    m = families(await metrics.registry.metrics());
    expect(series(m, 'edge_tta_shift_distance')[0]!.value).toBe(0.21);
    metrics.observe(step({}));
    metrics.observe(step({ shiftDistance: Number.NaN }));
    metrics.observe(step({ shiftDistance: hostile }));
    m = families(await metrics.registry.metrics());
    expect(series(m, 'edge_tta_shift_distance')[0]!.value).toBe(0.21);

    // The budget gauge: absent until a step carries update.budget; then its three figures (the
    // floor once a step without an update ran); hostile or non-finite figures are not taken.
    expect(m.has('edge_tta_budget_ms_per_frame')).toBe(false);
    metrics.observe(step({ budget: { maxMsPerFrame: 2, msPerFrame: 3.5 } }));
    m = families(await metrics.registry.metrics());
    expect(series(m, 'edge_tta_budget_ms_per_frame')).toEqual([
      { labels: { figure: 'max' }, value: 2 },
      { labels: { figure: 'measured' }, value: 3.5 },
    ]);
    metrics.observe(step({ budget: { maxMsPerFrame: 2, msPerFrame: 2.5, floorMsPerFrame: 1.25 } }));
    metrics.observe(step({ budget: { maxMsPerFrame: hostile, msPerFrame: Number.NaN, floorMsPerFrame: Infinity } }));
    metrics.observe(step({ budget: hostile }));
    m = families(await metrics.registry.metrics());
    expect(m.has('edge_tta_fake')).toBe(false);
    expect(series(m, 'edge_tta_budget_ms_per_frame')).toEqual([
      { labels: { figure: 'max' }, value: 2 },
      { labels: { figure: 'measured' }, value: 2.5 },
      { labels: { figure: 'floor' }, value: 1.25 },
    ]);
  });
});
