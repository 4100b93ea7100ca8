/**
 * The benchmark runner shared by `npm run bench` and `npm start`: runs each
 * strategy over the same test stream (a fresh copy of the source model per
 * strategy, no reset between domains), measures error per domain, images/s
 * of `adapter.step` and peak memory, and formats the table / JSON.
 *
 * Strategies that are not in the SDK's registry are reported as
 * "not implemented"; strategies that throw are reported with their error.
 * Nothing is ever filled in for them.
 */
import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createAdapter, initBackend, listStrategies, type BackendInfo } from '../../src/index.js';
import { type DomainName, type StreamSegment, type TestStream, streamFromSpec } from '../../src/data/streams.js';
import type { Severity } from '../../src/corruptions/index.js';
import { loadSourceModel, DEFAULT_MODEL_DIR } from './loadModel.js';

export interface BenchOptions {
  strategies: string[];
  /** Stream spec (see STREAM_SPECS in src/data/streams.ts): continual, gradual, mixed, long, clean, mixed+dirichlet:0.1, ... */
  stream: string;
  perDomain?: number;
  batch: number;
  backend: 'wasm' | 'cpu';
  seed: number;
  severity: Severity;
  modelDir?: string;
  /** Per-strategy options, e.g. { 'alpha-bn': { alpha: 0.3 } }. */
  strategyOptions?: Record<string, Record<string, unknown>>;
  /**
   * Same-process budget calibration: an entry `name@budget` runs with
   * `budget: { maxAdaptMsPerFrame: budgetFraction x adapt time per frame of the entry name }`
   * (its steps that ran the update; steps the guard answered with the source model cost less),
   * measured earlier in this run (so both see the same machine load).
   */
  budgetFraction?: number;
}

export interface StrategyResult {
  strategy: string;
  status: 'ok' | 'not implemented' | 'error';
  error?: string;
  /** Error % per domain, scored by each frame's own domain (so mixed streams too), in stream order. */
  domainError?: Record<string, number>;
  /** Error % per repetition of the sequence (only for streams with more than one round, e.g. `long`). */
  roundError?: number[];
  /** Error % per corruption severity (only for streams with more than one severity, e.g. `gradual`). */
  severityError?: Record<string, number>;
  /** Mean of the per-domain errors (%). */
  meanError?: number;
  images?: number;
  /** Images per second of adapter.step (excludes generating the corrupted data). */
  imagesPerSec?: number;
  /** Peak tf.memory().numBytes after a step. */
  peakTfBytes?: number;
  /** Peak process RSS after a step. */
  peakRssBytes?: number;
  /** max(peakTfBytes, peakRssBytes). */
  peakBytes?: number;
  wallSeconds?: number;
  config?: Record<string, unknown>;
  /** The adapter's `budget` option, when it had one (getConfig() holds the strategy's options only). */
  budget?: { maxAdaptMsPerFrame: number };
  /** Per domain, the mean over its steps of each numeric step statistic (e.g. CoTTA's `augmented`, Tent's `entropy`). */
  domainStats?: Record<string, Record<string, number>>;
  /** The safety layer: update steps run and skipped, guard trips, non-finite steps, shift-detector changes. */
  safety?: SafetySummary;
}

/** What the guard, the shift detector and the budget did during one run (from metrics$ and each step's `update`). */
export interface SafetySummary {
  updatesRun: number;
  stepsSkipped: number;
  /** Skipped steps by reason (budget, shift-none, shift-steady, guard-frozen, guard-trip, non-finite). */
  skippedBy: Record<string, number>;
  /** Guard trips by `signal:action`. */
  guardTrips: Record<string, number>;
  nonFinite: number;
  /** Shift-detector transitions, `from>to` with their step ids. */
  shifts: string[];
  /** Update steps run after the last shift-detector transition. */
  updatesAfterLastShift: number;
  /** Measured adapter.step wall time per image, ms. */
  msPerImage: number;
  /** The same over the steps that ran the update (mode 'adapt'), ms; 0 when none did. */
  adaptMsPerImage: number;
}

export interface BenchResult {
  date: string;
  gitCommit: string;
  gitDirty: boolean;
  backend: BackendInfo['backend'];
  simd: boolean;
  threads: number;
  edgeKernels: boolean;
  node: string;
  tfjs: string;
  seed: number;
  stream: string;
  /** The corruption severity every corrupted frame had; null when there is no single one (gradual plays 1-5, clean none). */
  severity: number | null;
  perDomain: number | 'all';
  batch: number;
  domains: DomainName[];
  domainSizes: number[];
  /** Times the sequence is repeated (10 for `long`). */
  rounds: number;
  /** Segments (domain or 'mixed', severity, round, frames) in play order. */
  segments: StreamSegment[];
  model: string;
  results: StrategyResult[];
}

export interface ProgressEvent {
  strategy: string;
  /** The current batch's domain ('mixed' when its frames come from several). */
  domain: string;
  done: number;
  total: number;
  /** Running error % on the current domain (over the whole stream so far for a mixed batch). */
  domainError: number;
  imagesPerSec: number;
}

function git(cmd: string): string {
  try {
    return execSync(`git ${cmd}`, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** Runs the benchmark. `onProgress` is called after every step. */
export async function runBenchmark(
  opts: BenchOptions,
  onProgress?: (e: ProgressEvent) => void,
  onStrategyDone?: (r: StrategyResult) => void,
): Promise<BenchResult> {
  const info = await initBackend({ backend: opts.backend });
  // Read git state before the run: the commit is the code that produced the numbers.
  const gitCommit = git('rev-parse HEAD');
  const gitDirty = git('status --porcelain --untracked-files=no') !== '';
  const stream: TestStream = streamFromSpec(opts.stream, {
    seed: opts.seed,
    perDomain: opts.perDomain,
    batchSize: opts.batch,
    severity: opts.severity,
  });
  const available = new Set<string>(listStrategies());
  const results: StrategyResult[] = [];
  for (const name of opts.strategies) {
    if (!available.has(baseName(name))) {
      const r: StrategyResult = { strategy: name, status: 'not implemented' };
      results.push(r);
      onStrategyDone?.(r);
      continue;
    }
    let entryOpts = opts;
    if (opts.budgetFraction !== undefined && name.endsWith('@budget')) {
      const base = results.find((x) => x.strategy === baseName(name) && x.status === 'ok');
      if (base?.safety === undefined) throw new Error(`bench: '${name}' needs a finished run of '${baseName(name)}' before it to calibrate its budget.`);
      if (!(base.safety.adaptMsPerImage > 0)) throw new Error(`bench: '${baseName(name)}' ran no update step; '${name}' has no adapt time to calibrate its budget on.`);
      const budget = { maxAdaptMsPerFrame: opts.budgetFraction * base.safety.adaptMsPerImage };
      entryOpts = { ...opts, strategyOptions: { ...opts.strategyOptions, [name]: { ...opts.strategyOptions?.[name], budget } } };
    }
    const r = await runOne(name, stream, entryOpts, onProgress);
    results.push(r);
    onStrategyDone?.(r);
  }
  return {
    date: new Date().toISOString(),
    gitCommit,
    gitDirty,
    backend: info.backend,
    simd: info.simd,
    threads: info.threads,
    edgeKernels: info.edgeKernels,
    node: process.version,
    tfjs: tf.version.tfjs,
    seed: opts.seed,
    stream: stream.name,
    severity: playedSeverity(stream),
    perDomain: opts.perDomain ?? 'all',
    batch: opts.batch,
    domains: [...stream.domains],
    domainSizes: [...stream.domainSizes],
    rounds: stream.rounds,
    segments: stream.segments.map((x) => ({ ...x })),
    model: path.relative(process.cwd(), opts.modelDir ?? DEFAULT_MODEL_DIR) || '.',
    results,
  };
}

/** The severity of the stream's corrupted frames, or null when it has none (clean) or several (gradual). */
function playedSeverity(stream: TestStream): number | null {
  if (stream.domains.every((d) => d === 'clean')) return null;
  const severities = new Set(stream.segments.map((s) => s.severity));
  return severities.size === 1 ? [...severities][0]! : null;
}

/**
 * Options that ship beside the model for one strategy: ViDA's adapters warmed up on source
 * data (`vida-adapters.bin`), CoTTA's confidence threshold by the authors' rule (`cotta.json`,
 * written by demos/bench/cottaThreshold.ts --write 1). `--opt` values override them.
 */
export function shippedStrategyOptions(name: string, modelDir: string): Record<string, unknown> {
  const adapterFile = path.join(modelDir, 'vida-adapters.bin');
  if (name === 'vida' && fs.existsSync(adapterFile)) return { adapterWeights: new Uint8Array(fs.readFileSync(adapterFile)) };
  const cottaFile = path.join(modelDir, 'cotta.json');
  if (name === 'cotta' && fs.existsSync(cottaFile)) return { threshold: (JSON.parse(fs.readFileSync(cottaFile, 'utf8')) as { threshold: number }).threshold };
  return {};
}

/**
 * A strategy entry may carry a label after '@' to run one strategy twice with different options:
 * `tent@noguard` runs `tent` with the options of `--opt tent.*` and then of `--opt tent@noguard.*`.
 */
function baseName(entry: string): string {
  return entry.split('@')[0]!;
}

/**
 * Runs one strategy entry (`name` or `name@label`) over `stream` on a fresh copy of the model:
 * what `runBenchmark` does per strategy, for scripts that bring their own stream (e.g. the
 * validation stream of demos/bench/selectPreset.ts). `opts.stream`, `perDomain` and `batch` are
 * not read: the stream carries them.
 */
export async function runOne(name: string, stream: TestStream, opts: BenchOptions, onProgress?: (e: ProgressEvent) => void): Promise<StrategyResult> {
  const model = await loadSourceModel(opts.modelDir);
  let adapter: Awaited<ReturnType<typeof createAdapter>> | undefined;
  const t0 = Date.now();
  try {
    const base = baseName(name);
    const extra = shippedStrategyOptions(base, opts.modelDir ?? DEFAULT_MODEL_DIR);
    const own = { ...(opts.strategyOptions?.[base] ?? {}), ...(base !== name ? (opts.strategyOptions?.[name] ?? {}) : {}) };
    adapter = await createAdapter(model, { strategy: base as never, seed: opts.seed, ...extra, ...own } as never);
    const config = await adapter.getConfig();
    // Frames are scored by their own domain (a mixed batch spans several), round and severity.
    const domainTally = new Tally<string>();
    const roundTally = new Tally<number>();
    const severityTally = new Tally<number>();
    const severities = new Set(stream.segments.map((s) => s.severity));
    let stepMs = 0;
    let images = 0;
    let allWrong = 0;
    let peakTf = 0;
    let peakRss = 0;
    const statSums = new Map<string, Map<string, { sum: number; n: number }>>();
    const safety: SafetySummary = { updatesRun: 0, stepsSkipped: 0, skippedBy: {}, guardTrips: {}, nonFinite: 0, shifts: [], updatesAfterLastShift: 0, msPerImage: 0, adaptMsPerImage: 0 };
    let [adaptMs, adaptImages] = [0, 0];
    let domain = '';
    const lnC = Math.log(adapter.numClasses);
    adapter.metrics$.subscribe((r) => {
      if (r.kind === 'step') {
        // The guard's entropy signal (mean entropy / ln classes), averaged per domain like the stats.
        const acc = statSums.get(domain)?.get('normEntropy');
        if (acc !== undefined) [acc.sum, acc.n] = [acc.sum + r.meanEntropy / lnC, acc.n + 1];
        else statSums.get(domain)?.set('normEntropy', { sum: r.meanEntropy / lnC, n: 1 });
      } else if (r.kind === 'guard') safety.guardTrips[`${r.signal}:${r.action}`] = (safety.guardTrips[`${r.signal}:${r.action}`] ?? 0) + 1;
      else if (r.kind === 'nonfinite') safety.nonFinite++;
      else if (r.kind === 'shift') {
        safety.shifts.push(`${r.stepId}:${r.from}>${r.to}`);
        safety.updatesAfterLastShift = 0;
      }
    });
    for (const batch of stream) {
      domain = batch.domain;
      if (!statSums.has(domain)) statSums.set(domain, new Map());
      const ts = performance.now();
      const out = await adapter.step({ data: batch.x, shape: batch.shape });
      const ms = performance.now() - ts;
      stepMs += ms;
      const n = batch.shape[0];
      if (out.update.mode === 'adapt') {
        [adaptMs, adaptImages] = [adaptMs + ms, adaptImages + n];
        safety.updatesRun++;
        safety.updatesAfterLastShift++;
      } else {
        safety.stepsSkipped++;
        const why = out.update.reason ?? 'other';
        safety.skippedBy[why] = (safety.skippedBy[why] ?? 0) + 1;
      }
      for (let i = 0; i < n; i++) {
        const wrong = out.labels[i] !== batch.labels[i];
        domainTally.add(batch.frameDomains[i]!, wrong);
        roundTally.add(batch.round, wrong);
        if (batch.frameDomains[i] !== 'clean') severityTally.add(batch.severities[i]!, wrong);
        if (wrong) allWrong++;
      }
      images += n;
      const sums = statSums.get(batch.domain) ?? new Map<string, { sum: number; n: number }>();
      statSums.set(batch.domain, sums);
      for (const [k, v] of Object.entries(out.stats)) {
        if (!Number.isFinite(v)) continue;
        const acc = sums.get(k) ?? { sum: 0, n: 0 };
        acc.sum += v;
        acc.n++;
        sums.set(k, acc);
      }
      peakTf = Math.max(peakTf, tf.memory().numBytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      onProgress?.({
        strategy: name,
        domain: batch.domain,
        done: images,
        total: stream.total,
        domainError: batch.domain === 'mixed' ? (100 * allWrong) / images : domainTally.error(batch.domain),
        imagesPerSec: images / (stepMs / 1000),
      });
    }
    const domainError: Record<string, number> = {};
    for (const d of stream.domains) domainError[d] = domainTally.error(d);
    const errs = Object.values(domainError);
    const domainStats: Record<string, Record<string, number>> = {};
    for (const [d, sums] of statSums) domainStats[d] = Object.fromEntries([...sums].map(([k, a]) => [k, a.sum / a.n]));
    return {
      strategy: name,
      status: 'ok',
      domainError,
      meanError: errs.reduce((a, b) => a + b, 0) / errs.length,
      ...(stream.rounds > 1 ? { roundError: Array.from({ length: stream.rounds }, (_, r) => roundTally.error(r)) } : {}),
      ...(severities.size > 1 ? { severityError: Object.fromEntries([...severities].sort().map((v) => [String(v), severityTally.error(v)])) } : {}),
      images,
      imagesPerSec: images / (stepMs / 1000),
      peakTfBytes: peakTf,
      peakRssBytes: peakRss,
      peakBytes: Math.max(peakTf, peakRss),
      wallSeconds: (Date.now() - t0) / 1000,
      config,
      ...(own.budget !== undefined ? { budget: own.budget as { maxAdaptMsPerFrame: number } } : {}),
      domainStats,
      safety: { ...safety, msPerImage: stepMs / images, adaptMsPerImage: adaptImages > 0 ? adaptMs / adaptImages : 0 },
    };
  } catch (e) {
    return { strategy: name, status: 'error', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  } finally {
    adapter?.dispose();
    model.dispose();
  }
}

/** Wrong / seen counts per key; error() in %. */
class Tally<K> {
  private readonly counts = new Map<K, { wrong: number; seen: number }>();
  add(key: K, wrong: boolean): void {
    const c = this.counts.get(key) ?? { wrong: 0, seen: 0 };
    c.seen++;
    if (wrong) c.wrong++;
    this.counts.set(key, c);
  }
  error(key: K): number {
    const c = this.counts.get(key);
    return c && c.seen > 0 ? (100 * c.wrong) / c.seen : NaN;
  }
}

const SHORT: Record<string, string> = {
  clean: 'clean', gaussian_noise: 'gauss', shot_noise: 'shot', impulse_noise: 'impul', defocus_blur: 'defoc',
  glass_blur: 'glass', motion_blur: 'motn', zoom_blur: 'zoom', snow: 'snow', frost: 'frost', fog: 'fog',
  brightness: 'brit', contrast: 'contr', elastic_transform: 'elast', pixelate: 'pixel', jpeg_compression: 'jpeg',
};

/** What the stream played, for the table's last line: 'severity 5', 'severities 1-5' or 'no corruption'. */
function severityText(res: BenchResult): string {
  if (res.severity !== null) return `severity ${res.severity}`;
  const played = res.segments.filter((s) => s.domain !== 'clean').map((s) => s.severity);
  return played.length === 0 ? 'no corruption' : `severities ${Math.min(...played)}-${Math.max(...played)}`;
}

/** The comparison table (error % per domain, mean, images/s, peak memory) as Markdown. */
export function formatTable(res: BenchResult): string {
  const doms = res.domains;
  const head = ['strategy', ...doms.map((d) => SHORT[d] ?? d), 'mean', 'img/s', 'peak MB'];
  const rows = res.results.map((r) => {
    if (r.status !== 'ok') {
      const msg = r.status === 'error' ? `error: ${r.error}` : 'not implemented';
      return [r.strategy, ...doms.map(() => '-'), '-', '-', '-', msg];
    }
    return [
      r.strategy,
      ...doms.map((d) => r.domainError![d]!.toFixed(1)),
      r.meanError!.toFixed(1),
      r.imagesPerSec!.toFixed(0),
      (r.peakBytes! / 2 ** 20).toFixed(0),
    ];
  });
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.slice(0, head.length).join(' | ')} |${r.length > head.length ? ` ${r[head.length]}` : ''}`),
  ];
  const extra: string[] = [];
  for (const r of res.results) {
    if (r.status !== 'ok') continue;
    if (r.roundError) extra.push(`${r.strategy}: error % by round ${r.roundError.map((e) => e.toFixed(1)).join(' / ')}`);
    const budget = r.budget;
    if (budget && r.safety) {
      const ms = r.safety.msPerImage;
      extra.push(
        `${r.strategy}: budget ${budget.maxAdaptMsPerFrame.toFixed(3)} ms/frame, measured ${ms.toFixed(3)} ms/frame ` +
          `(${((100 * ms) / budget.maxAdaptMsPerFrame).toFixed(1)}% of it), update steps ${r.safety.updatesRun} run / ${r.safety.stepsSkipped} skipped`,
      );
    }
    if (r.severityError) extra.push(`${r.strategy}: error % by severity ${Object.entries(r.severityError).map(([s, e]) => `${s}: ${e.toFixed(1)}`).join(', ')}`);
  }
  const meta =
    `stream ${res.stream} (${severityText(res)}, ${res.perDomain === 'all' ? 'all' : res.perDomain} per domain, ${res.domainSizes.reduce((a, b) => a + b, 0)} images), ` +
    `batch ${res.batch}, seed ${res.seed}, backend ${res.backend} (SIMD ${res.simd}, threads ${res.threads}), commit ${res.gitCommit.slice(0, 10)}${res.gitDirty ? '+dirty' : ''}. ` +
    'Cells: error % (lower is better); img/s: images per second of adapter.step; peak MB: max(tf.memory().numBytes, process RSS).';
  return `${lines.join('\n')}\n${extra.length ? `\n${extra.join('\n')}\n` : ''}\n${meta}`;
}

/** Writes the result JSON to `bench-results/<date>-<stream>.json` (and `extra` if given); returns the paths. */
export function writeJson(res: BenchResult, extra?: string): string[] {
  const dir = path.join(process.cwd(), 'bench-results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${res.date.replace(/[:.]/g, '-')}-${res.stream.replace(/[^a-z0-9_.-]+/gi, '_')}.json`);
  const text = `${JSON.stringify(res, null, 2)}\n`;
  fs.writeFileSync(file, text);
  const out = [file];
  if (extra) {
    fs.mkdirSync(path.dirname(path.resolve(extra)), { recursive: true });
    fs.writeFileSync(extra, text);
    out.push(extra);
  }
  return out;
}

/** A one-line progress bar on stderr (redrawn in place on a TTY, every 10% otherwise). */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (e: ProgressEvent) => void {
  let last = 0;
  let lastDecile = -1;
  return (e) => {
    const frac = e.done / e.total;
    const now = Date.now();
    const line = () => {
      const width = 24;
      const fill = Math.round(frac * width);
      return `${e.strategy.padEnd(9)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(100 * frac).toFixed(0).padStart(3)}% ` +
        `${e.done}/${e.total} ${e.domain} err ${e.domainError.toFixed(1)}% ${e.imagesPerSec.toFixed(0)} img/s`;
    };
    if (stream.isTTY) {
      if (now - last > 100 || e.done === e.total) {
        last = now;
        stream.write(`\r${line().padEnd((stream.columns ?? 120) - 1).slice(0, (stream.columns ?? 120) - 1)}`);
        if (e.done === e.total) stream.write('\n');
      }
    } else {
      const dec = Math.floor(frac * 10);
      if (dec !== lastDecile) {
        lastDecile = dec;
        stream.write(`${line()}\n`);
      }
    }
  };
}
