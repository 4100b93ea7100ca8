/**
 * ViDA adapter injection: a fresh injection reproduces the source model bit for bit; trained
 * adapters equal two other implementations (the adapter merged into the layer's own kernel and
 * run by the plain model, and the two branches computed unfolded beside the layer, as the
 * official code writes them); layer selection, rank capping, seeding, save/load, typed errors.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, InvalidOptionError, InvalidSnapshotError, ModelExecutor, initBackend } from '../../src/index.js';
import type { LayerHook } from '../../src/model/executor.js';
import { injectVidaAdapters, warmUpVidaAdapters } from '../../strategies/vidaAdapters.js';
import { maxRelError, plainCnn, randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

/** Sets every adapter variable to seeded uniform values (a "trained" adapter). */
function randomizeAdapters(vars: Map<string, tf.Variable>, seed: number): void {
  let s = seed;
  for (const v of vars.values()) v.assign(tf.tidy(() => tf.randomUniform(v.shape, -0.3, 0.3, 'float32', s++)));
}

/**
 * Second implementation: W' = W + sum_r down[..., r] * scale_r * up[r, :] (the adapter pair
 * folded into the layer's own kernel; exact for a conv-shaped down and a 1x1 up).
 */
function mergedKernel(kernel: tf.Tensor, vars: Map<string, tf.Variable>, layer: string, low: number, high: number): tf.Tensor {
  return tf.tidy(() => {
    const fold = (down: tf.Tensor, up: tf.Tensor, s: number) => {
      const r = down.shape[down.rank - 1]!;
      const cout = up.shape[up.rank - 1]!;
      const d2 = tf.reshape(down, [-1, r]);
      const u2 = tf.reshape(up, [r, cout]);
      return tf.reshape(tf.mul(tf.matMul(d2, u2), s), kernel.shape);
    };
    const g = (p: string) => vars.get(`${layer}/${p}`)!;
    return tf.add(kernel, tf.add(fold(g('downLow'), g('upLow'), low), fold(g('downHigh'), g('upHigh'), high)));
  });
}

/**
 * Third implementation, for conv adapters: act(conv(x, W) + b + low * up_low(down_low(x)) +
 * high * up_high(down_high(x))), each branch a conv with the layer's geometry then a 1x1 conv.
 */
function unfoldedHooks(layers: readonly string[], vars: Map<string, tf.Variable>, low: number, high: number): Map<string, LayerHook> {
  const hooks = new Map<string, LayerHook>();
  for (const name of layers) {
    hooks.set(name, ({ layer, inputs }) => {
      const c = layer as unknown as {
        kernel: { read(): tf.Tensor4D };
        bias: { read(): tf.Tensor } | null;
        useBias: boolean;
        strides: [number, number];
        padding: 'same' | 'valid';
        dilationRate: [number, number];
        activation: { apply(x: tf.Tensor): tf.Tensor };
      };
      const x = inputs[0] as tf.Tensor4D;
      const conv = (k: tf.Tensor) => tf.conv2d(x, k as tf.Tensor4D, c.strides, c.padding, 'NHWC', c.dilationRate);
      const branch = (down: string, up: string, scale: number) =>
        tf.mul(tf.conv2d(conv(vars.get(`${name}/${down}`)!), vars.get(`${name}/${up}`)! as tf.Tensor4D, 1, 'valid'), scale);
      let y = conv(c.kernel.read());
      if (c.useBias && c.bias) y = tf.add(y, c.bias.read());
      y = tf.add(tf.add(y, branch('downLow', 'upLow', low)), branch('downHigh', 'upHigh', high));
      return c.activation.apply(y);
    });
  }
  return hooks;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ViDA adapters on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend({ backend });
    });
    afterAll(() => tf.disposeVariables());

    it('a fresh injection reproduces the source logits and probabilities exactly', () => {
      const model = smallResNet();
      randomizeBatchNorms(model);
      // Unfolded: the hooked convs cannot fold BN, so bit-equality is against the layers' own path.
      const exec = new ModelExecutor(model, { foldBatchNorm: false });
      const adapters = injectVidaAdapters(exec.info, { seed: 3 });
      const x = randomBatch([4, 12, 12, 1]);
      const hooks = adapters.hooks();
      const plain = tf.tidy(() => exec.logits(x).dataSync());
      const injected = tf.tidy(() => exec.logits(x, { hooks }).dataSync());
      expect(Array.from(injected)).toEqual(Array.from(plain));
      const p0 = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
      const p1 = tf.tidy(() => exec.predict(x, { hooks }).dataSync());
      expect(Array.from(p1)).toEqual(Array.from(p0));
      x.dispose();
      adapters.dispose();
      model.dispose();
    });

    it('trained adapters equal the adapter folded into the conv kernel (second implementation)', () => {
      const model = smallResNet();
      randomizeBatchNorms(model);
      const exec = new ModelExecutor(model);
      const adapters = injectVidaAdapters(exec.info, { seed: 1, highRank: 4 });
      const vars = adapters.variables();
      randomizeAdapters(vars, 11);
      adapters.scales = { low: 0.7, high: 1.3 };
      const x = randomBatch([3, 12, 12, 1], 5);
      const ours = tf.tidy(() => exec.logits(x, { hooks: adapters.hooks() }).dataSync());
      const unfolded = tf.tidy(() => exec.logits(x, { hooks: unfoldedHooks(adapters.specs.map((s) => s.layer), vars, 0.7, 1.3) }).dataSync());
      expect(maxRelError(ours, unfolded, 1e-2)).toBeLessThan(1e-4);
      expect(maxRelError(ours, tf.tidy(() => exec.logits(x).dataSync()), 1e-2)).toBeGreaterThan(1e-2); // the adapters matter
      // Fold every adapter into its kernel and run the plain model.
      const saved = new Map<string, tf.Tensor>();
      for (const s of adapters.specs) {
        const layer = model.getLayer(s.layer);
        const kernel = layer.getWeights()[0]!;
        saved.set(s.layer, tf.keep(kernel.clone()));
        layer.setWeights([mergedKernel(kernel, vars, s.layer, 0.7, 1.3), ...layer.getWeights().slice(1)]);
      }
      const folded = tf.tidy(() => exec.logits(x).dataSync());
      expect(maxRelError(ours, folded, 1e-2)).toBeLessThan(1e-4);
      for (const s of adapters.specs) {
        const layer = model.getLayer(s.layer);
        layer.setWeights([saved.get(s.layer)!, ...layer.getWeights().slice(1)]);
      }
      tf.dispose([...saved.values(), x]);
      adapters.dispose();
      model.dispose();
    });

    it('dense adapters (layers: conv+dense) on a net with a relu Dense also match a folded kernel', () => {
      const model = plainCnn();
      const exec = new ModelExecutor(model);
      const adapters = injectVidaAdapters(exec.info, { layers: ['fc', 'c1'], highRank: 3, seed: 2 });
      expect(adapters.specs.map((s) => [s.layer, s.kind, s.lowRank, s.highRank])).toEqual([
        ['fc', 'dense', 1, 3],
        ['c1', 'conv', 1, 3],
      ]);
      const vars = adapters.variables();
      randomizeAdapters(vars, 21);
      adapters.scales = { low: 1.2, high: 0.8 };
      const x = randomBatch([2, 12, 12, 1], 9);
      const ours = tf.tidy(() => exec.logits(x, { hooks: adapters.hooks() }).dataSync());
      for (const s of adapters.specs) {
        const layer = model.getLayer(s.layer);
        const [k, b] = layer.getWeights();
        layer.setWeights([mergedKernel(k!, vars, s.layer, 1.2, 0.8), b!]);
      }
      const folded = tf.tidy(() => exec.logits(x).dataSync());
      expect(maxRelError(ours, folded, 1e-2)).toBeLessThan(1e-4);
      x.dispose();
      adapters.dispose();
      model.dispose();
    });

    it("default 'conv' picks every Conv2D, caps the high rank at min(fan-in, outputs), inits N(0, 1/r^2) seeded, up = 0", () => {
      const model = smallResNet();
      const exec = new ModelExecutor(model);
      const a = injectVidaAdapters(exec.info, { seed: 4 });
      expect(a.specs.map((s) => s.layer).sort()).toEqual(['stem_conv', 'b1a_conv', 'b1b_conv', 'b2a_conv', 'b2b_conv', 'b2s_conv'].sort());
      // min(128, fan-in, outputs): stem 3*3*1 -> 8 is min(9, 8) = 8; b2s (1x1, 8 -> 12): min(8, 12) = 8.
      const rank = Object.fromEntries(a.specs.map((s) => [s.layer, s.highRank]));
      expect(rank).toEqual({ stem_conv: 8, b1a_conv: 8, b1b_conv: 8, b2a_conv: 12, b2b_conv: 12, b2s_conv: 8 });
      const vars = a.variables();
      expect(vars.get('b2a_conv/downHigh')!.shape).toEqual([3, 3, 8, 12]);
      expect(vars.get('b2a_conv/upHigh')!.shape).toEqual([1, 1, 12, 12]);
      expect(Math.max(...Array.from(vars.get('b2a_conv/upHigh')!.dataSync()).map(Math.abs))).toBe(0);
      const d = Array.from(vars.get('b2a_conv/downHigh')!.dataSync());
      const std = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
      expect(std).toBeGreaterThan((1 / 144) * 0.85);
      expect(std).toBeLessThan((1 / 144) * 1.15);
      const b = injectVidaAdapters(exec.info, { seed: 4 });
      const c = injectVidaAdapters(exec.info, { seed: 5 });
      const first = (x: typeof a) => Array.from(x.variables().get('stem_conv/downLow')!.dataSync());
      expect(first(b)).toEqual(first(a));
      expect(first(c)).not.toEqual(first(a));
      [a, b, c].forEach((x) => x.dispose());
      model.dispose();
    });

    it('encode/load round-trips the weights; a mismatched file and bad options give typed errors', () => {
      const model = smallResNet();
      const exec = new ModelExecutor(model);
      const a = injectVidaAdapters(exec.info, { seed: 1, highRank: 4 });
      randomizeAdapters(a.variables(), 3);
      const bytes = a.encode({ note: 'x' });
      const b = injectVidaAdapters(exec.info, { seed: 2, highRank: 4 });
      expect(b.load(bytes).note).toBe('x');
      for (const [name, v] of a.variables()) expect(Array.from(b.variables().get(name)!.dataSync())).toEqual(Array.from(v.dataSync()));
      const c = injectVidaAdapters(exec.info, { seed: 2, highRank: 5 });
      expect(() => c.load(bytes)).toThrow(InvalidSnapshotError);
      expect(() => injectVidaAdapters(exec.info, { layers: ['gap'] })).toThrow(InvalidOptionError);
      expect(() => injectVidaAdapters(exec.info, { layers: ['logits'] })).toThrow(/softmax|Valid layers/);
      expect(() => injectVidaAdapters(exec.info, { highRank: 0 })).toThrow(InvalidOptionError);
      [a, b, c].forEach((x) => x.dispose());
      model.dispose();
    });

    // Skipped on cpu: 25 gradient steps take minutes there; the maths is backend-independent.
    (backend === 'wasm' ? it : it.skip)('warm-up trains the adapters only: the backbone stays bit-identical and the loss on a fixed batch falls', () => {
      const model = smallResNet();
      randomizeBatchNorms(model);
      const exec = new ModelExecutor(model);
      const adapters = injectVidaAdapters(exec.info, { seed: 1 });
      const before = model.weights.map((w) => Array.from(w.read().dataSync()));
      const labels = [0, 1, 2, 3, 4, 0, 1, 2];
      const { losses } = warmUpVidaAdapters(exec, adapters, () => ({ x: randomBatch([8, 12, 12, 1], 3), labels }), {
        steps: 25,
        lr: 1e-2,
        augmentProb: 0,
      });
      expect(model.weights.map((w) => Array.from(w.read().dataSync()))).toEqual(before);
      expect(losses[24]!).toBeLessThan(0.5 * losses[0]!);
      expect(adapters.scales).toEqual({ low: 1, high: 1 });
      expect(() => warmUpVidaAdapters(exec, adapters, () => ({ x: randomBatch([8, 12, 12, 1]), labels: [1] }), { steps: 1 })).toThrow(InvalidInputError);
      const n0 = tf.memory().numTensors;
      warmUpVidaAdapters(exec, adapters, () => ({ x: randomBatch([8, 12, 12, 1], 3), labels }), { steps: 3, augmentProb: 1 });
      expect(tf.memory().numTensors).toBe(n0);
      adapters.dispose();
      model.dispose();
    });
  });
}
