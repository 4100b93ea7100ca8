/**
 * The guard's class-correlation detector (`src/safety/classCorrelation.ts`) on the source model's
 * predictions alone (no strategy: a source pass per batch, fast): per stream, the highest rate of
 * concentrated chunks after the detector's startup (its first 576 frames), and the batches it calls
 * correlated (answered by the source model) under each `correlationEnter` (default exit 0.25).
 * Shows how short domains look class-correlated to it (docs/safe-adaptation.md, "Short domains").
 * `--prior-momentum` lists momenta of the prior a chunk is compared with (the guard's is LAME's
 * 0.3); each momentum gets a row, with its share of concentrated chunks.
 *
 *   npx tsx demos/bench/correlationRate.ts --streams continual,class-sorted --per-domain 300 --seed 1
 *   npx tsx demos/bench/correlationRate.ts --streams continual --per-domain 200 --prior-momentum 0.3,0.5,0.7
 */
import * as tf from '@tensorflow/tfjs';
import { streamFromSpec } from '../../src/data/streams.js';
import { ClassCorrelation } from '../../src/safety/classCorrelation.js';
import { GUARD_DEFAULTS } from '../../src/safety/guard.js';
import { LAME_PRIOR_MOMENTUM } from '../../strategies/lame.js';
import { loadSourceModel } from './loadModel.js';
import { commaList, runCli, seedArg, UsageError } from '../cli.js';
import { replayArgs } from './replayArgs.js';

/** The detector's startup: 9 chunks of 64 frames, the default rate falling under the exit (src/safety/streamRate.ts). */
const STARTUP_FRAMES = 9 * 64;

const USAGE =
  'Usage: npx tsx demos/bench/correlationRate.ts [--streams continual] [--per-domain 500] [--batch 64] [--seed 1] [--enter 0.3,0.35,0.4,0.45] [--prior-momentum 0.3]';

async function main(): Promise<void> {
  const run = await replayArgs({ seed: { type: 'string' }, enter: { type: 'string' }, 'prior-momentum': { type: 'string' } }, USAGE, 'continual');
  if (run === null) return;
  const seed = seedArg('--seed', run.args.seed, 1);
  const enters = commaList(run.args.enter ?? '0.3,0.35,0.4,0.45').map(Number);
  const momenta = commaList(run.args['prior-momentum'] ?? String(LAME_PRIOR_MOMENTUM)).map(Number);
  for (const m of momenta) if (!(m > 0 && m <= 1)) throw new UsageError(`--prior-momentum: ${m} is not in (0, 1].`);
  const source = await loadSourceModel();
  const classes = source.outputs[0]!.shape[1]!;
  for (const spec of run.streams) {
    // One detector per (momentum, enter), all fed the same source predictions.
    const detectors = momenta.map((m) => enters.map((e) => new ClassCorrelation({ ...GUARD_DEFAULTS, correlationEnter: e }, classes, m)));
    const correlated = momenta.map(() => enters.map(() => 0));
    const peak = momenta.map(() => 0);
    let batches = 0;
    let frames = 0;
    for (const b of streamFromSpec(spec, { seed, perDomain: run.perDomain, batchSize: run.batchSize })) {
      const probs = tf.tidy(() => source.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor);
      const p = (await probs.data()) as Float32Array;
      probs.dispose();
      frames += b.shape[0];
      detectors.forEach((row, j) => {
        row.forEach((d, i) => (correlated[j]![i]! += d.observe(p, b.shape[0]) ? 1 : 0));
        if (frames > STARTUP_FRAMES) peak[j] = Math.max(peak[j]!, row[0]!.rate);
      });
      batches++;
    }
    momenta.forEach((m, j) => {
      const d = detectors[j]![0]!;
      const share = d.chunks > 0 ? Math.round((100 * d.concentratedChunks) / d.chunks) : 0;
      const cells = enters.map((e, i) => `enter ${e}: ${correlated[j]![i]}`).join(', ');
      console.log(
        `${spec}, ${run.perDomain} per domain, seed ${seed}, prior momentum ${m}: ${batches} batches; ${share}% of chunks concentrated; highest rate after the startup ${peak[j]!.toFixed(2)}; batches called correlated: ${cells}`,
      );
    });
  }
}

await runCli(USAGE, main);
