/**
 * CoTTA's confidence threshold for the shipped model by the authors' rule: the 5% quantile
 * of the source model's confidence on clean source data, minus 0.05 (src/confidenceThreshold.ts).
 *
 *   npx tsx demos/bench/cottaThreshold.ts [--images 10000] [--batch 64] [--seed 1] [--backend wasm] [--model dir] [--write 1]
 *
 * Source data: a seeded random subset of the clean Fashion-MNIST *train* split (the test split
 * is the benchmark stream). Prints the per-batch rule (what CoTTA compares) and, for
 * comparison, the per-image variant and the source-statistics (no batch-stat BN) variant.
 * With `--write 1` it stores the per-batch rule in `<model>/cotta.json`, which the benchmark
 * passes to `cotta` as its `threshold` (as the official code keeps one threshold per dataset
 * config) unless `--opt cotta.threshold=...` overrides it.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadFashionMnist, toTensor } from '../../src/data/fashionMnist.js';
import { cottaThreshold } from '../../src/confidenceThreshold.js';
import { initBackend } from '../../src/index.js';
import { Rng } from '../../src/random.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from './loadModel.js';
import { HELP, oneOf, parseCli, positiveInt, runCli, seedArg } from '../cli.js';

const USAGE = `Usage: npx tsx demos/bench/cottaThreshold.ts [options]

CoTTA's confidence threshold for a model by the authors' rule (5% quantile of the source
confidence on clean source data, minus 0.05).

Options (defaults in brackets):
  --images N     clean train images to measure on [10000]
  --batch N      batch size [64]
  --seed N       seed of the image subset [1]
  --backend b    wasm | cpu [wasm]
  --model dir    folder with model.json [demos/bench/model]
  --write 1      store the per-batch rule in <model>/cotta.json [0]
  -h, --help     this text`;

const OPTIONS = {
  images: { type: 'string' }, batch: { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' }, model: { type: 'string' },
  write: { type: 'string' }, help: HELP,
} as const;

async function main(): Promise<void> {
  const args = parseCli(OPTIONS, process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const images = positiveInt('--images', args.images, 10000);
  const batchSize = positiveInt('--batch', args.batch, 64);
  const seed = seedArg('--seed', args.seed, 1);
  const backend = oneOf('--backend', args.backend, ['wasm', 'cpu'] as const, 'wasm');
  const write = oneOf('--write', args.write, ['0', '1'] as const, '0') === '1';
  await initBackend({ backend });
  const model = await loadSourceModel(args.model);
  const train = loadFashionMnist('train');
  const idx = new Rng(seed).shuffle(Int32Array.from({ length: train.n }, (_, i) => i)).subarray(0, images);
  const x = toTensor(train, idx);
  const rows: Array<[string, ReturnType<typeof cottaThreshold>]> = [
    ['per batch, batch-stat BN (the rule as CoTTA compares it)', cottaThreshold(model, x, { batchSize })],
    ['per image, batch-stat BN', cottaThreshold(model, x, { batchSize, per: 'image' })],
    ['per batch, source BN statistics', cottaThreshold(model, x, { batchSize, batchStatistics: false })],
  ];
  console.log(`clean train images: ${images} (seed ${seed}), batch ${batchSize}, backend ${backend}`);
  for (const [name, r] of rows) {
    console.log(`${name}: mean confidence ${r.meanConfidence.toFixed(4)}, 5% quantile ${r.quantileValue.toFixed(4)}, threshold ${r.threshold.toFixed(4)} (${r.confidences.length} values)`);
  }
  if (write) {
    const [, rule] = rows[0]!;
    const file = path.join(args.model ?? DEFAULT_MODEL_DIR, 'cotta.json');
    const card = {
      threshold: Number(rule.threshold.toFixed(4)),
      rule: '5% quantile of the per-batch mean max-softmax confidence (batch-statistics BN) on clean source data, minus 0.05',
      images,
      batch: batchSize,
      seed,
      backend,
      quantile: Number(rule.quantileValue.toFixed(4)),
      meanConfidence: Number(rule.meanConfidence.toFixed(4)),
      command: `npx tsx demos/bench/cottaThreshold.ts --images ${images} --batch ${batchSize} --seed ${seed} --write 1`,
    };
    fs.writeFileSync(file, `${JSON.stringify(card, null, 2)}\n`);
    console.log(`wrote ${file}: threshold ${card.threshold}`);
  }
  x.dispose();
  model.dispose();
}

await runCli(USAGE, main);
