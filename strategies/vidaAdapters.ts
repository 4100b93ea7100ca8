/**
 * ViDA adapters for convolutional and dense layers, injected through the executor's hooks.
 *
 * Paper: Liu et al., "ViDA: Homeostatic Visual Domain Adapter for Continual Test Time
 * Adaptation" (ICLR 2024). Reference code: Yangsenqiao/vida `imagenet/inject_vida.py`
 * (`ViDAInjectedLinear`): output = linear(x) + scale1 * up1(down1(x)) + scale2 * up2(down2(x)),
 * rank 1 (low) and 128 (high), down ~ N(0, std = 1/r^2), up = 0, no adapter bias.
 *
 * Beside each chosen layer:
 *   output = act( layer_preact(x) + s_low * up_low(down_low(x)) + s_high * up_high(down_high(x)) )
 * - Conv2D: down = a conv with the layer's kernel size, stride, padding and dilation to r
 *   channels (the conv-shaped low-rank factorisation of a kernel delta, as LoRA for convs);
 *   up = a 1x1 conv to the layer's output channels.
 * - Dense: down = [in, r] and up = [r, out] matrices, exactly as the official linear adapter.
 *
 * Deviations from the official code (which injects only into ViT attention linears):
 * - Conv layers are supported (the paper says "linear or conv layers"); the default for CNNs
 *   is every standard Conv2D layer (depthwise / separable / transposed convs are skipped: a
 *   per-channel kernel has no rank to factorise).
 * - The high rank is capped at the layer's maximal rank, min(fan-in, output channels):
 *   128 would exceed the width of a small CNN. The init std uses the effective rank.
 * - A conv adapter is computed folded into the layer's kernel, W + down diag(scales) up, in one
 *   convolution (the same sum up to float rounding; three times fewer convolutions, forward
 *   and backward). A dense adapter is computed as one down product of r_low + r_high columns,
 *   a per-column scale, and one up product.
 * - A layer whose own activation is not linear gets the adapter added before its
 *   activation (the official layers are linear); softmax layers are refused.
 */
import * as tf from '../src/tf.js';
import { CottaAugmenter } from '../src/augment/index.js';
import { InvalidInputError, InvalidOptionError, InvalidSnapshotError, UnsupportedModelError } from '../src/errors.js';
import type { TensorSpec } from '../src/model/stateSpec.js';
import { batchStatisticsHook } from '../src/model/batchNorm.js';
import type { LayerHook, ModelExecutor } from '../src/model/executor.js';
import type { ModelInfo } from '../src/model/introspect.js';
import { activationOf } from '../src/model/layerKinds.js';
import { decodeState, deepCopy, encodeState, stateTensors, type NamedTensors } from '../src/model/weights.js';
import { hashSeed, Rng } from '../src/random.js';
import { Adam } from './adam.js';

/** Which layers get adapters: a preset or an explicit list of layer names. */
export type VidaLayerSelection = 'conv' | 'conv+dense' | readonly string[];

/** Options of {@link injectVidaAdapters}. */
export interface VidaAdapterOptions {
  /**
   * Layers that get an adapter. `'conv'`: every standard Conv2D layer; `'conv+dense'`: also
   * every Dense layer except a softmax output; or a list of Conv2D / Dense layer names.
   * Defaults to `'conv'`.
   */
  layers?: VidaLayerSelection;
  /** Rank of the low-rank (domain-shared) adapter. Defaults to 1 (official). */
  lowRank?: number;
  /** Rank of the high-rank (domain-specific) adapter, capped per layer at min(fan-in, outputs). Defaults to 128 (official). */
  highRank?: number;
  /** Seed of the down-projection initialisation. Defaults to 0. */
  seed?: number;
}

/** One adapted layer's shapes. */
export interface VidaAdapterSpec {
  layer: string;
  kind: 'conv' | 'dense';
  /** Effective ranks after capping. */
  lowRank: number;
  highRank: number;
  /** Input channels (conv) or features (dense). */
  inputs: number;
  /** Output channels (conv) or units (dense). */
  outputs: number;
  /** Kernel height and width (1, 1 for dense). */
  kernel: [number, number];
}

/** The four weights of one layer's adapter pair. */
export interface VidaAdapterWeights {
  downLow: tf.Variable;
  upLow: tf.Variable;
  downHigh: tf.Variable;
  upHigh: tf.Variable;
}

/** The scales of the two branches (HKA sets them per batch). */
export interface VidaScales {
  low: number;
  high: number;
}

const PARTS = ['downLow', 'upLow', 'downHigh', 'upHigh'] as const;

interface ConvLike {
  kernelSize: number[];
  strides: number[];
  padding: 'valid' | 'same';
  dilationRate: number | number[];
  dataFormat: 'channelsFirst' | 'channelsLast';
  filters: number;
  units: number;
  activation: { apply(x: tf.Tensor): tf.Tensor };
  kernel: { read(): tf.Tensor };
  useBias: boolean;
  bias: { read(): tf.Tensor } | null;
}

let linearActivation: unknown;
function linear(): unknown {
  linearActivation ??= (tf.layers.activation({ activation: 'linear' }) as unknown as { activation: unknown }).activation;
  return linearActivation;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new InvalidOptionError(`ViDA option '${name}' must be a positive integer; got ${v}.`);
}

/** The layers a selection names, validated against the model. */
export function selectVidaLayers(info: ModelInfo, selection: VidaLayerSelection): tf.layers.Layer[] {
  const byName = new Map(info.layers.map((l) => [l.name, l]));
  const isConv2D = (l: tf.layers.Layer) => l.getClassName() === 'Conv2D';
  const isPlainDense = (l: tf.layers.Layer) => l.getClassName() === 'Dense' && activationOf(l) !== 'softmax';
  let chosen: tf.layers.Layer[];
  if (selection === 'conv') chosen = info.layers.filter(isConv2D);
  else if (selection === 'conv+dense') chosen = info.layers.filter((l) => isConv2D(l) || isPlainDense(l));
  else if (Array.isArray(selection)) {
    const valid = info.layers.filter((l) => isConv2D(l) || isPlainDense(l)).map((l) => l.name);
    chosen = (selection as readonly string[]).map((name) => {
      const l = byName.get(name);
      if (l === undefined || !valid.includes(name)) {
        throw new InvalidOptionError(
          `ViDA option 'layers' names '${name}', which is not a Conv2D or non-softmax Dense layer of this model. ` +
            `Valid layers: ${valid.join(', ') || '(none)'}.`,
        );
      }
      return l;
    });
  } else {
    throw new InvalidOptionError(`ViDA option 'layers' must be 'conv', 'conv+dense' or a list of layer names; got ${JSON.stringify(selection)}.`);
  }
  if (chosen.length === 0) {
    throw new UnsupportedModelError(
      `ViDA found no layer to adapt with layers=${JSON.stringify(selection)}; the model needs a Conv2D (or Dense) layer.`,
    );
  }
  for (const l of chosen) {
    const c = l as unknown as ConvLike;
    if (l.getClassName() === 'Conv2D' && c.dataFormat === 'channelsFirst') {
      throw new UnsupportedModelError(`ViDA adapters need channels-last convolutions; layer '${l.name}' is channels-first.`);
    }
  }
  return chosen;
}

function specOf(layer: tf.layers.Layer, lowRank: number, highRank: number): VidaAdapterSpec {
  const kernel = (layer as unknown as { kernel: { read(): tf.Tensor } }).kernel.read();
  if (layer.getClassName() === 'Conv2D') {
    const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
    const maxRank = Math.min(kh * kw * cin, cout);
    return { layer: layer.name, kind: 'conv', lowRank: Math.min(lowRank, maxRank), highRank: Math.min(highRank, maxRank), inputs: cin, outputs: cout, kernel: [kh, kw] };
  }
  const [inF, outF] = kernel.shape as [number, number];
  const maxRank = Math.min(inF, outF);
  return { layer: layer.name, kind: 'dense', lowRank: Math.min(lowRank, maxRank), highRank: Math.min(highRank, maxRank), inputs: inF, outputs: outF, kernel: [1, 1] };
}

function downShape(s: VidaAdapterSpec, r: number): number[] {
  return s.kind === 'conv' ? [s.kernel[0], s.kernel[1], s.inputs, r] : [s.inputs, r];
}
function upShape(s: VidaAdapterSpec, r: number): number[] {
  return s.kind === 'conv' ? [1, 1, r, s.outputs] : [r, s.outputs];
}

/**
 * A model's ViDA adapters: their variables, the current HKA scales, and the executor hooks
 * that add them beside their layers. Create with {@link injectVidaAdapters}; a teacher gets
 * its own copy with {@link VidaAdapters.clone}.
 */
export class VidaAdapters {
  /** The current branch scales, read by the hooks at run time. */
  scales: VidaScales = { low: 1, high: 1 };
  readonly specs: readonly VidaAdapterSpec[];
  private readonly weights: Map<string, VidaAdapterWeights>;

  /** @internal Use {@link injectVidaAdapters}. */
  constructor(specs: readonly VidaAdapterSpec[], weights: Map<string, VidaAdapterWeights>) {
    this.specs = specs;
    this.weights = weights;
  }

  /** Number of adapter parameters. */
  get size(): number {
    let n = 0;
    for (const w of this.weights.values()) for (const p of PARTS) n += w[p].size;
    return n;
  }

  /** The adapter variables keyed `${layer}/${part}` (part: downLow, upLow, downHigh, upHigh), in a fixed order. */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const s of this.specs) {
      const w = this.weights.get(s.layer)!;
      for (const p of PARTS) out.set(`${s.layer}/${p}`, w[p]);
    }
    return out;
  }

  /** Hooks that add the adapters beside their layers; combine them with other (e.g. BN) hooks. */
  hooks(): Map<string, LayerHook> {
    const hooks = new Map<string, LayerHook>();
    for (const s of this.specs) hooks.set(s.layer, this.hookFor(s, this.weights.get(s.layer)!));
    return hooks;
  }

  /** A copy with its own variables (same values, same scales): the teacher's adapters. */
  clone(): VidaAdapters {
    const weights = new Map<string, VidaAdapterWeights>();
    for (const [layer, w] of this.weights) {
      // deepCopy: a copy with its own memory (in-place fused kernels must not write through).
      const copy = (v: tf.Variable) => tf.tidy(() => tf.variable(deepCopy(v), true));
      weights.set(layer, { downLow: copy(w.downLow), upLow: copy(w.upLow), downHigh: copy(w.downHigh), upHigh: copy(w.upHigh) });
    }
    const copy = new VidaAdapters(this.specs, weights);
    copy.scales = { ...this.scales };
    return copy;
  }

  /** Serialises the adapter weights (edge-tta state format) with their specs. */
  encode(meta: Record<string, unknown> = {}): Uint8Array {
    const tensors: NamedTensors = {};
    for (const [name, v] of this.variables()) tensors[name] = v;
    return encodeState(tensors, { kind: 'vida-adapters', specs: this.specs, ...meta });
  }

  /**
   * Loads weights written by {@link encode} (e.g. the shipped warm-up). The bytes are checked as
   * a snapshot is (`decodeState` with this object's variables as the expected tensors): the file
   * must hold the same layers and ranks, else an {@link InvalidSnapshotError} says which differs
   * and nothing is changed.
   */
  load(bytes: Uint8Array): Record<string, unknown> {
    const expected = new Map<string, TensorSpec>();
    for (const [name, v] of this.variables()) expected.set(name, { shape: [...v.shape], dtype: 'float32' });
    const decoded = decodeState(bytes, {
      owner: 'VidaAdapters.load',
      expected,
      checkMeta: (meta) => {
        if (meta.kind !== 'vida-adapters') {
          throw new InvalidSnapshotError('VidaAdapters.load: these bytes are not ViDA adapter weights (written by VidaAdapters.encode).');
        }
        const specs = meta.specs as VidaAdapterSpec[];
        if (JSON.stringify(specs) !== JSON.stringify(this.specs)) {
          const layout = (xs: unknown) => JSON.stringify(Array.isArray(xs) ? xs.map((s: VidaAdapterSpec) => [s?.layer, s?.lowRank, s?.highRank]) : xs)?.slice(0, 300);
          throw new InvalidSnapshotError(
            `The ViDA adapter weights were trained for layers/ranks ${layout(specs)}; ` +
              `this model's adapters are ${layout(this.specs)}. ` +
              "Use the same 'layers', 'lowRank' and 'highRank' options as the warm-up.",
          );
        }
      },
    });
    const tensors = stateTensors(decoded);
    try {
      for (const [name, v] of this.variables()) v.assign(tensors[name]!);
    } finally {
      tf.dispose(Object.values(tensors));
    }
    return decoded.meta;
  }

  dispose(): void {
    for (const w of this.weights.values()) tf.dispose(PARTS.map((p) => w[p]));
  }

  private hookFor(s: VidaAdapterSpec, w: VidaAdapterWeights): LayerHook {
    return ({ layer, inputs, original }) => {
      const x = inputs[0]!;
      const holder = layer as unknown as ConvLike;
      const act = activationOf(layer);
      const { low, high } = this.scales;
      const scale = tf.concat([tf.fill([s.lowRank], low), tf.fill([s.highRank], high)]);
      if (s.kind === 'conv') {
        // The conv adapter is linear in x with the layer's own geometry, so it folds into the
        // kernel: conv(x, W) + up(scale * down(x)) = conv(x, W + down diag(scale) up). One
        // convolution instead of three, and in a backward pass one filter gradient instead of
        // three (the adapters' gradients come from it through two small matrix products).
        const [kh, kw] = s.kernel;
        const r = s.lowRank + s.highRank;
        const down = tf.reshape(tf.mul(tf.concat([w.downLow, w.downHigh], 3), scale), [kh * kw * s.inputs, r]) as tf.Tensor2D;
        const up = tf.reshape(tf.concat([w.upLow, w.upHigh], 2), [r, s.outputs]) as tf.Tensor2D;
        const kernel = tf.add(holder.kernel.read(), tf.reshape(tf.matMul(down, up), [kh, kw, s.inputs, s.outputs])) as tf.Tensor4D;
        const dil = holder.dilationRate;
        const pre = tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: kernel,
          strides: holder.strides as [number, number],
          pad: holder.padding,
          dataFormat: 'NHWC',
          dilations: (typeof dil === 'number' ? [dil, dil] : dil) as [number, number],
          ...(holder.useBias && holder.bias ? { bias: holder.bias.read() } : {}),
        });
        return act === 'linear' ? pre : holder.activation.apply(pre);
      }
      let pre: tf.Tensor;
      if (act === 'linear') pre = original();
      else {
        const saved = holder.activation;
        holder.activation = linear() as ConvLike['activation'];
        try {
          pre = original();
        } finally {
          holder.activation = saved;
        }
      }
      const down = tf.concat([w.downLow, w.downHigh], 1) as tf.Tensor2D;
      const up = tf.concat([w.upLow, w.upHigh], 0) as tf.Tensor2D;
      const flat = tf.reshape(x, [-1, s.inputs]) as tf.Tensor2D;
      const delta = tf.reshape(tf.matMul(tf.mul(tf.matMul(flat, down), scale) as tf.Tensor2D, up), pre.shape);
      const out = tf.add(pre, delta);
      return act === 'linear' ? out : holder.activation.apply(out);
    };
  }
}

/**
 * Creates ViDA adapters for the chosen layers of a model: down projections ~ N(0, std = 1/r^2)
 * from a seeded generator, up projections zero, so the adapted model equals the source model
 * exactly until the adapters are trained.
 *
 * @example
 * const adapters = injectVidaAdapters(executor.info, { layers: 'conv', highRank: 128, seed: 0 });
 * const logits = tf.tidy(() => executor.logits(x, { hooks: adapters.hooks() }));
 */
export function injectVidaAdapters(info: ModelInfo, options: VidaAdapterOptions = {}): VidaAdapters {
  const lowRank = options.lowRank ?? 1;
  const highRank = options.highRank ?? 128;
  positiveInt('lowRank', lowRank);
  positiveInt('highRank', highRank);
  const layers = selectVidaLayers(info, options.layers ?? 'conv');
  const rng = new Rng(options.seed ?? 0);
  const specs = layers.map((l) => specOf(l, lowRank, highRank));
  const weights = new Map<string, VidaAdapterWeights>();
  const normal = (shape: number[], std: number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.gaussian(0, std);
    return tf.tidy(() => tf.variable(tf.tensor(data, shape), true));
  };
  for (const s of specs) {
    weights.set(s.layer, {
      downLow: normal(downShape(s, s.lowRank), 1 / s.lowRank ** 2),
      upLow: tf.tidy(() => tf.variable(tf.zeros(upShape(s, s.lowRank)), true)),
      downHigh: normal(downShape(s, s.highRank), 1 / s.highRank ** 2),
      upHigh: tf.tidy(() => tf.variable(tf.zeros(upShape(s, s.highRank)), true)),
    });
  }
  return new VidaAdapters(specs, weights);
}

/** One labelled source batch for {@link warmUpVidaAdapters}. */
export interface VidaWarmUpBatch {
  /** Images [n, h, w, c]; handed over: the warm-up disposes it after its step. */
  x: tf.Tensor4D;
  /** Class indices, length n. */
  labels: ArrayLike<number>;
}

/** Options of {@link warmUpVidaAdapters}. */
export interface VidaWarmUpOptions {
  /** Optimiser steps (one batch each). Required. */
  steps: number;
  /** Adam learning rate of the adapters. Defaults to 1e-3. */
  lr?: number;
  /** Probability that a batch is replaced by one CoTTA-augmented view (one draw per batch). Defaults to 0.5. */
  augmentProb?: number;
  /** Horizontal flips in that augmentation. Defaults to false (the benchmark's source training uses none). */
  horizontalFlip?: boolean;
  /** Seed of the augmentation. Defaults to 0. */
  seed?: number;
  /** Called after every step with the batch's loss. */
  onStep?: (step: number, loss: number) => void;
}

/**
 * Source-side warm-up of ViDA adapters (the paper's step before test time; its code is not
 * released): the backbone is frozen (no backbone variable is in the optimiser's list, BN
 * normalises with batch statistics as at test time and its moving statistics are never
 * written), and only the adapters are trained, with Adam, on supervised cross-entropy over
 * labelled source batches, half of them (by default) replaced by a CoTTA-augmented view so
 * the adapters see the kind of perturbation they will meet. Scales stay at 1.
 *
 * @example
 * const adapters = injectVidaAdapters(executor.info, { seed: 0 });
 * warmUpVidaAdapters(executor, adapters, (i) => sourceBatch(i), { steps: 400 });
 * fs.writeFileSync('vida-adapters.bin', adapters.encode());
 */
export function warmUpVidaAdapters(
  executor: ModelExecutor,
  adapters: VidaAdapters,
  nextBatch: (step: number) => VidaWarmUpBatch,
  options: VidaWarmUpOptions,
): { losses: number[] } {
  const lr = options.lr ?? 1e-3;
  const augmentProb = options.augmentProb ?? 0.5;
  positiveInt('steps', options.steps);
  if (!(lr > 0)) throw new InvalidOptionError(`warmUpVidaAdapters: 'lr' must be a positive number; got ${lr}.`);
  if (!(augmentProb >= 0 && augmentProb <= 1)) throw new InvalidOptionError(`warmUpVidaAdapters: 'augmentProb' must be in [0, 1]; got ${augmentProb}.`);
  const seed = options.seed ?? 0;
  const rng = new Rng(hashSeed(seed, 1));
  const augmenter = new CottaAugmenter({ horizontalFlip: options.horizontalFlip ?? false }, hashSeed(seed, 2));
  const hooks = new Map<string, LayerHook>([
    ...executor.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)] as const),
    ...adapters.hooks(),
  ]);
  const vars = [...adapters.variables().values()];
  // In a tidy: Adam's constructor leaves its zerosLike temporaries (the variables survive).
  const adam = new Adam(vars, { lr });
  const saved = adapters.scales;
  adapters.scales = { low: 1, high: 1 };
  const losses: number[] = [];
  try {
    for (let step = 0; step < options.steps; step++) {
      const { x, labels } = nextBatch(step);
      if (labels.length !== x.shape[0]) {
        x.dispose();
        throw new InvalidInputError(`warmUpVidaAdapters: batch ${step} has ${x.shape[0]} images and ${labels.length} labels.`);
      }
      const augment = rng.next() < augmentProb;
      const loss = tf.tidy(() => {
        const input = augment ? augmenter.augment(x) : x;
        const y = tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), executor.info.numClasses);
        const { value, grads } = tf.variableGrads(() => {
          const logits = executor.logits(input, { hooks });
          return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar;
        }, vars);
        adam.step(vars.map((v) => grads[v.name]!));
        return value;
      });
      x.dispose();
      const l = loss.dataSync()[0]!;
      loss.dispose();
      losses.push(l);
      options.onStep?.(step, l);
    }
  } finally {
    adam.dispose();
    adapters.scales = saved;
  }
  return { losses };
}
