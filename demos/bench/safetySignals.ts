/**
 * Per-window traces of the unlabelled signals the safety defaults read, next to the true error:
 * for each window of `--window` steps, the strategy's error (guard off), its agreement with the
 * source weights under batch-statistics BN (the guard's drift reference), its agreement with the
 * source model, the mean normalised entropy, and the LAME gate's statistic (effective classes of the
 * batch's mean source prediction). Used to choose the guard's drift threshold and LAME's gate
 * (docs/safe-adaptation.md).
 *
 *   npx tsx demos/bench/safetySignals.ts --strategy tent --opt lr=0.01 --stream long --per-domain 32 --window 16
 */
import * as tf from '@tensorflow/tfjs';
import { createAdapter, initBackend } from '../../src/index.js';
import { streamFromSpec } from '../../src/data/streams.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { batchStatisticsHook } from '../../src/model/batchNorm.js';
import { summarizeProbs } from '../../src/metrics/stepMetrics.js';
import { loadSourceModel } from './loadModel.js';
import { HELP, parseCli, positiveInt, runCli } from '../cli.js';
import { perDomainArg, strategyArg, streamSpecArg } from './benchArgs.js';

const USAGE = 'Usage: npx tsx demos/bench/safetySignals.ts --strategy s [--opt key=value]... [--stream spec] [--per-domain N] [--batch N] [--window steps]';
const OPTIONS = {
  strategy: { type: 'string' }, opt: { type: 'string', multiple: true }, stream: { type: 'string' }, 'per-domain': { type: 'string' },
  batch: { type: 'string' }, window: { type: 'string' }, help: HELP,
} as const;

function effectiveClasses(p: Float32Array, n: number, k: number): number {
  const mean = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) mean[c] += p[i * k + c]! / n;
  let h = 0;
  for (const v of mean) if (v > 0) h -= v * Math.log(v);
  return Math.exp(h);
}

function q(v: number[]): string {
  const s = [...v].sort((a, b) => a - b);
  const at = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!.toFixed(2);
  return `${at(0)}/${at(0.1)}/${at(0.5)}/${s[s.length - 1]!.toFixed(2)}`;
}

/** Within-batch dispersion of L2-normalised features over the stream's (EMA of batch means, momentum m per batch). */
class DispersionRatio {
  private mean: Float64Array | null = null;
  constructor(private readonly m: number) {}
  ratio(f: Float32Array, n: number): number {
    const d = f.length / n;
    const bm = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += f[i * d + t]! ** 2;
      const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
      for (let t = 0; t < d; t++) bm[t] += (f[i * d + t]! * inv) / n;
    }
    let nb = 0;
    for (let t = 0; t < d; t++) nb += bm[t]! ** 2;
    if (this.mean === null) this.mean = bm.slice();
    else for (let t = 0; t < d; t++) this.mean[t] = (1 - this.m) * this.mean[t]! + this.m * bm[t]!;
    let ns = 0;
    for (let t = 0; t < d; t++) ns += this.mean[t]! ** 2;
    return (1 - nb) / Math.max(1 - ns, 1e-12);
  }
}

/** exp(H(batch mean prediction)) / exp(H(stream's)), the stream's an EMA (momentum m per batch) of the earlier batches' means. */
class ClassRatio {
  private prior: Float64Array | null = null;
  constructor(private readonly m: number) {}
  ratio(p: Float32Array, n: number, k: number): number {
    const bm = new Float64Array(k);
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) bm[c] += p[i * k + c]! / n;
    const eff = (v: Float64Array) => Math.exp(-v.reduce((s, x) => (x > 0 ? s + x * Math.log(x) : s), 0));
    const r = this.prior === null ? 1 : eff(bm) / eff(this.prior);
    if (this.prior === null) this.prior = bm.slice();
    else for (let c = 0; c < k; c++) this.prior[c] = (1 - this.m) * this.prior[c]! + this.m * bm[c]!;
    return r;
  }
}

async function main(): Promise<void> {
  const args = parseCli(OPTIONS, process.argv.slice(2));
  if (args.help) return console.log(USAGE);
  // Flags are checked before the backend starts: a typo fails at once, with the usage.
  const strategy = strategyArg('--strategy', args.strategy);
  const spec = streamSpecArg('--stream', args.stream ?? 'continual');
  const perDomain = perDomainArg(args['per-domain'] ?? '64');
  const batch = positiveInt('--batch', args.batch, 64);
  const window = positiveInt('--window', args.window, 16);
  await initBackend({ backend: 'wasm' });
  const stream = streamFromSpec(spec, { seed: 1, perDomain, batchSize: batch });
  const opts: Record<string, unknown> = {};
  for (const o of args.opt ?? []) {
    const [k, v] = o.split('=') as [string, string];
    try { opts[k] = JSON.parse(v); } catch { opts[k] = v; }
  }
  const model = await loadSourceModel();
  const ref = await loadSourceModel();
  const exec = new ModelExecutor(ref);
  const hooks = new Map(exec.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
  const adapter = await createAdapter(model, { strategy: strategy as never, seed: 1, guard: false, ...opts } as never);
  const k = adapter.numClasses;
  const dispersion = new DispersionRatio(0.1);
  const prior = new ClassRatio(0.3);
  let acc = { steps: 0, n: 0, wrong: 0, refWrong: 0, srcWrong: 0, agreeRef: 0, agreeSrc: 0, ent: 0, eff: [] as number[], ratio: [] as number[], classRatio: [] as number[], domain: '' };
  console.log('step\tdomain\terr\tbnref\tsource\tagreeRef\tagreeSrc\tentropy\teffClassesSrc(min/med/max)\tdispersionRatio(min/q10/med/max)\tclassRatio(min/q10/med/max)');
  let step = 0;
  for (const b of stream) {
    const x = tf.tensor4d(b.x, b.shape);
    const [src, bnref, feats] = tf.tidy(() => {
      const run = exec.run(x);
      return [tf.softmax(run.logits), tf.softmax(exec.logits(x, { hooks })), run.features];
    }).map((t) => { const d = t.dataSync() as Float32Array; t.dispose(); return d; });
    acc.ratio.push(dispersion.ratio(feats!, b.shape[0]));
    acc.classRatio.push(prior.ratio(src!, b.shape[0], k));
    x.dispose();
    const out = await adapter.step({ data: b.x, shape: b.shape });
    const n = b.shape[0];
    const sl = summarizeProbs(src!, k).labels;
    const rl = summarizeProbs(bnref!, k).labels;
    for (let i = 0; i < n; i++) {
      acc.wrong += +(out.labels[i] !== b.labels[i]);
      acc.refWrong += +(rl[i] !== b.labels[i]);
      acc.srcWrong += +(sl[i] !== b.labels[i]);
      acc.agreeRef += +(out.labels[i] === rl[i]);
      acc.agreeSrc += +(out.labels[i] === sl[i]);
    }
    acc.n += n;
    let ent = 0;
    for (let t = 0; t < out.probs.length; t++) if (out.probs[t]! > 0) ent -= out.probs[t]! * Math.log(out.probs[t]!);
    acc.ent += ent / n / Math.log(k);
    acc.eff.push(effectiveClasses(src!, n, k));
    acc.domain ||= b.domain;
    acc.steps++;
    step++;
    if (acc.steps === window) {
      const e = acc.eff.sort((a, c) => a - c);
      const pct = (v: number) => (100 * v / acc.n).toFixed(1);
      console.log(`${step}\t${acc.domain}\t${pct(acc.wrong)}\t${pct(acc.refWrong)}\t${pct(acc.srcWrong)}\t${(acc.agreeRef / acc.n).toFixed(3)}\t${(acc.agreeSrc / acc.n).toFixed(3)}\t${(acc.ent / acc.steps).toFixed(3)}\t${e[0]!.toFixed(2)}/${e[e.length >> 1]!.toFixed(2)}/${e[e.length - 1]!.toFixed(2)}\t${q(acc.ratio)}\t${q(acc.classRatio)}`);
      acc = { steps: 0, n: 0, wrong: 0, refWrong: 0, srcWrong: 0, agreeRef: 0, agreeSrc: 0, ent: 0, eff: [], ratio: [], classRatio: [], domain: '' };
    }
  }
  adapter.dispose();
  model.dispose();
  ref.dispose();
}

await runCli(USAGE, main);
