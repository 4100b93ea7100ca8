/**
 * The page of `npm run bench:browser-threads` (demos/bench/browserThreads.ts), bundled for the
 * browser and served cross-origin isolated. It starts the wasm backend with the `threads` of its
 * URL (`initBackend({ threads })`), builds bench:perf's seeded ResNet-14 and times plain
 * `model.predict` against each strategy's step, in interleaved rounds on the same batch (wall
 * time: a browser has no process CPU clock). The result is `globalThis.__threadsBench`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createAdapter, initBackend } from '../../src/index.js';
import { quantile } from '../../src/confidenceThreshold.js';
import { resnet14 } from './perfModels.js';

/** One strategy's figures on one page (one thread count). */
export interface ThreadsRow {
  strategy: string;
  rounds: number;
  p50Ms: number;
  imgPerS: number;
  /** Median over rounds of step / predict (wall). */
  ratio: number;
}

/** What the page reports. */
export interface ThreadsPageResult {
  threads: number;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  batch: number;
  predict: { p50Ms: number; imgPerS: number };
  rows: ThreadsRow[];
}

declare const __WASM_PATHS__: Record<string, string>;

const median = (xs: number[]): number => quantile(xs, 0.5);

async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function run(): Promise<ThreadsPageResult> {
  const q = new URLSearchParams(location.search);
  const threads = Number(q.get('threads') ?? 1);
  const batch = Number(q.get('batch') ?? 64);
  const seconds = Number(q.get('seconds') ?? 8);
  const minRounds = Number(q.get('rounds') ?? 3);
  const strategies = (q.get('strategies') ?? 'source,bn-adapt,tent,cotta,vida').split(',');
  const options = JSON.parse(q.get('options') ?? '{}') as Record<string, Record<string, unknown>>;
  const info = await initBackend({ backend: 'wasm', threads, wasmPaths: __WASM_PATHS__ });
  const model = resnet14(1);
  const x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 1);
  const predict = async () => {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  await predict();
  const predictMs: number[] = [];
  const rows: ThreadsRow[] = [];
  for (const strategy of strategies) {
    const adapter = await createAdapter(model, { strategy: strategy as never, seed: 1, guard: false, ...options[strategy] } as never);
    const step = async () => void (await adapter.step(x));
    await step(); // one-time set-up
    const p: number[] = [];
    const s: number[] = [];
    const start = performance.now();
    while (s.length < minRounds || performance.now() - start < seconds * 1000) {
      p.push(await timed(predict));
      s.push(await timed(step));
      if (s.length >= 200) break;
    }
    adapter.dispose();
    predictMs.push(...p);
    const p50 = median(s);
    rows.push({ strategy, rounds: s.length, p50Ms: p50, imgPerS: batch / (p50 / 1e3), ratio: median(s.map((t, i) => t / p[i]!)) });
  }
  x.dispose();
  model.dispose();
  const p50 = median(predictMs);
  return {
    threads: info.threads,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency,
    batch,
    predict: { p50Ms: p50, imgPerS: batch / (p50 / 1e3) },
    rows,
  };
}

(globalThis as unknown as { __threadsBench: Promise<ThreadsPageResult | { error: string }> }).__threadsBench = run().catch((e: unknown) => ({
  error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e),
}));
