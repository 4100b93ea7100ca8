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

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const images = Number(args.get('images') ?? 10000);
const batchSize = Number(args.get('batch') ?? 64);
const seed = Number(args.get('seed') ?? 1);
const backend = (args.get('backend') ?? 'wasm') as 'wasm' | 'cpu';

await initBackend({ backend });
const model = await loadSourceModel(args.get('model'));
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
if (args.get('write') === '1') {
  const [, rule] = rows[0]!;
  const file = path.join(args.get('model') ?? DEFAULT_MODEL_DIR, 'cotta.json');
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
