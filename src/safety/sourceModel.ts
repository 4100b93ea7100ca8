/**
 * The source model beside the adapted one: the guard compares the adapted predictions with it
 * and falls back to it, and the shift detector measures how far a batch's BN statistics are
 * from the source ones on it.
 *
 * A strategy changes the model's weights in place (Tent, CoTTA, ViDA) or its BN statistics
 * (bn-adapt, alpha-bn), so the source model must be a separate copy: for a `tf.LayersModel`, a
 * clone holding the weights the model had when the adapter was created (one more copy of the
 * weights in memory: 0.3 MB for the 78k-parameter benchmark ResNet, ~14 MB for MobileNetV2).
 * A `tf.GraphModel` only takes output-level strategies that never change it, so its own forward
 * pass is the source.
 */
import * as tf from '../tf.js';
import { batchStatisticsHook } from '../model/batchNorm.js';
import { ModelExecutor, type LayerHook } from '../model/executor.js';
import type { BatchNormInfo } from '../model/introspect.js';
import type { AdaptTarget } from '../model/target.js';

/** Source-model forward passes. Call {@link probs} inside or outside `tf.tidy`; dispose what it returns. */
export interface SourceModel {
  /** Source softmax probabilities of a validated batch, [n, classes]. */
  probs(x: tf.Tensor4D, hooks?: ReadonlyMap<string, LayerHook>): tf.Tensor2D;
  /** {@link probs} and the penultimate features of the same pass, [n, features]. */
  pass(x: tf.Tensor4D, hooks?: ReadonlyMap<string, LayerHook>): { probs: tf.Tensor2D; features: tf.Tensor2D };
  /**
   * The guard's drift reference: the source weights with every BN layer on the batch's
   * statistics (bn-adapt's prediction), [n, classes]; null for a model without BN layers.
   */
  referenceProbs(x: tf.Tensor4D): tf.Tensor2D | null;
  /** The source model's BN layers (empty for a GraphModel or a model without BN). */
  readonly batchNorms: readonly BatchNormInfo[];
  dispose(): void;
}

/** A forward pass returning logits and features, as {@link SourceModel.pass}: softmax of the logits, the features. */
function withProbs(
  run: (x: tf.Tensor4D, hooks?: ReadonlyMap<string, LayerHook>) => { logits: tf.Tensor2D; features: tf.Tensor2D },
): SourceModel['pass'] {
  return (x, hooks) =>
    tf.tidy(() => {
      const { logits, features } = run(x, hooks);
      return { probs: tf.softmax(logits) as tf.Tensor2D, features };
    });
}

/** A copy of a LayersModel with its current weights (through the model's own JSON and weight bytes). */
async function cloneLayersModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(artifacts!));
}

/** The source model of `target`, taken now (call it before the strategy's first step). */
export async function createSourceModel(target: AdaptTarget): Promise<SourceModel> {
  if (target.kind === 'graph') {
    const pass = withProbs((x) => target.run(x));
    return {
      batchNorms: [],
      probs: (x) => tf.tidy(() => pass(x).probs),
      pass,
      referenceProbs: () => null,
      dispose: () => undefined,
    };
  }
  const clone = await cloneLayersModel(target.model);
  const executor = new ModelExecutor(clone);
  const batchStatistics = new Map(executor.info.batchNorms.map((bn) => [bn.name, batchStatisticsHook(bn)]));
  const pass = withProbs((x, hooks) => executor.run(x, hooks !== undefined ? { hooks } : {}));
  return {
    batchNorms: executor.info.batchNorms,
    // The pass's features are made either way (the logits layer's input): tidy frees them here.
    probs: (x, hooks) => tf.tidy(() => pass(x, hooks).probs),
    pass,
    referenceProbs: (x) => (batchStatistics.size > 0 ? tf.tidy(() => tf.softmax(executor.logits(x, { hooks: batchStatistics }))) : null),
    dispose: () => {
      executor.dispose();
      clone.dispose();
    },
  };
}

/**
 * Source predictions of a batch without a clone, for the non-finite fallback: valid only right
 * after the strategy's `reset()` (the model holds its source weights again and BN layers run on
 * their moving statistics).
 */
export function sourceProbsAfterReset(target: AdaptTarget, x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => tf.softmax(target.kind === 'graph' ? target.run(x).logits : target.executor.logits(x)));
}
