/**
 * Streaming benchmark: the `adapt` operator on an in-thread adapter vs a worker adapter.
 *
 *   npm run bench:stream -- --strategies source,bn-adapt,tent --frames 1024 --batch 16 \
 *     --fps 100 --max-wait 50 --backend wasm [--model demos/bench/model] [--json out.json]
 *
 * For every strategy and mode (in-thread, worker) two runs over Fashion-MNIST test images
 * (28x28x1, clean, a seeded random subset of `--frames` images, in random class order):
 * - burst: every frame is available at once (`from(frames)`, backpressure 'buffer' with an
 *   unbounded buffer, full batches): frames/s = frames / wall time, and main-thread time per
 *   frame (event-loop active time of the main thread, `performance.eventLoopUtilization`);
 *   `--repeats R` runs it R times and reports the median run (by frames/s).
 * - paced: frames arrive at `--fps` (an `interval`), batches by `--batch` and `--max-wait`,
 *   backpressure 'latest': p50/p95 latency from a frame's arrival to its prediction, frames
 *   dropped, main-thread time per frame, and the run's wall time: in-thread, a step blocks
 *   the main thread, so the frame timer itself falls behind (frames are never dropped, they
 *   are simply not captured); the ideal wall time is frames / fps.
 * The model is `demos/bench/model/` (the shipped source model) when it exists, else the
 * untrained benchmark architecture (`buildSourceModel`, same compute; accuracy then meaningless).
 * Prints a table on stdout, progress on stderr; writes JSON to bench-results/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { from, interval, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { createAdapter, initBackend, type Adapter, type StrategyName } from '../../src/index.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { adapt } from '../../src/stream/adapt.js';
import type { FrameInput, StreamRecord } from '../../src/stream/types.js';
import { Rng } from '../../src/random.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from './loadModel.js';
import { buildSourceModel } from './model.js';
import { strategiesArg } from './benchArgs.js';
import { HELP, nonNegativeInt, oneOf, parseCli, positive, positiveInt, runCli, seedArg } from '../cli.js';

interface Options {
  strategies: string[];
  frames: number;
  batch: number;
  fps: number;
  maxWait: number;
  backend: 'wasm' | 'cpu';
  model: string;
  seed: number;
  repeats: number;
  json?: string;
}

const USAGE = `Usage: npm run bench:stream -- [options]

The adapt operator on an in-thread adapter vs a worker adapter (burst and paced runs).

Options (defaults in brackets):
  --strategies a,b   strategy names [source,bn-adapt,tent]
  --frames N         frames per run [1024]
  --batch N          batch size [16]
  --fps X            camera rate of the paced run [100]
  --max-wait MS      max wait of a partial batch [50]
  --backend b        wasm | cpu [wasm]
  --model dir        folder with model.json [demos/bench/model]
  --seed N           seed [1]
  --repeats N        burst runs, the median is reported [1]
  --json file        also write the result JSON here
  -h, --help         this text`;

/** The stream benchmark's options from `argv`, or 'help'. */
export function parseStreamBenchArgs(argv: string[]): Options | 'help' {
  const str = { type: 'string' } as const;
  const v = parseCli(
    { strategies: str, frames: str, batch: str, fps: str, 'max-wait': str, backend: str, model: str, seed: str, repeats: str, json: str, help: HELP },
    argv,
  );
  if (v.help) return 'help';
  return {
    strategies: strategiesArg('--strategies', v.strategies ?? 'source,bn-adapt,tent'),
    frames: positiveInt('--frames', v.frames, 1024),
    batch: positiveInt('--batch', v.batch, 16),
    fps: positive('--fps', v.fps, 100),
    maxWait: nonNegativeInt('--max-wait', v['max-wait'], 50),
    backend: oneOf('--backend', v.backend, ['wasm', 'cpu'] as const, 'wasm'),
    model: v.model ?? DEFAULT_MODEL_DIR,
    seed: seedArg('--seed', v.seed, 1),
    repeats: positiveInt('--repeats', v.repeats, 1),
    json: v.json,
  };
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.ceil(pos)]! - s[lo]!) * (pos - lo);
}

interface RunResult {
  frames: number;
  predicted: number;
  dropped: number;
  errors: number;
  wallMs: number;
  framesPerSecond: number;
  p50LatencyMs: number;
  p95LatencyMs: number;
  mainThreadMsPerFrame: number;
  accuracy: number;
}

async function measure(adapter: Adapter, source: Observable<FrameInput>, labels: Int32Array, n: number, options: Parameters<typeof adapt>[1]): Promise<RunResult> {
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const out: StreamRecord[] = await lastValueFrom(source.pipe(adapt(adapter, options), toArray()));
  const wallMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const preds = out.filter((r) => r.kind === 'prediction');
  let hits = 0;
  for (const p of preds) if (p.kind === 'prediction' && p.label === labels[p.frameId as number]) hits++;
  const latencies = preds.map((p) => (p.kind === 'prediction' ? p.latencyMs : 0));
  return {
    frames: n,
    predicted: preds.length,
    dropped: out.filter((r) => r.kind === 'dropped').length,
    errors: out.filter((r) => r.kind === 'error').length,
    wallMs,
    framesPerSecond: (preds.length / wallMs) * 1000,
    p50LatencyMs: quantile(latencies, 0.5),
    p95LatencyMs: quantile(latencies, 0.95),
    mainThreadMsPerFrame: elu.active / n,
    accuracy: preds.length > 0 ? hits / preds.length : NaN,
  };
}

async function main(): Promise<void> {
  const parsed = parseStreamBenchArgs(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const o: Options = parsed;
  const strategies = o.strategies as StrategyName[];
  const info = await initBackend({ backend: o.backend });
  const shipped = fs.existsSync(path.join(o.model, 'model.json'));
  const modelName = shipped ? path.relative(process.cwd(), o.model) : 'untrained buildSourceModel() (shipped model not found)';
  console.error(`model: ${modelName}; backend ${info.backend} (simd ${info.simd}); ${os.cpus().length} cores`);
  const test = loadFashionMnist('test');
  const n = Math.min(o.frames, test.n);
  // A seeded random subset: the stored test set is sorted by class, and class-sorted batches
  // would measure a different thing (BN statistics of one class).
  const rng = new Rng(o.seed);
  const order = Array.from({ length: test.n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const picked = order.slice(0, n);
  const pixels = toFloat32(test, picked);
  const labels = Int32Array.from(picked, (i) => test.labels[i]!);
  const frame = (i: number): FrameInput => ({ data: pixels.subarray(i * 784, (i + 1) * 784), shape: [28, 28, 1] });

  const rows: Record<string, unknown>[] = [];
  for (const strategy of strategies) {
    for (const mode of ['in-thread', 'worker'] as const) {
      const options = { seed: o.seed };
      const t0 = performance.now();
      let adapter: Adapter;
      if (mode === 'in-thread') {
        const model = shipped ? await loadSourceModel(o.model) : buildSourceModel({ seed: o.seed });
        adapter = await createAdapter(model, { strategy, ...options } as never);
      } else {
        // The worker loads the shipped files itself; the untrained model is sent as artifacts.
        adapter = await createWorkerAdapter({
          model: shipped ? path.join(o.model, 'model.json') : buildSourceModel({ seed: o.seed }),
          strategy,
          ...options,
          backend: { backend: o.backend },
        });
      }
      const startupMs = performance.now() - t0;
      // Warm-up: first-call kernel set-up and lazily created state.
      await lastValueFrom(from(Array.from({ length: o.batch * 2 }, (_, i) => frame(i))).pipe(adapt(adapter, { batchSize: o.batch }), toArray()));
      await adapter.reset();
      const bursts: RunResult[] = [];
      for (let r = 0; r < o.repeats; r++) {
        console.error(`${strategy} ${mode}: burst ${r + 1}/${o.repeats}...`);
        bursts.push(
          await measure(adapter, from(Array.from({ length: n }, (_, i) => frame(i))), labels, n, {
            batchSize: o.batch,
            maxWaitMs: Infinity,
            backpressure: 'buffer',
            bufferSize: Infinity,
          }),
        );
        await adapter.reset();
      }
      // The median run by throughput (the machine is shared: single runs are noisy).
      const burst = [...bursts].sort((a, b) => a.framesPerSecond - b.framesPerSecond)[Math.floor(bursts.length / 2)]!;
      console.error(`${strategy} ${mode}: paced at ${o.fps} fps...`);
      const paced = await measure(
        adapter,
        interval(1000 / o.fps).pipe(
          take(n),
          map((i) => frame(i)),
        ),
        labels,
        n,
        { batchSize: o.batch, maxWaitMs: o.maxWait, backpressure: 'latest' },
      );
      if ('terminate' in adapter) await (adapter as { terminate(): Promise<void> }).terminate();
      else adapter.dispose();
      rows.push({ strategy, mode, startupMs, burst, bursts, paced });
    }
  }

  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const header = ['strategy', 'mode', 'burst accuracy', 'burst frames/s', 'burst main ms/frame', `paced p50 ms`, `paced p95 ms`, 'paced main ms/frame', 'paced dropped', `paced wall s (ideal ${(n / o.fps).toFixed(1)})`, 'startup ms'];
  const lines = rows.map((r) => {
    const b = r.burst as RunResult;
    const p = r.paced as RunResult;
    return [String(r.strategy), String(r.mode), shipped ? `${f(b.accuracy * 100)}%` : '-', f(b.framesPerSecond, 0), f(b.mainThreadMsPerFrame, 3), f(p.p50LatencyMs), f(p.p95LatencyMs), f(p.mainThreadMsPerFrame, 3), `${p.dropped}/${p.frames}`, f(p.wallMs / 1000), f(r.startupMs as number, 0)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`Streaming: ${n} Fashion-MNIST test frames 28x28x1, batch ${o.batch}, burst median of ${o.repeats}; paced: ${o.fps} fps, max wait ${o.maxWait} ms, backpressure 'latest'; model: ${modelName}; backend ${info.backend}`);
  console.log(fmt(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));

  const result = {
    date: new Date().toISOString(),
    options: o,
    model: modelName,
    backend: info,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    rows,
  };
  fs.mkdirSync('bench-results', { recursive: true });
  const out = path.join('bench-results', `stream-${result.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
  if (o.json !== undefined) fs.writeFileSync(o.json, JSON.stringify(result, null, 2));
  console.error(`wrote ${out}`);
  void tf;
}

runCli(USAGE, main).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
