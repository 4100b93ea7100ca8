#!/usr/bin/env node
// The consumer check: edge-tta as other people's apps get it, from the packed tarball only.
//
//   node examples/check.mjs            (run by .ci/run; needs the npm registry and /usr/bin/chromium)
//
// 1. `npm pack` (building dist/ first if it is missing or older than the sources); the tarball
//    holds dist/ with the .d.ts and the kernel module; publint and attw report nothing.
// 2. Each example (examples/node-service, examples/vite-camera) is copied to a temp folder, its
//    edge-tta dependency pointed at the tarball, installed, and type-checked under node16 and
//    bundler resolution. The Node example runs to completion; the Vite app builds for production
//    with no warning, its bundles carry no webgl backend and one copy of tfjs (main and worker),
//    and, served as static files, it shows predictions in Chromium.
// 3. An app on another tfjs 4.x minor (4.21) gets one tfjs copy and adapts (edge-tta's kernels
//    included); `npm install git+file://<clean clone>` (the git-URL path: prepare builds dist)
//    gives a working `import { createAdapter } from 'edge-tta'`.
// Gzip sizes of the Vite bundles (main and worker) are printed and written, with the rest of the
// results, to bench-results/consumer-check.json.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = mkdtempSync(join(tmpdir(), 'edge-tta-consumer-'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const t0 = performance.now();
// Set KEEP_CONSUMER_WORK=1 to keep the temp folder for a look after a failure.
process.on('exit', () => process.env.KEEP_CONSUMER_WORK || rmSync(WORK, { recursive: true, force: true }));
const results = { date: new Date().toISOString(), checks: {}, sizes: {}, seconds: {} };

/** Runs a command; resolves with its output, rejects with the output shown when it fails. */
function run(cmd, args, { cwd = ROOT, timeout = 300_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed (exit ${code}):\n${out}`));
    });
  });
}

async function step(name, fn) {
  const start = performance.now();
  const value = await fn();
  const s = (performance.now() - start) / 1000;
  results.seconds[name] = Number(s.toFixed(1));
  console.log(`consumer check: ${name} ok (${s.toFixed(1)} s)`);
  return value;
}

function check(name, ok, detail) {
  results.checks[name] = ok;
  if (!ok) throw new Error(`consumer check: ${name} failed. ${detail ?? ''}`);
}

const npmInstall = (cwd, extra = []) => run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...extra], { cwd, timeout: 400_000 });
const tsc = (cwd, args) => run(join(ROOT, 'node_modules', '.bin', 'tsc'), args, { cwd });

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

// ---------------------------------------------------------------- 0. README quickstart = the examples' code
await step('README quickstart is the examples\' code', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const file of ['node-service/src/service.ts', 'vite-camera/src/main.ts']) {
    const code = readFileSync(join(ROOT, 'examples', file), 'utf8');
    const region = /\/\/ --- quickstart \(README\) ---\n([\s\S]*?)\/\/ --- end quickstart ---/.exec(code);
    check(`examples/${file} has a quickstart region`, region !== null);
    check(`README quickstart holds examples/${file}'s region verbatim`, readme.includes('```ts\n' + region[1] + '```'));
  }
});

// ---------------------------------------------------------------- 1. the tarball
const tarball = await step('pack', async () => {
  const built = join(ROOT, 'dist', 'src', 'index.js');
  const sources = Math.max(...['src', 'strategies', 'workers'].map((d) => newestMtime(join(ROOT, d))));
  if (!existsSync(built) || statSync(built).mtimeMs < sources) await run('npm', ['run', 'build']);
  const [info] = JSON.parse(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', WORK]));
  const files = info.files.map((f) => f.path);
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/backend/kernels/edgeKernelsBinary.generated.js', 'dist/workers/index.js', 'dist/workers/node.js', 'dist/workers/browser.worker.js', 'LICENSE']) {
    check(`tarball holds ${f}`, files.includes(f));
  }
  check('tarball holds no TypeScript sources and no dataset loader', !files.some((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.startsWith('dist/src/data/')));
  results.tarball = { file: info.filename, files: files.length, bytes: info.size, unpackedBytes: info.unpackedSize };
  return join(WORK, info.filename);
});

await step('publint and attw', async () => {
  const unpacked = join(WORK, 'unpacked');
  mkdirSync(unpacked);
  await run('tar', ['xzf', tarball, '-C', unpacked]);
  const publint = await run(join(ROOT, 'node_modules', '.bin', 'publint'), ['run', join(unpacked, 'package'), '--strict', '--pack', 'false']);
  check('publint reports nothing', /All good/i.test(publint), publint);
  // ESM only: the CommonJS modes (node10, node16 from CJS) do not apply. attw exits non-zero on a problem.
  await run(join(ROOT, 'node_modules', '.bin', 'attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped']);
  check('attw reports nothing', true);
});

// ---------------------------------------------------------------- 2. the examples
function copyExample(name) {
  const to = join(WORK, name);
  cpSync(join(ROOT, 'examples', name), to, {
    recursive: true,
    filter: (src) => !/[/\\](node_modules|dist|assets|public|package-lock\.json)$/.test(src),
  });
  const pkgFile = join(to, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  pkg.dependencies['edge-tta'] = `file:${tarball}`;
  writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
  return to;
}

// A temp app on tfjs 4.21 (another 4.x minor than edge-tta's development 4.22).
const minorApp = join(WORK, 'tfjs-4.21-app');
mkdirSync(minorApp);
const TFJS_MINOR = '4.21.0';
writeFileSync(
  join(minorApp, 'package.json'),
  JSON.stringify({
    name: 'tfjs-minor-app', private: true, type: 'module',
    dependencies: Object.fromEntries(['core', 'layers', 'converter', 'backend-wasm'].map((p) => [`@tensorflow/tfjs-${p}`, TFJS_MINOR])),
  }),
);
// The git-URL path: a clean clone of the committed tree (no dist, no node_modules).
const clone = join(WORK, 'clone');
const gitApp = join(WORK, 'git-app');
mkdirSync(gitApp);
writeFileSync(join(gitApp, 'package.json'), JSON.stringify({ name: 'git-app', private: true, type: 'module' }));

const nodeDir = copyExample('node-service');
const viteDir = copyExample('vite-camera');
await step('example assets', () => run(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'examples', 'assets.ts'), '--node', nodeDir, '--vite', viteDir]));
await step('installs (examples, tfjs 4.21 app, git clone)', async () => {
  await run('git', ['clone', '--quiet', '--depth', '1', `file://${ROOT}`, clone]);
  await Promise.all([
    npmInstall(nodeDir),
    npmInstall(viteDir),
    npmInstall(minorApp, [tarball]),
    npmInstall(gitApp, [`git+file://${clone}`, ...['core', 'layers', 'converter', 'backend-wasm'].map((p) => `@tensorflow/tfjs-${p}@4.22.0`)]),
  ]);
});

await step('type-check the examples (node16 and bundler resolution)', async () => {
  for (const dir of [nodeDir, viteDir]) {
    await tsc(dir, ['-p', 'tsconfig.json', '--noEmit', '--module', 'node16', '--moduleResolution', 'node16']);
    await tsc(dir, ['-p', 'tsconfig.json', '--noEmit', '--module', 'esnext', '--moduleResolution', 'bundler']);
  }
  check('examples type-check', true);
});

await step('run examples/node-service', async () => {
  await tsc(nodeDir, ['-p', 'tsconfig.json']);
  const out = await run('node', ['dist/service.js'], { cwd: nodeDir, timeout: 240_000 });
  const m = /bn-adapt on fog-5: ([\d.]+)% of (\d+) frames correct/.exec(out);
  check('node-service runs to completion', m !== null, out);
  results.nodeService = { accuracy: Number(m[1]), frames: Number(m[2]) };
  console.log(`  ${m[0]}`);
});

const viteDist = join(viteDir, 'dist');
await step('vite build examples/vite-camera', async () => {
  const out = await run(join(viteDir, 'node_modules', '.bin', 'vite'), ['build'], { cwd: viteDir });
  check('vite build has no warning and no node: import', !/warn|externalized|node:/i.test(out), out);
  const assets = readdirSync(join(viteDist, 'assets'));
  const main = assets.find((f) => /^index-.*\.js$/.test(f));
  const worker = assets.find((f) => /^browser\.worker-.*\.js$/.test(f));
  check('vite build emits a main and a worker bundle', main !== undefined && worker !== undefined, assets.join(', '));
  for (const [kind, file] of [['main', main], ['worker', worker]]) {
    const code = readFileSync(join(viteDist, 'assets', file));
    const text = code.toString('utf8');
    const count = (s) => text.split(s).length - 1;
    // Unique strings of tfjs-core's engine and of tfjs-layers' Layer: one copy has each once.
    check(`${kind} bundle carries one tfjs-core`, count('The highest priority backend') === 1);
    check(`${kind} bundle carries at most one tfjs-layers`, count('Layer.computeOutputShape') <= 1);
    check(`${kind} bundle carries no webgl backend`, !/WEBGL_|["'`]webgl["'`]/.test(text));
    results.sizes[kind] = { file, bytes: code.length, gzipBytes: gzipSync(code).length };
  }
  for (const f of assets.filter((f) => f.endsWith('.wasm'))) results.sizes[f.replace(/-[\w-]{8}\.wasm$/, '.wasm')] = { bytes: statSync(join(viteDist, 'assets', f)).size };
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`  main bundle ${kb(results.sizes.main.bytes)} (gzip ${kb(results.sizes.main.gzipBytes)}), worker bundle ${kb(results.sizes.worker.bytes)} (gzip ${kb(results.sizes.worker.gzipBytes)})`);
});

await step('examples/vite-camera in Chromium', async () => {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.bin': 'application/octet-stream' };
  const server = createServer((req, res) => {
    const path = join(viteDist, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(viteDist) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    let failed;
    const pageFailed = new Promise((_, reject) => (failed = reject));
    page.on('pageerror', (e) => {
      errors.push(String(e));
      failed(new Error(`consumer check: the Vite app failed in Chromium: ${String(e)}`));
    });
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`http://127.0.0.1:${server.address().port}/?samples`);
    await Promise.race([page.waitForFunction(() => document.body.dataset.done === 'true', null, { timeout: 180_000 }), pageFailed]);
    const state = await page.evaluate(() => ({
      predictions: Number(document.body.dataset.predictions ?? 0),
      accuracy: document.getElementById('accuracy').textContent,
      status: document.getElementById('status').textContent,
    }));
    check('the Vite app shows predictions in Chromium', state.predictions >= 256 && errors.length === 0, JSON.stringify({ state, errors }));
    results.viteCamera = state;
    console.log(`  ${state.predictions} frames adapted, accuracy ${state.accuracy}`);
  } finally {
    await browser.close();
    server.close();
  }
});

// ---------------------------------------------------------------- 3. other installs
const SMOKE = `
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createAdapter, initBackend } from 'edge-tta';
const info = await initBackend();
const model = tfl.sequential({ layers: [
  tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3 }), tfl.layers.batchNormalization(),
  tfl.layers.flatten(), tfl.layers.dense({ units: 3 }) ] });
const adapter = await createAdapter(model, { strategy: 'tent', seed: 1 });
const out = await adapter.step(tf.randomUniform([8, 8, 8, 1], 0, 1, 'float32', 1));
console.log(JSON.stringify({ tfjsCore: tf.version_core, backend: info.backend, edgeKernels: info.edgeKernels, labels: Array.from(out.labels) }));
`;

await step(`app on tfjs ${TFJS_MINOR}: one tfjs copy, adapts`, async () => {
  for (const p of ['core', 'layers', 'converter', 'backend-wasm', 'backend-cpu']) {
    const copies = (await run('npm', ['ls', '--all', '--parseable', `@tensorflow/tfjs-${p}`], { cwd: minorApp })).trim().split('\n').filter(Boolean);
    check(`tfjs ${TFJS_MINOR} app has one @tensorflow/tfjs-${p}`, copies.length === 1, copies.join('\n'));
  }
  writeFileSync(join(minorApp, 'smoke.mjs'), SMOKE);
  const out = JSON.parse((await run('node', ['smoke.mjs'], { cwd: minorApp })).trim().split('\n').pop());
  check(`tfjs ${TFJS_MINOR} app adapts with edge-tta's kernels`, out.tfjsCore === TFJS_MINOR && out.edgeKernels === true && out.labels.length === 8, JSON.stringify(out));
  results.tfjsMinor = out;
});

await step('npm install git+file://<clean clone>: import works', async () => {
  check('the git install built dist', existsSync(join(gitApp, 'node_modules', 'edge-tta', 'dist', 'src', 'index.js')));
  writeFileSync(join(gitApp, 'smoke.mjs'), SMOKE);
  const out = JSON.parse((await run('node', ['smoke.mjs'], { cwd: gitApp })).trim().split('\n').pop());
  check('git install adapts', out.edgeKernels === true && out.labels.length === 8, JSON.stringify(out));
});

results.seconds.total = Number(((performance.now() - t0) / 1000).toFixed(1));
mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
const report = join(ROOT, 'bench-results', 'consumer-check.json');
writeFileSync(report, `${JSON.stringify(results, null, 2)}\n`);
console.log(`consumer check: all ok in ${results.seconds.total} s; results in ${relative(ROOT, report)}`);
