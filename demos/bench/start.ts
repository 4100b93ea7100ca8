/**
 * `npm start`: streams the continual Fashion-MNIST-C benchmark (15
 * corruptions at severity 5, 500 images per domain, batch 64, wasm backend)
 * through `source`, edge-tta's `continual` preset (the best configuration it
 * ships, docs/presets.md) and bn-adapt (the fast baseline), with live progress,
 * and ends with the comparison table. A few minutes on one core (the preset
 * runs at ~50 images/s on a loaded machine, bn-adapt at ~170).
 *
 *   npm start                         # source vs the continual preset and bn-adapt
 *   npm start -- --per-domain 2000    # longer run
 *   npm start -- --strategy tent      # source vs one adapting strategy
 *
 * For every option and strategy at once, use `npm run bench`.
 */
import { listStrategies, PRESETS } from '../../src/index.js';
import { formatTable, progressBar, runBenchmark, writeJson } from './runner.js';
import { HELP, parseCli, runCli, UsageError } from '../cli.js';
import { perDomainArg } from './benchArgs.js';

/**
 * The runs beside `source` by default: the `continual` preset (its strategy with its options,
 * labelled `<strategy>@continual-preset`; 22.2% on the 2,000-per-domain test stream) and bn-adapt,
 * the plain baseline (23.2%), several times faster.
 */
function defaultRuns(): { strategies: string[]; strategyOptions: Record<string, Record<string, unknown>> } {
  const { strategy, ...options } = PRESETS.continual.options;
  const preset = `${strategy}@continual-preset`;
  return { strategies: [preset, 'bn-adapt'], strategyOptions: { [preset]: options } };
}

const USAGE = `Usage: npm start -- [--strategy name] [--per-domain 500]

The continual Fashion-MNIST-C benchmark through source and the best available strategies.

Options (defaults in brackets):
  --strategy name    compare source with this strategy only [the continual preset and bn-adapt]
  --per-domain N     images per domain [500]
  -h, --help         this text
For every option and strategy, use npm run bench.`;

async function main(): Promise<void> {
  const args = parseCli({ strategy: { type: 'string' }, 'per-domain': { type: 'string' }, help: HELP }, process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const picked = args.strategy;
  // source is the baseline every run has: picking it would run it twice and compare it with itself.
  if (picked === 'source') throw new UsageError(`--strategy: source always runs; name an adapting strategy, e.g. --strategy tent.`);
  if (picked !== undefined && !(listStrategies() as string[]).includes(picked)) {
    throw new UsageError(`--strategy: '${picked}' is not a strategy. Strategies: ${listStrategies().join(', ')}.`);
  }
  const runs = picked !== undefined ? { strategies: [picked], strategyOptions: {} } : defaultRuns();
  const chosen = runs.strategies;
  const perDomain = perDomainArg(args['per-domain'] ?? '500');
  const strategies = ['source', ...chosen];
  console.log(
    `edge-tta: continual Fashion-MNIST-C (15 corruptions, severity 5, ${perDomain} images per domain, batch 64, wasm)\n` +
      `strategies: ${strategies.join(' vs ')}\n`,
  );
  const res = await runBenchmark(
    { strategies, strategyOptions: runs.strategyOptions, stream: 'continual', perDomain, batch: 64, backend: 'wasm', seed: 1, severity: 5 },
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
