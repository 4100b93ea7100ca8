/**
 * `edge-tta/testing`: the strategy conformance suite, for strategies you write and register
 * yourself. It does not depend on a test framework: pass your framework's `describe`/`it` to
 * {@link runStrategyConformance}, or run the checks of {@link strategyConformanceChecks} yourself.
 */
export {
  conformanceBatches,
  runStrategyConformance,
  strategyConformanceChecks,
  type ConformanceCheck,
  type ConformanceCheckId,
  type ConformanceOptions,
  type PredictionCandidate,
  type PredictionFact,
  type TestFramework,
  type WeightSource,
  type WorkerAdapterFactory,
} from './conformance.js';
export { CONFORMANCE_GRAPH_MODEL, CONFORMANCE_MODELS, tinyBnResNet, tinyGraphMlp, tinyPlainCnn, type ConformanceGraphModel, type ConformanceModel } from './models.js';
export { ConformanceError } from '../errors.js';
