/**
 * Selects edge-tta's `continual` preset (src/presets.ts) without looking at the test stream.
 *
 * The validation stream is the continual protocol (the 15 corruptions at severity 5, in order,
 * no reset) on images of the Fashion-MNIST **train** split, with another seed (2: other images,
 * other corruption noise, other order). The benchmark's test stream uses only the test split, so
 * the two share no image. The train images are the ones the source model was fitted on: it is
 * more accurate on them (clean), so validation errors are lower than test errors; what the
 * search uses is the ranking of the candidates, which sees the same images for every candidate.
 *
 * The search is greedy over what the SDK offers, cheap candidates first, three stages:
 * 1. **statistics** (forward only): bn-adapt at batch 64 and 128, BN statistics of the batch or
 *    moving (`stats: 'ema'`) at three momenta;
 * 2. **self-training** on the winner's batch size and statistics: Tent, ROID (defaults, and its
 *    documented knobs: a larger learning rate, slower weight ensembling, no consistency loss);
 * 3. **slow**: ViDA with the shipped warmed-up adapters (its statistics are its own);
 * 4. **confirm**: the best candidate of each strategy so far, again on a longer validation stream
 *    (`--confirm-per-domain`, default 1,000 per domain). A short stream gives a method that drifts
 *    over hundreds of steps (Tent) too few steps to drift: the ranking of stages 1-3 is only a
 *    screen, and the confirm stage alone picks the winner.
 * Stages 1-3 may be loaded from an earlier run's JSON (`--from`) instead of run again.
 * The winner is the candidate with the lowest mean validation error; among the candidates within
 * `--tolerance` points of it that are at least {@link SPEED_MARGIN} times as fast, the fastest
 * (images/s of `adapter.step`) is taken, because a difference that small is within the validation
 * noise and speed matters on an edge device (a smaller speed difference is within the timing
 * noise of a shared machine). A candidate that needs files made for this model (ViDA's
 * warmed-up adapters) is run and reported but never the winner: a preset is options that work
 * on any model.
 *
 *   npx tsx demos/bench/selectPreset.ts [--per-domain 500] [--seed 2] [--stages statistics,self-training,slow] [--json out.json]
 *
 * Prints one table per stage and the winner on stdout (progress on stderr) and writes the JSON to
 * bench-results/. The shipped preset and its measured figures are in src/presets.ts and docs/presets.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/index.js';
import { continualStream, parseLabelOrder, type LabelOrder, type TestStream } from '../../src/data/streams.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { HELP, UsageError, oneOf, parseCli, positive, runCli, seedArg } from '../cli.js';
import { perDomainArg } from './benchArgs.js';
import { runOne, type StrategyResult } from './runner.js';

/** One point of the search: a strategy with its options, at a batch size. */
export interface Candidate {
  /** `strategy@what-differs`, unique. */
  label: string;
  batch: number;
  options: { strategy: string } & Record<string, unknown>;
  /** Set when the candidate needs files made for this model (what they are): reported, never the winner. */
  modelFiles?: string;
}

/** How many times as fast a candidate within the tolerance must be to be taken over the best. */
export const SPEED_MARGIN = 1.5;

/** A candidate with its validation result. */
export interface Scored extends Candidate {
  meanError: number;
  imagesPerSec: number;
  domainError: Record<string, number>;
}

export const STAGES = ['statistics', 'self-training', 'slow', 'confirm'] as const;
export type Stage = (typeof STAGES)[number];

/** The BN-statistics options of a candidate (what stages 2 and 3 inherit). */
function statsOf(c: Candidate): Record<string, unknown> {
  return c.options.stats === undefined ? {} : { stats: c.options.stats, statsMomentum: c.options.statsMomentum };
}

const label = (strategy: string, batch: number, extra: Record<string, unknown>) =>
  `${strategy}@b${batch}${Object.entries(extra).map(([k, v]) => `,${k}=${String(v)}`).join('')}`;

const candidate = (strategy: string, batch: number, extra: Record<string, unknown> = {}): Candidate => ({
  label: label(strategy, batch, extra),
  batch,
  options: { strategy, ...extra },
});

/** The candidates of `stage`, given the best candidate so far (null in stage 1). */
export function stageCandidates(stage: Stage, best: Candidate | null): Candidate[] {
  if (stage === 'statistics') {
    return [64, 128].flatMap((b) => [
      candidate('bn-adapt', b),
      ...[0.01, 0.002, 0.0005].map((m) => candidate('bn-adapt', b, { stats: 'ema', statsMomentum: m })),
    ]);
  }
  const batch = best?.batch ?? 64;
  const stats = best ? statsOf(best) : {};
  if (stage === 'self-training') {
    return [
      candidate('tent', batch, stats),
      candidate('roid', batch, stats),
      candidate('roid', batch, { ...stats, lr: 3e-3 }),
      candidate('roid', batch, { ...stats, momentumSrc: 0.999 }),
      candidate('roid', batch, { ...stats, consistency: false }),
    ];
  }
  return [{ ...candidate('vida', batch), modelFiles: "vida-adapters.bin, ViDA's adapters warmed up on this model's source data" }];
}

/**
 * Among the candidates that need no model files: the lowest mean error, unless candidates within
 * `tolerance` points of it are at least `speedMargin` times as fast; then the fastest of those.
 */
export function pickWinner(scored: readonly Scored[], tolerance: number, speedMargin = SPEED_MARGIN): Scored {
  if (scored.length === 0) throw new Error('pickWinner: no candidate ran.');
  const eligible = scored.filter((s) => s.modelFiles === undefined);
  if (eligible.length === 0) throw new Error('pickWinner: no candidate a preset can carry (every one needs model files).');
  const best = eligible.reduce((a, b) => (b.meanError < a.meanError ? b : a));
  const faster = eligible.filter((s) => s.meanError <= best.meanError + tolerance && s.imagesPerSec >= speedMargin * best.imagesPerSec);
  return faster.reduce((a, b) => (b.imagesPerSec > a.imagesPerSec ? b : a), best);
}

/** The best-scoring candidate of each strategy (the confirm stage's finalists), best first. */
export function finalists(scored: readonly Scored[]): Scored[] {
  const best = new Map<string, Scored>();
  for (const s of scored) {
    const b = best.get(s.options.strategy);
    if (b === undefined || s.meanError < b.meanError) best.set(s.options.strategy, s);
  }
  return [...best.values()].sort((a, b) => a.meanError - b.meanError);
}

/** A stream whose batches are generated once and replayed (every candidate sees the same bytes). */
function cached(stream: TestStream): TestStream {
  const batches = [...stream];
  return { ...stream, [Symbol.iterator]: () => batches[Symbol.iterator]() };
}

export const SELECT_USAGE = `Usage: npx tsx demos/bench/selectPreset.ts [options]

Selects the 'continual' preset on a validation stream of Fashion-MNIST *train* images
(continual protocol, severity 5, another seed): disjoint from the benchmark's test stream.

Options (defaults in brackets):
  --per-domain N     validation images per domain [500]
  --seed N           seed of the validation stream (subset, order, corruption noise) [2]
  --order o          label order within each domain: iid | class-sorted | dirichlet[:<δ>] [iid]
  --stages a,b       stages to run, in order: ${STAGES.join(', ')} [all]
  --confirm-per-domain N   validation images per domain of the confirm stage [1000]
  --from file        take the candidates of stages 1-3 from this earlier result JSON
  --tolerance x      pick the fastest candidate within x points of the best [0.2]
  --backend b        wasm | cpu [wasm]
  --json file        also write the result JSON here
  -h, --help         this text`;

export interface SelectOptions {
  perDomain: number;
  seed: number;
  order: LabelOrder;
  stages: Stage[];
  confirmPerDomain: number;
  from?: string;
  tolerance: number;
  backend: 'wasm' | 'cpu';
  json?: string;
}

function parseOrder(spec: string): LabelOrder {
  if (spec === 'iid') return { kind: 'iid' };
  try {
    return parseLabelOrder(spec);
  } catch {
    throw new UsageError(`--order must be iid, class-sorted or dirichlet[:<δ > 0>] (e.g. dirichlet:0.1); got '${spec}'.`);
  }
}

/** The options from `argv`, or `'help'`. */
export function parseSelectArgs(argv: string[]): SelectOptions | 'help' {
  const v = parseCli(
    {
      'per-domain': { type: 'string' },
      seed: { type: 'string' },
      order: { type: 'string' },
      stages: { type: 'string' },
      'confirm-per-domain': { type: 'string' },
      from: { type: 'string' },
      tolerance: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'string' },
      help: HELP,
    } as const,
    argv,
  );
  if (v.help) return 'help';
  const stages = (v.stages ?? STAGES.join(',')).split(',').map((s) => oneOf('--stages', s.trim(), STAGES));
  if (stages.length === 0) throw new UsageError(`--stages needs at least one of ${STAGES.join(', ')}.`);
  return {
    perDomain: perDomainArg(v['per-domain'] ?? '500', '--per-domain', 'train'),
    seed: seedArg('--seed', v.seed, 2),
    order: parseOrder(v.order ?? 'iid'),
    stages,
    confirmPerDomain: perDomainArg(v['confirm-per-domain'] ?? '1000', '--confirm-per-domain', 'train'),
    from: v.from,
    tolerance: v.tolerance === undefined ? 0.2 : positive('--tolerance', v.tolerance),
    backend: oneOf('--backend', v.backend, ['wasm', 'cpu'] as const, 'wasm'),
    json: v.json,
  };
}

async function main(): Promise<void> {
  const o = parseSelectArgs(process.argv.slice(2));
  if (o === 'help') {
    console.log(SELECT_USAGE);
    return;
  }
  await initBackend({ backend: o.backend });
  const train = loadFashionMnist('train');
  const streams = new Map<string, TestStream>();
  const streamFor = (batch: number, perDomain: number): TestStream => {
    let s = streams.get(`${batch}/${perDomain}`);
    if (!s) {
      s = cached(continualStream({ data: train, seed: o.seed, perDomain, batchSize: batch, order: o.order }));
      streams.set(`${batch}/${perDomain}`, s);
    }
    return s;
  };
  const all: (Scored & { stage: Stage; perDomain: number })[] = [];
  const failed: { label: string; error: string }[] = [];
  let best: Scored | null = null;
  if (o.from !== undefined) {
    const prev = JSON.parse(fs.readFileSync(o.from, 'utf8')) as { candidates: (Scored & { stage: Stage; perDomain?: number })[] };
    for (const c of prev.candidates) if (c.stage !== 'confirm') all.push({ ...c, perDomain: c.perDomain ?? o.perDomain });
    best = all.length > 0 ? pickWinner(all, o.tolerance) : null;
    console.error(`loaded ${all.length} candidates from ${o.from}`);
  }
  for (const stage of o.stages) {
    const scored: Scored[] = [];
    const perDomain = stage === 'confirm' ? o.confirmPerDomain : o.perDomain;
    const list = stage === 'confirm' ? finalists(all.filter((c) => c.stage !== 'confirm')).map(({ label, batch, options, modelFiles }) => ({ label, batch, options, ...(modelFiles !== undefined ? { modelFiles } : {}) })) : stageCandidates(stage, best);
    for (const c of list) {
      const { strategy: _strategy, ...own } = c.options;
      const r: StrategyResult = await runOne(c.label, streamFor(c.batch, perDomain), {
        strategies: [c.label],
        stream: 'continual',
        batch: c.batch,
        backend: o.backend,
        seed: o.seed,
        severity: 5,
        strategyOptions: { [c.label]: own },
      });
      if (r.status !== 'ok') {
        failed.push({ label: c.label, error: r.error ?? r.status });
        console.error(`${c.label}: ${r.status} ${r.error ?? ''}`);
        continue;
      }
      const s: Scored = { ...c, meanError: r.meanError!, imagesPerSec: r.imagesPerSec!, domainError: r.domainError! };
      scored.push(s);
      all.push({ ...s, stage, perDomain });
      console.error(`${stage}: ${c.label} mean ${s.meanError.toFixed(2)}% at ${s.imagesPerSec.toFixed(0)} img/s`);
    }
    if (scored.length === 0) continue;
    // The best of every screened candidate so far (not of the stage winners: the tolerance rule is
    // not transitive); the confirm stage's stream differs from the screen's, so its winner alone counts.
    best = stage === 'confirm' ? pickWinner(scored, o.tolerance) : pickWinner(all.filter((c) => c.stage !== 'confirm'), o.tolerance);
    console.log(`\n### stage ${stage}\n\n| candidate | validation mean error % | img/s |\n|---|---:|---:|`);
    for (const s of scored) console.log(`| ${s.label}${s.modelFiles !== undefined ? ` (needs ${s.modelFiles}: not a preset)` : ''} | ${s.meanError.toFixed(2)} | ${s.imagesPerSec.toFixed(0)} |`);
    console.log(`\nbest so far: ${best.label} (${best.meanError.toFixed(2)}%, ${best.imagesPerSec.toFixed(0)} img/s)`);
  }
  if (best === null) throw new Error('No candidate ran.');
  console.log(`\nwinner: ${best.label}\n  batch ${best.batch}, options ${JSON.stringify(best.options)}`);
  const result = {
    date: new Date().toISOString(),
    validation: {
      split: 'train',
      protocol: 'continual',
      order: o.order,
      severity: 5,
      perDomain: o.stages.includes('confirm') ? o.confirmPerDomain : o.perDomain,
      screenPerDomain: o.perDomain,
      seed: o.seed,
    },
    tolerance: o.tolerance,
    backend: o.backend,
    candidates: all,
    failed,
    winner: { label: best.label, batch: best.batch, options: best.options, meanError: best.meanError, imagesPerSec: best.imagesPerSec },
  };
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const files = [path.join('bench-results', `select-preset-${result.date.replace(/[:.]/g, '-')}.json`), ...(o.json ? [o.json] : [])];
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.resolve(f)), { recursive: true });
    fs.writeFileSync(f, text);
  }
  console.error(`results: ${files.join(', ')}`);
}

if (process.argv[1]?.endsWith('selectPreset.ts')) await runCli(SELECT_USAGE, main);
