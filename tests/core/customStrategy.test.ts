/**
 * `registerStrategy` with the example strategy of docs/custom-strategy.md
 * (tests/helpers/exampleStrategy.ts, the same code): registered, typed through `CustomStrategies`,
 * run by `createAdapter` (numbers hand-computed) and by the worker adapter (the worker imports
 * the module through `strategyModules`); with the default guard it corrects class-correlated
 * streams (it declares `streams = 'class-correlated'`) and answers i.i.d. ones with the source model; `predict` with and without the strategy's own;
 * duplicate, malformed and clashing definitions rejected with typed errors listing the choices.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createAdapter,
  initBackend,
  InvalidOptionError,
  InvalidStrategyError,
  listStrategies,
  registerStrategy,
  UnknownStrategyError,
  type Strategy,
} from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { loadFashionMnist, toFloat32 } from '../../src/data/fashionMnist.js';
import { mulberry32 } from '../../src/random.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';
import { priorEma, type PriorEmaOptions } from '../helpers/exampleStrategy.js';
import { plainCnn } from '../helpers/models.js';

declare module '../../src/index.js' {
  interface CustomStrategies {
    'prior-ema': PriorEmaOptions;
    'prior-ema-no-predict': PriorEmaOptions;
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = path.join(here, '../helpers/exampleStrategy.ts');

function makeModel(): tf.LayersModel {
  const model = plainCnn([8, 8, 1], 3);
  model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', 7 + i))));
  return model;
}

const batch = (seed: number) => tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', seed) as tf.Tensor4D;

/** The source model's probabilities (plainCnn ends in a softmax layer), as rows. */
function sourceProbs(model: tf.LayersModel, x: tf.Tensor): number[][] {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);
}

describe('registerStrategy', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    registerStrategy(priorEma);
  });

  it("docs/custom-strategy.md shows exactly tests/helpers/exampleStrategy.ts (bar the import path)", () => {
    const doc = fs.readFileSync(path.join(here, '../../docs/custom-strategy.md'), 'utf8');
    const block = /<!-- example-strategy -->\n```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    const file = fs.readFileSync(EXAMPLE, 'utf8').replace("from '../../src/index.js'", "from 'edge-tta'");
    expect(block).toBe(file);
  });

  it("runs through createAdapter: hand-computed prior updates, predict equals the next step's output", async () => {
    const model = makeModel();
    const adapter = await createAdapter(model, { strategy: 'prior-ema', momentum: 0.25 });
    expect(await adapter.getConfig()).toEqual({ strategy: 'prior-ema', momentum: 0.25 });
    const [x1, x2] = [batch(1), batch(2)];
    const p1 = sourceProbs(model, x1);
    const p2 = sourceProbs(model, x2);
    // Step 1: uniform prior, so the output is the model's softmax; then prior = 0.75 u + 0.25 mean(p1).
    const s1 = await adapter.step(x1);
    p1.flat().forEach((v, i) => expect(s1.probs[i]).toBeCloseTo(v, 6));
    const prior = [0, 1, 2].map((k) => 0.75 / 3 + 0.25 * (p1.reduce((a, r) => a + r[k]!, 0) / 4));
    expect(s1.stats.priorMax).toBeCloseTo(Math.max(...prior), 6);
    const expected2 = p2.map((r) => {
      const q = r.map((v, k) => v * prior[k]!);
      const z = q.reduce((a, b) => a + b, 0);
      return q.map((v) => v / z);
    });
    const before = tf.memory().numTensors;
    const predicted = await adapter.predict(x2);
    expect(tf.memory().numTensors).toBe(before);
    expected2.flat().forEach((v, i) => expect(predicted.probs[i]).toBeCloseTo(v, 6));
    const s2 = await adapter.step(x2);
    expect(Array.from(s2.probs)).toEqual(Array.from(predicted.probs));
    // Snapshot / restore / reset go through the strategy's own code and the adapter's checks.
    const bytes = await adapter.snapshot();
    await adapter.reset();
    expect(Array.from((await adapter.predict(x1)).probs)).toEqual(Array.from(s1.probs));
    await adapter.restore(bytes);
    expect((await adapter.step(x1)).stepId).toBe(2);
    tf.dispose([x1, x2]);
    adapter.dispose();
  });

  it("with the default guard it corrects a class-correlated stream and answers an i.i.d. one with the source model ('iid-stream')", async () => {
    // Real images (Fashion-MNIST test split) and the shipped model, batches of 32: the guard's
    // class-correlation detector observes batches of 16+ frames.
    const test = loadFashionMnist('test');
    const B = 32;
    const byClass = Array.from({ length: 10 }, (_, c) => Array.from({ length: test.n }, (_, i) => i).filter((i) => test.labels[i] === c));
    const rand = mulberry32(5);
    const run = async (batches: number[][]): Promise<string[]> => {
      const adapter = await createAdapter(await loadSourceModel(), { strategy: 'prior-ema' });
      const source = await createAdapter(await loadSourceModel(), { strategy: 'source', guard: false });
      const answers: string[] = [];
      try {
        for (const idx of batches) {
          const batch = { data: toFloat32(test, idx), shape: [B, 28, 28, 1] as [number, number, number, number] };
          const [out, src] = [await adapter.step(batch), await source.step(batch)];
          answers.push(out.update.mode === 'source' ? `source:${out.update.reason}` : out.update.mode);
          if (out.update.mode === 'source') expect(Math.max(...Array.from(out.probs, (v, i) => Math.abs(v - src.probs[i]!)))).toBeLessThan(1e-5);
        }
      } finally {
        adapter.dispose();
        source.dispose();
      }
      return answers;
    };
    // One class at a time (the label shift it is for): corrected from the first batch on.
    const sorted = await run(Array.from({ length: 30 }, (_, k) => byClass[k % 10]!.slice(Math.floor(k / 10) * B, (Math.floor(k / 10) + 1) * B)));
    expect(sorted).toEqual(Array(30).fill('adapt'));
    // i.i.d. labels: corrected while the detector starts, then the source answer once it knows.
    const iid = await run(Array.from({ length: 80 }, () => Array.from({ length: B }, () => Math.floor(rand() * test.n))));
    expect(iid[0]).toBe('adapt');
    expect(iid.slice(-5)).toEqual(Array(5).fill('source:iid-stream'));
  });

  it('a strategy without predict gets the snapshot / step / restore fallback: same predictions, state unchanged', async () => {
    registerStrategy({
      ...priorEma,
      name: 'prior-ema-no-predict',
      create: (target, config, context) => {
        const inner = priorEma.create(target, config, context) as Strategy<Required<PriorEmaOptions>>;
        // The same object without its predict method (its own step still calls it on the target).
        return new Proxy(inner, {
          get: (t, k) => {
            if (k === 'predict') return undefined;
            const v = Reflect.get(t, k, t) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
          },
        });
      },
    });
    const model = makeModel();
    const a = await createAdapter(model, { strategy: 'prior-ema-no-predict' });
    const b = await createAdapter(makeModel(), { strategy: 'prior-ema' }); // one adapter per model: a second, identical copy
    const xs = [batch(3), batch(4), batch(5)];
    await a.step(xs[0]!);
    await b.step(xs[0]!);
    const pa = await a.predict(xs[1]!);
    const pb = await b.predict(xs[1]!);
    expect(Array.from(pa.probs)).toEqual(Array.from(pb.probs));
    expect(pa.steps).toBe(1);
    expect(Array.from((await a.step(xs[2]!)).probs)).toEqual(Array.from((await b.step(xs[2]!)).probs));
    // (Snapshot bytes differ by the strategy name they carry; the states agree on what they predict.)
    expect(Array.from((await a.predict(xs[0]!)).probs)).toEqual(Array.from((await b.predict(xs[0]!)).probs));
    tf.dispose(xs);
    a.dispose();
    b.dispose();
  });

  it('duplicate, built-in, malformed and clashing definitions throw InvalidStrategyError; unknown names list the registered ones', async () => {
    const err = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return e as Error;
      }
      throw new Error('did not throw');
    };
    const dup = err(() => registerStrategy(priorEma));
    expect(dup).toBeInstanceOf(InvalidStrategyError);
    expect(dup.message).toMatch(/a strategy named 'prior-ema' is already registered\. Registered strategies: 'source', .*'prior-ema'/);
    expect(err(() => registerStrategy({ ...priorEma, name: 'tent' })).message).toMatch(/'tent' is already registered \(it is built in\)/);
    expect(err(() => registerStrategy({ ...priorEma, name: 'x', defaults: { seed: 1 } } as never)).message).toMatch(/options named like adapter or worker options \(seed\)/);
    expect(err(() => registerStrategy({ ...priorEma, name: 'y', create: undefined } as never)).message).toMatch(/'y' has no create/);
    expect(err(() => registerStrategy({ ...priorEma, name: '' } as never)).message).toMatch(/the name is ""/);
    expect(listStrategies()).not.toContain('x');
    const unknown = await createAdapter(makeModel(), { strategy: 'prior-emma' } as never).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(UnknownStrategyError);
    expect((unknown as Error).message).toMatch(/Valid strategies: .*'prior-ema'/);
    await expect(createAdapter(makeModel(), { strategy: 'prior-ema', momentum: 2 })).rejects.toThrow(InvalidOptionError);
  });

  it('runs in a worker that imports the module (strategyModules): the same outputs as in-thread', async () => {
    const model = makeModel();
    const local = await createAdapter(model, { strategy: 'prior-ema', momentum: 0.5 });
    const worker = await createWorkerAdapter({ model, strategy: 'prior-ema', momentum: 0.5, strategyModules: [EXAMPLE] });
    try {
      for (let i = 0; i < 3; i++) {
        const x = batch(10 + i);
        const [w, l] = [await worker.step(x), await local.step(x)];
        expect(Array.from(w.probs)).toEqual(Array.from(l.probs));
        x.dispose();
      }
      const x = batch(20);
      expect(Array.from((await worker.predict(x)).probs)).toEqual(Array.from((await local.predict(x)).probs));
      x.dispose();
      // A module that cannot be imported: a typed error from the worker.
      const bad = await createWorkerAdapter({ model, strategy: 'prior-ema', strategyModules: [path.join(here, 'missing.js')] }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(InvalidStrategyError);
      expect((bad as Error).message).toMatch(/could not import strategy module/);
    } finally {
      local.dispose();
      await worker.terminate();
    }
  });
});
