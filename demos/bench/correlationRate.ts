/**
 * The guard's class-correlation detector (`src/safety/classCorrelation.ts`) on the source model's
 * predictions alone (no strategy: a source pass per batch, fast): per stream, the highest rate of
 * concentrated chunks after the detector's startup (its first 576 frames), and the batches it calls
 * correlated (answered by the source model) under each `correlationEnter` (default exit 0.25).
 * Shows how short domains look class-correlated to it (docs/safe-adaptation.md, "Short domains").
 *
 *   npx tsx demos/bench/correlationRate.ts --streams continual,class-sorted --per-domain 300 --seed 1
 */
import * as tf from '@tensorflow/tfjs';
import { streamFromSpec } from '../../src/data/streams.js';
import { ClassCorrelation } from '../../src/safety/classCorrelation.js';
import { GUARD_DEFAULTS } from '../../src/safety/guard.js';
import { loadSourceModel } from './loadModel.js';
import { commaList, positiveInt, runCli } from '../cli.js';
import { replayArgs } from './replayArgs.js';

/** The detector's startup: 9 chunks of 64 frames, the default rate falling under the exit (src/safety/streamRate.ts). */
const STARTUP_FRAMES = 9 * 64;

const USAGE =
  'Usage: npx tsx demos/bench/correlationRate.ts [--streams continual] [--per-domain 500] [--batch 64] [--seed 1] [--enter 0.3,0.35,0.4,0.45]';

async function main(): Promise<void> {
  const run = await replayArgs({ seed: { type: 'string' }, enter: { type: 'string' } }, USAGE, 'continual');
  if (run === null) return;
  const seed = positiveInt('--seed', run.args.seed, 1);
  const enters = commaList(run.args.enter ?? '0.3,0.35,0.4,0.45').map(Number);
  const source = await loadSourceModel();
  const classes = source.outputs[0]!.shape[1]!;
  for (const spec of run.streams) {
    const detectors = enters.map((e) => new ClassCorrelation({ ...GUARD_DEFAULTS, correlationEnter: e }, classes));
    const correlated = enters.map(() => 0);
    let batches = 0;
    let frames = 0;
    let peak = 0;
    for (const b of streamFromSpec(spec, { seed, perDomain: run.perDomain, batchSize: run.batchSize })) {
      const probs = tf.tidy(() => source.predict(tf.tensor4d(b.x, b.shape)) as tf.Tensor);
      const p = (await probs.data()) as Float32Array;
      probs.dispose();
      detectors.forEach((d, i) => (correlated[i]! += d.observe(p, b.shape[0]) ? 1 : 0));
      batches++;
      if ((frames += b.shape[0]) > STARTUP_FRAMES) peak = Math.max(peak, detectors[0]!.rate);
    }
    const cells = enters.map((e, i) => `enter ${e}: ${correlated[i]}`).join(', ');
    console.log(`${spec}, ${run.perDomain} per domain, seed ${seed}: ${batches} batches; highest rate after the startup ${peak.toFixed(2)}; batches called correlated: ${cells}`);
  }
}

await runCli(USAGE, main);
