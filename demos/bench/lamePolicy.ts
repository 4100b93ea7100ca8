/**
 * How LAME's two trust rules were chosen: `maxChanged` (a correction that changes more than this
 * fraction of a batch's labels returns the source prediction) and the guard's `maxShift` (LAME
 * corrects only while the shift detector's distance is below it). Runs each stream once: per
 * batch the source prediction and the shift distance (src/safety/shiftDetector.ts, on the source
 * model), and LAME's correction with both rules off; then replays every pair of candidate values
 * (with the default `classGate` applied) and prints, per stream, the mean error change against
 * source and the worst domain's. A stream is `spec` or `spec@seed`: other seeds draw other test
 * images and corruptions, so seeds other than 1 (the benchmark's) are the validation streams.
 *
 *   npx tsx demos/bench/lamePolicy.ts --per-domain 500 \
 *     --streams dirichlet:0.1@2,dirichlet:0.1@3,dirichlet:0.1@4,class-sorted@2,mixed+dirichlet:0.1@2,dirichlet:0.1,class-sorted,mixed+dirichlet:0.1,continual
 */
import * as tf from '@tensorflow/tfjs';
import { streamFromSpec } from '../../src/data/streams.js';
import { createAdapter } from '../../src/index.js';
import { summarizeProbs } from '../../src/metrics/stepMetrics.js';
import { createTarget } from '../../src/model/target.js';
import { createSourceModel } from '../../src/safety/sourceModel.js';
import { SHIFT_DEFAULTS, ShiftDetector } from '../../src/safety/shiftDetector.js';
import { classGateRatio, LAME_PRIOR_MOMENTUM, lameStrategy } from '../../strategies/lame.js';
import { loadSourceModel } from './loadModel.js';
import { commaList, runCli } from '../cli.js';
import { replayArgs } from './replayArgs.js';

const USAGE =
  'Usage: npx tsx demos/bench/lamePolicy.ts [--per-domain 500] [--batch 64] [--streams spec[@seed],...] [--max-changed 0.2,0.25,1] [--max-shift 0.6,0.9,1e9]';
const OWN = { 'max-changed': { type: 'string' }, 'max-shift': { type: 'string' } } as const;

/** One batch: its domain, size, errors of source and of LAME with both rules off, and the signals. */
interface BatchRecord {
  domain: string;
  n: number;
  sourceWrong: number;
  lameWrong: number;
  changed: number;
  gateRatio: number;
  first: boolean;
  distance: number;
}

async function record(spec: string, seed: number, perDomain: number, batchSize: number): Promise<BatchRecord[]> {
  const model = await loadSourceModel();
  const source = await createSourceModel(createTarget(model));
  const detector = new ShiftDetector({ ...SHIFT_DEFAULTS }, source);
  const lameModel = await loadSourceModel();
  const lame = await createAdapter(lameModel, { strategy: 'lame', guard: false, classGate: 0, maxChanged: 1 });
  const k = lame.numClasses;
  let prior: Float32Array<ArrayBufferLike> = new Float32Array(k);
  const out: BatchRecord[] = [];
  for (const b of streamFromSpec(spec, { seed, perDomain, batchSize })) {
    const n = b.shape[0];
    const x = tf.tensor4d(b.x, b.shape);
    const p = source.probs(x, detector.hooks);
    const probs = (await p.data()) as Float32Array;
    p.dispose();
    x.dispose();
    await detector.measure(true);
    const gate = classGateRatio(probs, n, k, prior, LAME_PRIOR_MOMENTUM);
    prior = gate.prior;
    const corrected = await lame.step({ data: b.x, shape: b.shape });
    const rec: BatchRecord = { domain: b.domain, n, sourceWrong: 0, lameWrong: 0, changed: 0, gateRatio: gate.ratio, first: gate.first, distance: detector.distance };
    const sourceLabels = summarizeProbs(probs, k).labels;
    for (let i = 0; i < n; i++) {
      const s = sourceLabels[i]!;
      rec.sourceWrong += +(s !== b.labels[i]);
      rec.lameWrong += +(corrected.labels[i] !== b.labels[i]);
      rec.changed += +(corrected.labels[i] !== s);
    }
    out.push(rec);
  }
  lame.dispose();
  lameModel.dispose();
  detector.dispose();
  source.dispose();
  model.dispose();
  return out;
}

/** Mean error change against source and the worst domain's (points), LAME's rules replayed. */
function replay(batches: BatchRecord[], maxChanged: number, maxShift: number): { mean: number; worst: number; worstDomain: string; corrected: number } {
  const classGate = lameStrategy.defaults.classGate!;
  const byDomain = new Map<string, { n: number; delta: number }>();
  let n = 0;
  let delta = 0;
  let corrected = 0;
  for (const b of batches) {
    const d = byDomain.get(b.domain) ?? { n: 0, delta: 0 };
    d.n += b.n;
    n += b.n;
    if (!b.first && b.gateRatio < classGate && b.changed <= maxChanged * b.n && b.distance < maxShift) {
      d.delta += b.lameWrong - b.sourceWrong;
      delta += b.lameWrong - b.sourceWrong;
      corrected++;
    }
    byDomain.set(b.domain, d);
  }
  let worst = -Infinity;
  let worstDomain = '';
  for (const [domain, d] of byDomain) {
    const v = (100 * d.delta) / d.n;
    if (v > worst) [worst, worstDomain] = [v, domain];
  }
  return { mean: (100 * delta) / n, worst, worstDomain, corrected: corrected / batches.length };
}

async function main(): Promise<void> {
  const run = await replayArgs(OWN, USAGE, 'dirichlet:0.1@2,dirichlet:0.1@3,class-sorted@2,dirichlet:0.1,class-sorted');
  if (run === null) return;
  const changedValues = commaList(run.args['max-changed'] ?? '0.15,0.2,0.25,0.3,1').map(Number);
  const shiftValues = commaList(run.args['max-shift'] ?? '0.6,0.9,1e9').map(Number);
  const streams: { name: string; batches: BatchRecord[] }[] = [];
  for (const s of run.streams) {
    const at = s.lastIndexOf('@');
    const [spec, seed] = at < 0 ? [s, 1] : [s.slice(0, at), Number(s.slice(at + 1))];
    streams.push({ name: s, batches: await record(spec, seed, run.perDomain, run.batchSize) });
  }
  console.log(`LAME against source, rules replayed (classGate ${lameStrategy.defaults.classGate}; ${run.perDomain} per domain, batch ${run.batchSize}).`);
  console.log('Each cell: mean error change / worst domain change (points; negative is better than source).\n');
  console.log(`| maxChanged | maxShift | ${streams.map((s) => s.name).join(' | ')} |`);
  console.log(`|---|---|${streams.map(() => '---').join('|')}|`);
  for (const c of changedValues) {
    for (const m of shiftValues) {
      const cells = streams.map((s) => {
        const r = replay(s.batches, c, m);
        return `${r.mean.toFixed(2)} / ${r.worst.toFixed(1)}${r.worst > 0 ? ` (${r.worstDomain})` : ''}`;
      });
      console.log(`| ${c} | ${m >= 1e9 ? 'off' : m} | ${cells.join(' | ')} |`);
    }
  }
}

await runCli(USAGE, main);
