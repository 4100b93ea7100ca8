/**
 * Server of the browser camera demo: bundles `main.ts` and the Web Worker entry with esbuild
 * into `demos/browser-camera/dist/` (gitignored), then serves from localhost the page, the
 * bundles, the shipped model (`demos/bench/model/`), the tfjs-backend-wasm `.wasm` files and
 * a sample binary of real Fashion-MNIST test images generated on the fly with
 * `src/data/fashionMnist.ts` (nothing is downloaded). Every response carries COOP/COEP headers,
 * so the page is cross-origin isolated and tfjs-wasm may use its threaded build.
 *
 *   npm run demo:browser -- [--port 8080] [--host 127.0.0.1] [--samples 640] [--minify] (--help lists them)
 *
 * Routes: `/` (index.html), `/dist/*` (bundles), `/model/*`, `/wasm/*`, `/samples.bin`.
 * `samples.bin` layout: ASCII magic `ETTASMP1` (8 bytes), uint32 LE count n, n label bytes,
 * then n x 784 pixel bytes (28x28 grey, 0-255, row-major).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { DEFAULT_MODEL_DIR } from '../bench/loadModel.js';
import { HELP, nonNegativeInt, parseCli, positiveInt, runCli } from '../cli.js';
import { sampleBinary } from './samples.js';

export { sampleBinary };

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
/** Where the bundles are written (gitignored). */
export const DIST_DIR = path.join(HERE, 'dist');

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  /** TCP port; 0 picks a free one. Defaults to 8080. */
  port?: number;
  /** Interface to listen on. Defaults to `'127.0.0.1'`. */
  host?: string;
  /** Test images in `samples.bin` (a seeded shuffle of the test split, seed 2026). Defaults to 640. */
  samples?: number;
  /** Minify the bundles. Defaults to false (readable stack traces). */
  minify?: boolean;
}

/** A running demo server. */
export interface DemoServer {
  /** The page's URL, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
};

/** The folder holding tfjs-backend-wasm's `.wasm` files. */
function wasmDir(): string {
  const req = createRequire(import.meta.url);
  // The package's `exports` hide package.json; its main file sits in dist/ next to the .wasm files.
  const main = req.resolve('@tensorflow/tfjs-backend-wasm');
  let dir = path.dirname(main);
  while (!fs.existsSync(path.join(dir, 'tfjs-backend-wasm.wasm'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`Could not find tfjs-backend-wasm's .wasm files near ${main}; reinstall @tensorflow/tfjs-backend-wasm.`);
    dir = path.basename(up) === 'node_modules' ? path.join(dir, 'dist') : up;
  }
  return dir;
}

/**
 * Bundles the page script and the Web Worker entry (`workers/browser.worker.ts`) as ES modules
 * for browsers. Node-only imports (`node:*`) sit behind runtime checks in the SDK and are kept
 * external: they are never loaded in a browser.
 */
export async function bundleDemo(minify = false): Promise<void> {
  fs.mkdirSync(DIST_DIR, { recursive: true });
  await esbuild.build({
    entryPoints: { main: path.join(HERE, 'main.ts'), worker: path.join(ROOT, 'workers', 'browser.worker.ts') },
    outdir: DIST_DIR,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify,
    external: ['node:*'],
    logLevel: 'warning',
  });
}

/** Resolves `rel` inside `dir`, refusing paths that climb out of it. */
function inside(dir: string, rel: string): string | null {
  const file = path.resolve(dir, `.${path.posix.normalize(`/${rel}`)}`);
  return file.startsWith(dir + path.sep) ? file : null;
}

/** Bundles the demo and starts serving it. */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1';
  await bundleDemo(options.minify ?? false);
  const samples = sampleBinary(options.samples ?? 640);
  const wasm = wasmDir();
  const routes: [prefix: string, dir: string][] = [
    ['/dist/', DIST_DIR],
    ['/model/', DEFAULT_MODEL_DIR],
    ['/wasm/', wasm],
  ];

  const server = http.createServer((req, res) => {
    // Cross-origin isolation: SharedArrayBuffer, hence tfjs-wasm threads, need both headers.
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    const send = (status: number, body: Buffer | string, type: string): void => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'Method not allowed\n', 'text/plain');
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (pathname === '/' || pathname === '/index.html') return send(200, fs.readFileSync(path.join(HERE, 'index.html')), MIME['.html']!);
    if (pathname === '/samples.bin') return send(200, samples, MIME['.bin']!);
    if (pathname === '/favicon.ico') return send(204, '', 'text/plain');
    for (const [prefix, dir] of routes) {
      if (!pathname.startsWith(prefix)) continue;
      const file = inside(dir, pathname.slice(prefix.length));
      if (file !== null && fs.existsSync(file) && fs.statSync(file).isFile()) {
        return send(200, fs.readFileSync(file), MIME[path.extname(file)] ?? 'application/octet-stream');
      }
    }
    send(404, `Not found: ${pathname}\n`, 'text/plain');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

const USAGE = `Usage: npm run demo:browser -- [options]

Bundles and serves the browser camera demo from localhost.

Options (defaults in brackets):
  --port N       TCP port, 0 picks a free one [8080]
  --host H       interface to listen on [127.0.0.1]
  --samples N    test images in samples.bin [640]
  --minify       minify the bundles
  -h, --help     this text`;

/** The server options from `argv`, or 'help'. */
export function parseServeArgs(argv: string[]): DemoServerOptions | 'help' {
  const v = parseCli(
    { port: { type: 'string' }, host: { type: 'string' }, samples: { type: 'string' }, minify: { type: 'boolean' }, help: HELP },
    argv,
  );
  if (v.help) return 'help';
  const o: DemoServerOptions = {};
  if (v.port !== undefined) o.port = nonNegativeInt('--port', v.port);
  if (v.host !== undefined) o.host = v.host;
  if (v.samples !== undefined) o.samples = positiveInt('--samples', v.samples);
  if (v.minify) o.minify = true;
  return o;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runCli(USAGE, async () => {
    const options = parseServeArgs(process.argv.slice(2));
    if (options === 'help') {
      console.log(USAGE);
      return;
    }
    const server = await startDemoServer(options);
    console.log(`edge-tta browser camera demo: ${server.url}`);
    console.log(`  sample stream, preset: ${server.url}?mode=sample&strategy=bn-adapt&corruption=gaussian_noise&severity=5&autostart=1`);
    console.log('  (Ctrl+C to stop)');
    process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
  });
}
