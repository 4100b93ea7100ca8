/**
 * A strategy written as a user would, against the public `Strategy` interface only: it trains
 * the classifier's bias by plain SGD on the batch's mean prediction entropy, and returns the
 * prediction of the forward pass that computed the loss (before the update), BN on its moving
 * statistics. Used to run a user strategy through `edge-tta/testing`.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidOptionError, InvalidSnapshotError, UnsupportedModelError } from '../../src/index.js';
import type { StepResult, Strategy, StrategyDefinition, StrategyState } from '../../src/index.js';
import type { StateSpec } from '../../strategies/strategy.js';

export interface BiasEntropyOptions {
  /** SGD learning rate. */
  lr?: number;
}

function classifierBias(model: tf.LayersModel): tf.LayerVariable {
  const last = [...model.layers].reverse().find((l) => l.getClassName() === 'Dense');
  const bias = last?.weights.find((w) => (w.originalName ?? w.name).endsWith('bias'));
  if (bias === undefined) throw new UnsupportedModelError("Strategy 'bias-entropy' needs a Dense classifier with a bias.");
  return bias;
}

class BiasEntropy implements Strategy<Required<BiasEntropyOptions>> {
  readonly name = 'bias-entropy';
  readonly needs = biasEntropyStrategy.needs;
  private readonly bias: tf.Variable;
  /** The state key: the weight's name in the model, so the conformance suite's prediction check can read it. */
  private readonly key: string;
  private readonly source: tf.Tensor;
  private steps = 0;
  private disposed = false;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly softmaxOutput: boolean,
    private readonly config: Required<BiasEntropyOptions>,
  ) {
    const bias = classifierBias(model);
    this.bias = bias.read() as tf.Variable;
    this.key = bias.originalName ?? bias.name;
    this.source = tf.keep(tf.add(this.bias, 0));
  }

  step(x: tf.Tensor4D): StepResult {
    const out: { probs?: tf.Tensor2D } = {};
    const { value, grads } = tf.variableGrads(() => {
      const y = this.model.apply(x) as tf.Tensor2D;
      const logp = this.softmaxOutput ? tf.log(tf.maximum(y, 1e-30)) : tf.logSoftmax(y);
      out.probs = tf.keep(tf.exp(logp)) as tf.Tensor2D;
      return tf.mean(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1))) as tf.Scalar;
    }, [this.bias]);
    tf.tidy(() => this.bias.assign(tf.sub(this.bias, tf.mul(grads[this.bias.name]!, this.config.lr))));
    const loss = value.dataSync()[0]!;
    tf.dispose([value, grads[this.bias.name]!]);
    this.steps++;
    return { probs: out.probs!, stats: { loss, steps: this.steps } };
  }

  reset(): void {
    this.bias.assign(this.source);
    this.steps = 0;
  }

  snapshot(): StrategyState {
    return { tensors: { [this.key]: tf.keep(tf.add(this.bias, 0)) }, meta: { steps: this.steps } };
  }

  stateSpec(): StateSpec {
    return {
      tensors: new Map([[this.key, { shape: this.bias.shape, dtype: 'float32' }]]),
      meta: { steps: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER } },
    };
  }

  restore(state: StrategyState): void {
    const t = state.tensors[this.key];
    if (t === undefined || t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, this.bias.shape)) {
      throw new InvalidSnapshotError(`Strategy 'bias-entropy': the state needs '${this.key}' of shape [${this.bias.shape}].`);
    }
    this.bias.assign(t);
    this.steps = Number(state.meta.steps ?? 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.bias.assign(this.source);
    this.source.dispose();
  }

  getConfig(): Required<BiasEntropyOptions> {
    return { ...this.config };
  }
}

/** The definition, as a user would pass it to `registerStrategy`. */
export const biasEntropyStrategy: StrategyDefinition<'bias-entropy', BiasEntropyOptions> = {
  name: 'bias-entropy',
  description: "Trains the classifier's bias by SGD on the prediction entropy.",
  needs: { batchNorm: false, gradients: true, layersModel: true },
  defaults: { lr: 0.01 },
  validate: (c) => {
    if (!(typeof c.lr === 'number' && c.lr > 0)) throw new InvalidOptionError(`Strategy 'bias-entropy': option 'lr' is ${String(c.lr)}; it must be a positive number.`);
  },
  create: (target, config) => {
    if (target.kind !== 'layers') throw new UnsupportedModelError("Strategy 'bias-entropy' needs a tf.LayersModel.");
    return new BiasEntropy(target.model, target.info.outputKind === 'softmax', config);
  },
};
