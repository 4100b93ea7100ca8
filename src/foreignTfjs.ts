/**
 * Recognises models made by a different copy of TensorFlow.js than the one edge-tta imports.
 * `instanceof tf.LayersModel` fails for them, and without this check the user would only read
 * "expected a tf.LayersModel" about a model that plainly is one. Two copies appear when an app
 * and edge-tta resolve different tfjs versions (edge-tta takes tfjs as peer dependencies so
 * that the app's copy is the one used).
 */
import * as tf from './tf.js';
import { modelKind } from './tensorLike.js';

/**
 * The message for a model from another tfjs copy, or null when `value` does not look like a
 * tfjs model at all. `where` names the calling function.
 */
export function foreignModelMessage(value: unknown, where: string): string | null {
  const kind = modelKind(value);
  if (kind === null) return null;
  return (
    `${where}: the model is a tf.${kind} made by a different copy of TensorFlow.js than the one edge-tta uses ` +
    `(tfjs-core ${tf.version_core}, tfjs-layers ${tf.version_layers}), so edge-tta cannot run it. ` +
    'Two copies of @tensorflow/tfjs-core / -layers are installed. edge-tta takes them as peer dependencies: ' +
    'install one 4.x version in your app (`npm ls @tensorflow/tfjs-core @tensorflow/tfjs-layers` lists the copies; ' +
    '`npm dedupe` or matching versions in package.json removes the second), and build or load the model with it.'
  );
}
