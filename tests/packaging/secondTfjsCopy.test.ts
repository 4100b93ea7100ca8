/**
 * A model built with a second copy of TensorFlow.js (what an app gets when its tfjs and
 * edge-tta's resolve to different installs) is refused by `createAdapter` with a typed error that
 * names the problem, instead of "expected a tf.LayersModel"; `createWorkerAdapter`, which only
 * serialises the model for its worker, runs it. The second copy is real: tfjs-core and
 * tfjs-layers copied into their own node_modules folder and loaded from there.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, UnsupportedModelError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the repo's node_modules, so the copies still find their own dependencies (seedrandom...)
// while '@tensorflow/tfjs-core' from the copied layers resolves to the copied core.
const copyRoot = join(root, 'node_modules', '.cache', 'edge-tta-second-tfjs');

type TfLayers = typeof import('@tensorflow/tfjs-layers');

function loadSecondCopy(): TfLayers {
  rmSync(copyRoot, { recursive: true, force: true });
  for (const [pkg, main] of [['tfjs-core', 'dist/tf-core.node.js'], ['tfjs-layers', 'dist/tf-layers.node.js']] as const) {
    const from = join(root, 'node_modules', '@tensorflow', pkg);
    const to = join(copyRoot, 'node_modules', '@tensorflow', pkg);
    mkdirSync(join(to, 'dist'), { recursive: true });
    cpSync(join(from, 'package.json'), join(to, 'package.json'));
    cpSync(join(from, main), join(to, main));
  }
  const require = createRequire(join(copyRoot, 'index.js'));
  // The copy re-registers its platform and gradients on the shared engine: silence those notices.
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    return require('@tensorflow/tfjs-layers') as TfLayers;
  } finally {
    console.warn = warn;
  }
}

// Explicit layer names: both copies share tfjs's global engine, where each copy's own name
// counter would otherwise hand out the same variable names twice.
let modelCount = 0;
function smallModel(layers: TfLayers['layers'], sequential: TfLayers['sequential']) {
  const p = `m${++modelCount}_`;
  return sequential({
    name: `${p}model`,
    layers: [
      layers.conv2d({ name: `${p}conv`, inputShape: [4, 4, 1], filters: 2, kernelSize: 3, padding: 'same' }),
      layers.batchNormalization({ name: `${p}bn` }),
      layers.flatten({ name: `${p}flat` }),
      layers.dense({ name: `${p}dense`, units: 3 }),
    ],
  });
}

describe('a model from a second TensorFlow.js copy', () => {
  let second: TfLayers;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    second = loadSecondCopy();
  });
  afterAll(() => rmSync(copyRoot, { recursive: true, force: true }));

  it('is a real second copy (instanceof fails), while the same model from our copy is accepted', async () => {
    const foreign = smallModel(second.layers, second.sequential);
    expect(foreign instanceof tf.LayersModel).toBe(false);
    const ours = smallModel(tf.layers, tf.sequential);
    const adapter = await createAdapter(ours, { strategy: 'bn-adapt' });
    expect(adapter.inputShape).toEqual([4, 4, 1]);
    adapter.dispose();
    ours.dispose();
    foreign.dispose();
  });

  it('createAdapter rejects it with UnsupportedModelError naming the second copy and the fix', async () => {
    const foreign = smallModel(second.layers, second.sequential);
    const before = tf.memory().numTensors;
    const err = await createAdapter(foreign as never, { strategy: 'bn-adapt' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedModelError);
    const message = (err as Error).message;
    expect(message).toContain('tf.LayersModel made by a different copy of TensorFlow.js');
    expect(message).toContain(`tfjs-core ${tf.version_core}`);
    expect(message).toContain('npm ls @tensorflow/tfjs-core');
    expect(tf.memory().numTensors).toBe(before);
    foreign.dispose();
  });

  it('createWorkerAdapter accepts it: the model is serialised with its own save() and the worker loads it with its own tfjs', async () => {
    const foreign = smallModel(second.layers, second.sequential);
    expect(foreign instanceof tf.LayersModel).toBe(false);
    // The same weights in a model of our copy, run in-thread: the reference.
    const ours = smallModel(tf.layers, tf.sequential);
    const copies = foreign.getWeights().map((w) => tf.tensor(w.dataSync() as Float32Array, w.shape));
    ours.setWeights(copies);
    tf.dispose(copies);
    const batch = { data: Float32Array.from({ length: 3 * 16 }, (_, i) => Math.sin(i * 0.7)), shape: [3, 4, 4, 1] };
    const inThread = await createAdapter(ours, { strategy: 'bn-adapt' });
    const worker = await createWorkerAdapter({ model: foreign as never, strategy: 'bn-adapt' });
    try {
      const a = await inThread.step(batch);
      const b = await worker.step(batch);
      expect(b.labels).toEqual(a.labels);
      for (let i = 0; i < a.probs.length; i++) expect(Math.abs(b.probs[i]! - a.probs[i]!)).toBeLessThan(1e-5);
    } finally {
      inThread.dispose();
      await worker.terminate();
      ours.dispose();
      foreign.dispose();
    }
  });

  it('a plain object that is no model still gets the ordinary message', async () => {
    const err = await createAdapter({} as never, { strategy: 'bn-adapt' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedModelError);
    expect((err as Error).message).toBe('createAdapter: expected a tf.LayersModel or a tf.GraphModel.');
  });
});
