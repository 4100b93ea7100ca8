/**
 * BN-input observers on a folded BN with a tiny gamma: the folded output is beta + gamma * u in
 * float32, so the BN input mapped back from it loses ~1e-7 * |beta / gamma| (normalised) of
 * precision, and with a gamma below float32's square-root range its variance underflows to 0.
 * Such a layer must run unfolded (its observer sees the input itself), so the moments and the
 * shift detector's distance stay those of the unfolded pass; a gamma small but within range of its
 * beta still folds.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { recordingObservers } from '../helpers/bnObservers.js';
import { SHIFT_DEFAULTS, ShiftDetector } from '../../src/safety/shiftDetector.js';
import type { SourceModel } from '../../src/safety/sourceModel.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

/** The first BN's channel 0 set to (gamma, beta); the other channels keep the helpers' values. */
function setChannel0(model: tf.LayersModel, gamma: number, beta: number): string {
  const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
  const weight = (suffix: string) => bn.weights.find((w) => w.originalName.endsWith(suffix))!;
  for (const [w, v] of [[weight('gamma'), gamma], [weight('beta'), beta]] as const) {
    const values = Array.from(w.read().dataSync());
    values[0] = v;
    w.write(tf.tensor1d(values));
  }
  return bn.name;
}

/** The first BN's channel-0 input moments seen by observers, folded executor and unfolded. */
function channel0(model: tf.LayersModel, name: string, x: tf.Tensor4D) {
  const out = [true, false].map((fold) => {
    const exec = new ModelExecutor(model, { foldBatchNorm: fold });
    const r = recordingObservers(exec);
    tf.tidy(() => {
      exec.logits(x, { hooks: r.hooks });
    });
    exec.dispose();
    const m = r.moments.get(name)!;
    return { mean: m.mean[0]!, variance: m.variance[0]!, folded: m.folded };
  });
  return { folded: out[0]!, unfolded: out[1]! };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`BN-input observers with a tiny gamma on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend({ backend });
    });

    // (gamma, beta): |beta / gamma| = 1e6; a gamma whose output variance underflows float32.
    for (const [gamma, beta] of [[1e-6, 1], [-1e-6, -0.5], [1e-25, 0]] as const) {
      it(`gamma ${gamma}, beta ${beta}: the BN input's moments are the unfolded pass's`, () => {
        const model = smallResNet();
        randomizeBatchNorms(model, 21);
        const name = setChannel0(model, gamma, beta);
        const x = randomBatch([8, 12, 12, 1], 4);
        const { folded, unfolded } = channel0(model, name, x);
        expect(unfolded.variance).toBeGreaterThan(1e-4);
        // Not invertible in float32: the layer runs unfolded, its observer sees the input itself.
        expect(folded.folded).toBe(false);
        const sd = Math.sqrt(unfolded.variance);
        expect(Math.abs(folded.mean - unfolded.mean) / sd).toBeLessThan(1e-3);
        expect(Math.abs(folded.variance / unfolded.variance - 1)).toBeLessThan(1e-3);
        x.dispose();
        model.dispose();
      });
    }

    it('a small gamma within 1e3 of its beta still folds, with the moments of the unfolded pass', () => {
      const model = smallResNet();
      randomizeBatchNorms(model, 22);
      const name = setChannel0(model, 1e-4, 0.05);
      const x = randomBatch([8, 12, 12, 1], 5);
      const { folded, unfolded } = channel0(model, name, x);
      expect(folded.folded).toBe(true);
      // In the units the shift detector's distance takes them: the mean against the source spread
      // sqrt(var_src + eps), the variance against var + eps (the float32 tf.moments of the folded
      // output, ~0.05 +- 1e-4 * u, costs ~2e-4 here; the wasm detector's f64 sums less).
      const bn = model.layers.find((l) => l.name === name)!;
      const eps = (bn as unknown as { epsilon: number }).epsilon;
      const sourceVar = bn.weights.find((w) => w.originalName.endsWith('moving_variance'))!.read().dataSync()[0]!;
      expect(Math.abs(folded.mean - unfolded.mean) / Math.sqrt(sourceVar + eps)).toBeLessThan(2e-3);
      expect(Math.abs(folded.variance - unfolded.variance) / (unfolded.variance + eps)).toBeLessThan(2e-3);
      x.dispose();
      model.dispose();
    });

    it("the shift detector's distance with a tiny gamma is the unfolded pass's", async () => {
      const model = smallResNet();
      randomizeBatchNorms(model, 23);
      setChannel0(model, 1e-8, 0.5);
      const distances: number[] = [];
      for (const fold of [true, false]) {
        const exec = new ModelExecutor(model, { foldBatchNorm: fold });
        const detector = new ShiftDetector({ ...SHIFT_DEFAULTS }, { batchNorms: exec.info.batchNorms } as unknown as SourceModel);
        const x = randomBatch([8, 12, 12, 1], 6);
        tf.tidy(() => {
          exec.logits(x, { hooks: detector.hooks });
        });
        await detector.measure(true);
        distances.push(detector.distance);
        x.dispose();
        detector.dispose();
        exec.dispose();
      }
      expect(Math.abs(distances[0]! - distances[1]!)).toBeLessThan(1e-5 * distances[1]!);
      model.dispose();
    });
  });
}
