/**
 * Soak benchmark (not a test): a long stream through `adapt()` on a worker adapter, watching
 * for leaks. For each strategy, `--frames` Fashion-MNIST test images (28x28x1, the 10,000 test
 * images in a seeded random order, cycled) go through one worker adapter on the shipped model,
 * fed as the stream consumes them (at most `--window` frames in the operator, so the feed
 * itself holds no growing buffer). Every `--sample-every` frames it samples the worker's
 * `tf.memory()` (numTensors, numBytes: the `memory` of the latest step record, measured in the
 * worker after the step) and the process's RSS and JS heap (the worker thread lives in this
 * process, so RSS covers it).
 *
 *   npm run bench:soak -- --strategies source,bn-adapt --frames 100000 --batch 64
 *
 * Prints one summary line per strategy (tensors and bytes after warm-up: min/max, RSS growth
 * after warm-up in %) and writes every sample to JSON in bench-results/ (and `--json`).
 * Warm-up: the first `--warmup` frames (lazily created state, first-call kernel set-up,
 * the allocator reaching its working size); the RSS baseline is the sample at its end.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import { adapt, type MetricsRecord, type StrategyName } from '../../src/index.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { Rng } from '../../src/random.js';
import type { FrameInput } from '../../src/stream/types.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { DEFAULT_MODEL_DIR } from './loadModel.js';
import { buildSourceModel } from './model.js';
import { saveModelFiles } from './saveModel.js';
import { shippedStrategyOptions } from './runner.js';
import { strategiesArg } from './benchArgs.js';
import { HELP, oneOf, parseCli, positiveInt, runCli, seedArg, UsageError } from '../cli.js';

interface Options {
  strategies: string[];
  frames: number;
  batch: number;
  window: number;
  sampleEvery: number;
  warmup: number;
  backend: 'wasm' | 'cpu';
  model: string;
  widths?: [number, number, number];
  seed: number;
  timeoutMs: number;
  json?: string;
}

const USAGE = `Usage: npm run bench:soak -- [options]

A long stream through adapt() on a worker adapter, per strategy: the worker's tf.memory()
and the process RSS sampled over time (JSON), with a summary of their growth after warm-up.

Options (defaults in brackets):
  --strategies a,b   strategy names [source,bn-adapt,alpha-bn,lame,tent,cotta,vida]
  --frames N         frames per strategy [100000]
  --batch N          batch size [64]
  --window N         most frames in the operator at a time [4 x batch]
  --sample-every N   frames between samples [1000]
  --warmup N         frames before the RSS baseline [5000, at most frames / 5]
  --backend b        wasm | cpu [wasm]
  --model dir        folder with model.json [demos/bench/model]
  --widths a,b,c     instead of --model: the benchmark architecture (demos/bench/model.ts: 9 BN,
                     the same layers) with these stage widths and seeded untrained weights,
                     saved to bench-results/soak-model-a-b-c/ (the heavy strategies' cost
                     scales with the widths; their code path per step does not)
  --seed N           seed of the frame order and the strategies [1]
  --timeout-ms N     the worker adapter's per-call timeoutMs [the SDK default, 300000]
  --json file        also write the result JSON here
  -h, --help         this text`;

/** The soak benchmark's options from `argv`, or 'help'. */
export function parseSoakArgs(argv: string[]): Options | 'help' {
  const str = { type: 'string' } as const;
  const v = parseCli(
    { strategies: str, frames: str, batch: str, window: str, 'sample-every': str, warmup: str, 'timeout-ms': str, backend: str, model: str, widths: str, seed: str, json: str, help: HELP },
    argv,
  );
  if (v.help) return 'help';
  const frames = positiveInt('--frames', v.frames, 100_000);
  const batch = positiveInt('--batch', v.batch, 64);
  const window = positiveInt('--window', v.window, 4 * batch);
  if (window < batch) throw new UsageError(`--window must be >= --batch (${batch}); got '${v.window}'.`);
  return {
    strategies: strategiesArg('--strategies', v.strategies ?? 'source,bn-adapt,alpha-bn,lame,tent,cotta,vida'),
    frames,
    batch,
    window,
    sampleEvery: positiveInt('--sample-every', v['sample-every'], 1000),
    warmup: v.warmup === undefined ? Math.min(5000, Math.floor(frames / 5)) : positiveInt('--warmup', v.warmup),
    backend: oneOf('--backend', v.backend, ['wasm', 'cpu'] as const, 'wasm'),
    model: v.model ?? DEFAULT_MODEL_DIR,
    widths: v.widths === undefined ? undefined : parseWidths(v.widths),
    seed: seedArg('--seed', v.seed, 1),
    timeoutMs: positiveInt('--timeout-ms', v['timeout-ms'], 300_000),
    json: v.json,
  };
}

function parseWidths(text: string): [number, number, number] {
  const w = text.split(',').map((x) => positiveInt('--widths', x));
  if (w.length !== 3) throw new UsageError(`--widths takes three stage widths, e.g. 4,8,8; got '${text}'.`);
  return w as [number, number, number];
}

/** Writes the benchmark architecture with the given widths (seeded, untrained) and returns its folder. */
async function writeNarrowModel(widths: [number, number, number], seed: number): Promise<string> {
  const dir = path.join('bench-results', `soak-model-${widths.join('-')}`);
  await tf.setBackend('cpu'); // this thread only builds and saves the model; the worker adapts
  const model = buildSourceModel({ seed, widths });
  await saveModelFiles(model, dir);
  model.dispose();
  return dir;
}

interface Sample {
  /** Frames with a record so far. */
  frames: number;
  elapsedS: number;
  numTensors: number;
  numBytes: number;
  rssMB: number;
  heapUsedMB: number;
}

interface Summary {
  strategy: string;
  frames: number;
  framesPerSecond: number;
  predictions: number;
  errors: number;
  /** Worker tensors and bytes over the samples after warm-up. */
  tensorsMin: number;
  tensorsMax: number;
  bytesMin: number;
  bytesMax: number;
  /** RSS at the end of warm-up, at the end, and the growth between them. */
  rssWarmMB: number;
  rssEndMB: number;
  rssMaxMB: number;
  rssGrowthPct: number;
}

const MB = 1024 * 1024;

/**
 * A stream of `n` frames that emits a frame only while fewer than `window` wait for their
 * record: the feed follows the adapter's pace without buffering ahead.
 */
function pacedFrames(n: number, window: number, frame: (i: number) => FrameInput, recorded: { count: number; onRecord: () => void }): Observable<FrameInput> {
  return new Observable<FrameInput>((subscriber) => {
    let sent = 0;
    let scheduled = false;
    const pump = (): void => {
      scheduled = false;
      while (!subscriber.closed && sent < n && sent - recorded.count < window) subscriber.next(frame(sent++));
      if (sent === n) subscriber.complete();
    };
    recorded.onRecord = () => {
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(pump);
      }
    };
    pump();
  });
}

async function soak(strategy: StrategyName, o: Options, frame: (i: number) => FrameInput): Promise<{ summary: Summary; samples: Sample[] }> {
  const adapter = await createWorkerAdapter({
    model: path.join(o.model, 'model.json'),
    strategy,
    seed: o.seed,
    ...shippedStrategyOptions(strategy, o.model),
    backend: { backend: o.backend },
    timeoutMs: o.timeoutMs,
  } as never);
  let memory = { numTensors: 0, numBytes: 0 };
  adapter.metrics$.subscribe((r: MetricsRecord) => {
    if (r.kind === 'step') memory = r.memory;
  });
  const samples: Sample[] = [];
  const t0 = performance.now();
  const sample = (frames: number): void => {
    const m = process.memoryUsage();
    samples.push({
      frames,
      elapsedS: (performance.now() - t0) / 1000,
      numTensors: memory.numTensors,
      numBytes: memory.numBytes,
      rssMB: m.rss / MB,
      heapUsedMB: m.heapUsed / MB,
    });
    const s = samples[samples.length - 1]!;
    process.stderr.write(
      `\r${strategy}: ${frames}/${o.frames} frames, ${(frames / s.elapsedS).toFixed(0)} img/s, tensors ${s.numTensors}, bytes ${s.numBytes}, rss ${s.rssMB.toFixed(0)} MB   `,
    );
  };
  const recorded = { count: 0, onRecord: (): void => undefined };
  let predictions = 0;
  let errors = 0;
  await new Promise<void>((resolve, reject) => {
    pacedFrames(o.frames, o.window, frame, recorded)
      .pipe(adapt(adapter, { batchSize: o.batch, maxWaitMs: Infinity, backpressure: 'buffer', bufferSize: o.window }))
      .subscribe({
        next: (r) => {
          if (r.kind === 'prediction') predictions++;
          else errors++;
          recorded.count++;
          if (recorded.count % o.sampleEvery === 0 || recorded.count === o.warmup) sample(recorded.count);
          recorded.onRecord();
        },
        error: reject,
        complete: resolve,
      });
  });
  const wallS = (performance.now() - t0) / 1000;
  if (samples[samples.length - 1]?.frames !== o.frames) sample(o.frames);
  process.stderr.write('\n');
  await adapter.terminate();

  const warm = samples.filter((s) => s.frames >= o.warmup);
  const base = warm[0]!;
  const end = samples[samples.length - 1]!;
  const summary: Summary = {
    strategy,
    frames: o.frames,
    framesPerSecond: o.frames / wallS,
    predictions,
    errors,
    tensorsMin: Math.min(...warm.map((s) => s.numTensors)),
    tensorsMax: Math.max(...warm.map((s) => s.numTensors)),
    bytesMin: Math.min(...warm.map((s) => s.numBytes)),
    bytesMax: Math.max(...warm.map((s) => s.numBytes)),
    rssWarmMB: base.rssMB,
    rssEndMB: end.rssMB,
    rssMaxMB: Math.max(...warm.map((s) => s.rssMB)),
    rssGrowthPct: ((end.rssMB - base.rssMB) / base.rssMB) * 100,
  };
  return { summary, samples };
}

async function main(): Promise<void> {
  const parsed = parseSoakArgs(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const o = parsed;
  if (o.widths !== undefined) o.model = await writeNarrowModel(o.widths, o.seed);
  if (!fs.existsSync(path.join(o.model, 'model.json'))) throw new UsageError(`--model: no model.json in ${o.model}.`);
  const test = loadFashionMnist('test');
  // A seeded random order: the stored test set is sorted by class.
  const rng = new Rng(o.seed);
  const order = Array.from({ length: test.n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const pixels = toFloat32(test, order);
  // Views into one array: adapt copies a frame on arrival, so nothing here grows.
  const frame = (i: number): FrameInput => {
    const k = i % test.n;
    return { data: pixels.subarray(k * 784, (k + 1) * 784), shape: [28, 28, 1] };
  };
  console.error(`soak: ${o.frames} frames per strategy, batch ${o.batch}, window ${o.window}, warm-up ${o.warmup}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  const runs: { summary: Summary; samples: Sample[] }[] = [];
  for (const strategy of o.strategies as StrategyName[]) runs.push(await soak(strategy, o, frame));

  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(`Soak: ${o.frames} Fashion-MNIST test frames per strategy through adapt() on a worker adapter, batch ${o.batch}, ${o.backend}; model ${path.relative(process.cwd(), o.model) || '.'}; after ${o.warmup} warm-up frames:`);
  console.log('| strategy | frames | img/s | worker tensors (min-max) | worker bytes (min-max) | RSS warm MB | RSS end MB | RSS max MB | RSS growth |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { summary: s } of runs) {
    const range = (a: number, b: number) => (a === b ? `${a} (flat)` : `${a}-${b}`);
    console.log(
      `| ${s.strategy} | ${s.frames} | ${f(s.framesPerSecond, 0)} | ${range(s.tensorsMin, s.tensorsMax)} | ${range(s.bytesMin, s.bytesMax)} | ${f(s.rssWarmMB, 0)} | ${f(s.rssEndMB, 0)} | ${f(s.rssMaxMB, 0)} | ${s.rssGrowthPct >= 0 ? '+' : ''}${f(s.rssGrowthPct)}% |`,
    );
  }
  const result = {
    date: new Date().toISOString(),
    options: o,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg() },
    runs,
  };
  fs.mkdirSync('bench-results', { recursive: true });
  const out = path.join('bench-results', `soak-${result.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
  if (o.json !== undefined) fs.writeFileSync(o.json, JSON.stringify(result, null, 2));
  console.error(`wrote ${out}`);
}

runCli(USAGE, main).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
