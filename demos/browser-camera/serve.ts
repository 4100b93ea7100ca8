/**
 * Server of the browser camera demo: builds the page for production with `build.ts` (from the
 * packaged SDK in `dist/`, minified, content-hashed names) into `demos/browser-camera/dist/`
 * (gitignored), then serves from localhost the page, the bundles, the shipped model
 * (`demos/bench/model/`) and a sample binary of real Fashion-MNIST test images generated on the
 * fly with `src/data/fashionMnist.ts` (nothing is downloaded).
 *
 *   npm run demo:browser -- [--port 8080] [--host 127.0.0.1] [--samples 640] [--dev] (--help lists them)
 *
 * Routes: `/` (the built index.html), `/assets/*` (bundles and .wasm, hashed names),
 * `/model/*`, `/samples.bin`. Caching: `/assets/*` is `immutable` (a new build has new names);
 * the rest is `no-cache` with an ETag, so a reload costs a 304 per file.
 * No COOP/COEP headers: the page is not cross-origin isolated, so tfjs-wasm loads its
 * single-threaded SIMD build and spawns no pthread workers (each lane's worker runs one thread).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../bench/loadModel.js';
import { HELP, nonNegativeInt, parseCli, positiveInt, runCli } from '../cli.js';
import { buildDemo, DIST_DIR } from './build.js';
import { sampleBinary } from './samples.js';

export { sampleBinary };

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  /** TCP port; 0 picks a free one. Defaults to 8080. */
  port?: number;
  /** Interface to listen on. Defaults to `'127.0.0.1'`. */
  host?: string;
  /** Test images in `samples.bin` (a seeded shuffle of the test split, seed 2026). Defaults to 640. */
  samples?: number;
  /** Readable bundles with source maps instead of the minified production build. Defaults to false. */
  dev?: boolean;
  /**
   * Folder the build is written to and served from (emptied first). Defaults to
   * `demos/browser-camera/dist/`; servers running at once (test files in parallel) need one each.
   */
  outDir?: string;
}

/** A running demo server. */
export interface DemoServer {
  /** The page's URL, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  port: number;
  /** Requests served and response body bytes sent so far (to see what a reload fetches again). */
  traffic(): { requests: number; bytes: number };
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

/** Resolves `rel` inside `dir`, refusing paths that climb out of it. */
function inside(dir: string, rel: string): string | null {
  const file = path.resolve(dir, `.${path.posix.normalize(`/${rel}`)}`);
  return file.startsWith(dir + path.sep) ? file : null;
}

/** Builds the demo and starts serving it. */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1';
  const { dir } = await buildDemo({ minify: !(options.dev ?? false), outDir: options.outDir ?? DIST_DIR });
  const samples = sampleBinary(options.samples ?? 640);
  const etags = new Map<string, string>();
  const etag = (key: string, body: Buffer): string => {
    let tag = etags.get(key);
    if (tag === undefined) etags.set(key, (tag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`));
    return tag;
  };

  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    requests++;
    res.setHeader('X-Content-Type-Options', 'nosniff');
    /** Sends `body`; hashed assets are cached for good, the rest is revalidated by ETag. */
    const send = (status: number, body: Buffer | string, type: string, cache: 'immutable' | 'revalidate' | 'none' = 'none'): void => {
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': type };
      if (cache === 'immutable') headers['Cache-Control'] = 'public, max-age=31536000, immutable';
      else if (cache === 'revalidate' && Buffer.isBuffer(body)) {
        const tag = etag(req.url ?? '', body);
        headers['Cache-Control'] = 'no-cache';
        headers['ETag'] = tag;
        if (req.headers['if-none-match'] === tag) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
      } else headers['Cache-Control'] = 'no-store';
      headers['Content-Length'] = Buffer.byteLength(body);
      if (req.method !== 'HEAD') bytes += Buffer.byteLength(body);
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'Method not allowed\n', 'text/plain');
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (pathname === '/' || pathname === '/index.html') return send(200, fs.readFileSync(path.join(dir, 'index.html')), MIME['.html']!, 'revalidate');
    if (pathname === '/samples.bin') return send(200, samples, MIME['.bin']!, 'revalidate');
    if (pathname === '/favicon.ico') return send(204, '', 'text/plain');
    const routes: [prefix: string, dir: string, cache: 'immutable' | 'revalidate'][] = [
      ['/assets/', path.join(dir, 'assets'), 'immutable'],
      ['/model/', DEFAULT_MODEL_DIR, 'revalidate'],
    ];
    for (const [prefix, dir, cache] of routes) {
      if (!pathname.startsWith(prefix)) continue;
      const file = inside(dir, pathname.slice(prefix.length));
      if (file !== null && fs.existsSync(file) && fs.statSync(file).isFile()) {
        return send(200, fs.readFileSync(file), MIME[path.extname(file)] ?? 'application/octet-stream', cache);
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
    traffic: () => ({ requests, bytes }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

const USAGE = `Usage: npm run demo:browser -- [options]

Builds the browser camera demo for production (from the packaged SDK in dist/: run
\`npm run build\` after changing the SDK) and serves it from localhost.

Options (defaults in brackets):
  --port N       TCP port, 0 picks a free one [8080]
  --host H       interface to listen on [127.0.0.1]
  --samples N    test images in samples.bin [640]
  --dev          readable bundles with source maps instead of minified ones
  -h, --help     this text`;

/** The server options from `argv`, or 'help'. */
export function parseServeArgs(argv: string[]): DemoServerOptions | 'help' {
  const v = parseCli(
    { port: { type: 'string' }, host: { type: 'string' }, samples: { type: 'string' }, dev: { type: 'boolean' }, help: HELP },
    argv,
  );
  if (v.help) return 'help';
  const o: DemoServerOptions = {};
  if (v.port !== undefined) o.port = nonNegativeInt('--port', v.port);
  if (v.host !== undefined) o.host = v.host;
  if (v.samples !== undefined) o.samples = positiveInt('--samples', v.samples);
  if (v.dev) o.dev = true;
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
    console.log(`  sample stream, preset: ${server.url}?mode=sample&strategy=tent&strategyB=source&corruption=fog&severity=3&autostart=1`);
    console.log('  (Ctrl+C to stop)');
    process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
  });
}
