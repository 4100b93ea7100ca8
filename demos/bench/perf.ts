/**
 * `npm run bench:perf`: what adaptation costs next to inference. For every model, batch size and
 * strategy, in one process: plain `model.predict` and the adapter's `step` run in interleaved
 * rounds (predict, step, predict, step, ...) on the same input, so both see the same machine load;
 * the ratio is the median over rounds of step / predict, in process CPU time (robust on a shared
 * machine: wall time there measures the queue for a core) and in wall time. Also reported: wall ms
 * per step (p50, p95), img/s, the forward-equivalent GFLOP/s (model FLOPs x batch / CPU time, so
 * a step that runs three forward-sized passes shows a third of predict's figure) against this
 * machine's single-thread 128-bit SIMD ceiling (measured here), and memory: the peak of live tensor
 * bytes during one step (tf.profile), the wasm heap size (it only grows) and the JS heap.
 *
 * Flags: demos/bench/perfArgs.ts (`--help`). Prints a table and writes bench-results/perf-*.json.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createAdapter, initBackend, listStrategies, type Adapter } from '../../src/index.js';
import { backendMemory, edgeExports, type WasmBackendLike } from '../../src/backend/kernels/edgeModule.js';
import { runCli } from '../cli.js';
import { countMacs } from './model.js';
import { buildPerfModel, type PerfModelName } from './perfModels.js';
import { parsePerfArgs, PERF_USAGE, type PerfOptions } from './perfArgs.js';

/** One timed call: wall and process-CPU milliseconds. */
interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** One row of the result: a strategy (or `predict`) on one model and batch. */
export interface PerfRow {
  model: PerfModelName;
  batch: number;
  strategy: string;
  status: 'ok' | 'error';
  error?: string;
  rounds?: number;
  p50Ms?: number;
  p95Ms?: number;
  imgPerS?: number;
  /** Median over rounds of step / predict, process CPU time. */
  ratioCpu?: number;
  /** Median over rounds of step / predict, wall time. */
  ratioWall?: number;
  /** Model FLOPs x batch / (CPU ms p50). */
  gflops?: number;
  ofCeiling?: number;
  /** Peak of live tensor bytes during one step (tf.profile), MB. */
  peakTensorMB?: number;
  /** tfjs-wasm heap size after the cell, MB (process-wide, only grows). */
  wasmHeapMB?: number;
  /** Largest JS heap seen during the cell, MB. */
  jsHeapMB?: number;
  /** --profile: the most expensive kernels of one step, ms. */
  kernels?: Array<{ kernel: string; ms: number; calls: number }>;
}

/** The JSON bench:perf writes. */
export interface PerfResult {
  date: string;
  node: string;
  backend: string;
  simd: boolean;
  threads: number;
  ceilingGflops: number;
  options: PerfOptions;
  models: Array<{ model: PerfModelName; flopsPerImage: number; batchNorms: number }>;
  rows: PerfRow[];
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function timed(f: () => Promise<void>): Promise<Timing> {
  const c0 = cpuNow();
  const w0 = performance.now();
  await f();
  return { wallMs: performance.now() - w0, cpuMs: cpuNow() - c0 };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** This machine's single-thread f32x4 multiply-add ceiling, GFLOP/s (as `bench:kernels` measures it). */
function measureCeiling(): number {
  const backend = tf.backend() as unknown as WasmBackendLike;
  const ex = edgeExports(backend);
  const p = backend.wasm._malloc(64);
  new Float32Array(backend.wasm.HEAPU8.buffer, p, 16).fill(0.5);
  const iters = 2_000_000;
  let best = Infinity;
  for (let i = 0; i < 8; i++) {
    const c0 = cpuNow();
    ex.simdCeiling(iters, p);
    best = Math.min(best, cpuNow() - c0);
  }
  backend.wasm._free(p);
  return (iters * 96) / best / 1e6;
}

function wasmHeapMB(): number {
  return backendMemory(tf.backend() as unknown as WasmBackendLike).buffer.byteLength / 2 ** 20;
}

/** Runs `predict` and `step` alternately; returns their timings and the largest JS heap seen. */
async function interleave(
  predict: () => Promise<void>,
  step: () => Promise<void>,
  opts: PerfOptions,
  minRounds: number,
): Promise<{ predict: Timing[]; step: Timing[]; jsHeapMB: number }> {
  const p: Timing[] = [];
  const s: Timing[] = [];
  let heap = 0;
  const start = performance.now();
  // At least minRounds; cheap cells keep going until --seconds (more rounds, less noise).
  for (let r = 0; r < MAX_ROUNDS; r++) {
    if (r >= minRounds && performance.now() - start > opts.seconds * 1000) break;
    p.push(await timed(predict));
    s.push(await timed(step));
    heap = Math.max(heap, process.memoryUsage().heapUsed / 2 ** 20);
  }
  return { predict: p, step: s, jsHeapMB: heap };
}

const MAX_ROUNDS = 400;

async function profileStep(step: () => Promise<void>, top: boolean): Promise<{ peakTensorMB: number; kernels?: PerfRow['kernels'] }> {
  const info = await tf.profile(step);
  const peakTensorMB = info.peakBytes / 2 ** 20;
  if (!top) return { peakTensorMB };
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const t = await k.kernelTimeMs;
    const ms = typeof t === 'number' ? t : 0;
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    byName.set(k.name, e);
  }
  const kernels = [...byName].map(([kernel, e]) => ({ kernel, ...e })).sort((a, b) => b.ms - a.ms).slice(0, 12);
  return { peakTensorMB, kernels };
}

function summarize(base: Omit<PerfRow, 'status'>, t: { predict: Timing[]; step: Timing[]; jsHeapMB: number }, flops: number, ceiling: number): PerfRow {
  const wall = t.step.map((x) => x.wallMs);
  const cpu50 = quantile(t.step.map((x) => x.cpuMs), 0.5);
  const gflops = (flops * base.batch) / (cpu50 / 1e3) / 1e9;
  return {
    ...base,
    status: 'ok',
    rounds: t.step.length,
    p50Ms: quantile(wall, 0.5),
    p95Ms: quantile(wall, 0.95),
    imgPerS: base.batch / (quantile(wall, 0.5) / 1e3),
    ratioCpu: quantile(t.step.map((x, i) => x.cpuMs / t.predict[i]!.cpuMs), 0.5),
    ratioWall: quantile(t.step.map((x, i) => x.wallMs / t.predict[i]!.wallMs), 0.5),
    gflops,
    ofCeiling: gflops / ceiling,
    wasmHeapMB: wasmHeapMB(),
    jsHeapMB: t.jsHeapMB,
  };
}

async function runCell(model: tf.LayersModel, name: PerfModelName, batch: number, strategies: string[], opts: PerfOptions, ceiling: number, flops: number): Promise<PerfRow[]> {
  const rows: PerfRow[] = [];
  const [h, w, c] = model.inputs[0]!.shape.slice(1) as number[];
  const x = tf.randomUniform([batch, h!, w!, c!], 0, 1, 'float32', opts.seed) as tf.Tensor4D;
  const predict = async () => {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  await predict(); // warm-up (wasm tier-up, XNNPACK weight packing)
  const base = { model: name, batch };
  {
    // predict against itself: the noise floor of the ratio.
    const prof = await profileStep(predict, opts.profile);
    const t = await interleave(predict, predict, opts, opts.rounds);
    rows.push({ ...summarize({ ...base, strategy: 'predict' }, t, flops, ceiling), ...prof });
    log(rows[rows.length - 1]!);
  }
  for (const strategy of strategies) {
    let adapter: Adapter | undefined;
    try {
      adapter = await createAdapter(model, { strategy: strategy as never, seed: opts.seed, ...(opts.guard ? {} : { guard: false }), ...opts.strategyOptions[strategy] } as never);
      const a = adapter;
      const step = async () => void (await a.step(x));
      // Warm-up: the first step does one-time set-up (source copies, weight packing); the
      // second, profiled, gives the peak memory (and --profile's kernels).
      const first = await timed(step);
      const prof = await profileStep(step, opts.profile);
      // A step longer than the time budget (CoTTA at batch 64) gets 2 rounds, not --rounds.
      const t = await interleave(predict, step, opts, first.wallMs > opts.seconds * 1000 ? 2 : opts.rounds);
      rows.push({ ...summarize({ ...base, strategy }, t, flops, ceiling), ...prof });
    } catch (e) {
      rows.push({ ...base, strategy, status: 'error', error: (e as Error).message.slice(0, 300) });
    } finally {
      adapter?.dispose();
    }
    log(rows[rows.length - 1]!);
  }
  x.dispose();
  return rows;
}

function log(r: PerfRow): void {
  if (r.status !== 'ok') {
    console.error(`${r.model} b${r.batch} ${r.strategy}: ERROR ${r.error}`);
    return;
  }
  console.error(`${r.model} b${r.batch} ${r.strategy}: p50 ${r.p50Ms!.toFixed(1)} ms, ${r.ratioCpu!.toFixed(2)}x predict (cpu), ${r.ratioWall!.toFixed(2)}x (wall), ${r.rounds} rounds`);
  for (const k of r.kernels ?? []) console.error(`    ${k.kernel.padEnd(28)} ${k.ms.toFixed(1).padStart(8)} ms  ${k.calls} calls`);
}

/** The markdown table printed on stdout. */
export function formatPerfTable(res: PerfResult): string {
  const f = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d));
  const lines = [
    `ceiling ${res.ceilingGflops.toFixed(1)} GFLOP/s (1 thread, 128-bit SIMD); ${res.models.map((m) => `${m.model}: ${(m.flopsPerImage / 1e6).toFixed(1)} MFLOP/img, ${m.batchNorms} BN`).join('; ')}`,
    '',
    '| model | batch | strategy | ms/step p50 | p95 | img/s | x predict (cpu) | x predict (wall) | GFLOP/s (fwd-eq) | % ceiling | peak tensors MB | wasm heap MB | JS heap MB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of res.rows) {
    if (r.status !== 'ok') {
      lines.push(`| ${r.model} | ${r.batch} | ${r.strategy} | error: ${(r.error ?? '').slice(0, 80)} |||||||||||`);
      continue;
    }
    lines.push(
      `| ${r.model} | ${r.batch} | ${r.strategy} | ${f(r.p50Ms)} | ${f(r.p95Ms)} | ${f(r.imgPerS)} | ${f(r.ratioCpu, 2)}x | ${f(r.ratioWall, 2)}x | ${f(r.gflops)} | ${f(100 * r.ofCeiling!, 0)}% | ${f(r.peakTensorMB)} | ${f(r.wasmHeapMB, 0)} | ${f(r.jsHeapMB, 0)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parsePerfArgs(process.argv.slice(2));
  const info = await initBackend({ backend: 'wasm', threads: opts.threads });
  const ceiling = measureCeiling();
  const all: string[] = listStrategies();
  const strategies = opts.strategies.length > 0 ? opts.strategies : all;
  const res: PerfResult = {
    date: new Date().toISOString(),
    node: process.version,
    backend: info.backend,
    simd: info.simd,
    threads: info.threads,
    ceilingGflops: ceiling,
    options: opts,
    models: [],
    rows: [],
  };
  for (const name of opts.models) {
    const model = buildPerfModel(name, opts.seed);
    const flops = 2 * countMacs(model);
    res.models.push({ model: name, flopsPerImage: flops, batchNorms: model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length });
    for (const batch of opts.batches) {
      if (name === 'mobilenetv2' && batch > 8) continue; // batch 64 at 224x224 is for the ResNet only
      res.rows.push(...(await runCell(model, name, batch, strategies, opts, ceiling, flops)));
    }
    model.dispose();
  }
  console.log(formatPerfTable(res));
  const dir = path.join(process.cwd(), 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `perf-${res.date.replace(/[:.]/g, '-')}.json`);
  const text = `${JSON.stringify(res, null, 2)}\n`;
  writeFileSync(file, text);
  if (opts.json !== undefined) {
    mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
    writeFileSync(opts.json, text);
  }
  console.error(`results: ${file}${opts.json !== undefined ? `, ${opts.json}` : ''}`);
}

await runCli(PERF_USAGE, main);
