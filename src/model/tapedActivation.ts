/**
 * ReLU, ReLU6 and clipped ReLU under a gradient tape as one op each way. tfjs-layers runs a
 * `ReLU({ maxValue })` layer as relu then clip, whose gradients are five to seven full-size ops
 * (step, cast and multiply for relu; two comparisons, logicalAnd, zerosLike and select for the
 * clip), and keeps both outputs for the backward pass. Here the forward is one op (relu, relu6
 * or clipByValue) and the backward one pass (src/fused `reluBackwardFused` on wasm). Same values.
 * On MobileNetV2 (35 ReLU6) this was about 40% of a Tent step.
 */
import * as tf from '../tf.js';
import { reluBackwardFused } from '../fused/index.js';
import { activationOf } from './layerKinds.js';

/**
 * A (clipped) ReLU: the clip value (Infinity: none) and whether the gradient passes at exactly
 * the clip value. tfjs differs by layer there: a `ReLU({ maxValue })` layer (relu, then clip) and
 * `tf.relu6` pass it, the `'relu6'` activation of tfjs-layers (minimum(6, relu(x))) does not.
 */
export interface ReluClip {
  max: number;
  maxInclusive: boolean;
}

/** min(max(x, 0), max) as one differentiable op, with the gradient of the layer `clip` describes. */
export function tapedRelu(x: tf.Tensor, clip: ReluClip): tf.Tensor {
  const { max: maxValue, maxInclusive } = clip;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xs]);
    // clipByValue gives -0 for an input -0 where relu gives +0: equal values.
    const value = maxValue === Infinity ? tf.relu(xs) : maxValue === 6 ? tf.relu6(xs) : tf.clipByValue(xs, 0, maxValue);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const xv = saved[0]!;
        const fused = reluBackwardFused(xv, dy, maxValue, maxInclusive);
        if (fused !== null) return fused;
        // tfjs's own chains: dy * step(x) (NaN for a NaN x) after the clip's select of dy or 0, or
        // after minimum's dy * (x < 6).
        const clipped = maxInclusive
          ? tf.where(tf.lessEqual(xv, maxValue), dy, tf.zerosLike(dy))
          : tf.mul(dy, tf.cast(tf.less(xv, maxValue), 'float32'));
        return tf.mul(clipped, tf.step(xv));
      },
    };
  }) as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}

/**
 * The clip of a layer that is only a (clipped) ReLU: a `ReLU` layer (its `maxValue`, or none) or
 * an `Activation('relu' | 'relu6')`; null for any other layer.
 */
export function reluLayerClip(layer: tf.layers.Layer): ReluClip | null {
  const cls = layer.getClassName();
  if (cls === 'ReLU') {
    const max = (layer.getConfig() as { maxValue?: number | null }).maxValue;
    return { max: max == null ? Infinity : max, maxInclusive: true };
  }
  if (cls === 'Activation') return reluActivationClip(activationOf(layer));
  return null;
}

/** The clip of a tfjs-layers activation function by name: 'relu' and 'relu6', else null. */
export function reluActivationClip(activation: string): ReluClip | null {
  if (activation === 'relu') return { max: Infinity, maxInclusive: true };
  if (activation === 'relu6') return { max: 6, maxInclusive: false };
  return null;
}
