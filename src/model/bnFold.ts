/**
 * BN folding for the executor's fixed-statistics passes: a Conv2D or DepthwiseConv2D whose only
 * consumer is a BatchNormalization layer (normalising with its moving statistics), optionally
 * followed by a relu / relu6 that is the BN's only consumer, runs as one tfjs fused op
 * (`tf.fused.conv2d` / `tf.fused.depthwiseConv2d`) with
 *     W' = W * s,  b' = (b - mean) * s + beta,  s = gamma / sqrt(var + eps)
 * and the activation applied in the same kernel. Saves the BN pass and the activation pass
 * (each reads and writes the whole activation tensor).
 *
 * The folded weights are cached per group and recomputed when any of the six source tensors
 * changes: tfjs' `Variable.assign` (and `setWeights`, which calls it) gives the variable a new
 * dataId, so comparing dataIds detects every update edge-tta or an app makes.
 */
import * as tf from '../tf.js';
import type { PlanStep } from './graphPlan.js';

/** The fused activations we fold (tfjs fused conv supports both on every backend). */
type FusedActivation = 'linear' | 'relu' | 'relu6';

/** One foldable chain of a plan: conv -> BN (-> activation). */
export interface FoldGroup {
  conv: tf.layers.Layer;
  bn: tf.layers.Layer;
  /** The activation layer fused in, if any. */
  act: tf.layers.Layer | null;
  activation: FusedActivation;
  depthwise: boolean;
  strides: [number, number];
  pad: 'same' | 'valid';
  dilations: [number, number];
  /** Index in the plan's steps of the BN step and the activation step (skipped when folded). */
  bnStep: number;
  actStep: number | null;
  /** Symbolic id whose value the folded op produces (the activation's output, else the BN's). */
  outputId: number;
}

interface LayerLike {
  getClassName(): string;
  getConfig(): Record<string, unknown>;
}

function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0] ?? fallback), Number(v[1] ?? v[0] ?? fallback)];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

/** relu / relu6 of an Activation or ReLU layer, else null. */
function activationKind(layer: LayerLike): FusedActivation | null {
  const cls = layer.getClassName();
  const c = layer.getConfig();
  if (cls === 'Activation') return c.activation === 'relu' ? 'relu' : c.activation === 'relu6' ? 'relu6' : null;
  if (cls === 'ReLU') {
    if (c.maxValue === null || c.maxValue === undefined) return 'relu';
    return c.maxValue === 6 ? 'relu6' : null;
  }
  return null;
}

/**
 * The foldable chains of one plan's steps. `consumers` counts, over the whole model (nested
 * plans included), the steps reading each symbolic id; `pinned` holds ids that must stay
 * observable (plan outputs, logits, features).
 */
export function findFoldGroups(steps: readonly PlanStep[], consumers: ReadonlyMap<number, number>, pinned: ReadonlySet<number>): Map<number, FoldGroup> {
  const producer = new Map<number, number>(); // symbolic id -> step index
  steps.forEach((s, i) => s.outputIds.forEach((id) => producer.set(id, i)));
  const onlyConsumer = (id: number): number | null => {
    if (pinned.has(id) || consumers.get(id) !== 1) return null;
    const i = steps.findIndex((s) => s.nested === undefined && s.inputIds.includes(id));
    return i < 0 ? null : i;
  };
  const groups = new Map<number, FoldGroup>();
  steps.forEach((step, i) => {
    if (step.nested !== undefined || step.outputIds.length !== 1 || step.inputIds.length !== 1) return;
    const cls = step.layer.getClassName();
    if (cls !== 'Conv2D' && cls !== 'DepthwiseConv2D') return;
    const cc = step.layer.getConfig();
    if ((cc.activation ?? 'linear') !== 'linear' || (cc.dataFormat ?? 'channelsLast') !== 'channelsLast') return;
    if (cc.padding !== 'same' && cc.padding !== 'valid') return;
    const bnIndex = onlyConsumer(step.outputIds[0]!);
    if (bnIndex === null) return;
    const bnStep = steps[bnIndex]!;
    if (bnStep.layer.getClassName() !== 'BatchNormalization' || bnStep.inputIds.length !== 1 || bnStep.outputIds.length !== 1) return;
    const axis = bnStep.layer.getConfig().axis;
    if (axis !== -1 && axis !== 3) return;
    let act: tf.layers.Layer | null = null;
    let activation: FusedActivation = 'linear';
    let actStep: number | null = null;
    let outputId = bnStep.outputIds[0]!;
    const actIndex = onlyConsumer(outputId);
    if (actIndex !== null) {
      const a = steps[actIndex]!;
      const kind = a.inputIds.length === 1 && a.outputIds.length === 1 ? activationKind(a.layer) : null;
      if (kind !== null) {
        act = a.layer;
        activation = kind;
        actStep = actIndex;
        outputId = a.outputIds[0]!;
      }
    }
    groups.set(i, {
      conv: step.layer,
      bn: bnStep.layer,
      act,
      activation,
      depthwise: cls === 'DepthwiseConv2D',
      strides: pair(cc.strides, 1),
      pad: cc.padding,
      dilations: pair(cc.dilationRate, 1),
      bnStep: bnIndex,
      actStep,
      outputId,
    });
  });
  return groups;
}

type VarHolder = { read(): tf.Tensor } | null | undefined;

/** The six source tensors of a group: kernel, bias, gamma, beta, moving mean, moving variance. */
function sources(g: FoldGroup): Array<tf.Tensor | null> {
  const conv = g.conv as unknown as { kernel?: VarHolder; depthwiseKernel?: VarHolder; bias?: VarHolder };
  const bn = g.bn as unknown as { gamma?: VarHolder; beta?: VarHolder; movingMean: VarHolder; movingVariance: VarHolder };
  const r = (h: VarHolder) => (h == null ? null : h.read());
  return [r(g.depthwise ? conv.depthwiseKernel : conv.kernel), r(conv.bias), r(bn.gamma), r(bn.beta), r(bn.movingMean), r(bn.movingVariance)];
}

/**
 * Whether a BN channel's input can be read back from its folded float32 output. The output is
 * beta + gamma * u (u the normalised input, about unit spread on source data), rounded to float32
 * relative to |beta|: mapped back, the input's mean and variance carry an error of about
 * 1e-7 * |beta / gamma| (normalised; measured on wasm, where XNNPACK accumulates onto the bias:
 * 1e-4 at a ratio of 1e3, 1e-2 at 1e5, 0.1-0.2 at 1e6). Beyond a ratio of 1e3 the layer runs
 * unfolded. A gamma below 1e-12 is refused whatever beta: the output's variance (gamma^2 times
 * the normalised input's) underflows float32, so the mapped variance is 0 whatever the input.
 */
export function invertibleGamma(gamma: number, beta: number): boolean {
  const g = Math.abs(gamma);
  return g >= 1e-12 && g * 1e3 >= Math.abs(beta);
}

interface Folded {
  keys: Array<object | null>;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  /** The map from the folded output back to the BN's input, once asked for (null: a gamma of 0 or too small to invert, see invertibleGamma). */
  affine?: { scale: Float64Array; offset: Float64Array } | null;
}

/** Folded weights of the groups of one executor, recomputed when their source weights change. */
export class FoldCache {
  private readonly entries = new Map<FoldGroup, Folded>();

  /** The group's folded filter and bias, or null when a source tensor is gone (disposed model). */
  weights(g: FoldGroup): Folded | null {
    const src = sources(g);
    if (src[0] === null || src[4] === null || src[5] === null || src.some((t) => t !== null && t.isDisposed)) return null;
    const keys = src.map((t) => (t === null ? null : t.dataId));
    const hit = this.entries.get(g);
    if (hit !== undefined && hit.keys.every((k, i) => k === keys[i])) return hit;
    if (hit !== undefined) tf.dispose([hit.filter, hit.bias]);
    const [kernel, bias, gamma, beta, mean, variance] = src;
    const eps = (g.bn as unknown as { epsilon: number }).epsilon;
    const [filter, b] = tf.tidy(() => {
      let scale = tf.rsqrt(tf.add(variance!, eps));
      if (gamma !== null) scale = tf.mul(scale, gamma!);
      const k = kernel as tf.Tensor4D;
      // Output channel of a depthwise filter [kh, kw, in, mult] is in * mult + m.
      const s4 = g.depthwise ? tf.reshape(scale, [1, 1, k.shape[2], k.shape[3]]) : scale;
      let shift = tf.neg(tf.mul(mean!, scale));
      if (bias !== null) shift = tf.add(shift, tf.mul(bias!, scale));
      if (beta !== null) shift = tf.add(shift, beta!);
      return [tf.mul(k, s4) as tf.Tensor4D, shift as tf.Tensor1D];
    });
    const entry = { keys, filter: tf.keep(filter), bias: tf.keep(b) };
    this.entries.set(g, entry);
    return entry;
  }

  /**
   * Per channel, the BN input of a folded output y: input = y * scale + offset, with
   * scale = sqrt(var + eps) / gamma and offset = mean - beta * scale (float64, read once per weights
   * version). Null when the group's weights are gone or a channel's input is not recoverable from
   * the float32 output: a gamma of 0, or one too small against its beta or outright
   * ({@link invertibleGamma}). Call after {@link weights} for the same group.
   */
  inputAffine(g: FoldGroup): { scale: Float64Array; offset: Float64Array } | null {
    const entry = this.entries.get(g);
    if (entry === undefined) return null;
    if (entry.affine !== undefined) return entry.affine;
    const [, , gamma, beta, mean, variance] = sources(g);
    const eps = (g.bn as unknown as { epsilon: number }).epsilon;
    const m = mean!.dataSync();
    const v = variance!.dataSync();
    const gm = gamma?.dataSync();
    const bt = beta?.dataSync();
    const scale = new Float64Array(m.length);
    const offset = new Float64Array(m.length);
    let invertible = true;
    for (let c = 0; c < m.length; c++) {
      const gc = gm !== undefined ? gm[c]! : 1;
      const bc = bt !== undefined ? bt[c]! : 0;
      scale[c] = Math.sqrt(v[c]! + eps) / gc;
      offset[c] = m[c]! - bc * scale[c]!;
      if (!invertibleGamma(gc, bc) || !Number.isFinite(scale[c]!) || !Number.isFinite(offset[c]!)) invertible = false;
    }
    entry.affine = invertible ? { scale, offset } : null;
    return entry.affine;
  }

  /** Frees every cached folded tensor. */
  clear(): void {
    for (const e of this.entries.values()) tf.dispose([e.filter, e.bias]);
    this.entries.clear();
  }
}

/** Runs a group as one fused op on `x` with the folded weights (with the group's activation, or `activation`). */
export function runFolded(g: FoldGroup, w: { filter: tf.Tensor4D; bias: tf.Tensor1D }, x: tf.Tensor4D, activation: FusedActivation = g.activation): tf.Tensor4D {
  const common = { x, filter: w.filter, strides: g.strides, pad: g.pad, dilations: g.dilations, bias: w.bias, activation } as const;
  return g.depthwise ? tf.fused.depthwiseConv2d(common) : tf.fused.conv2d({ ...common, dataFormat: 'NHWC' });
}
