/**
 * How the guard's domain-mixture detector (`src/safety/domainMixture.ts`) was chosen: runs the
 * source model once over each stream with the detector's hooks, keeps every 64-frame chunk's
 * statistic (the variance over frames of their log texture energy), then prints per stream its
 * median and 5%-95% range, the share of chunks over each candidate gate, and a replay of the
 * stream rate under each gate: how many chunks the stream spends mixed, and the first.
 *
 *   npx tsx demos/bench/mixturePolicy.ts --per-domain 500 \
 *     --streams continual,clean,gradual,class-sorted,dirichlet:0.1,mixed,mixed+dirichlet:0.1
 */
import * as tf from '@tensorflow/tfjs';
import { streamFromSpec } from '../../src/data/streams.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { DomainMixture, MIXTURE_PRIOR_RATE } from '../../src/safety/domainMixture.js';
import { GUARD_DEFAULTS } from '../../src/safety/guard.js';
import { StreamRate } from '../../src/safety/streamRate.js';
import { loadSourceModel } from './loadModel.js';
import { commaList, runCli } from '../cli.js';
import { replayArgs } from './replayArgs.js';

const USAGE = 'Usage: npx tsx demos/bench/mixturePolicy.ts [--per-domain 500] [--batch 64] [--streams a,b,...] [--gates 0.3,0.35,0.4]';
const DEFAULT_STREAMS = 'continual,clean,gradual,class-sorted,dirichlet:0.1,mixed,mixed+dirichlet:0.1';

function quantile(sorted: number[], f: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))]!;
}

/** The statistic of every complete chunk of a stream, in order. */
async function chunkStatistics(executor: ModelExecutor, spec: string, perDomain: number, batchSize: number): Promise<number[]> {
  const detector = new DomainMixture({ ...GUARD_DEFAULTS }, executor.info.batchNorms);
  const hooks = detector.hooks();
  const out: number[] = [];
  for (const b of streamFromSpec(spec, { seed: 1, perDomain, batchSize })) {
    if (b.shape[0] < 16) continue; // as the guard: smaller batches are not observed
    const x = tf.tensor4d(b.x, b.shape);
    tf.tidy(() => executor.logits(x, { hooks }));
    x.dispose();
    const chunks = detector.chunks;
    await detector.observe();
    if (detector.chunks > chunks) out.push(detector.lastStatistic);
  }
  detector.dispose();
  return out;
}

/** Chunks the replayed rate spends mixed, and the first such chunk (-1: never). */
function replay(stats: number[], gate: number): { mixed: number; first: number } {
  const rate = new StreamRate(GUARD_DEFAULTS.correlationEnter, GUARD_DEFAULTS.correlationExit, MIXTURE_PRIOR_RATE);
  let mixed = 0;
  let first = -1;
  stats.forEach((s, i) => {
    if (rate.add(s > gate)) {
      mixed++;
      if (first < 0) first = i + 1;
    }
  });
  return { mixed, first };
}

async function main(): Promise<void> {
  const run = await replayArgs({ gates: { type: 'string' } }, USAGE, DEFAULT_STREAMS);
  if (run === null) return;
  const { perDomain, batchSize: batch } = run;
  const gates = commaList(run.args.gates ?? '0.3,0.35,0.4').map(Number);
  const executor = new ModelExecutor(await loadSourceModel());
  console.log(`Chunk statistic of the source model's pass (${perDomain} per domain, batch ${batch}, seed 1); shipped gate ${GUARD_DEFAULTS.mixtureGate}.`);
  console.log(`Per gate: share of chunks over it; chunks in the mixed state / chunks (first mixed chunk).\n`);
  console.log(`| stream | chunks | median (5%-95%) | ${gates.map((g) => `gate ${g}`).join(' | ')} |`);
  console.log(`|---|---:|---|${gates.map(() => '---').join('|')}|`);
  for (const spec of run.streams) {
    const stats = await chunkStatistics(executor, spec, perDomain, batch);
    const sorted = [...stats].sort((a, b) => a - b);
    const cells = gates.map((g) => {
      const over = stats.filter((s) => s > g).length;
      const r = replay(stats, g);
      return `${Math.round((100 * over) / stats.length)}%; ${r.mixed}/${stats.length}${r.first > 0 ? ` (${r.first})` : ''}`;
    });
    console.log(`| ${spec} | ${stats.length} | ${quantile(sorted, 0.5).toFixed(2)} (${quantile(sorted, 0.05).toFixed(2)}-${quantile(sorted, 0.95).toFixed(2)}) | ${cells.join(' | ')} |`);
  }
  executor.dispose();
}

await runCli(USAGE, main);
