/**
 * Node / IoT demo: a simulated camera feeds one frame at a time, at a fixed rate, into an
 * adapter running in a worker_threads worker; predictions come back in frame order, and
 * the adaptation metrics are printed once a second. The camera's "world" shifts every
 * `--per-domain` frames through the 15 Fashion-MNIST-C corruptions.
 *
 *   npm run demo:iot -- [--strategy bn-adapt] [--fps 120] [--per-domain 300] [--batch 16]
 *                       [--max-wait 100] [--backpressure drop-oldest] [--in-thread]
 */
import { interval, map, take, scan, filter, lastValueFrom, tap, type Subscription } from 'rxjs';
import { adapt, createAdapter, initBackend, listStrategies, summarizeMetrics, type MetricsRecord, type StrategyName } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { continualStream } from '../../src/data/streams.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from '../bench/loadModel.js';

interface Args {
  strategy: StrategyName;
  fps: number;
  perDomain: number;
  batch: number;
  maxWait: number;
  backpressure: 'buffer' | 'drop-oldest' | 'latest';
  inThread: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { strategy: 'bn-adapt', fps: 120, perDomain: 300, batch: 16, maxWait: 100, backpressure: 'drop-oldest', inThread: false };
  for (let i = 0; i < argv.length; i++) {
    const next = () => argv[++i] ?? '';
    switch (argv[i]) {
      case '--strategy': a.strategy = next() as StrategyName; break;
      case '--fps': a.fps = Number(next()); break;
      case '--per-domain': a.perDomain = Number(next()); break;
      case '--batch': a.batch = Number(next()); break;
      case '--max-wait': a.maxWait = Number(next()); break;
      case '--backpressure': a.backpressure = next() as Args['backpressure']; break;
      case '--in-thread': a.inThread = true; break;
      default: throw new Error(`Unknown argument '${argv[i]}'. See the header of demos/node-iot/camera.ts.`);
    }
  }
  if (!listStrategies().includes(a.strategy)) throw new Error(`Unknown strategy '${a.strategy}'. Valid: ${listStrategies().join(', ')}.`);
  return a;
}

const args = parseArgs(process.argv.slice(2));
await initBackend({ backend: 'wasm' });
const adapter = args.inThread
  ? await createAdapter(await loadSourceModel(), { strategy: args.strategy } as never)
  : await createWorkerAdapter({ model: `${DEFAULT_MODEL_DIR}/model.json`, strategy: args.strategy });
console.log(`${args.inThread ? 'in-thread' : 'worker'} adapter '${args.strategy}', camera at ${args.fps} fps, batches of ${args.batch} (max wait ${args.maxWait} ms, ${args.backpressure})`);

// The camera: one frame at a time, from the continual corruption stream.
const stream = continualStream({ perDomain: args.perDomain, batchSize: 1, seed: 1 });
const frames = stream[Symbol.iterator]();
const camera$ = interval(1000 / args.fps).pipe(
  take(stream.total),
  map(() => {
    const b = frames.next().value!;
    return { frame: { data: b.x, shape: [28, 28, 1] }, trueLabel: b.labels[0]!, domain: b.domain };
  }),
);

// Metrics: a line a second with a rolling summary of the last 20 steps.
const records: MetricsRecord[] = [];
let domain = stream.domains[0]!;
const metricsSub: Subscription = adapter.metrics$.subscribe((r) => records.push(r));
const ticker = setInterval(() => {
  const s = summarizeMetrics(records, { window: 20 });
  if (s.steps === 0) return;
  console.log(
    `[${domain.padEnd(17)}] steps ${String(records.filter((r) => r.kind === 'step').length).padStart(4)}  ` +
      `acc ${(100 * (s.accuracy ?? NaN)).toFixed(1).padStart(5)}%  entropy ${s.meanEntropy.toFixed(3)}  ` +
      `step p50 ${s.p50StepMs.toFixed(1)} ms  dropped ${s.framesDropped}  tensors ${s.memory?.numTensors ?? '-'}`,
  );
}, 1000);

const totals = await lastValueFrom(
  camera$.pipe(
    tap((f) => (domain = f.domain)),
    map(({ frame, trueLabel }) => ({ frame, trueLabel })),
    adapt(adapter, { batchSize: args.batch, maxWaitMs: args.maxWait, backpressure: args.backpressure }),
    filter((r) => r.kind !== 'error'),
    scan((acc, r) => ({ predicted: acc.predicted + (r.kind === 'prediction' ? 1 : 0), dropped: acc.dropped + (r.kind === 'dropped' ? 1 : 0) }), {
      predicted: 0,
      dropped: 0,
    }),
  ),
);
clearInterval(ticker);
const all = summarizeMetrics(records);
console.log(
  `\n${totals.predicted} frames predicted, ${totals.dropped} dropped; accuracy ${(100 * (all.accuracy ?? NaN)).toFixed(2)}% over the predicted frames; ` +
    `adapter throughput ${all.framesPerSecond.toFixed(0)} frames/s; mean step ${all.meanStepMs.toFixed(1)} ms`,
);
metricsSub.unsubscribe();
adapter.dispose();
