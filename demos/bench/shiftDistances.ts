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
import { initBackend } from '../../src/index.js';
import { streamFromSpec } from '../../src/data/streams.js';
import { createTarget } from '../../src/model/target.js';
import { createSourceModel } from '../../src/safety/sourceModel.js';
import { SHIFT_DEFAULTS, ShiftDetector } from '../../src/safety/shiftDetector.js';
import { loadSourceModel } from './loadModel.js';
import { commaList, HELP, parseCli, positiveInt, runCli } from '../cli.js';

const USAGE = 'Usage: npx tsx demos/bench/shiftDistances.ts [--streams clean,continual] [--per-domain 500] [--batch 64]';
const OPTIONS = { streams: { type: 'string' }, 'per-domain': { type: 'string' }, batch: { type: 'string' }, help: HELP } as const;

async function main(): Promise<void> {
  const args = parseCli(OPTIONS, process.argv.slice(2));
  if (args.help) return console.log(USAGE);
  await initBackend({ backend: 'wasm' });
  const perDomain = positiveInt('--per-domain', args['per-domain'], 500);
  const batchSize = positiveInt('--batch', args.batch, 64);
  const model = await loadSourceModel();
  const source = await createSourceModel(createTarget(model));
  console.log(`Shift distance (momentum ${SHIFT_DEFAULTS.momentum} per frame; ${perDomain} per domain, batch ${batchSize}, seed 1)\n`);
  console.log('| stream | domain | first batch | min | median | max |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const spec of commaList(args.streams ?? 'clean,continual')) {
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
