/**
 * One adapter per model at a time. An adapter takes the model's weights at creation as its
 * source and puts them back on dispose; a second adapter on the same model would take the first
 * one's adapted weights as its "source" (and restore those on dispose), and two strategies
 * would write the same variables. So `createAdapter` leases the model, and the lease ends when
 * the adapter is disposed (or its creation fails). Only a `tf.LayersModel` is leased: strategies
 * never write a `tf.GraphModel` (output-level only), so several adapters may share one. Worker
 * adapters run on their own copy of the model and do not lease the original.
 */
import * as tf from './tf.js';
import { ModelInUseError } from './errors.js';

const leased = new WeakMap<object, string>();

/** Leases `model` to an adapter of `strategy`; throws {@link ModelInUseError} if it already has one. */
export function leaseModel(model: tf.LayersModel | tf.GraphModel, strategy: string): () => void {
  if (!(model instanceof tf.LayersModel)) return () => undefined;
  const holder = leased.get(model);
  if (holder !== undefined) {
    throw new ModelInUseError(
      `This model already has an adapter (strategy '${holder}'); one adapter per model at a time. ` +
        'Dispose the first adapter (it puts the source weights back) before creating another, or load a second copy of the model.',
    );
  }
  leased.set(model, strategy);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    leased.delete(model);
  };
}
