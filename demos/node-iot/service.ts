/**
 * The IoT demo as a service an operator can watch: a simulated camera (camera.ts) feeds an
 * adapter running in a worker_threads worker (`createWorkerAdapter`; `--in-thread` for
 * `createAdapter`) through the `adapt` operator, and a `node:http` server exposes
 *   GET  /metrics  Prometheus text exposition (prom-client; metrics.ts lists them)
 *   GET  /healthz  200 {"status":"ok",...} while the camera stream runs, 503 otherwise
 *   POST /predict  frames uploaded as bytes (frameUpload.ts) -> the current adapted state's
 *                  predictions (`adapter.predict`: no update), JSON
 * The adapted state is snapshotted to disk every `--snapshot-every` steps (atomic: temp file +
 * rename, snapshotStore.ts) and on shutdown, and restored on start, so a restarted service
 * continues from what it learned (its step count included). A snapshot that cannot be used at
 * start is moved aside (`<file>.rejected-<time>`) and the service starts from the source model,
 * so a bad file never stops it from starting. docs/iot-service.md has the scrape configuration.
 *
 *   npm run demo:iot -- [--port 9464] [--host 127.0.0.1] [--strategy bn-adapt] [--snapshot-every 100] ...
 *   npm run demo:iot -- --help
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { map, tap, type Subscription } from 'rxjs';
import { adapt, createAdapter, DisposedError, initBackend, listStrategies, WorkerFaultError, type Adapter, type StrategyName } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { CLASS_NAMES } from '../../src/data/fashionMnist.js';
import { decodeState } from '../../src/model/weights.js';
import { STREAM_SPECS, streamFromSpec } from '../../src/data/streams.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from '../bench/loadModel.js';
import { parseStrategyOptions, perDomainArg } from '../bench/benchArgs.js';
import { HELP, UsageError, nonNegativeInt, oneOf, parseCli, positive, positiveInt, runCli, seedArg } from '../cli.js';
import { simulatedCamera } from './camera.js';
import { FRAME_BYTES, HttpError, decodeFrames, readBody } from './frameUpload.js';
import { ServiceMetrics, type RestoreResult } from './metrics.js';
import { quarantineSnapshot, readSnapshot, writeSnapshotAtomic } from './snapshotStore.js';

/** Options of {@link startIotService} (the CLI flags, typed). */
export interface IotServiceOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Interface to listen on. Loopback by default: exposing it is the operator's decision. */
  host: string;
  strategy: StrategyName;
  /** The strategy's options (`--opt key=value`). */
  strategyOptions: Record<string, unknown>;
  seed: number;
  /** Camera frames per second. */
  fps: number;
  /** Camera stream spec (continual, mixed, gradual, ...). */
  stream: string;
  /** Frames per domain of the camera's stream. */
  perDomain: number;
  batch: number;
  maxWaitMs: number;
  backpressure: 'buffer' | 'drop-oldest' | 'latest';
  /** Where the adapted state is kept. */
  snapshotPath: string;
  /** Snapshot every N steps; 0 = only on shutdown. */
  snapshotEvery: number;
  /** A larger snapshot file is not restored at start (it is moved aside). */
  snapshotMaxBytes: number;
  /** Most frames one /predict request may carry. */
  maxFramesPerRequest: number;
  /** Run the adapter in the main thread instead of a worker. */
  inThread: boolean;
  /** Folder with model.json. */
  modelDir: string;
  /** Seconds between status lines on stdout; 0 = none. */
  logEvery: number;
}

export const DEFAULT_IOT_OPTIONS: IotServiceOptions = {
  port: 9464,
  host: '127.0.0.1',
  strategy: 'bn-adapt',
  strategyOptions: {},
  seed: 1,
  fps: 120,
  stream: 'continual',
  // Conditions that hold for a while (8 s at 120 fps): with domains of 300 frames the guard's
  // class-correlation detector takes the bursts after each change for class correlation and
  // answers ~40% of batches with the source model (docs/safe-adaptation.md, "Short domains").
  perDomain: 1000,
  batch: 16,
  maxWaitMs: 100,
  backpressure: 'drop-oldest',
  snapshotPath: '.edge-tta/iot-adapter.snapshot',
  snapshotEvery: 100,
  snapshotMaxBytes: 64 * 2 ** 20,
  maxFramesPerRequest: 64,
  inThread: false,
  modelDir: DEFAULT_MODEL_DIR,
  logEvery: 10,
};

/** A running service. */
export interface IotService {
  url: string;
  port: number;
  /** Steps restored from the snapshot at start (0 from source). */
  restoredSteps: number;
  /** How the start-up restore went: `restored`, `none` (no snapshot) or `rejected` (unusable, moved aside; from source). */
  restore: RestoreResult;
  /** Stops the camera, writes a last snapshot, closes the server and the adapter. */
  close(): Promise<void>;
}

/** On close, how long requests in flight may take to be answered before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/** How long a /predict may wait for the adapter before it is answered 503. */
const PREDICT_TIMEOUT_MS = 10_000;

/** Whether `p` settles within `ms` (it is not cancelled otherwise). */
const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });

const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);

/**
 * Starts the camera, the adapter and the HTTP server. If the start fails after the adapter was
 * made (e.g. the port is taken), what was started is stopped and the adapter disposed (its
 * worker with it) before the error is rethrown.
 */
export async function startIotService(options: Partial<IotServiceOptions> = {}): Promise<IotService> {
  const o: IotServiceOptions = { ...DEFAULT_IOT_OPTIONS, ...options };
  streamFromSpec(o.stream, { perDomain: 1, batchSize: 1 }); // fail early on a bad spec
  const adapter: Adapter = o.inThread
    ? await (async () => {
        await initBackend({ backend: 'wasm' });
        const model = await loadSourceModel(o.modelDir);
        try {
          return await createAdapter(model, { strategy: o.strategy, seed: o.seed, ...o.strategyOptions } as never);
        } catch (e) {
          model.dispose(); // a bad --opt: the service does not start, and leaves no weights behind
          throw e;
        }
      })()
    : await createWorkerAdapter({ model: path.join(o.modelDir, 'model.json'), strategy: o.strategy, seed: o.seed, ...o.strategyOptions } as never);
  // What serve() has started, undone in reverse order if the start fails.
  const undo: (() => void)[] = [];
  try {
    return await serve(o, adapter, undo);
  } catch (e) {
    for (const u of undo.reverse()) u();
    adapter.dispose();
    throw e;
  }
}

/**
 * Restores the snapshot at start. A snapshot that cannot be used (too large, not a file,
 * unreadable, or rejected by `adapter.restore`) is moved aside (`quarantineSnapshot`) and the
 * adapter stays at the source model; only an adapter that is gone (its worker crashed or was
 * stopped) fails the start, and then the snapshot is left in place (it may be good).
 */
async function restoreAtStart(o: IotServiceOptions, adapter: Adapter): Promise<{ result: RestoreResult; steps: number }> {
  const setAside = async (e: unknown): Promise<{ result: RestoreResult; steps: number }> => {
    const why = `${(e as Error).name}: ${(e as Error).message}`;
    try {
      const moved = await quarantineSnapshot(o.snapshotPath);
      log(`snapshot ${o.snapshotPath} not usable (${why}); moved to ${moved}; starting from the source model`);
    } catch (r) {
      log(`snapshot ${o.snapshotPath} not usable (${why}); could not move it aside (${(r as Error).message}); starting from the source model`);
    }
    return { result: 'rejected', steps: 0 };
  };
  let saved: Uint8Array | undefined;
  try {
    saved = await readSnapshot(o.snapshotPath, o.snapshotMaxBytes);
  } catch (e) {
    return setAside(e);
  }
  if (!saved) return { result: 'none', steps: 0 };
  try {
    await adapter.restore(saved);
  } catch (e) {
    if (e instanceof WorkerFaultError || e instanceof DisposedError) throw e;
    return setAside(e); // the adapter is left at the source model
  }
  const steps = (await adapter.predict({ data: new Float32Array(FRAME_BYTES), shape: [1, 28, 28, 1] })).steps;
  log(`restored ${o.snapshotPath}: step ${steps}`);
  return { result: 'restored', steps };
}

/** The service around a made adapter; pushes an undo for each thing it starts before it resolves. */
async function serve(o: IotServiceOptions, adapter: Adapter, undo: (() => void)[]): Promise<IotService> {
  const metrics = new ServiceMetrics({ strategy: o.strategy, mode: o.inThread ? 'in-thread' : 'worker' });

  // Restore what a previous run learned.
  const { result: restore, steps: restoredSteps } = await restoreAtStart(o, adapter);
  metrics.restored(restoredSteps, restore);

  // Snapshots: one at a time; a step arriving while one is written is simply not snapshotted.
  let writing: Promise<void> | undefined;
  const takeSnapshot = (): Promise<void> => {
    if (writing) return writing;
    const t0 = performance.now();
    writing = (async () => {
      try {
        const bytes = await adapter.snapshot();
        const steps = decodeState(bytes, { owner: 'iot snapshot' }).meta['stepId'] as number;
        await writeSnapshotAtomic(o.snapshotPath, bytes);
        metrics.snapshot('ok', steps, (performance.now() - t0) / 1000);
      } catch (e) {
        metrics.snapshot('error');
        log(`snapshot failed: ${(e as Error).message}`);
      } finally {
        writing = undefined;
      }
    })();
    return writing;
  };

  let lastStep: { stepId: number; at: number; accuracy?: number; entropy: number; stepMs: number } | undefined;
  let domain = '';
  let streamError: Error | undefined;
  const metricsSub: Subscription = adapter.metrics$.subscribe((r) => {
    metrics.observe(r);
    if (r.kind !== 'step') return;
    lastStep = { stepId: r.stepId, at: Date.now(), accuracy: r.runningAccuracy, entropy: r.meanEntropy, stepMs: r.stepMs };
    if (o.snapshotEvery > 0 && (r.stepId + 1) % o.snapshotEvery === 0) void takeSnapshot();
  });
  undo.push(() => metricsSub.unsubscribe());
  const cameraSub = simulatedCamera({ fps: o.fps, stream: o.stream, perDomain: o.perDomain, seed: o.seed })
    .pipe(
      tap((f) => {
        domain = f.domain;
        metrics.cameraFrame(f.domain);
      }),
      map(({ frame, trueLabel }) => ({ frame, trueLabel })),
      adapt(adapter, { batchSize: o.batch, maxWaitMs: o.maxWaitMs, backpressure: o.backpressure }),
    )
    .subscribe({
      error: (e: Error) => {
        streamError = e;
        log(`camera stream stopped: ${e.name}: ${e.message}`);
      },
    });
  undo.push(() => cameraSub.unsubscribe());

  const startedAt = Date.now();
  let closing = false;
  // requestTimeout / headersTimeout are checked every connectionsCheckingInterval (30 s by
  // default, so a stalled request would be cut 10 to 40 s after it began): check every second.
  const server = http.createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    const route = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: string, type = 'application/json; charset=utf-8') => {
      metrics.request(['/metrics', '/healthz', '/predict'].includes(route) ? route : 'other', status);
      if (closing) res.setHeader('connection', 'close');
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    const fail = (e: unknown) => {
      if (e instanceof HttpError) return send(e.status, JSON.stringify({ error: e.code, message: e.message }));
      log(`${req.method} ${route}: ${(e as Error).name}: ${(e as Error).message}`);
      // An SDK error (e.g. InvalidInputError) is the client's input; anything else is ours.
      const name = (e as Error).name;
      if (name === 'InvalidInputError') return send(400, JSON.stringify({ error: name, message: (e as Error).message }));
      // The adapter is gone (its worker crashed, hung or was stopped; the adapter disposed): not
      // this request's fault, and not something a retry right now fixes.
      if (e instanceof WorkerFaultError || e instanceof DisposedError) {
        return send(503, JSON.stringify({ error: 'AdapterUnavailable', message: `The adapter is not available (${name}); GET /healthz shows why.` }));
      }
      return send(500, JSON.stringify({ error: 'InternalError', message: 'The adapter failed; see the service log.' }));
    };
    const only = (method: string) => {
      if (req.method === method) return true;
      res.setHeader('allow', method);
      send(405, JSON.stringify({ error: 'MethodNotAllowed', message: `${route} takes ${method}; got ${req.method}.` }));
      return false;
    };
    (async () => {
      if (route === '/metrics') {
        if (only('GET')) send(200, await metrics.registry.metrics(), metrics.registry.contentType);
      } else if (route === '/healthz') {
        if (!only('GET')) return;
        const ok = !streamError && !closing;
        send(ok ? 200 : 503, JSON.stringify({
          status: ok ? 'ok' : 'unavailable',
          ...(streamError ? { error: `${streamError.name}: ${streamError.message}` } : {}),
          strategy: o.strategy,
          mode: o.inThread ? 'in-thread' : 'worker',
          steps: lastStep ? lastStep.stepId + 1 : restoredSteps,
          restoredSteps,
          lastStepAgoMs: lastStep ? Date.now() - lastStep.at : null,
          domain,
          uptimeSeconds: (Date.now() - startedAt) / 1000,
        }));
      } else if (route === '/predict') {
        if (!only('POST')) return;
        const body = await readBody(req, o.maxFramesPerRequest * FRAME_BYTES + 64);
        const frames = decodeFrames(body, req.headers['content-type'], o.maxFramesPerRequest);
        // Answered within PREDICT_TIMEOUT_MS: a hung or overloaded adapter is a 503, not a request
        // left open until the worker's own call timeout (5 min).
        const predicted = adapter.predict(frames);
        if (!(await within(predicted.catch(() => undefined), PREDICT_TIMEOUT_MS))) {
          throw new HttpError(503, 'AdapterTimeout', `The adapter did not answer within ${PREDICT_TIMEOUT_MS / 1000} s (GET /healthz shows its last step); try again later.`);
        }
        const out = await predicted;
        send(200, JSON.stringify({
          steps: out.steps,
          // Set when the guard answered with the source model, as a step would now (its reason).
          ...(out.sourceAnswer !== undefined ? { sourceAnswer: out.sourceAnswer } : {}),
          predictions: Array.from(out.labels, (label, i) => ({
            label,
            class: CLASS_NAMES[label] ?? String(label),
            confidence: out.confidence[i],
            probabilities: Array.from(out.probs.subarray(i * out.numClasses, (i + 1) * out.numClasses)),
          })),
        }));
      } else {
        send(404, JSON.stringify({ error: 'NotFound', message: `No route ${route}. Routes: GET /metrics, GET /healthz, POST /predict.` }));
      }
    })().catch(fail);
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  // Longer than a client's idle keep-alive (Prometheus scrapes every 15 s by default; undici
  // drops idle sockets after 4 s), so the client closes first and never reuses a socket the
  // server is closing.
  server.keepAliveTimeout = 30_000;
  undo.push(() => server.close());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;

  const ticker = o.logEvery > 0
    ? setInterval(() => {
        if (!lastStep) return;
        log(`[${domain.padEnd(17)}] step ${lastStep.stepId + 1}  acc ${(100 * (lastStep.accuracy ?? NaN)).toFixed(1)}%  entropy ${lastStep.entropy.toFixed(3)}  step ${lastStep.stepMs.toFixed(1)} ms`);
      }, o.logEvery * 1000)
    : undefined;

  return {
    url,
    port,
    restoredSteps,
    restore,
    async close() {
      if (closing) return;
      closing = true;
      if (ticker) clearInterval(ticker);
      cameraSub.unsubscribe();
      // No new connections; idle keep-alive ones close now, requests in flight are answered
      // (with `Connection: close`) for up to SHUTDOWN_GRACE_MS, then the rest are cut. The last
      // snapshot gets the same time: a hung worker never answers, and the previous one stays.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const snapshotted = within((async () => {
        await writing;
        await takeSnapshot();
      })(), SHUTDOWN_GRACE_MS);
      await within(closed, SHUTDOWN_GRACE_MS);
      server.closeAllConnections();
      await closed;
      if (!(await snapshotted)) log(`last snapshot not written: the adapter did not answer within ${SHUTDOWN_GRACE_MS / 1000} s`);
      metricsSub.unsubscribe();
      adapter.dispose();
    },
  };
}

const USAGE = `Usage: npm run demo:iot -- [options]

The IoT demo service: a simulated camera feeds a worker adapter; GET /metrics (Prometheus),
GET /healthz, POST /predict (frames as bytes); the adapted state is snapshotted to disk and
restored on start. docs/iot-service.md explains each.

Options (defaults in brackets):
  --port N              TCP port, 0 picks a free one [${DEFAULT_IOT_OPTIONS.port}]
  --host H              interface to listen on [${DEFAULT_IOT_OPTIONS.host}]
  --strategy name       ${listStrategies().join(' | ')} [${DEFAULT_IOT_OPTIONS.strategy}]
  --opt key=value       a strategy option, repeatable: --opt stats=ema (value parsed as JSON when it can be)
  --seed N              seed of the strategy and the camera stream [1]
  --fps X               camera frames per second [${DEFAULT_IOT_OPTIONS.fps}]
  --stream spec         the camera's stream: ${STREAM_SPECS} [continual]
  --per-domain N        camera frames per domain [${DEFAULT_IOT_OPTIONS.perDomain}]
  --batch N             frames per adaptation step [${DEFAULT_IOT_OPTIONS.batch}]
  --max-wait MS         longest wait for a full batch [${DEFAULT_IOT_OPTIONS.maxWaitMs}]
  --backpressure p      buffer | drop-oldest | latest [${DEFAULT_IOT_OPTIONS.backpressure}]
  --snapshot path       file of the adapted state [${DEFAULT_IOT_OPTIONS.snapshotPath}]
  --snapshot-every N    snapshot every N steps, 0 = only on shutdown [${DEFAULT_IOT_OPTIONS.snapshotEvery}]
  --snapshot-max-mb N   a larger snapshot file is not restored at start (moved aside) [64]
  --max-frames N        most frames per /predict request [${DEFAULT_IOT_OPTIONS.maxFramesPerRequest}]
  --in-thread           run the adapter in the main thread instead of a worker
  --model dir           folder with model.json [demos/bench/model]
  --log-every S         seconds between status lines, 0 = none [${DEFAULT_IOT_OPTIONS.logEvery}]
  -h, --help            this text`;

/** The service options from `argv`, or 'help'. */
export function parseIotArgs(argv: string[]): IotServiceOptions | 'help' {
  const str = { type: 'string' } as const;
  const v = parseCli(
    {
      port: str, host: str, strategy: str, opt: { type: 'string', multiple: true }, seed: str, fps: str, stream: str, 'per-domain': str, batch: str,
      'max-wait': str, backpressure: str, snapshot: str, 'snapshot-every': str, 'snapshot-max-mb': str, 'max-frames': str,
      'in-thread': { type: 'boolean' }, model: str, 'log-every': str, help: HELP,
    },
    argv,
  );
  if (v.help) return 'help';
  const d = DEFAULT_IOT_OPTIONS;
  const strategy = oneOf('--strategy', v.strategy, listStrategies() as StrategyName[], d.strategy);
  for (const kv of v.opt ?? []) {
    if (!/^\w+=/.test(kv)) throw new UsageError(`--opt takes key=value (an option of --strategy ${strategy}), e.g. --opt stats=ema; got '${kv}'.`);
  }
  const opts = parseStrategyOptions((v.opt ?? []).map((kv) => `${strategy}.${kv}`))[strategy] ?? {};
  if (v.stream !== undefined) {
    try {
      streamFromSpec(v.stream, { perDomain: 1, batchSize: 1 });
    } catch (e) {
      throw new UsageError(`--stream: ${(e as Error).message}`);
    }
  }
  if (v.host !== undefined && v.host.trim() === '') throw new UsageError('--host must name an interface, e.g. 127.0.0.1.');
  return {
    port: nonNegativeInt('--port', v.port, d.port),
    host: v.host ?? d.host,
    strategy,
    strategyOptions: opts,
    seed: seedArg('--seed', v.seed, d.seed),
    fps: positive('--fps', v.fps, d.fps),
    stream: v.stream ?? d.stream,
    perDomain: v['per-domain'] !== undefined ? perDomainArg(v['per-domain']) : d.perDomain,
    batch: positiveInt('--batch', v.batch, d.batch),
    maxWaitMs: nonNegativeInt('--max-wait', v['max-wait'], d.maxWaitMs),
    backpressure: oneOf('--backpressure', v.backpressure, ['buffer', 'drop-oldest', 'latest'] as const, d.backpressure),
    snapshotPath: v.snapshot ?? d.snapshotPath,
    snapshotEvery: nonNegativeInt('--snapshot-every', v['snapshot-every'], d.snapshotEvery),
    snapshotMaxBytes: Math.floor(positive('--snapshot-max-mb', v['snapshot-max-mb'], 64) * 2 ** 20),
    maxFramesPerRequest: positiveInt('--max-frames', v['max-frames'], d.maxFramesPerRequest),
    inThread: v['in-thread'] ?? false,
    modelDir: v.model ?? d.modelDir,
    logEvery: nonNegativeInt('--log-every', v['log-every'], d.logEvery),
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runCli(USAGE, async () => {
    const options = parseIotArgs(process.argv.slice(2));
    if (options === 'help') {
      console.log(USAGE);
      return;
    }
    const service = await startIotService(options);
    // One machine-readable line first (tests and supervisors read the port from it).
    console.log(JSON.stringify({ listening: service.url, restoredSteps: service.restoredSteps, restore: service.restore, strategy: options.strategy }));
    log(`edge-tta IoT service on ${service.url}: GET /metrics, GET /healthz, POST /predict (Ctrl+C to stop)`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: writing a last snapshot and stopping`);
      void service.close().then(() => process.exit(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
