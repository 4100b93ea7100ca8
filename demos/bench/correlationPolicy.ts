/**
 * How the guard's class-correlation detector (`src/safety/classCorrelation.ts`) was chosen: runs
 * the source model and a strategy (guard off) once over each stream, keeps every batch's mean
 * source prediction and both models' errors, then replays the detector under each candidate
 * setting (`classGate` x enter / exit thresholds): a batch the detector calls correlated counts
 * with the source model's errors, the others with the strategy's. Prints, per setting and
 * stream, the mean error, the worst domain's gap to source, and the batches answered by source.
 *
 *   npx tsx demos/bench/correlationPolicy.ts --strategy bn-adapt --per-domain 500 \
 *     --streams continual,class-sorted,dirichlet:0.1,mixed,mixed+dirichlet:0.1,gradual
 */
import * as tf from '@tensorflow/tfjs';
import { createAdapter } from '../../src/index.js';
import { streamFromSpec } from '../../src/data/streams.js';
import { summarizeProbs } from '../../src/metrics/stepMetrics.js';
import { ClassCorrelation } from '../../src/safety/classCorrelation.js';
import { GUARD_DEFAULTS } from '../../src/safety/guard.js';
import { loadSourceModel } from './loadModel.js';
import { runCli } from '../cli.js';
import { replayArgs } from './replayArgs.js';
import { strategyArg } from './benchArgs.js';

const USAGE = 'Usage: npx tsx demos/bench/correlationPolicy.ts [--strategy bn-adapt] [--per-domain 500] [--batch 64] [--streams a,b,...]';

interface BatchRecord {
  domain: string;
  n: number;
  sourceWrong: number;
  strategyWrong: number;
  /** The batch's source probabilities, [n, K] flattened. */
  sourceProbs: Float32Array;
}

const CANDIDATES: Array<{ classGate: number; correlationEnter: number; correlationExit: number }> = [];
for (const classGate of [0.6, 0.7, 0.8]) {
  for (const [correlationEnter, correlationExit] of [[0.3, 0.15], [0.35, 0.25], [0.4, 0.2]] as const) CANDIDATES.push({ classGate, correlationEnter, correlationExit });
}

/** Frames whose predicted label is not the true one. */
function wrongCount(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wrong = 0;
  for (let i = 0; i < labels.length; i++) wrong += predicted[i] === labels[i] ? 0 : 1;
  return wrong;
}

/** The candidate's errors on one stream; `options` null: no detector (the strategy's errors throughout). */
function replay(records: BatchRecord[], options: (typeof CANDIDATES)[0] | null, k: number): string {
  const detector = options !== null ? new ClassCorrelation(options, k) : null;
  const domains = new Map<string, { n: number; wrong: number; sourceWrong: number }>();
  let bySource = 0;
  for (const r of records) {
    const correlated = detector !== null && r.n >= 16 && detector.observe(r.sourceProbs, r.n);
    const d = domains.get(r.domain) ?? { n: 0, wrong: 0, sourceWrong: 0 };
    d.n += r.n;
    d.sourceWrong += r.sourceWrong;
    d.wrong += correlated ? r.sourceWrong : r.strategyWrong;
    domains.set(r.domain, d);
    bySource += correlated ? 1 : 0;
  }
  let mean = 0;
  let worst = -Infinity;
  for (const d of domains.values()) {
    mean += d.wrong / d.n / domains.size;
    worst = Math.max(worst, (d.wrong - d.sourceWrong) / d.n);
  }
  const share = detector !== null && detector.chunks > 0 ? `, ${Math.round((100 * detector.concentratedChunks) / detector.chunks)}% concentrated` : '';
  return `${(100 * mean).toFixed(2)} (${worst >= 0 ? '+' : ''}${(100 * worst).toFixed(1)}, ${bySource}/${records.length}${share})`;
}

async function main(): Promise<void> {
  const run = await replayArgs({ strategy: { type: 'string' } }, USAGE, 'continual,class-sorted,dirichlet:0.1,mixed,mixed+dirichlet:0.1');
  if (run === null) return;
  const { perDomain, batchSize, streams: specs } = run;
  const strategy = strategyArg('--strategy', run.args.strategy ?? 'bn-adapt');
  const source = await loadSourceModel();
  const results = new Map<string, string[]>();
  for (const spec of specs) {
    const model = await loadSourceModel();
    const adapter = await createAdapter(model, { strategy: strategy as never, seed: 1, guard: false } as never);
    const k = adapter.numClasses;
    const records: BatchRecord[] = [];
    for (const b of streamFromSpec(spec, { seed: 1, perDomain, batchSize })) {
      // The shipped model ends in a softmax: predict returns probabilities.
      const probs = tf.tidy(() => source.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor);
      const sourceProbs = (await probs.data()) as Float32Array;
      probs.dispose();
      const out = await adapter.step({ data: b.x, shape: b.shape });
      records.push({ domain: b.domain, n: b.shape[0], sourceWrong: wrongCount(summarizeProbs(sourceProbs, k).labels, b.labels), strategyWrong: wrongCount(out.labels, b.labels), sourceProbs });
    }
    adapter.dispose();
    model.dispose();
    results.set('no detector', [...(results.get('no detector') ?? []), `${spec} ${replay(records, null, k)}`]);
    for (const c of CANDIDATES) {
      const key = `classGate ${c.classGate}, enter ${c.correlationEnter} / exit ${c.correlationExit}`;
      results.set(key, [...(results.get(key) ?? []), `${spec} ${replay(records, c, k)}`]);
    }
    console.error(`${spec}: ${records.length} batches`);
  }
  const shipped = `classGate ${GUARD_DEFAULTS.classGate}, enter ${GUARD_DEFAULTS.correlationEnter} / exit ${GUARD_DEFAULTS.correlationExit}`;
  console.log(`${strategy}, ${perDomain} per domain, batch ${batchSize}. Cells: mean error % (worst domain vs source, batches answered by source, share of 64-frame chunks concentrated). Shipped: ${shipped}`);
  for (const [key, cells] of results) console.log(`${key === shipped ? '* ' : '  '}${key}: ${cells.join(' | ')}`);
  source.dispose();
}

await runCli(USAGE, main);
