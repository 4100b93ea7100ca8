/**
 * `npm start`: streams the continual Fashion-MNIST-C benchmark (15
 * corruptions at severity 5, 500 images per domain, batch 64, wasm backend)
 * through `source` and the best available adapting strategy, with live
 * progress, and ends with the comparison table. A few minutes on one core.
 *
 *   npm start                         # source vs the preferred adapting strategy
 *   npm start -- --per-domain 2000    # longer run
 *   npm start -- --strategy bn-adapt  # pick the adapting strategy
 *
 * For every option and strategy at once, use `npm run bench`.
 */
import { listStrategies } from '../../src/index.js';
import { formatTable, progressBar, runBenchmark, writeJson } from './runner.js';

/**
 * Preferred adapting strategy, best first, from the measured continual results
 * in docs/norm-strategies.md (bn-adapt: lowest mean error and fast at batch 64); the first one the SDK
 * registers is used.
 */
const PREFERENCE = ['bn-adapt', 'tent', 'alpha-bn', 'cotta', 'vida', 'lame'];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const available = listStrategies() as string[];
  const chosen = arg('strategy') ?? PREFERENCE.find((s) => available.includes(s));
  const perDomain = Number(arg('per-domain') ?? 500);
  const strategies = chosen ? ['source', chosen] : ['source'];
  console.log(
    `edge-tta: continual Fashion-MNIST-C (15 corruptions, severity 5, ${perDomain} images per domain, batch 64, wasm)\n` +
      `strategies: ${strategies.join(' vs ')}${chosen ? '' : ' (no adapting strategy registered yet)'}\n`,
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
  const [src, ada] = res.results;
  if (src?.status === 'ok' && ada?.status === 'ok') {
    const d = src.meanError! - ada.meanError!;
    console.log(`\n${ada.strategy} ${d >= 0 ? 'lowers' : 'raises'} the mean error by ${Math.abs(d).toFixed(1)} points vs the source model.`);
  }
  console.error(`results: ${writeJson(res).join(', ')}`);
}

await main();
