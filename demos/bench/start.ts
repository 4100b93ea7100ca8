/**
 * `npm start`: streams the continual Fashion-MNIST-C benchmark (15
 * corruptions at severity 5, 500 images per domain, batch 64, wasm backend)
 * through `source`, the best available adapting strategy and the fast runner-up,
 * with live progress, and ends with the comparison table. About 6 minutes on
 * one core (ViDA runs at ~24 images/s, bn-adapt at ~650).
 *
 *   npm start                         # source vs vida and bn-adapt
 *   npm start -- --per-domain 2000    # longer run
 *   npm start -- --strategy tent      # source vs one adapting strategy
 *
 * For every option and strategy at once, use `npm run bench`.
 */
import { listStrategies } from '../../src/index.js';
import { formatTable, progressBar, runBenchmark, writeJson } from './runner.js';
import { HELP, parseCli, positiveInt, runCli } from '../cli.js';

/**
 * Adapting strategies, lowest mean error first, as measured on the continual benchmark at
 * batch 64, 2,000 images per domain (README): vida 22.4, bn-adapt 23.1, cotta 25.2, tent 25.9,
 * alpha-bn 31.7, lame 58.7. The first two the SDK registers run: the best, and the runner-up,
 * which for bn-adapt is also ~27x faster.
 */
const PREFERENCE = ['vida', 'bn-adapt', 'cotta', 'tent', 'alpha-bn', 'lame'];

const USAGE = `Usage: npm start -- [--strategy name] [--per-domain 500]

The continual Fashion-MNIST-C benchmark through source and the best available strategies.

Options (defaults in brackets):
  --strategy name    compare source with this strategy only [the best two registered]
  --per-domain N     images per domain [500]
  -h, --help         this text
For every option and strategy, use npm run bench.`;

async function main(): Promise<void> {
  const args = parseCli({ strategy: { type: 'string' }, 'per-domain': { type: 'string' }, help: HELP }, process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const available = listStrategies() as string[];
  const picked = args.strategy;
  const chosen = picked ? [picked] : PREFERENCE.filter((s) => available.includes(s)).slice(0, 2);
  const perDomain = positiveInt('--per-domain', args['per-domain'], 500);
  const strategies = ['source', ...chosen];
  console.log(
    `edge-tta: continual Fashion-MNIST-C (15 corruptions, severity 5, ${perDomain} images per domain, batch 64, wasm)\n` +
      `strategies: ${strategies.join(' vs ')}${chosen.length > 0 ? '' : ' (no adapting strategy registered yet)'}\n`,
  );
  const res = await runBenchmark(
    { strategies, stream: 'continual', perDomain, batch: 64, backend: 'wasm', seed: 1, severity: 5 },
    progressBar(),
    (r) => {
      if (r.status === 'ok') console.error(`${r.strategy}: mean error ${r.meanError!.toFixed(1)}% at ${r.imagesPerSec!.toFixed(0)} img/s`);
      else console.error(`${r.strategy}: ${r.status}${r.error ? ` (${r.error})` : ''}`);
    },
  );
  console.log(`\n${formatTable(res)}`);
  const [src, ...adapting] = res.results;
  for (const ada of adapting) {
    if (src?.status !== 'ok' || ada.status !== 'ok') continue;
    const d = src.meanError! - ada.meanError!;
    console.log(`${ada.strategy} ${d >= 0 ? 'lowers' : 'raises'} the mean error by ${Math.abs(d).toFixed(1)} points vs the source model, at ${ada.imagesPerSec!.toFixed(0)} images/s.`);
  }
  console.error(`results: ${writeJson(res).join(', ')}`);
}

await runCli(USAGE, main);
