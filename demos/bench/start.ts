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

/**
 * Adapting strategies, lowest mean error first, as measured on the continual benchmark at
 * batch 64, 2,000 images per domain (README): vida 22.4, bn-adapt 23.1, cotta 25.2, tent 25.9,
 * alpha-bn 31.7, lame 58.7. The first two the SDK registers run: the best, and the runner-up,
 * which for bn-adapt is also ~27x faster.
 */
const PREFERENCE = ['vida', 'bn-adapt', 'cotta', 'tent', 'alpha-bn', 'lame'];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const available = listStrategies() as string[];
  const picked = arg('strategy');
  const chosen = picked ? [picked] : PREFERENCE.filter((s) => available.includes(s)).slice(0, 2);
  const perDomain = Number(arg('per-domain') ?? 500);
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

await main();
