/**
 * `npm run bench:browser-threads`: tfjs-wasm's threads in a real browser. Bundles
 * demos/bench/threadsPage.ts, serves it from localhost with the COOP/COEP headers that make a
 * page cross-origin isolated (tfjs-wasm then loads its threaded SIMD build), and opens it in
 * Debian's headless Chromium once per thread count, each in a fresh page (the backend starts
 * once per page). Each page times plain `model.predict` and each strategy's step on bench:perf's
 * seeded ResNet-14 (wall time, interleaved rounds). Prints a table and writes
 * bench-results/browser-threads.json. Needs /usr/bin/chromium (or CHROMIUM_PATH).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { commaList, exitOnHelp, HELP, parseCli, positive, positiveInt, runCli, UsageError } from '../cli.js';
import { parseStrategyOptions, strategiesArg } from './benchArgs.js';
import type { ThreadsPageResult } from './threadsPage.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const WASM_DIR = path.join(ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

const USAGE = `Usage: npm run bench:browser-threads -- [--threads 1,2,4] [--strategies a,b] [--batch 64]
                                     [--seconds 8] [--rounds 3] [--opt s.key=value ...] [--json file]

Times model.predict and each strategy's step on bench:perf's ResNet-14 in headless Chromium, in a
cross-origin-isolated page (tfjs-wasm's threaded SIMD build), once per thread count.

Options (defaults in brackets):
  --threads     XNNPACK thread counts, one fresh page each [1,2,4]
  --strategies  strategies [source,bn-adapt,tent,cotta,vida]
  --batch       batch size [64]
  --seconds     keep adding rounds until a strategy has run this long [8]
  --rounds      minimum rounds per strategy [3]
  --opt s.key=value  a strategy option, repeatable [cotta.threshold=2: every batch augmented]
  --json file   also write the JSON there (always written to bench-results/)
  -h, --help    this text`;

function parse(argv: string[]) {
  const v = parseCli(
    {
      threads: { type: 'string' },
      strategies: { type: 'string' },
      batch: { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      opt: { type: 'string', multiple: true },
      json: { type: 'string' },
      help: HELP,
    },
    argv,
  );
  exitOnHelp(v, USAGE);
  return {
    threads: commaList(v.threads ?? '1,2,4').map((t) => positiveInt('--threads', t)),
    strategies: strategiesArg('--strategies', v.strategies ?? 'source,bn-adapt,tent,cotta,vida'),
    batch: positiveInt('--batch', v.batch, 64),
    seconds: positive('--seconds', v.seconds, 8),
    rounds: positiveInt('--rounds', v.rounds, 3),
    options: parseStrategyOptions(v.opt ?? ['cotta.threshold=2']),
    json: v.json,
  };
}

/** Bundles the page into `dir` with the wasm files next to it. */
async function build(dir: string): Promise<void> {
  const wasmPaths: Record<string, string> = {};
  for (const f of WASM_FILES) {
    fs.copyFileSync(path.join(WASM_DIR, f), path.join(dir, f));
    wasmPaths[f] = `/${f}`;
  }
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'demos/bench/threadsPage.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: path.join(dir, 'page.js'),
    define: { __WASM_PATHS__: JSON.stringify(wasmPaths) },
    logLevel: 'warning',
  });
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>threads</title><script type="module" src="/page.js"></script>\n');
}

/** Serves `dir` cross-origin isolated (COOP same-origin + COEP require-corp). */
function serve(dir: string): Promise<{ url: string; close: () => void }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = http.createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1) || 'index.html';
    const file = path.join(dir, path.basename(name));
    if (!fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': types[path.extname(file)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => server.close() });
    }),
  );
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  if (!fs.existsSync(CHROMIUM)) throw new UsageError(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) or set CHROMIUM_PATH.`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-threads-'));
  await build(dir);
  const server = await serve(dir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const results: ThreadsPageResult[] = [];
  try {
    for (const threads of opts.threads) {
      const page = await browser.newPage();
      const q = new URLSearchParams({
        threads: String(threads),
        batch: String(opts.batch),
        seconds: String(opts.seconds),
        rounds: String(opts.rounds),
        strategies: opts.strategies.join(','),
        options: JSON.stringify(opts.options),
      });
      await page.goto(`${server.url}?${q}`);
      await page.waitForFunction(() => '__threadsBench' in globalThis);
      const r = (await page.evaluate(() => (globalThis as unknown as { __threadsBench: Promise<unknown> }).__threadsBench)) as ThreadsPageResult | { error: string };
      await page.close();
      if ('error' in r) throw new Error(`threads ${threads}: the page failed: ${r.error}`);
      if (!r.crossOriginIsolated) throw new Error('the page is not cross-origin isolated: tfjs-wasm would run one thread');
      results.push(r);
      console.error(`threads ${threads} (got ${r.threads}): predict ${r.predict.imgPerS.toFixed(0)} img/s; ` + r.rows.map((x) => `${x.strategy} ${x.imgPerS.toFixed(1)} img/s`).join(', '));
    }
  } finally {
    await browser.close();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `ResNet-14 (bench:perf, seeded), batch ${opts.batch}, headless Chromium, cross-origin isolated, navigator.hardwareConcurrency ${results[0]?.hardwareConcurrency}`,
    '',
    `| strategy | ${results.map((r) => `${r.threads} thread${r.threads > 1 ? 's' : ''}: img/s (x predict)`).join(' | ')} |`,
    `|---|${results.map(() => '---:').join('|')}|`,
    `| predict | ${results.map((r) => r.predict.imgPerS.toFixed(0)).join(' | ')} |`,
    ...opts.strategies.map(
      (s) => `| ${s} | ${results.map((r) => {
        const row = r.rows.find((x) => x.strategy === s)!;
        return `${row.imgPerS.toFixed(1)} (${row.ratio.toFixed(2)}x)`;
      }).join(' | ')} |`,
    ),
  ];
  console.log(lines.join('\n'));
  const json = JSON.stringify({ date: new Date().toISOString(), chromium: browser.version(), options: opts, results }, null, 2);
  fs.mkdirSync(path.join(ROOT, 'bench-results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench-results', 'browser-threads.json'), json);
  if (opts.json !== undefined) fs.writeFileSync(opts.json, json);
}

await runCli(USAGE, main);
