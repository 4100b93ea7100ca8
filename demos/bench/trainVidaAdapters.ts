/**
 * Source-side warm-up of the ViDA adapters for the shipped benchmark model: the backbone is
 * frozen, the adapters (strategies/vidaAdapters.ts, default layers and ranks) are trained on
 * the Fashion-MNIST train split with `warmUpVidaAdapters` (supervised cross-entropy,
 * batch-statistics BN, half of the batches replaced by one CoTTA-augmented view). Writes
 * `<model>/vida-adapters.bin` (edge-tta state format; load it as the `vida` option
 * `adapterWeights`) and `<model>/VIDA_ADAPTERS.md`.
 *
 *   npm run train:vida-adapters -- [--model demos/bench/model] [--steps 400] [--batch 64]
 *     [--lr 0.001] [--augment-prob 0.5] [--seed 1] [--eval 2000] [--high-rank 128]
 *
 * Runs on the wasm backend with edge-tta's gradient kernels.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/initBackend.js';
import { IMAGE_SIZE, loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { batchStatisticsHook } from '../../src/model/batchNorm.js';
import { ModelExecutor, type LayerHook } from '../../src/model/executor.js';
import { Rng } from '../../src/random.js';
import { injectVidaAdapters, warmUpVidaAdapters, type VidaAdapters } from '../../strategies/vidaAdapters.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from './loadModel.js';
import { HELP, UsageError, finite, parseCli, positive, positiveInt, runCli, seedArg } from '../cli.js';

interface Args {
  model: string;
  steps: number;
  batch: number;
  lr: number;
  'augment-prob': number;
  seed: number;
  eval: number;
  'high-rank': number;
}

const USAGE = `Usage: npm run train:vida-adapters -- [options]

Warms up the ViDA adapters of a model on the Fashion-MNIST train split (backbone frozen) and
writes <model>/vida-adapters.bin and <model>/VIDA_ADAPTERS.md.

Options (defaults in brackets):
  --model dir         folder with model.json [demos/bench/model]
  --steps N           training steps [400]
  --batch N           batch size [64]
  --lr X              Adam learning rate [0.001]
  --augment-prob X    share of batches replaced by a CoTTA-augmented view, 0-1 [0.5]
  --seed N            seed [1]
  --eval N            clean test images for the before/after accuracy [2000]
  --high-rank N       rank of the high-rank adapters [128]
  -h, --help          this text`;

/** The warm-up options from `argv`, or 'help'. */
export function parseVidaArgs(argv: string[]): Args | 'help' {
  const str = { type: 'string' } as const;
  const v = parseCli(
    { model: str, steps: str, batch: str, lr: str, 'augment-prob': str, seed: str, eval: str, 'high-rank': str, help: HELP },
    argv,
  );
  if (v.help) return 'help';
  const augment = finite('--augment-prob', v['augment-prob'], 0.5);
  if (augment < 0 || augment > 1) throw new UsageError(`--augment-prob must be between 0 and 1; got '${v['augment-prob']}'.`);
  return {
    model: v.model ?? DEFAULT_MODEL_DIR,
    steps: positiveInt('--steps', v.steps, 400),
    batch: positiveInt('--batch', v.batch, 64),
    lr: positive('--lr', v.lr, 1e-3),
    'augment-prob': augment,
    seed: seedArg('--seed', v.seed, 1),
    eval: positiveInt('--eval', v.eval, 2000),
    'high-rank': positiveInt('--high-rank', v['high-rank'], 128),
  };
}

/**
 * Clean test accuracy on `n` test images taken at a fixed stride (the split is ordered by
 * class), in shuffled batches of 500 (batch statistics need mixed classes), with the given hooks.
 */
function accuracy(exec: ModelExecutor, n: number, hooks?: Map<string, LayerHook>): number {
  const test = loadFashionMnist('test');
  const total = Math.min(n, test.n);
  const stride = Math.floor(test.n / total);
  const all = new Rng(7).shuffle(Int32Array.from({ length: total }, (_, i) => i * stride));
  let correct = 0;
  for (let s = 0; s < total; s += 500) {
    const idx = all.subarray(s, Math.min(total, s + 500));
    const m = idx.length;
    const pred = tf.tidy(() => tf.argMax(exec.logits(tf.tensor4d(toFloat32(test, idx), [m, 28, 28, 1]), { hooks }), 1).dataSync());
    for (let i = 0; i < m; i++) if (pred[i] === test.labels[idx[i]!]) correct++;
  }
  return correct / total;
}

async function main(): Promise<void> {
  const parsed = parseVidaArgs(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const args: Args = parsed;
  const info = await initBackend({ backend: 'wasm' });
  console.log(`backend wasm (simd ${info.simd}, edge kernels ${info.edgeKernels})`);

  const model = await loadSourceModel(args.model);
  const exec = new ModelExecutor(model);
  const adapters: VidaAdapters = injectVidaAdapters(exec.info, { highRank: args['high-rank'], seed: args.seed });
  console.log(`adapters on ${adapters.specs.length} layers: ${adapters.specs.map((s) => `${s.layer} (r ${s.lowRank}/${s.highRank})`).join(', ')}; ${adapters.size} parameters`);
  const before = model.weights.map((w) => w.read().dataSync().slice());

  const bnHooks = new Map<string, LayerHook>(exec.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
  const withAdapters = new Map<string, LayerHook>([...bnHooks, ...adapters.hooks()]);
  const accSource = accuracy(exec, args.eval);
  const accBn = accuracy(exec, args.eval, bnHooks);

  const train = loadFashionMnist('train');
  const rng = new Rng(args.seed);
  const order = rng.shuffle(Int32Array.from({ length: train.n }, (_, i) => i));
  const t0 = Date.now();
  const { losses } = warmUpVidaAdapters(
    exec,
    adapters,
    (step) => {
      const start = (step * args.batch) % (train.n - args.batch);
      const idx = order.subarray(start, start + args.batch);
      const x = tf.tensor4d(toFloat32(train, idx), [args.batch, 28, 28, 1]);
      const labels = Array.from(idx, (i) => train.labels[i]!);
      return { x, labels };
    },
    {
      steps: args.steps,
      lr: args.lr,
      augmentProb: args['augment-prob'],
      seed: args.seed,
      onStep: (step, loss) => {
        if (step % 10 === 0 || step === args.steps - 1) {
          const el = (Date.now() - t0) / 1000;
          console.log(`step ${step}/${args.steps} loss ${loss.toFixed(4)} ${el.toFixed(0)}s (eta ${((el / (step + 1)) * (args.steps - step - 1)).toFixed(0)}s) tensors ${tf.memory().numTensors}`);
        }
      },
    },
  );
  const seconds = (Date.now() - t0) / 1000;
  const accAdapted = accuracy(exec, args.eval, withAdapters);
  const frozen = model.weights.every((w, i) => {
    const now = w.read().dataSync();
    return now.every((v, j) => Object.is(v, before[i]![j]));
  });
  if (!frozen) throw new Error('train:vida-adapters: a backbone weight changed; the backbone must stay frozen.');

  const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / Math.max(1, xs.length);
  const recipe = {
    steps: args.steps,
    batch: args.batch,
    lr: args.lr,
    augmentProb: args['augment-prob'],
    seed: args.seed,
    highRank: args['high-rank'],
    lossFirst25: mean(losses.slice(0, 25)),
    lossLast25: mean(losses.slice(-25)),
    seconds,
  };
  const bytes = adapters.encode({ recipe, model: path.basename(path.resolve(args.model)) });
  const out = path.join(args.model, 'vida-adapters.bin');
  fs.writeFileSync(out, bytes);
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const card = `# ViDA adapters for the benchmark model

Generated by \`npm run train:vida-adapters -- --steps ${args.steps} --batch ${args.batch} --lr ${args.lr} --augment-prob ${args['augment-prob']} --seed ${args.seed} --high-rank ${args['high-rank']}\` (\`demos/bench/trainVidaAdapters.ts\`), ${new Date().toISOString().slice(0, 10)}.
Load \`vida-adapters.bin\` as the \`vida\` option \`adapterWeights\` (default \`layers\`, \`lowRank\`, \`highRank\`).

- Adapters (strategies/vidaAdapters.ts): ${adapters.specs.length} Conv2D layers, ranks (low/high) ${adapters.specs.map((s) => `${s.layer} ${s.lowRank}/${s.highRank}`).join(', ')}; ${adapters.size} parameters, ${(bytes.byteLength / 1024).toFixed(0)} KiB.
- Warm-up: backbone frozen (checked bit for bit after training), BN with batch statistics, Adam lr ${args.lr} on the adapters only, supervised cross-entropy on the Fashion-MNIST train split (seeded order), ${args.steps} steps of ${args.batch} (${args.steps * args.batch} images), each batch replaced with probability ${args['augment-prob']} by one CoTTA-augmented view (no flips). Wall time ${(seconds / 60).toFixed(1)} min on wasm.
- Loss: ${recipe.lossFirst25.toFixed(4)} (first 25 steps) -> ${recipe.lossLast25.toFixed(4)} (last 25).

Clean test accuracy (${Math.min(args.eval, 10001)} test images at a fixed stride, shuffled batches of 500):

| model | accuracy |
|---|---|
| source (moving BN statistics) | ${pct(accSource)} |
| batch-statistics BN, no adapters | ${pct(accBn)} |
| batch-statistics BN + warmed-up adapters | ${pct(accAdapted)} |
`;
  fs.writeFileSync(path.join(args.model, 'VIDA_ADAPTERS.md'), card);
  console.log(card);
  console.log(`wrote ${out} (${bytes.byteLength} bytes)`);
  adapters.dispose();
  model.dispose();
}

await runCli(USAGE, main);
