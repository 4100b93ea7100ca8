import type { StepStats } from '../../strategies/strategy.js';

/** One record of `adapter.metrics$`, emitted after every step. */
export interface StepMetrics {
  stepId: number;
  strategy: string;
  batchSize: number;
  /** Wall time of the step (forward + adaptation + reading the probabilities), ms. */
  stepMs: number;
  /** Mean softmax entropy of the returned predictions (nats). */
  meanEntropy: number;
  /** Mean max-probability of the returned predictions. */
  meanConfidence: number;
  /** How many frames of the batch were predicted as each class. */
  classHistogram: number[];
  /** Accuracy of the batch when labels were supplied. */
  accuracy?: number;
  /** Strategy-specific figures (loss, BN drift, restored weights...). */
  stats: StepStats;
  /** `tf.memory()` after the step. */
  memory: { numTensors: number; numBytes: number };
}

/** Mean entropy, mean confidence, labels and confidences of row-major probabilities. */
export function summarizeProbs(
  probs: Float32Array,
  numClasses: number,
): { labels: Int32Array; confidence: Float32Array; meanEntropy: number; meanConfidence: number; histogram: number[] } {
  const n = probs.length / numClasses;
  const labels = new Int32Array(n);
  const confidence = new Float32Array(n);
  const histogram = new Array<number>(numClasses).fill(0);
  let entropy = 0;
  let conf = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestP = -1;
    for (let k = 0; k < numClasses; k++) {
      const p = probs[i * numClasses + k]!;
      if (p > bestP) {
        bestP = p;
        best = k;
      }
      if (p > 0) entropy -= p * Math.log(p);
    }
    labels[i] = best;
    confidence[i] = bestP;
    histogram[best]!++;
    conf += bestP;
  }
  return { labels, confidence, meanEntropy: entropy / n, meanConfidence: conf / n, histogram };
}
