/**
 * The shift detector's distance (src/safety/shiftDetector.ts: the stream's moving BN statistics on
 * the source model against the source ones) over each domain of the benchmark's streams: the
 * first batch's, and the minimum, median and maximum over the domain's batches. How the guard's
 * `minShift` (0.15) was chosen: `clean` stays under it, and the continual domains that stay near
 * it (shot noise, jpeg) are the ones adaptation does not help (docs/safe-adaptation.md).
 *
 *   npx tsx demos/bench/shiftDistances.ts --streams clean,continual --per-domain 500
 */
import * as tf from '@tensorflow/tfjs';
import { streamFromSpec } from '../../src/data/streams.js';
import { createTarget } from '../../src/model/target.js';
import { createSourceModel } from '../../src/safety/sourceModel.js';
import { SHIFT_DEFAULTS, ShiftDetector } from '../../src/safety/shiftDetector.js';
import { loadSourceModel } from './loadModel.js';
import { runCli } from '../cli.js';
import { replayArgs } from './replayArgs.js';

const USAGE = 'Usage: npx tsx demos/bench/shiftDistances.ts [--streams clean,continual] [--per-domain 500] [--batch 64]';

async function main(): Promise<void> {
  const run = await replayArgs({}, USAGE, 'clean,continual');
  if (run === null) return;
  const { perDomain, batchSize } = run;
  const model = await loadSourceModel();
  const source = await createSourceModel(createTarget(model));
  console.log(`Shift distance (momentum ${SHIFT_DEFAULTS.momentum} per frame; ${perDomain} per domain, batch ${batchSize}, seed 1)\n`);
  console.log('| stream | domain | first batch | min | median | max |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const spec of run.streams) {
    const detector = new ShiftDetector({ ...SHIFT_DEFAULTS }, source);
    const byDomain = new Map<string, number[]>();
    for (const b of streamFromSpec(spec, { seed: 1, perDomain, batchSize })) {
      const x = tf.tensor4d(b.x, b.shape);
      source.probs(x, detector.hooks).dispose();
      x.dispose();
      await detector.measure(true);
      const list = byDomain.get(b.domain) ?? [];
      list.push(detector.distance);
      byDomain.set(b.domain, list);
    }
    for (const [domain, d] of byDomain) {
      const s = [...d].sort((a, b) => a - b);
      console.log(`| ${spec} | ${domain} | ${d[0]!.toFixed(3)} | ${s[0]!.toFixed(3)} | ${s[s.length >> 1]!.toFixed(3)} | ${s[s.length - 1]!.toFixed(3)} |`);
    }
    detector.dispose();
  }
  source.dispose();
  model.dispose();
}

await runCli(USAGE, main);
