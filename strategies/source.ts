/**
 * `source`: no adaptation. The deployed model as it is, the baseline every TTA result is
 * compared with. Works on LayersModels and GraphModels.
 */
import * as tf from '../src/tf.js';
import { BaseStrategy } from './baseStrategy.js';
import type { StepResult, StrategyDefinition, StrategyNeeds } from './strategy.js';

/** `source` has no options. */
export type SourceOptions = Record<never, never>;

class SourceStrategy extends BaseStrategy<SourceOptions> {
  readonly name = 'source';
  readonly needs = sourceStrategy.needs;
  readonly streams = 'any';
  protected readonly stateMetaSchema = {};

  protected forward(x: tf.Tensor4D): StepResult {
    return { probs: this.infer(x), stats: {} };
  }

  /** The model's own prediction (there is no state). */
  protected infer(x: tf.Tensor4D): tf.Tensor2D {
    const target = this.target;
    return tf.tidy(() => {
      if (target.kind === 'graph') return tf.softmax(target.run(x).logits) as tf.Tensor2D;
      // A softmax model's own output is exactly `model.predict`.
      if (target.info.outputKind === 'softmax') return target.executor.predict(x) as tf.Tensor2D;
      return tf.softmax(target.executor.logits(x)) as tf.Tensor2D;
    });
  }
}

export const sourceStrategy: StrategyDefinition<'source', SourceOptions> = {
  name: 'source',
  description: 'No adaptation: the model as deployed.',
  needs: { batchNorm: false, gradients: false, layersModel: false } satisfies StrategyNeeds,
  defaults: {},
  create: (target, config, context) => new SourceStrategy(target, config, context),
};
