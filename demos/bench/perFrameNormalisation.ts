/**
 * Can per-frame normalisation undo the per-image shifts (contrast, fog) that test-time adaptation
 * of BN statistics and parameters cannot? Two probes on the shipped model, without training it,
 * each beside bn-adapt (batch statistics in every BN layer), on the clean test split and on the
 * continual stream:
 * - `input`: every frame standardised to the clean images' average mean and standard deviation
 *   before the model (per-frame contrast and offset removed);
 * - `instance k beta`: the first k BN layers normalise each frame with its own spatial statistics,
 *   mixed with the batch's at weight beta (law of total variance); the others with the batch's.
 * Feeds docs/presets.md ("How close to 15%").
 *
 *   npx tsx demos/bench/perFrameNormalisation.ts --per-domain 300
 */
import * as tf from '@tensorflow/tfjs';
import { streamFromSpec } from '../../src/data/streams.js';
import { batchStatisticsHook } from '../../src/model/batchNorm.js';
import { ModelExecutor, type LayerHook } from '../../src/model/executor.js';
import type { BatchNormInfo } from '../../src/model/introspect.js';
import { loadSourceModel } from './loadModel.js';
import { runCli } from '../cli.js';
import { replayArgs } from './replayArgs.js';

const USAGE = 'Usage: npx tsx demos/bench/perFrameNormalisation.ts [--per-domain 300] [--batch 64]';

/** Each frame's pixel mean and standard deviation. */
function frameMoments(x: Float32Array, n: number): { mean: Float64Array; std: Float64Array } {
  const d = x.length / n;
  const mean = new Float64Array(n);
  const std = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let q = 0;
    for (let t = 0; t < d; t++) {
      const v = x[i * d + t]!;
      s += v;
      q += v * v;
    }
    mean[i] = s / d;
    std[i] = Math.sqrt(Math.max(q / d - mean[i]! ** 2, 0));
  }
  return { mean, std };
}

/** A BN hook normalising with each frame's statistics mixed with the batch's at weight beta. */
function instanceHook(bn: BatchNormInfo, beta: number): LayerHook {
  return ({ inputs }) => {
    const x = inputs[0]!;
    const inst = tf.moments(x, [1, 2], true);
    const batch = tf.moments(x, [0, 1, 2], true);
    const mean = tf.add(tf.mul(inst.mean, beta), tf.mul(batch.mean, 1 - beta));
    const spread = tf.mul(tf.square(tf.sub(inst.mean, batch.mean)), beta * (1 - beta));
    const variance = tf.add(tf.add(tf.mul(inst.variance, beta), tf.mul(batch.variance, 1 - beta)), spread);
    const y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, bn.epsilon)));
    return tf.add(tf.mul(y, bn.gamma ?? tf.scalar(1)), bn.beta ?? tf.scalar(0));
  };
}

async function main(): Promise<void> {
  const run = await replayArgs({}, USAGE, 'continual');
  if (run === null) return;
  const model = await loadSourceModel();
  const exec = new ModelExecutor(model);
  const bns = exec.info.batchNorms;
  // The clean images' average frame mean and standard deviation (train split: seed 2's clean stream).
  let refMean = 0;
  let refStd = 0;
  let frames = 0;
  for (const b of streamFromSpec('clean', { seed: 2, perDomain: 1000, batchSize: 100 })) {
    const m = frameMoments(b.x, b.shape[0]);
    for (let i = 0; i < b.shape[0]; i++) [refMean, refStd, frames] = [refMean + m.mean[i]!, refStd + m.std[i]!, frames + 1];
  }
  [refMean, refStd] = [refMean / frames, refStd / frames];
  const standardise = (x: Float32Array, n: number): Float32Array => {
    const m = frameMoments(x, n);
    const d = x.length / n;
    return Float32Array.from(x, (v, j) => ((v - m.mean[Math.floor(j / d)]!) / Math.max(m.std[Math.floor(j / d)]!, 1e-3)) * refStd + refMean);
  };
  const probes: { name: string; hooks: Map<string, LayerHook>; input?: typeof standardise }[] = [
    { name: 'bn-adapt', hooks: new Map(bns.map((bn) => [bn.name, batchStatisticsHook(bn)])) },
    { name: 'input standardised + bn-adapt', hooks: new Map(bns.map((bn) => [bn.name, batchStatisticsHook(bn)])), input: standardise },
    ...([[1, 1], [1, 0.5], [2, 0.5], [3, 0.5]] as const).map(([k, beta]) => ({
      name: `instance statistics, first ${k} BN, beta ${beta}`,
      hooks: new Map(bns.map((bn, i) => [bn.name, i < k ? instanceHook(bn, beta) : batchStatisticsHook(bn)])),
    })),
  ];
  console.log(`Per-frame normalisation probes (shipped model, ${run.perDomain} per domain, batch ${run.batchSize}, seed 1; clean: 1,000 test images)\n`);
  let header = false;
  for (const probe of probes) {
    const err = new Map<string, [number, number]>();
    for (const spec of ['clean', 'continual']) {
      for (const b of streamFromSpec(spec, { seed: 1, perDomain: spec === 'clean' ? 1000 : run.perDomain, batchSize: run.batchSize })) {
        const n = b.shape[0];
        const data = probe.input?.(b.x, n) ?? b.x;
        const x = tf.tensor4d(data, b.shape);
        const labels = tf.tidy(() => tf.argMax(exec.logits(x, { hooks: probe.hooks }), 1));
        const got = labels.dataSync();
        tf.dispose([x, labels]);
        const e = err.get(b.domain) ?? [0, 0];
        for (let i = 0; i < n; i++) e[0] += +(got[i] !== b.labels[i]);
        e[1] += n;
        err.set(b.domain, e);
      }
    }
    const domains = [...err.keys()].filter((d) => d !== 'clean');
    const pct = (d: string) => (100 * err.get(d)![0]) / err.get(d)![1];
    if (!header) {
      console.log(`| probe | clean | ${domains.map((d) => d.slice(0, 5)).join(' | ')} | mean |`);
      console.log(`|---|---:|${domains.map(() => '---:').join('|')}|---:|`);
      header = true;
    }
    const mean = domains.reduce((s, d) => s + pct(d), 0) / domains.length;
    console.log(`| ${probe.name} | ${pct('clean').toFixed(1)} | ${domains.map((d) => pct(d).toFixed(1)).join(' | ')} | ${mean.toFixed(2)} |`);
  }
  model.dispose();
}

await runCli(USAGE, main);
