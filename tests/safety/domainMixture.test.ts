/**
 * The guard's domain-mixture detector (`guard.mixtureGate`, `src/safety/domainMixture.ts`):
 * - the stream rate from a prior of 0, hand-computed: t mixed chunks in a row give t / (8 + t), so
 *   the stream turns mixed at the fourth (0.33 >= 0.3);
 * - on real corrupted Fashion-MNIST images and the shipped model, every answer of a guarded
 *   bn-adapt adapter against a second computation of the detector: the BN layers' inputs from
 *   tfjs-layers' own `predict` on a truncated model (not the executor's hooks), the per-frame
 *   variances, logs and pooled variances in float64, and the rate. The stream that mixes all
 *   fifteen corruptions turns mixed (source answers, reason 'domain-mixed'); one domain at a time
 *   (contrast, whose frames all lose their texture energy alike; noise; clean) never does;
 * - LAME and source are not gated; `mixtureGate: 0` turns the detector off; bad values are
 *   typed errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, GUARD_DEFAULTS, initBackend } from '../../src/index.js';
import { streamFromSpec } from '../../src/data/streams.js';
import { StreamRate } from '../../src/safety/streamRate.js';
import { DomainMixture, MIXTURE_PRIOR_RATE } from '../../src/safety/domainMixture.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';

const B = 32;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** A second computation of the detector, float64, from the documented rule. */
class Oracle {
  private readonly probe: tf.LayersModel;
  private readonly eps: number[];
  private logs: number[][][] = []; // per layer: per frame: per channel ln(v + eps)
  rate = 0;
  mixed = false;
  t = 0;
  lastStatistic = Number.NaN;

  constructor(model: tf.LayersModel, private readonly gate = 0.35) {
    const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization' && (l.input as tf.SymbolicTensor).shape.length === 4);
    const first = bns.slice(0, Math.ceil(bns.length / 2));
    this.eps = first.map((l) => (l.getConfig() as { epsilon: number }).epsilon);
    this.probe = tf.model({ inputs: model.inputs, outputs: first.map((l) => l.input as tf.SymbolicTensor) });
    this.logs = first.map(() => []);
  }

  observe(x: Float32Array, n: number): boolean {
    // Read outside tf.tidy: tidy walks whatever its function returns, typed arrays included.
    const input = tf.tensor4d(x, [n, 28, 28, 1]);
    const predicted = this.probe.predict(input);
    const tensors = Array.isArray(predicted) ? predicted : [predicted];
    const outs = tensors.map((t) => ({ data: new Float64Array(t.dataSync()), shape: t.shape as number[] }));
    tf.dispose([input, ...tensors]);
    outs.forEach(({ data, shape }, l) => {
      const [, h, w, c] = shape as [number, number, number, number];
      for (let i = 0; i < n; i++) {
        const row: number[] = [];
        for (let k = 0; k < c; k++) {
          let s = 0;
          let q = 0;
          for (let p = 0; p < h * w; p++) {
            const v = data[(i * h * w + p) * c + k]!;
            s += v;
            q += v * v;
          }
          const mean = s / (h * w);
          row.push(Math.log(q / (h * w) - mean * mean + this.eps[l]!));
        }
        this.logs[l]!.push(row);
      }
    });
    if (this.logs[0]!.length < 64) return this.mixed;
    let total = 0;
    for (const frames of this.logs) {
      const c = frames[0]!.length;
      let layer = 0;
      for (let k = 0; k < c; k++) {
        const col = frames.map((r) => r[k]!);
        const m = col.reduce((a, v) => a + v, 0) / col.length;
        layer += col.reduce((a, v) => a + (v - m) ** 2, 0) / (col.length - 1);
      }
      total += layer / c;
    }
    const stat = total / this.logs.length;
    this.lastStatistic = stat;
    this.logs = this.logs.map(() => []);
    this.t++;
    const m = Math.max(1 / 64, 1 / (8 + this.t));
    this.rate = (1 - m) * this.rate + m * (stat > this.gate ? 1 : 0);
    if (!this.mixed && this.rate >= 0.3) this.mixed = true;
    else if (this.mixed && this.rate < 0.25) this.mixed = false;
    return this.mixed;
  }
}

/** Batches of B frames of a benchmark stream (perDomain images per domain). */
function batchesOf(spec: string, perDomain: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (const b of streamFromSpec(spec, { seed: 5, perDomain, batchSize: B })) if (b.shape[0] === B) out.push(b.x);
  return out;
}

/** Runs guarded bn-adapt (class-correlation detector and unshifted-stream rule off, to isolate this one) against the oracle; returns the modes. */
async function run(batches: Float32Array[], strategy: 'bn-adapt' | 'lame' = 'bn-adapt'): Promise<string[]> {
  const model = await loadSourceModel();
  const oracle = new Oracle(model);
  const guarded = await createAdapter(model, { strategy, guard: { classGate: 0, minShift: 0 } });
  const source = await createAdapter(await loadSourceModel(), { strategy: 'source', guard: false });
  const modes: string[] = [];
  try {
    for (const data of batches) {
      const batch = { data, shape: [B, 28, 28, 1] as [number, number, number, number] };
      const mixed = oracle.observe(data, B);
      const g = await guarded.step(batch);
      if (mixed && strategy === 'bn-adapt') {
        expect(g.update).toMatchObject({ mode: 'source', reason: 'domain-mixed' });
        const src = await source.step(batch);
        expect(Math.max(...Array.from(g.probs, (v, i) => Math.abs(v - src.probs[i]!)))).toBeLessThan(1e-5);
      } else {
        expect(g.update.mode).toBe('adapt');
      }
      modes.push(g.update.mode);
    }
  } finally {
    guarded.dispose();
    source.dispose();
  }
  return modes;
}

describe('DomainMixture', () => {
  it('the rate from a prior of 0: t mixed chunks give t / (8 + t), mixed at the fourth; back below the exit', () => {
    expect(MIXTURE_PRIOR_RATE).toBe(0);
    const r = new StreamRate(0.3, 0.15, MIXTURE_PRIOR_RATE);
    expect([r.rate, r.active]).toEqual([0, false]);
    for (let t = 1; t <= 4; t++) {
      expect(r.add(true)).toBe(t === 4);
      expect(r.rate).toBeCloseTo(t / (8 + t), 12);
    }
    // Single-domain chunks from here: the running mean 4 / (8 + t) falls under 0.15 at t = 19.
    let t = 4;
    while (r.add(false)) t++;
    expect(t + 1).toBe(19);
    r.clear();
    expect([r.rate, r.active, r.chunks, r.positiveChunks]).toEqual([0, false, 0, 0]);
  });

  it('the chunk statistic equals the float64 computation from tfjs-layers predict', async () => {
    const model = await loadSourceModel();
    const executor = new ModelExecutor(model);
    const detector = new DomainMixture({ mixtureGate: 0.35, correlationEnter: 0.3, correlationExit: 0.25 }, executor.info.batchNorms);
    const oracle = new Oracle(await loadSourceModel());
    const stats: number[][] = [];
    for (const spec of ['mixed', 'single:contrast']) {
      for (const data of batchesOf(spec, spec === 'mixed' ? 10 : 128).slice(0, 4)) {
        const x = tf.tensor4d(data, [B, 28, 28, 1]);
        tf.tidy(() => executor.logits(x, { hooks: detector.hooks() }));
        x.dispose();
        await detector.observe();
        oracle.observe(data, B);
        if (oracle.t > stats.length) stats.push([detector.lastStatistic, oracle.lastStatistic]);
      }
    }
    expect(stats.length).toBe(4);
    for (const [got, want] of stats) expect(Math.abs(got! - want!)).toBeLessThan(1e-4 * want!);
    // The mixed chunks are over the gate, the contrast ones under.
    expect(stats.map(([, w]) => w! > 0.35)).toEqual([true, true, false, false]);
    detector.dispose();
    executor.dispose();
  });

  it('rejects a negative or non-finite gate', async () => {
    expect(GUARD_DEFAULTS.mixtureGate).toBe(0.35);
    for (const guard of [{ mixtureGate: -0.1 }, { mixtureGate: Number.NaN }, { mixtureGate: '0.3' }]) {
      const a = await createAdapter(await loadSourceModel(), { strategy: 'bn-adapt', guard: guard as never }).catch((e: unknown) => e);
      expect((a as Error).name).toBe('InvalidOptionError');
    }
  });
});

describe('guard: domain-mixed streams', { timeout: 120_000 }, () => {
  it('all fifteen corruptions mixed: the stream turns mixed and bn-adapt answers with the source model', async () => {
    const modes = await run(batchesOf('mixed', 40));
    expect(modes[0]).toBe('adapt');
    expect(modes.slice(-4)).toEqual(Array(4).fill('source'));
  });

  it('one domain at a time, clean, contrast or noise: never mixed', async () => {
    for (const spec of ['single:contrast', 'single:shot_noise', 'clean']) {
      expect(await run(batchesOf(spec, 320))).toEqual(Array(10).fill('adapt'));
    }
  });

  it('LAME and source are not gated on a mixed stream; mixtureGate 0 turns the detector off', async () => {
    const data = batchesOf('mixed', 40);
    for (const options of [{ strategy: 'lame' as const, guard: { classGate: 0 } }, { strategy: 'source' as const }, { strategy: 'bn-adapt' as const, guard: { classGate: 0, mixtureGate: 0 } }]) {
      const adapter = await createAdapter(await loadSourceModel(), options);
      try {
        for (const d of data) expect((await adapter.step({ data: d, shape: [B, 28, 28, 1] })).update.mode).toBe('adapt');
      } finally {
        adapter.dispose();
      }
    }
  });
});
