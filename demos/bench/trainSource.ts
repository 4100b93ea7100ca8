/**
 * Trains the benchmark's source model on the Fashion-MNIST train split
 * (59,999 images) with tfjs on the **wasm** backend, then writes
 * `demos/bench/model/{model.json, weights.bin, MODEL_CARD.md}`.
 *
 *   npm run train:source -- [--epochs 4] [--batch 128] [--lr 0.003] [--seed 1] [--out demos/bench/model]
 *
 * Recipe: Adam with a warm-restart cosine schedule (SGDR): one cosine cycle
 * per epoch from a peak that decays 0.7x per epoch to ~0, after a 200-step
 * linear warm-up. Every epoch therefore ends on a fully annealed model, which
 * is saved (with its model card) right away: on a busy machine the run can be
 * stopped after any epoch and the last saved model is a finished one. Categorical
 * cross-entropy, augmentation = random translation of up to 2 px (zero fill).
 * Seeded: initialisers and batch order.
 * The reported test accuracy is the final model's (no selection on test).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadFashionMnist, IMAGE_SIZE, type FashionMnistData } from '../../src/data/fashionMnist.js';
import { Rng } from '../../src/random.js';
import { buildSourceModel, countMacs } from './model.js';
import { loadSourceModel } from './loadModel.js';
import { saveModelFiles } from './saveModel.js';
import { registerEdgeKernels } from '../../src/backend/kernels/index.js';
import { HELP, nonNegativeInt, parseCli, positive, positiveInt, runCli, seedArg } from '../cli.js';

interface Args {
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  out: string;
  limit: number;
  /** Continue from the model in this folder instead of a fresh initialisation. */
  init: string;
  /** Epochs the `init` model already had: the schedule resumes at this epoch. */
  resume: number;
}

const USAGE = `Usage: npm run train:source -- [options]

Trains the benchmark's source model on the Fashion-MNIST train split (wasm backend) and writes
model.json, weights.bin and MODEL_CARD.md after every epoch.

Options (defaults in brackets):
  --epochs N     epochs to train [4]
  --batch N      batch size [128]
  --lr X         peak learning rate of the first epoch [0.003]
  --seed N       seed of initialisers, batch order and augmentation [1]
  --out dir      output folder [demos/bench/model]
  --limit N      train on the first N images only, 0 = all [0]
  --init dir     continue from the model in this folder instead of a fresh initialisation
  --resume N     epochs the --init model already had (the schedule resumes there) [0]
  -h, --help     this text`;

/** The training options from `argv`, or 'help'. */
export function parseTrainArgs(argv: string[]): Args | 'help' {
  const v = parseCli(
    {
      epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
      limit: { type: 'string' }, init: { type: 'string' }, resume: { type: 'string' }, help: HELP,
    },
    argv,
  );
  if (v.help) return 'help';
  return {
    epochs: positiveInt('--epochs', v.epochs, 4),
    batch: positiveInt('--batch', v.batch, 128),
    lr: positive('--lr', v.lr, 0.003),
    seed: seedArg('--seed', v.seed, 1),
    out: v.out ?? 'demos/bench/model',
    limit: nonNegativeInt('--limit', v.limit, 0),
    init: v.init ?? '',
    resume: nonNegativeInt('--resume', v.resume, 0),
  };
}

/** Registers edge-tta's wasm kernels (conv weight gradients, fast stride-1 backprop-input and broadcast Tile). */
async function setupKernels(): Promise<string> {
  const info = await registerEdgeKernels();
  return `edge-tta kernels: ${info.registered.join(', ')}`;
}

/** Fills `out` with an augmented copy of image `idx`: random shift by (dy, dx) in [-2, 2]. */
function augmentInto(d: FashionMnistData, idx: number, out: Float32Array, off: number, rng: Rng): void {
  const dy = rng.int(-2, 3);
  const dx = rng.int(-2, 3);
  const src = idx * IMAGE_SIZE;
  for (let y = 0; y < 28; y++) {
    const sy = y - dy;
    for (let x = 0; x < 28; x++) {
      const sx = x - dx; // no flips: every shoe in Fashion-MNIST faces the same way
      out[off + y * 28 + x] = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? d.images[src + sy * 28 + sx] / 255 : 0;
    }
  }
}

async function evaluate(model: tf.LayersModel, d: FashionMnistData, batch = 500): Promise<number> {
  let correct = 0;
  for (let s = 0; s < d.n; s += batch) {
    const n = Math.min(batch, d.n - s);
    const x = new Float32Array(d.images.subarray(s * IMAGE_SIZE, (s + n) * IMAGE_SIZE)).map((v) => v / 255);
    const pred = tf.tidy(() => (model.predict(tf.tensor4d(x, [n, 28, 28, 1])) as tf.Tensor).argMax(-1));
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < n; i++) if (p[i] === d.labels[s + i]) correct++;
  }
  return correct / d.n;
}

async function main(): Promise<void> {
  const parsed = parseTrainArgs(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    return;
  }
  const args: Args = parsed;
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('train:source: the tfjs wasm backend failed to initialise.');
  await tf.ready();
  const kernels = await setupKernels();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  console.log(`backend wasm (simd ${simd}); conv weight gradients: ${kernels}`);

  const train = loadFashionMnist('train');
  const test = loadFashionMnist('test');
  const rng = new Rng(args.seed);
  const model = args.init ? await loadSourceModel(args.init) : buildSourceModel({ seed: args.seed });
  const macs = countMacs(model);
  console.log(`model ${model.name}: ${model.countParams()} params, ${(macs / 1e6).toFixed(2)} M MACs/image`);

  const nTrain = args.limit > 0 ? Math.min(args.limit, train.n) : train.n;
  const stepsPerEpoch = Math.floor(nTrain / args.batch);
  const totalSteps = stepsPerEpoch * args.epochs;
  const warmup = Math.min(200, Math.floor(stepsPerEpoch / 4));
  const opt = tf.train.adam(args.lr);
  const order = new Int32Array(nTrain).map((_, i) => i);
  const xb = new Float32Array(args.batch * IMAGE_SIZE);
  const yb = new Int32Array(args.batch);
  const t0 = Date.now();
  let step = 0;
  const log: string[] = [];
  for (let epoch = args.resume; epoch < args.resume + args.epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    let lossN = 0;
    for (let b = 0; b < stepsPerEpoch; b++, step++) {
      const peak = args.lr * 0.7 ** epoch;
      const inEpoch = step - (epoch - args.resume) * stepsPerEpoch;
      const lr = step < warmup && epoch === 0
        ? (peak * (step + 1)) / warmup
        : 0.5 * peak * (1 + Math.cos((Math.PI * (inEpoch - (epoch === 0 ? warmup : 0))) / (stepsPerEpoch - (epoch === 0 ? warmup : 0))));
      (opt as unknown as { learningRate: number }).learningRate = lr;
      for (let i = 0; i < args.batch; i++) {
        const idx = order[b * args.batch + i];
        augmentInto(train, idx, xb, i * IMAGE_SIZE, rng);
        yb[i] = train.labels[idx];
      }
      const loss = tf.tidy(() => {
        const x = tf.tensor4d(xb, [args.batch, 28, 28, 1]);
        const y = tf.oneHot(tf.tensor1d(yb, 'int32'), 10);
        return opt.minimize(() => {
          const p = model.apply(x, { training: true }) as tf.Tensor;
          return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), -1))) as tf.Scalar;
        }, true) as tf.Scalar;
      });
      lossSum += (await loss.data())[0];
      lossN++;
      loss.dispose();
      if (step % 50 === 0) {
        const el = (Date.now() - t0) / 1000;
        console.log(
          `epoch ${epoch + 1}/${args.epochs} step ${step}/${totalSteps} lr ${lr.toExponential(2)} loss ${(lossSum / lossN).toFixed(4)} ` +
            `${el.toFixed(0)}s (eta ${((el / (step + 1)) * (totalSteps - step - 1)).toFixed(0)}s) tensors ${tf.memory().numTensors}`,
        );
      }
    }
    const acc = await evaluate(model, test);
    const line = `epoch ${epoch + 1}: train loss ${(lossSum / lossN).toFixed(4)}, test accuracy ${(acc * 100).toFixed(2)}%, ${((Date.now() - t0) / 1000).toFixed(0)}s`;
    console.log(line);
    log.push(line);
    await save(epoch + 1, acc);
  }
  async function save(epochsDone: number, cleanAcc: number): Promise<void> {
  const trainSeconds = (Date.now() - t0) / 1000;
  await saveModelFiles(model, args.out);
  const bytes = fs.statSync(path.join(args.out, 'weights.bin')).size;
  const card = `# Fashion-MNIST source model (edge-tta benchmark)

Generated by \`npm run train:source -- --epochs ${args.epochs} --batch ${args.batch} --lr ${args.lr} --seed ${args.seed}\` on ${new Date().toISOString().slice(0, 10)}.

## Architecture (\`demos/bench/model.ts\`)
Input [28, 28, 1] float32 in [0, 1] (pixel / 255), NHWC.

| block | layers | output |
|---|---|---|
| stem | conv 3x3, 16 ch (no bias) + BN + relu | 28x28x16 |
| stage 1 | residual block, 16 ch, stride 1 (identity shortcut) | 28x28x16 |
| stage 2 | residual block, 32 ch, stride 2 (1x1 conv + BN shortcut) | 14x14x32 |
| stage 3 | residual block, 64 ch, stride 2 (1x1 conv + BN shortcut) | 7x7x64 |
| head | global average pooling, dense 10 with softmax | 10 |

A residual block is conv3x3-BN-relu-conv3x3-BN, plus the shortcut, add, relu. 9 BatchNormalization layers (momentum 0.9, epsilon 1e-5); the final Dense layer has a softmax activation.

- Parameters: ${model.countParams()} (weights.bin ${(bytes / 1024).toFixed(0)} KiB, float32)
- Compute: ${(macs / 1e6).toFixed(2)} M multiply-adds = ${((2 * macs) / 1e6).toFixed(1)} MFLOPs per image (conv + dense; BN/relu/add excluded)

## Training recipe (\`demos/bench/trainSource.ts\`)
- Data: the Fashion-MNIST train split of edge-tta (per class, position < 6000 in \`fashion-mnist\`'s \`src/clothes/<class>.json\`; ${train.n} images${args.limit ? `, first ${nTrain} used` : ''}).
- tfjs ${tf.version_core}, wasm backend (SIMD ${simd}), one thread; conv weight gradients: ${kernels}.
- Adam (beta1 0.9, beta2 0.999); warm-restart cosine schedule: linear warm-up over ${warmup} steps, then one cosine cycle to 0 per epoch, peak ${args.lr} x 0.7^epoch; batch ${args.batch}; categorical cross-entropy.
- Epochs: ${epochsDone} (${epochsDone * stepsPerEpoch} steps)${args.init ? `; epochs ${args.resume + 1}-${epochsDone} continued from the ${args.resume}-epoch model with \`--init ${args.init} --resume ${args.resume} --epochs ${args.epochs}\`` : ''}; the model is saved after every epoch, so a run stopped early ships its last finished epoch.
- Augmentation: random translation by up to 2 px in each direction (zero fill); no flips.
- Seed ${args.seed} (weight initialisers, batch order, augmentation). Wall time ${(trainSeconds / 60).toFixed(1)} min.

## Results
Clean test accuracy (10,001 test images, final weights, no selection on test): **${(cleanAcc * 100).toFixed(2)}%**.

Per epoch:
${log.map((l) => `- ${l}`).join('\n')}

Accuracy under the Fashion-MNIST-C corruptions (severity 5) and with test-time adaptation: see \`docs/benchmark.md\`.
`;
  fs.writeFileSync(path.join(args.out, 'MODEL_CARD.md'), card);
  console.log(`saved ${args.out}/model.json, weights.bin (${bytes} bytes), MODEL_CARD.md after epoch ${epochsDone}; clean test accuracy ${(cleanAcc * 100).toFixed(2)}%`);
  }
}

await runCli(USAGE, main);
