/**
 * The conformance table: for every built-in strategy, the options the suite runs it with (small
 * and fast) and which model's output its step returns, as its paper's official code does.
 * A strategy added to the registry needs a row here (tests/conformance/strategies.test.ts fails
 * without one, and tells so).
 */
import type { PredictionCandidate, PredictionFact } from '../../src/testing/index.js';

export interface ConformanceRow {
  /** Strategy options for every check (cheap settings of the strategy's own knobs). */
  options: Record<string, unknown>;
  /** Which model predicts; null with a reason where no single model's forward pass gives the output. */
  prediction: PredictionFact | { none: string };
}

const MODEL_BEFORE: PredictionCandidate = { weights: 'model', state: 'before-step' };
const MODEL_AFTER: PredictionCandidate = { weights: 'model', state: 'after-step' };
const COTTA_TEACHER_AFTER: PredictionCandidate = { weights: { statePrefix: 'cotta/teacher/' }, state: 'after-step' };
const VIDA_TEACHER_AFTER: PredictionCandidate = { weights: { statePrefix: 'vida/teacher/model/' }, state: 'after-step' };

// The suite's batches have 4 frames: the BN strategies' default `stats: 'auto'` would run them on
// moving statistics (below EMA_BELOW_BATCH), so their rows ask for the reference's batch statistics.
export const CONFORMANCE_TABLE: Record<string, ConformanceRow> = {
  // The model as deployed: BN with its moving statistics.
  source: { options: {}, prediction: { ...MODEL_BEFORE, batchNorm: 'moving', distinctFrom: [] } },
  // The model with the batch's BN statistics; nothing is trained, so before = after.
  'bn-adapt': { options: { stats: 'batch' }, prediction: { ...MODEL_BEFORE, batchNorm: 'batch', distinctFrom: [] } },
  'alpha-bn': {
    options: {},
    prediction: { none: 'mixes source and batch BN statistics, which no tfjs forward pass does; the numbers are checked in tests/strategies/alphaBn.test.ts' },
  },
  // DequanWang/tent forward_and_adapt: `outputs = model(x)`, backward, step, `return outputs`: the
  // output of the forward pass that computed the loss, i.e. the model before this step's update.
  tent: {
    options: { stats: 'batch' },
    prediction: { ...MODEL_BEFORE, batchNorm: 'batch', distinctFrom: [MODEL_AFTER], options: { lr: 0.05 } },
  },
  // The suite's random models are far from their own BN statistics, where the guard answers LAME
  // with the source model (guard.maxShift); the rule is tested in tests/safety/shiftDetector.test.ts.
  lame: {
    options: { guard: { maxShift: 0 } },
    prediction: { none: "corrects the batch's outputs over its feature affinities (no model's forward pass); checked in tests/strategies/lame.test.ts" },
  },
  // qinenergy/cotta forward_and_adapt returns `outputs_ema`: the teacher's output, computed before
  // the optimiser step and the teacher's EMA update of this step (threshold 0: the clean-batch
  // teacher output, not the augmentation average). lr and EMA momentum are raised so that
  // student, teacher and the post-update teacher predict measurably differently at step 3.
  // The suite's 4-frame batches are under CoTTA's and ViDA's minBatch (the guard answers them
  // with the source model): `guard: false` runs the reference step, as `stats: 'batch'` above.
  cotta: {
    options: { augmentations: 2, guard: false },
    prediction: {
      weights: { statePrefix: 'cotta/teacher/' },
      state: 'before-step',
      batchNorm: 'batch',
      distinctFrom: [MODEL_BEFORE, MODEL_AFTER, COTTA_TEACHER_AFTER],
      options: { threshold: 0, lr: 0.01, emaMomentum: 0.5 },
    },
  },
  // Yangsenqiao/vida forward_and_adapt: `standard_ema = self.model_ema(x)`, loss against it,
  // step, EMA, restore, `return standard_ema`: the teacher before this step's updates.
  // adapterLr 0 keeps the adapters at their injected zero (up = 0), so the teacher's output is
  // its backbone's and the suite can compute it with a plain forward pass.
  vida: {
    options: { augmentations: 2, highRank: 4, guard: false },
    prediction: {
      weights: { statePrefix: 'vida/teacher/model/' },
      state: 'before-step',
      batchNorm: 'batch',
      distinctFrom: [MODEL_BEFORE, MODEL_AFTER, VIDA_TEACHER_AFTER],
      options: { adapterLr: 0, lr: 0.01, emaMomentum: 0.5 },
    },
  },
  // mariodoebler/test-time-adaptation roid.py forward_and_adapt: `outputs = self.model(imgs_test)`
  // before the loss and the step, returned after prior correction. With priorCorrection off the
  // output is that forward pass's softmax: the model before the step, BN on batch statistics.
  roid: {
    options: { stats: 'batch' },
    prediction: { ...MODEL_BEFORE, batchNorm: 'batch', distinctFrom: [MODEL_AFTER], options: { priorCorrection: false, lr: 0.05 } },
  },
};
