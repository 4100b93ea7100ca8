/**
 * What the default guard costs in speed: adapter.step of each strategy with the default guard,
 * with `guard: { classGate: 0 }` (every step adapts: the cost of a guarded update) and with
 * `guard: false`, against plain `model.predict`, in one process with interleaved rounds over the
 * same continual-stream batches of the shipped model. Prints the median ms per batch and the ratio
 * to predict; writes JSON with `--json`. Feeds docs/safe-adaptation.md ("What the guard costs").
 *
 *   npx tsx demos/bench/guardSpeed.ts --strategies bn-adapt,tent,roid,lame --per-domain 128
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { createAdapter, type Adapter } from '../../src/index.js';
import { streamFromSpec } from '../../src/data/streams.js';
import { loadSourceModel } from './loadModel.js';
import { runCli, positiveInt } from '../cli.js';
import { replayArgs } from './replayArgs.js';
import { strategiesArg } from './benchArgs.js';

const USAGE =
  'Usage: npx tsx demos/bench/guardSpeed.ts [--strategies bn-adapt,tent] [--per-domain 500] [--batch 64] [--rounds 3] [--json out.json]';

/** The guard settings compared, as adapter options. */
const VARIANTS: Record<string, object> = { 'guard off': { guard: false }, 'default guard': {}, 'guard, classGate 0': { guard: { classGate: 0 } } };

function median(v: number[]): number {
  return v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
}

async function main(): Promise<void> {
  const run = await replayArgs({ strategies: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'string' } }, USAGE, 'continual');
  if (run === null) return;
  const rounds = positiveInt('--rounds', run.args.rounds, 3);
  const strategies = strategiesArg('--strategies', run.args.strategies ?? 'bn-adapt,tent');
  const batches = [...streamFromSpec(run.streams[0]!, { seed: 1, perDomain: run.perDomain, batchSize: run.batchSize })].filter((b) => b.shape[0] === run.batchSize);
  const predictModel = await loadSourceModel();
  const results: Record<string, Record<string, { msPerBatch: number; xPredict: number }>> = {};
  for (const strategy of strategies) {
    const adapters = new Map<string, Adapter>();
    for (const [name, options] of Object.entries(VARIANTS)) {
      adapters.set(name, await createAdapter(await loadSourceModel(), { strategy: strategy as never, seed: 1, ...options } as never));
    }
    const times = new Map<string, number[]>([...adapters.keys(), 'predict'].map((k) => [k, []]));
    // Steps per update mode (adapt / predict / source), to read each median by.
    const modes = new Map<string, Record<string, number>>([...adapters.keys()].map((k) => [k, {}]));
    for (let round = 0; round < rounds; round++) {
      for (const b of batches) {
        for (const [name, adapter] of adapters) {
          const t = performance.now();
          const out = await adapter.step({ data: b.x, shape: b.shape });
          times.get(name)!.push(performance.now() - t);
          const m = modes.get(name)!;
          m[out.update.mode] = (m[out.update.mode] ?? 0) + 1;
        }
        const t = performance.now();
        const y = tf.tidy(() => predictModel.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor);
        await y.data();
        y.dispose();
        times.get('predict')!.push(performance.now() - t);
      }
    }
    for (const adapter of adapters.values()) adapter.dispose();
    const predictMs = median(times.get('predict')!);
    results[strategy] = Object.fromEntries([...times].map(([k, v]) => [k, { msPerBatch: median(v), xPredict: median(v) / predictMs, ...(modes.has(k) ? { modes: modes.get(k)! } : {}) }]));
    const modeText = (k: string): string => (modes.has(k) ? ` [${Object.entries(modes.get(k)!).map(([m, c]) => `${m} ${c}`).join(', ')}]` : '');
    console.log(`${strategy}: ` + [...times].map(([k, v]) => `${k} ${median(v).toFixed(1)} ms (${(median(v) / predictMs).toFixed(2)}x)${modeText(k)}`).join(', '));
  }
  console.log(`${batches.length} batches of ${run.batchSize} (${run.streams[0]}, ${run.perDomain} per domain, seed 1) x ${rounds} rounds; median ms per batch, x plain model.predict`);
  if (run.args.json !== undefined) writeFileSync(run.args.json, JSON.stringify({ date: new Date().toISOString(), stream: run.streams[0], perDomain: run.perDomain, batch: run.batchSize, rounds, results }, null, 2));
}

await runCli(USAGE, main);
