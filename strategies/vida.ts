/**
 * `vida`: ViDA, homeostatic visual domain adapters for continual test-time adaptation, brought
 * to convolutional nets.
 *
 * Paper: Liu, Yang, Jia, Zhang, Lu, Guo, Xue, Zhang, "ViDA: Homeostatic Visual Domain Adapter
 * for Continual Test Time Adaptation" (ICLR 2024).
 * Reference code: Yangsenqiao/vida `cifar/vida.py` (`ViDA.forward_and_adapt`, `set_scale`,
 * `update_ema_variables`, `softmax_entropy`), `imagenet/inject_vida.py` (the adapters),
 * `cifar/cifar10c_vit.py` (`setup_optimizer_vida`: Adam with two parameter groups) and
 * `cifar/cfgs/cifar10/vida.yaml` + `cifar/conf.py` (lr 1e-4, adapter lr 1e-5, EMA 0.999 for
 * both groups, rank 1 / 128, uncertainty threshold 0.05). Restore probability 0.1 is the
 * `rst_m` default of `ViDA.__init__`.
 *
 * Per batch, as the reference code does it:
 * 1. The teacher runs on N = 10 augmented copies of the batch (one augmentation draw per copy,
 *    shared by the batch); uncertainty U = 0.1 * mean over [batch, classes] of the unbiased
 *    variance of the N teacher logits (torch.var's default).
 * 2. HKA: if U >= threshold, s_high = 1 + U and s_low = 1 - U, else s_low = 1 + U and
 *    s_high = 1 - U; set on student and teacher.
 * 3. Teacher logits on x (the returned prediction); student logits on x; loss = soft
 *    cross-entropy -sum softmax(teacher) * log_softmax(student), batch mean.
 * 4. One Adam step, two learning rates: backbone (every trainable weight) and adapters.
 * 5. EMA of the teacher: backbone with `emaMomentum`, adapters with `adapterEmaMomentum`.
 * 6. Stochastic restore: each element of every trainable weight (backbone and adapters) goes
 *    back to the warmed-up state (the source backbone plus the loaded adapters) with
 *    probability `restoreProb`.
 *
 * `predict` computes steps 1, 2 (on the teacher only) and 3's teacher logits: the prediction
 * `step` would return, after which the scales and the augmentation generator are put back, so
 * nothing changes (it costs the N + 1 teacher passes, not the student's backward pass).
 *
 * Deviations (see docs/vida.md):
 * - Adapters sit beside conv (and optionally dense) layers, see `vidaAdapters.ts`; the official
 *   code injects into ViT attention linears only.
 * - `hka: 'paper'` (default) sets both scales as the paper describes. The official `set_scale`
 *   uses `if hasattr(scale1) ... elif hasattr(scale2)` on modules that have both, so only the
 *   low-rank scale ever changes and s_high stays 1: that is `hka: 'official'`.
 * - BatchNorm: the official models (ViT) have LayerNorm; `forward_and_adapt` calls
 *   `model_ema.eval()`, which for a CNN would freeze the teacher on the source statistics.
 *   Here student and teacher normalise with the current batch's statistics, as CoTTA's
 *   (whose teacher stays in train mode); BN moving statistics are never touched.
 * - The augmentation is CoTTA's pipeline at the input's size (`src/augment`); the official
 *   ViDA code uses the same transforms at 384 px.
 * - `adaptersOnly: true` trains the adapters only (backbone frozen, EMA and restore of the
 *   adapters only).
 * - Stochastic restore draws its mask from a seeded generator (state in the snapshot), so runs
 *   are reproducible. Teacher copy, EMA and restore are `strategies/teacher.ts` (CoTTA's).
 * - The source-side warm-up of the adapters is not in the official code; ours is
 *   `trainVidaAdapters` (demos/bench/trainVidaAdapters.ts) and its weights are passed as
 *   `adapterWeights`. Without them the adapters start at zero (up = 0), as injected.
 * - `minBatch` 16: with the guard on, a batch of fewer frames gets the source model's prediction
 *   and no update (every pass here is on batch statistics; docs/safe-adaptation.md).
 */
import * as tf from '../src/tf.js';
import { CottaAugmenter } from '../src/augment/index.js';
import { InvalidOptionError } from '../src/errors.js';
import { COUNTER, RNG_STATE } from '../src/model/stateSpec.js';
import { createRng, type SeededRng } from '../src/fused/index.js';
import { batchStatisticsHook } from '../src/model/batchNorm.js';
import type { LayerHook } from '../src/model/executor.js';
import type { AdaptTarget } from '../src/model/target.js';
import { deepCopy } from '../src/model/weights.js';
import { hashSeed } from '../src/random.js';
import { Adam } from './adam.js';
import { BaseStrategy } from './baseStrategy.js';
import type { StepResult, StrategyContext, StrategyDefinition } from './strategy.js';
import { emaFrom, ModelCopy, restoreToSource, trainableParameters } from './teacher.js';
import { EMA_BELOW_BATCH } from './normStats.js';
import { injectVidaAdapters, type VidaAdapters, type VidaLayerSelection, type VidaScales } from './vidaAdapters.js';

/** How HKA sets the branch scales. */
export type VidaHka = 'paper' | 'official';

/**
 * Options of `vida`. Defaults are the official CIFAR-10-C values unless stated.
 *
 * @example
 * const weights = new Uint8Array(await (await fetch('vida-adapters.bin')).arrayBuffer());
 * const full = await createAdapter(model, { strategy: 'vida', adapterWeights: weights });
 * // ... full.step(batch) ...
 * full.dispose(); // one adapter per model at a time (else ModelInUseError): dispose before the next
 * const adaptersOnly = await createAdapter(model, { strategy: 'vida', adapterWeights: weights, adaptersOnly: true });
 */
export interface VidaOptions {
  /** Layers that get adapters: `'conv'` (every Conv2D), `'conv+dense'`, or layer names. Defaults to `'conv'`. */
  layers?: VidaLayerSelection;
  /** Low-rank adapter rank. Defaults to 1. */
  lowRank?: number;
  /** High-rank adapter rank, capped per layer at min(fan-in, outputs). Defaults to 128. */
  highRank?: number;
  /**
   * Warmed-up adapter weights (`VidaAdapters.encode` bytes, e.g. `demos/bench/model/vida-adapters.bin`);
   * they must match `layers`/`lowRank`/`highRank`. Defaults to null: freshly injected adapters
   * (seeded init, up = 0), i.e. no warm-up.
   */
  adapterWeights?: Uint8Array | null;
  /** Learning rate of the backbone weights. Defaults to 1e-4. */
  lr?: number;
  /** Learning rate of the adapters. Defaults to 1e-5. */
  adapterLr?: number;
  /** Adam's beta1. Defaults to 0.9. */
  beta1?: number;
  /** Adam's beta2. Defaults to 0.999. */
  beta2?: number;
  /** EMA momentum of the teacher's backbone weights. Defaults to 0.999. */
  emaMomentum?: number;
  /** EMA momentum of the teacher's adapters. Defaults to 0.999. */
  adapterEmaMomentum?: number;
  /** Probability that each trainable weight element is restored to the warmed-up state per step. Defaults to 0.1. */
  restoreProb?: number;
  /** Augmented teacher passes that measure the uncertainty. Defaults to 10. */
  augmentations?: number;
  /** Factor applied to the mean variance. Defaults to 0.1. */
  uncertaintyScale?: number;
  /** HKA threshold on the uncertainty. Defaults to 0.05 (the CIFAR `--unc_thr`). */
  uncertaintyThreshold?: number;
  /** `'paper'`: both scales move (the paper); `'official'`: only s_low moves (the code's if/elif). Defaults to `'paper'`. */
  hka?: VidaHka;
  /** Train the adapters only, backbone frozen (less optimiser state, no backbone EMA/restore). Defaults to false. */
  adaptersOnly?: boolean;
  /** Horizontal flips in the augmentation (CoTTA's pipeline has them). Defaults to true. */
  horizontalFlip?: boolean;
}

/** The scales HKA gives for uncertainty `u`. */
export function hkaScales(u: number, threshold: number, mode: VidaHka): VidaScales {
  const [low, high] = u >= threshold ? [1 - u, 1 + u] : [1 + u, 1 - u];
  return mode === 'paper' ? { low, high } : { low, high: 1 };
}

class VidaStrategy extends BaseStrategy<Required<VidaOptions>> {
  readonly name = 'vida';
  /** Every pass on batch statistics (docs/safe-adaptation.md: batch 1). */
  readonly minBatch = EMA_BELOW_BATCH;
  readonly needs = vidaStrategy.needs;
  private readonly adapters: VidaAdapters;
  private readonly teacherAdapters: VidaAdapters;
  private readonly teacher: ModelCopy;
  private readonly studentHooks: Map<string, LayerHook>;
  private readonly teacherHooks: Map<string, LayerHook>;
  /** Trainable backbone weights of student and teacher, aligned (empty when adaptersOnly). */
  private readonly backbone: tf.Variable[];
  private readonly teacherBackbone: tf.Variable[];
  private readonly adapterVars: tf.Variable[];
  private readonly teacherAdapterVars: tf.Variable[];
  /** The warmed-up state of every trainable weight (backbone then adapters), for stochastic restore. */
  private readonly restoreSource: tf.Tensor[];
  private readonly adamBackbone: Adam | null;
  private readonly adamAdapters: Adam;
  private readonly augmenter: CottaAugmenter;
  private readonly restoreRng: SeededRng;
  private stepCount = 0;
  protected readonly stateMetaSchema = {
    step: COUNTER,
    scales: { type: 'object', fields: { low: { type: 'number' }, high: { type: 'number' } } },
    adamBackbone: COUNTER,
    adamAdapters: COUNTER,
    augmenter: RNG_STATE,
    restoreRng: RNG_STATE,
  } as const;

  constructor(target: AdaptTarget, config: Required<VidaOptions>, context: StrategyContext) {
    super(target, config, context);
    const { model, executor, info } = this.layers;
    this.adapters = injectVidaAdapters(info, {
      layers: config.layers,
      lowRank: config.lowRank,
      highRank: config.highRank,
      seed: hashSeed(context.seed, 1),
    });
    if (config.adapterWeights !== null) {
      try {
        this.adapters.load(config.adapterWeights);
      } catch (e) {
        // Rejected weights: the adapters just injected must not outlive the failed constructor.
        this.adapters.dispose();
        throw e;
      }
    }
    this.teacherAdapters = this.adapters.clone();
    this.teacher = ModelCopy.of(model);
    this.studentHooks = new Map<string, LayerHook>([
      ...info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)] as const),
      ...this.adapters.hooks(),
    ]);
    this.teacherHooks = new Map<string, LayerHook>([...this.teacher.batchStatisticsHooks(), ...this.teacherAdapters.hooks()]);
    const studentParams = trainableParameters(model);
    this.backbone = config.adaptersOnly ? [] : [...studentParams.values()];
    this.teacherBackbone = config.adaptersOnly ? [] : [...studentParams.keys()].map((name) => this.teacher.parameters.get(name)!);
    this.adapterVars = [...this.adapters.variables().values()];
    this.teacherAdapterVars = [...this.teacherAdapters.variables().values()];
    this.restoreSource = [...this.backbone, ...this.adapterVars].map((v) => tf.keep(deepCopy(v)));
    const adam = { beta1: config.beta1, beta2: config.beta2 };
    // In a tidy: Adam's constructor leaves its zerosLike temporaries (the moment variables survive).
    this.adamBackbone = this.backbone.length > 0 ? new Adam(this.backbone, { lr: config.lr, ...adam }) : null;
    this.adamAdapters = new Adam(this.adapterVars, { lr: config.adapterLr, ...adam });
    this.augmenter = new CottaAugmenter({ horizontalFlip: config.horizontalFlip }, hashSeed(context.seed, 2));
    this.restoreRng = createRng(hashSeed(context.seed, 3));
  }

  protected override stateVariables(): Map<string, tf.Variable> {
    const vars = new Map(super.stateVariables());
    for (const [name, v] of this.adapters.variables()) vars.set(`vida/student/${name}`, v);
    for (const [name, v] of this.teacherAdapters.variables()) vars.set(`vida/teacher/${name}`, v);
    for (const [name, v] of this.teacher.variables) vars.set(`vida/teacher/model/${name}`, v);
    for (const [name, v] of this.adamBackbone?.stateVariables('vida/adam-backbone/') ?? []) vars.set(name, v);
    for (const [name, v] of this.adamAdapters.stateVariables('vida/adam-adapters/')) vars.set(name, v);
    return vars;
  }

  protected override nonNegativeState(): tf.Variable[] {
    return [
      ...super.nonNegativeState(),
      ...this.teacher.info.batchNorms.map((bn) => bn.movingVariance),
      ...(this.adamBackbone?.secondMoments() ?? []),
      ...this.adamAdapters.secondMoments(),
    ];
  }

  protected override stateMeta(): Record<string, unknown> {
    return {
      step: this.stepCount,
      scales: { ...this.adapters.scales },
      adamBackbone: this.adamBackbone?.t ?? 0,
      adamAdapters: this.adamAdapters.t,
      augmenter: this.augmenter.state,
      restoreRng: this.restoreRng.state,
    };
  }

  protected override restoreMeta(meta: Record<string, unknown>): void {
    this.stepCount = Number(meta.step ?? 0);
    const scales = (meta.scales ?? { low: 1, high: 1 }) as VidaScales;
    this.adapters.scales = { ...scales };
    this.teacherAdapters.scales = { ...scales };
    if (this.adamBackbone !== null) this.adamBackbone.t = Number(meta.adamBackbone ?? 0);
    this.adamAdapters.t = Number(meta.adamAdapters ?? 0);
    this.augmenter.state = Number(meta.augmenter ?? 0);
    this.restoreRng.state = Number(meta.restoreRng ?? 0);
  }

  /** U = scale * mean(unbiased variance over N augmented teacher passes). */
  private uncertainty(x: tf.Tensor4D): number {
    const n = this.config.augmentations;
    const outs: tf.Tensor[] = [];
    try {
      // One tidy per pass: only the logits of each pass are kept.
      for (let i = 0; i < n; i++) outs.push(tf.tidy(() => this.teacher.executor.logits(this.augmenter.augment(x), { hooks: this.teacherHooks })));
      const u = tf.tidy(() => {
        const { variance } = tf.moments(tf.stack(outs), 0);
        return tf.mul(tf.mean(variance), (this.config.uncertaintyScale * n) / (n - 1));
      });
      outs.push(u);
      return u.dataSync()[0]!;
    } finally {
      tf.dispose(outs);
    }
  }

  /** The teacher's prediction with this batch's HKA scales, as `step` returns it; no state changes. */
  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    const c = this.config;
    const rngState = this.augmenter.state;
    const saved = { ...this.teacherAdapters.scales };
    try {
      const u = this.uncertainty(x);
      this.teacherAdapters.scales = { ...hkaScales(u, c.uncertaintyThreshold, c.hka) };
      return tf.tidy(() => tf.softmax(this.teacher.executor.logits(x, { hooks: this.teacherHooks })) as tf.Tensor2D);
    } finally {
      this.teacherAdapters.scales = saved;
      this.augmenter.state = rngState;
    }
  }

  protected forward(x: tf.Tensor4D): StepResult {
    const c = this.config;
    // A failed step commits nothing: the augmentation draws and the HKA scales are put back.
    const rngState = this.augmenter.state;
    const savedScales = { student: { ...this.adapters.scales }, teacher: { ...this.teacherAdapters.scales } };
    const params = [...this.backbone, ...this.adapterVars];
    let teacherLogits: tf.Tensor2D | undefined;
    let value: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap | undefined;
    let lossValue: number;
    let u: number;
    let scales: ReturnType<typeof hkaScales>;
    try {
      u = this.uncertainty(x);
      scales = hkaScales(u, c.uncertaintyThreshold, c.hka);
      this.adapters.scales = { ...scales };
      this.teacherAdapters.scales = { ...scales };
      const t = (teacherLogits = tf.tidy(() => this.teacher.executor.logits(x, { hooks: this.teacherHooks })));
      ({ value, grads } = tf.variableGrads(() => {
        const student = this.layers.executor.logits(x, { hooks: this.studentHooks });
        const target = tf.softmax(t);
        return tf.mean(tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(student)), 1))) as tf.Scalar;
      }, params));
      lossValue = value.dataSync()[0]!;
      this.adamBackbone?.step(this.backbone.map((p) => grads![p.name]!));
      this.adamAdapters.step(this.adapterVars.map((p) => grads![p.name]!));
      tf.dispose([value, grads]);
    } catch (e) {
      tf.dispose([teacherLogits, value, grads]);
      this.augmenter.state = rngState;
      this.adapters.scales = savedScales.student;
      this.teacherAdapters.scales = savedScales.teacher;
      throw e;
    }
    emaFrom(this.teacherBackbone, this.backbone, c.emaMomentum);
    emaFrom(this.teacherAdapterVars, this.adapterVars, c.adapterEmaMomentum);
    const restored = c.restoreProb > 0 ? restoreToSource(params, this.restoreSource, c.restoreProb, this.restoreRng) : 0;
    this.stepCount++;
    const probs = tf.tidy(() => tf.softmax(teacherLogits)) as tf.Tensor2D;
    teacherLogits.dispose();
    return { probs, stats: { loss: lossValue, uncertainty: u, scaleLow: scales.low, scaleHigh: scales.high, restored } };
  }

  /** The options; `adapterWeights` is reported as its byte count (`"<n> bytes"`) to keep the JSON small. */
  override getConfig(): Required<VidaOptions> {
    const w = this.config.adapterWeights;
    return { ...super.getConfig(), adapterWeights: (w === null ? null : `${w.byteLength} bytes`) as never };
  }

  protected override onDispose(): void {
    this.adapters.dispose();
    this.teacherAdapters.dispose();
    this.teacher.dispose();
    tf.dispose(this.restoreSource);
    this.adamBackbone?.dispose();
    this.adamAdapters.dispose();
  }
}

function check(name: string, v: unknown, ok: boolean, hint: string): void {
  if (!ok) throw new InvalidOptionError(`Strategy 'vida': option '${name}' is ${typeof v === 'number' ? String(v) : JSON.stringify(v)}; ${hint}.`);
}
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The `vida` registry entry. */
export const vidaStrategy: StrategyDefinition<'vida', VidaOptions> = {
  name: 'vida',
  description: 'ViDA: low/high-rank domain adapters beside conv layers, HKA by teacher uncertainty, EMA teacher, stochastic restore.',
  // BN is used (batch statistics) when present, not required: the official ViT has none.
  needs: { batchNorm: false, gradients: true, layersModel: true },
  defaults: {
    layers: 'conv',
    lowRank: 1,
    highRank: 128,
    adapterWeights: null,
    lr: 1e-4,
    adapterLr: 1e-5,
    beta1: 0.9,
    beta2: 0.999,
    emaMomentum: 0.999,
    adapterEmaMomentum: 0.999,
    restoreProb: 0.1,
    augmentations: 10,
    uncertaintyScale: 0.1,
    uncertaintyThreshold: 0.05,
    hka: 'paper',
    adaptersOnly: false,
    horizontalFlip: true,
  },
  validate: (c) => {
    const unit = (name: keyof VidaOptions) =>
      check(name, c[name], isNum(c[name]) && (c[name] as number) >= 0 && (c[name] as number) <= 1, 'it must be a number in [0, 1]');
    for (const k of ['lr', 'adapterLr'] as const) check(k, c[k], isNum(c[k]) && c[k] >= 0, 'it must be a non-negative finite number (e.g. 1e-4)');
    for (const k of ['beta1', 'beta2'] as const) check(k, c[k], isNum(c[k]) && c[k] >= 0 && c[k] < 1, 'it must be a number in [0, 1)');
    for (const k of ['emaMomentum', 'adapterEmaMomentum', 'restoreProb'] as const) unit(k);
    for (const k of ['lowRank', 'highRank'] as const) check(k, c[k], Number.isInteger(c[k]) && c[k] >= 1, 'it must be a positive integer');
    check('augmentations', c.augmentations, Number.isInteger(c.augmentations) && c.augmentations >= 2, 'it must be an integer >= 2 (a variance needs two passes)');
    check('uncertaintyScale', c.uncertaintyScale, isNum(c.uncertaintyScale) && c.uncertaintyScale >= 0, 'it must be a non-negative number');
    check('uncertaintyThreshold', c.uncertaintyThreshold, isNum(c.uncertaintyThreshold), 'it must be a finite number (e.g. 0.05)');
    check('hka', c.hka, c.hka === 'paper' || c.hka === 'official', "valid values: 'paper', 'official'");
    check('adaptersOnly', c.adaptersOnly, typeof c.adaptersOnly === 'boolean', 'it must be true or false');
    check('horizontalFlip', c.horizontalFlip, typeof c.horizontalFlip === 'boolean', 'it must be true or false');
    check('adapterWeights', c.adapterWeights === null ? null : typeof c.adapterWeights, c.adapterWeights === null || c.adapterWeights instanceof Uint8Array, 'it must be null or a Uint8Array from VidaAdapters.encode');
  },
  create: (target, config, context) => new VidaStrategy(target, config, context),
};
