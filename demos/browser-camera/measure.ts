/**
 * Measures the browser demo's production build: bundle sizes (minified and gzip), tfjs copies
 * per bundle, cold-start time to the first prediction in headless Chromium, and what a
 * reload fetches again (the HTTP cache at work). Writes bench-results/browser-demo.json.
 *
 *   npm run demo:browser:measure -- [--runs 5]   (--help lists the flags)
 *
 * Cold start: a new browser context per run (empty HTTP cache, empty IndexedDB), navigation to
 * `?mode=sample&strategy=bn-adapt&strategyB=source&autostart=1`, and the page's
 * `performance.now()` at its first prediction (ms since navigation start). Needs /usr/bin/chromium.
 *
 * `--baseline-url` times another served copy of the demo (e.g. an earlier commit's, see
 * docs/browser-demo.md) in the same way, its cold starts interleaved with this build's so both
 * see the same machine load, and measures its `/dist/main.js` and `/dist/worker.js`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { HELP, parseCli, positiveInt, runCli } from '../cli.js';
import { DIST_DIR } from './build.js';
import { startDemoServer } from './serve.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const USAGE = `Usage: npm run demo:browser:measure -- [options]

Builds the browser demo for production and measures its bundles (gzip), its cold start to the
first prediction in headless Chromium, and what a reload fetches again.

Options (defaults in brackets):
  --runs N              cold starts to time [5]
  --baseline-url URL    also time the demo served at URL (an earlier build), interleaved
  -h, --help            this text`;

interface Size {
  file: string;
  bytes: number;
  gzipBytes: number;
}

function size(file: string): Size {
  const bytes = fs.readFileSync(path.join(DIST_DIR, file));
  return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Ms since navigation start at the page's first prediction (this page's state, or the earlier demo's `adapted` lane). */
const FIRST_PREDICTION = `(() => {
  const s = globalThis.__edgeTtaDemo;
  if (s === undefined) return false;
  if (s.errors.length > 0) throw new Error('The page failed: ' + s.errors.join('; '));
  const n = s.lanes ? (s.lanes[0] ? s.lanes[0].predictions : 0) : s.adapted.predictions;
  return n > 0 ? performance.now() : false;
})()`;

async function main(runs: number, baselineUrl: string | undefined): Promise<void> {
  const server = await startDemoServer({ port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  try {
    const assets = fs.readdirSync(path.join(DIST_DIR, 'assets'));
    const pick = (re: RegExp): string => `assets/${assets.find((f) => re.test(f))!}`;
    const pageChunks = assets.filter((f) => f.endsWith('.js') && !f.startsWith('worker-')).map((f) => size(`assets/${f}`));
    const sizes = {
      // The page's JavaScript: main-*.js (the entry: starts the workers), page-*.js (the page code) and shared chunks.
      page: { file: pageChunks.map((c) => c.file.replace('assets/', '')).join(' + '), bytes: pageChunks.reduce((a, c) => a + c.bytes, 0), gzipBytes: pageChunks.reduce((a, c) => a + c.gzipBytes, 0) },
      css: size(pick(/^main-.*\.css$/)),
      worker: size(pick(/^worker-.*\.js$/)),
      html: size('index.html'),
      wasmSimd: size(pick(/^tfjs-backend-wasm-simd-.*\.wasm$/)),
    };
    const text = (s: Size): string => s.file.split(' + ').map((f) => fs.readFileSync(path.join(DIST_DIR, f.includes('/') ? f : `assets/${f}`), 'utf8')).join('\n');
    const count = (s: Size, needle: string): number => text(s).split(needle).length - 1;
    // A string unique to tfjs-core's engine: one copy of tfjs-core has it once.
    const tfjs = { pageCoreCopies: count(sizes.page, 'The highest priority backend'), workerCoreCopies: count(sizes.worker, 'The highest priority backend'), webgl: /WEBGL_|["'`]webgl["'`]/.test(text(sizes.page) + text(sizes.worker)) };

    const url = `${server.url}?mode=sample&strategy=bn-adapt&strategyB=source&corruption=fog&severity=3&autostart=1`;
    const firstPredictionMs: number[] = [];
    const milestones: { scriptStart: number; workersReady: number; firstFrame: number }[] = [];
    const baselineMs: number[] = [];
    /** One cold start (new context: empty cache and IndexedDB) of `target`; ms to the first prediction. */
    const coldStart = async (target: string): Promise<number> => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(target);
        const t = (await (await page.waitForFunction(FIRST_PREDICTION, null, { timeout: 60_000, polling: 'raf' })).jsonValue()) as number;
        if (errors.length > 0) throw new Error(`${target} failed: ${errors.join('; ')}`);
        if (target === url) milestones.push(await page.evaluate(() => (globalThis as unknown as { __edgeTtaDemo: { timings: (typeof milestones)[number] } }).__edgeTtaDemo.timings));
        return t;
      } finally {
        await context.close();
      }
    };
    for (let r = 0; r < runs; r++) {
      if (baselineUrl !== undefined) baselineMs.push(await coldStart(`${baselineUrl}?mode=sample&strategy=bn-adapt&corruption=fog&severity=3&autostart=1`));
      firstPredictionMs.push(await coldStart(url));
    }
    // What the network carries: a cold load, then a reload in the same context (hashed assets
    // come from the HTTP cache, the rest is revalidated: 304).
    const context = await browser.newContext();
    const page = await context.newPage();
    const t0 = server.traffic();
    await page.goto(url);
    await page.waitForFunction(FIRST_PREDICTION, null, { timeout: 60_000 });
    const t1 = server.traffic();
    await page.reload();
    await page.waitForFunction(FIRST_PREDICTION, null, { timeout: 60_000 });
    const t2 = server.traffic();
    await context.close();
    const cold = { requests: t1.requests - t0.requests, bytes: t1.bytes - t0.bytes };
    const reload = { requests: t2.requests - t1.requests, bytes: t2.bytes - t1.bytes };
    let baseline: { url: string; sizes: Record<string, { bytes: number; gzipBytes: number }>; coldStart: { firstPredictionMs: number[]; medianMs: number } } | undefined;
    if (baselineUrl !== undefined) {
      const sizes: Record<string, { bytes: number; gzipBytes: number }> = {};
      for (const f of ['main.js', 'worker.js']) {
        const res = await fetch(new URL(`dist/${f}`, baselineUrl));
        if (!res.ok) throw new Error(`GET ${baselineUrl}dist/${f}: ${res.status}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        sizes[f] = { bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
      }
      baseline = { url: baselineUrl, sizes, coldStart: { firstPredictionMs: baselineMs.map((x) => Math.round(x)), medianMs: Math.round(median(baselineMs)) } };
    }
    const results = {
      date: new Date().toISOString(),
      machine: 'shared development machine (2 cores, other jobs running): absolute times are indicative',
      sizes,
      tfjs,
      coldStart: {
        runs,
        firstPredictionMs: firstPredictionMs.map((x) => Math.round(x)),
        medianMs: Math.round(median(firstPredictionMs)),
        // Medians of the page's milestones (ms since navigation start).
        medianScriptStartMs: Math.round(median(milestones.map((m) => m.scriptStart))),
        medianWorkersReadyMs: Math.round(median(milestones.map((m) => m.workersReady))),
        medianFirstFrameMs: Math.round(median(milestones.map((m) => m.firstFrame))),
      },
      traffic: { coldLoad: cold, reloadInSameContext: reload },
      ...(baseline ? { baseline } : {}),
    };
    const out = path.join(ROOT, 'bench-results', 'browser-demo.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
    for (const [name, s] of Object.entries(sizes)) console.log(`${name.padEnd(9)} ${s.file.padEnd(60)} ${kib(s.bytes).padStart(11)}  gzip ${kib(s.gzipBytes).padStart(10)}`);
    console.log(`tfjs-core copies: page ${tfjs.pageCoreCopies}, worker ${tfjs.workerCoreCopies}; webgl backend: ${tfjs.webgl ? 'yes' : 'no'}`);
    const c = results.coldStart;
    console.log(`cold start to first prediction: median ${c.medianMs} ms over ${runs} runs (${c.firstPredictionMs.join(', ')} ms)`);
    console.log(`  medians since navigation start: page script runs ${c.medianScriptStartMs} ms, workers ready ${c.medianWorkersReadyMs} ms, first frame ${c.medianFirstFrameMs} ms`);
    if (baseline) {
      for (const [f, x] of Object.entries(baseline.sizes)) console.log(`baseline ${f.padEnd(10)} ${kib(x.bytes).padStart(11)}  gzip ${kib(x.gzipBytes).padStart(10)}`);
      console.log(`baseline cold start: median ${baseline.coldStart.medianMs} ms (${baseline.coldStart.firstPredictionMs.join(', ')} ms), interleaved with the runs above`);
    }
    console.log(`server traffic: cold load ${cold.requests} requests, ${kib(cold.bytes)}; reload ${reload.requests} requests, ${kib(reload.bytes)}`);
    console.log(`results in ${path.relative(ROOT, out)}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runCli(USAGE, async () => {
    const v = parseCli({ runs: { type: 'string', default: '5' }, 'baseline-url': { type: 'string' }, help: HELP }, process.argv.slice(2));
    if (v.help) return void console.log(USAGE);
    await main(positiveInt('--runs', v.runs), v['baseline-url']);
  });
}
