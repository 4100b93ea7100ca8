/**
 * BN-input observers (`observeBnInput`): a source pass whose BN hooks only observe the BN input
 * (the shift and domain-mixture detectors) keeps each conv -> BN chain folded. The observer gets
 * the folded output and the per-channel map back to the input; the moments it maps back equal the
 * BN input's moments from the unfolded pass (the layers' own computation), on cpu and wasm, with
 * negative gammas and non-zero betas; a zero gamma (not invertible) falls back to the unfolded
 * layer; the pass's outputs are those of a pass without hooks; the shift detector's distance is
 * the same either way.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { ModelExecutor } from '../../src/model/executor.js';
import { recordingObservers } from '../helpers/bnObservers.js';
import { SHIFT_DEFAULTS, ShiftDetector } from '../../src/safety/shiftDetector.js';
import type { SourceModel } from '../../src/safety/sourceModel.js';
import { mobileNetV2Style, randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';

/**
 * The helpers' seeded BN parameters, with mixed-sign gammas (about 30% negative), betas in
 * [-1, 1), and with `zeroGamma` channel 0 of the first BN's gamma at 0.
 */
function setBatchNorms(model: tf.LayersModel, seed: number, zeroGamma = false): void {
  randomizeBatchNorms(model, seed);
  const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  bns.forEach((layer, i) => {
    const weight = (suffix: string) => layer.weights.find((w) => w.originalName.endsWith(suffix))!;
    const gamma = weight('gamma');
    const beta = weight('beta');
    gamma.write(tf.tidy(() => {
      let g = tf.mul(gamma.read(), tf.sign(tf.sub(tf.randomUniform(gamma.shape as number[], 0, 1, 'float32', seed + 100 + i), 0.3)));
      if (zeroGamma && i === 0) g = tf.mul(g, tf.sub(1, tf.oneHot([0], g.shape[0]!).reshape([-1])));
      return g;
    }));
    beta.write(tf.tidy(() => tf.mul(beta.read(), 10)));
  });
}

function kernels(run: () => void): Promise<string[]> {
  return tf.profile(() => tf.tidy(run)).then((p) => p.kernels.map((k) => k.name));
}

const CASES = [
  { name: 'small ResNet', build: () => smallResNet(), shape: [6, 12, 12, 1] },
  { name: 'MobileNetV2-style', build: () => mobileNetV2Style(), shape: [5, 12, 12, 3] },
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`BN-input observers on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend({ backend });
    });

    for (const c of CASES) {
      it(`${c.name}: the folded pass's mapped moments equal the BN inputs' moments, no BN kernel runs, outputs unchanged`, async () => {
        const model = c.build();
        setBatchNorms(model, 11);
        const folded = new ModelExecutor(model);
        const unfolded = new ModelExecutor(model, { foldBatchNorm: false });
        const x = randomBatch(c.shape, 5);
        const a = recordingObservers(folded);
        const b = recordingObservers(unfolded);
        const withObservers = tf.tidy(() => folded.logits(x, { hooks: a.hooks }).arraySync());
        tf.tidy(() => unfolded.logits(x, { hooks: b.hooks }));
        expect(a.moments.size).toBe(folded.info.batchNorms.length);
        // Every conv -> BN chain folded (these models have no other BN), and the moments agree.
        for (const [name, want] of b.moments) {
          const got = a.moments.get(name)!;
          expect(got.folded, name).toBe(true);
          expect(want.folded).toBe(false);
          got.mean.forEach((v, k) => expect(Math.abs(v - want.mean[k]!), `${name} mean ${k}`).toBeLessThan(1e-4 * (1 + Math.abs(want.mean[k]!))));
          got.variance.forEach((v, k) => expect(Math.abs(v - want.variance[k]!), `${name} variance ${k}`).toBeLessThan(1e-4 * want.variance[k]! + 1e-10));
        }
        // The observers change nothing: the same outputs as a pass without hooks.
        const plain = tf.tidy(() => folded.logits(x).arraySync());
        expect(Math.max(...withObservers.flat().map((v, i) => Math.abs(v - plain.flat()[i]!)))).toBeLessThan(1e-5);
        // Folded: no BN kernel in the pass; a hook that is not an observer unfolds every BN.
        const observed = await kernels(() => folded.logits(x, { hooks: recordingObservers(folded).hooks }));
        expect(observed.filter((k) => k === 'FusedBatchNorm')).toEqual([]);
        const opaque = new Map(folded.info.batchNorms.map((bn) => [bn.name, ({ original }: { original: () => tf.Tensor }) => original()]));
        const hooked = await kernels(() => folded.logits(x, { hooks: opaque }));
        expect(hooked.filter((k) => k === 'FusedBatchNorm').length).toBe(folded.info.batchNorms.length);
        x.dispose();
        folded.dispose();
        model.dispose();
      });
    }

    it('a zero gamma is not invertible: that BN runs unfolded and its observer sees the input itself', async () => {
      const model = smallResNet();
      setBatchNorms(model, 12, true);
      const exec = new ModelExecutor(model);
      const reference = new ModelExecutor(model, { foldBatchNorm: false });
      const x = randomBatch([6, 12, 12, 1], 6);
      const a = recordingObservers(exec);
      const b = recordingObservers(reference);
      tf.tidy(() => exec.logits(x, { hooks: a.hooks }));
      tf.tidy(() => reference.logits(x, { hooks: b.hooks }));
      const first = exec.info.batchNorms[0]!.name;
      expect(a.moments.get(first)!.folded).toBe(false);
      expect(a.moments.get(first)!.mean).toEqual(b.moments.get(first)!.mean);
      expect(exec.info.batchNorms.slice(1).every((bn) => a.moments.get(bn.name)!.folded)).toBe(true);
      const names = await kernels(() => exec.logits(x, { hooks: recordingObservers(exec).hooks }));
      expect(names.filter((k) => k === 'FusedBatchNorm').length).toBe(1);
      x.dispose();
      exec.dispose();
      model.dispose();
    });

    it("the shift detector's distance is the same with the BN folded or not", async () => {
      const model = mobileNetV2Style();
      setBatchNorms(model, 13);
      const distances: number[][] = [];
      for (const fold of [true, false]) {
        const exec = new ModelExecutor(model, { foldBatchNorm: fold });
        const detector = new ShiftDetector({ ...SHIFT_DEFAULTS }, { batchNorms: exec.info.batchNorms } as unknown as SourceModel);
        const d: number[] = [];
        for (let i = 0; i < 3; i++) {
          const x = tf.tidy(() => tf.add(tf.mul(randomBatch([5, 12, 12, 3], 20 + i), 1 + i), i * 0.5));
          tf.tidy(() => exec.logits(x, { hooks: detector.hooks }));
          x.dispose();
          await detector.measure(true);
          d.push(detector.distance);
        }
        distances.push(d);
        detector.dispose();
        exec.dispose();
      }
      // Shifted batches: distances well above 0, so the comparison below is not of zeros.
      expect(Math.min(...distances[0]!)).toBeGreaterThan(0.1);
      distances[0]!.forEach((v, i) => expect(Math.abs(v - distances[1]![i]!)).toBeLessThan(1e-5 * distances[1]![i]!));
      model.dispose();
    });
  });
}
