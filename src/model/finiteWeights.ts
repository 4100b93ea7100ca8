/**
 * Refuses a model whose weights would make outputs NaN or its snapshots unrestorable: weights
 * that are not all finite, and BatchNormalization layers with a negative moving variance or an
 * epsilon that is not > 0. Either comes from a corrupt or hostile model file: the adapter would
 * accept it and then answer every step with a 'nonfinite' record. `createAdapter` checks once, before anything is built, so the in-thread and
 * the worker adapter (which calls createAdapter on the model it loaded) refuse such a model alike.
 */
import type * as tf from '../tf.js';
import { InvalidModelError } from '../errors.js';
import { hasNonFinite } from '../input.js';
import { modelKind } from '../tensorLike.js';
import { flattenLayers } from './introspect.js';
import { isBatchNorm } from './layerKinds.js';

/** The model's float weights with their names (variables of a LayersModel, constants of a GraphModel). */
function floatWeights(model: tf.LayersModel | tf.GraphModel): { name: string; values: () => Float32Array }[] {
  const kind = modelKind(model);
  // Not a model: createTarget refuses it with its own message.
  if (kind === null) return [];
  if (kind === 'LayersModel') {
    return (model as tf.LayersModel).weights
      .filter((w) => w.dtype === 'float32')
      .map((w) => ({ name: w.originalName || w.name, values: () => w.read().dataSync() as Float32Array }));
  }
  const named = (model as tf.GraphModel).weights;
  return Object.entries(named).flatMap(([name, tensors]) =>
    tensors.filter((t) => t.dtype === 'float32').map((t, i) => ({ name: tensors.length > 1 ? `${name}[${i}]` : name, values: () => t.dataSync() as Float32Array })),
  );
}

/**
 * Throws {@link InvalidModelError} naming the first weight with a NaN or ±Infinity value, and
 * how many of its values are not finite. `owner` starts the message ('createAdapter').
 */
export function checkFiniteWeights(model: tf.LayersModel | tf.GraphModel, owner: string): void {
  for (const { name, values } of floatWeights(model)) {
    const v = values();
    const first = hasNonFinite(v);
    if (first >= 0) {
      let bad = 0;
      for (let i = first; i < v.length; i++) bad += Number.isFinite(v[i]!) ? 0 : 1;
      throw new InvalidModelError(
        `${owner}: the model's weight '${name}' has ${bad} of ${v.length} values that are not finite (the first, at index ${first}, is ${String(v[first])}). ` +
          'The model file is corrupt or the model diverged in training: every prediction would be NaN. Load an intact copy of the model.',
      );
    }
  }
}

/**
 * Throws {@link InvalidModelError} naming the first BatchNormalization layer of a LayersModel
 * whose epsilon is not a finite number > 0, or whose moving variance is negative at some channel
 * (its index and value): the layer divides by sqrt(variance + epsilon), so where that sum is <= 0
 * the channel is NaN or infinite in every prediction that uses the moving statistics (the source
 * model, the guard's source pass, LAME), and `restore` refuses any negative variance, so such a
 * state's snapshots would not restore. Run after
 * {@link checkFiniteWeights} (the variances are finite here). A GraphModel is not checked.
 *
 * Epsilon must be > 0 because the other variances a BN layer meets are only known to be >= 0:
 * a batch's variance (0 for a constant channel) and the moving variances of a restored snapshot
 * (`restore` refuses negative ones: docs/snapshots.md).
 */
export function checkBatchNormVariances(model: tf.LayersModel | tf.GraphModel, owner: string): void {
  if (modelKind(model) !== 'LayersModel') return;
  const fix = 'The model file is corrupt or was not made by training (a trained layer has epsilon > 0 and moving variances >= 0): load an intact copy of the model.';
  for (const layer of flattenLayers(model as tf.LayersModel)) {
    if (!isBatchNorm(layer)) continue;
    const { epsilon, movingVariance } = layer as unknown as { epsilon: unknown; movingVariance?: { read(): tf.Tensor } };
    // The kernels add epsilon in float32 on wasm (rounded to float32 first) and in float64 on
    // cpu: epsilon must be > 0 both ways. Variances must be >= 0, as `restore` wants them (a
    // trained layer's moving variance is a mean of variances): between -epsilon and 0 the
    // predictions would be finite, but the adapter's snapshots would not restore.
    const floor = typeof epsilon === 'number' ? Math.min(epsilon, Math.fround(epsilon)) : NaN;
    if (!(floor > 0 && floor < Infinity)) {
      throw new InvalidModelError(
        `${owner}: the BatchNormalization layer '${layer.name}' has epsilon ${String(epsilon)}; it must be a finite number > 0 (also as a float32), ` +
          `or a channel whose variance is 0 divides by zero and gives NaN. ${fix}`,
      );
    }
    // A layer not built yet has no weights (and no prediction runs through it unbuilt).
    if (movingVariance === undefined) continue;
    const v = movingVariance.read().dataSync();
    let first = -1;
    let bad = 0;
    for (let i = 0; i < v.length; i++) {
      if (v[i]! >= 0) continue;
      if (first < 0) first = i;
      bad++;
    }
    if (first >= 0) {
      throw new InvalidModelError(
        `${owner}: the BatchNormalization layer '${layer.name}' has a moving variance of ${v[first]} at index ${first} (${bad} of ${v.length} channels), ` +
          `and a variance must be >= 0: where moving variance + epsilon (${epsilon as number}) is <= 0 every prediction through that layer's moving statistics is NaN or infinite, and no snapshot of such a state restores. ${fix}`,
      );
    }
  }
}
