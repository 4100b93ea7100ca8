/**
 * Refuses a model whose weights are not all finite. A NaN or ±Infinity weight (a corrupt or
 * diverged model file) makes every output non-finite: the adapter would accept it and then
 * answer every step with a 'nonfinite' record. `createAdapter` checks once, before anything is
 * built, so the in-thread and the worker adapter (which calls createAdapter on the model it
 * loaded) refuse such a model alike.
 */
import type * as tf from '../tf.js';
import { InvalidModelError } from '../errors.js';
import { hasNonFinite } from '../input.js';
import { modelKind } from '../tensorLike.js';

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
