import * as tf from '@tensorflow/tfjs';
import { observeBnInput, type BnInputAffine, type LayerHook, type ModelExecutor } from '../../src/model/executor.js';

/** One BN input's channel moments as an observer saw them, and whether the pass had the BN folded. */
export interface ObservedMoments {
  mean: number[];
  variance: number[];
  folded: boolean;
}

/** Hooks recording each BN input's channel moments: mapped back from the folded output when `affine` is given. */
export function recordingObservers(exec: ModelExecutor): { hooks: Map<string, LayerHook>; moments: Map<string, ObservedMoments> } {
  const moments = new Map<string, ObservedMoments>();
  const hooks = new Map(
    exec.info.batchNorms.map((bn) => [
      bn.name,
      observeBnInput((y: tf.Tensor, affine: BnInputAffine | null) => {
        const m = tf.moments(y, [0, 1, 2]);
        const mean = Array.from(m.mean.dataSync());
        const variance = Array.from(m.variance.dataSync());
        tf.dispose([m.mean, m.variance]);
        if (affine !== null) {
          for (let c = 0; c < mean.length; c++) {
            mean[c] = mean[c]! * affine.scale[c]! + affine.offset[c]!;
            variance[c] = variance[c]! * affine.scale[c]! ** 2;
          }
        }
        moments.set(bn.name, { mean, variance, folded: affine !== null });
      }),
    ]),
  );
  return { hooks, moments };
}
