/**
 * edge-tta: test-time adaptation of TensorFlow.js vision models on edge devices.
 * The public API; everything else is internal.
 */
export { initBackend, type BackendInfo, type BackendOptions } from './backend/initBackend.js';
export {
  createAdapter,
  type Adapter,
  type AdapterBaseOptions,
  type AdapterOptions,
  type BatchPredictions,
  type PredictOutput,
  type StepOutput,
} from './adapter.js';
export {
  isImageSource,
  readPixels,
  type BatchInput,
  type BitmapLike,
  type CanvasLike,
  type ImageSource,
  type RawBatch,
  type VideoLike,
} from './input.js';
export type { PreprocessOptions, ResolvedPreprocess } from './preprocess.js';
export type {
  BudgetInfo,
  FrameErrorMetrics,
  FrameId,
  FramesDroppedMetrics,
  GuardMetrics,
  MemoryFigures,
  MetricsRecord,
  NonFiniteMetrics,
  ShiftMetrics,
  StepMetrics,
  StreamEvent,
  UpdateInfo,
  WorkerRestartMetrics,
} from './metrics/stepMetrics.js';
// Safe adaptation: the guard, the shift detector and the compute budget (docs/safe-adaptation.md).
export type { SafetyOptions } from './safety/controller.js';
export { GUARD_DEFAULTS, STRATEGY_GUARD_DEFAULTS, type GuardOptions } from './safety/guard.js';
export { SHIFT_DEFAULTS, type ShiftDetectionOptions } from './safety/shiftDetector.js';
export type { BudgetOptions } from './safety/budget.js';
export { summarizeMetrics, type MetricsSummary, type SummarizeOptions } from './metrics/summarize.js';
// Named configurations selected on a validation stream (docs/presets.md).
export { PRESETS, type Preset, type PresetFigures, type PresetName } from './presets.js';
export { adapt } from './stream/adapt.js';
export { imageDataToFloat32, prepareFrame, type PreparedFrame } from './stream/frames.js';
export type {
  AdaptStreamOptions,
  BackpressurePolicy,
  DroppedFrameRecord,
  Frame,
  FrameErrorRecord,
  FrameInput,
  ImageDataLike,
  LabeledFrame,
  Prediction,
  RawFrame,
  StreamAdapter,
  StreamRecord,
} from './stream/types.js';
export {
  BackendError,
  BackpressureError,
  DisposedError,
  EdgeTtaError,
  InvalidInputError,
  InvalidModelError,
  InvalidOptionError,
  InvalidSnapshotError,
  ModelInUseError,
  UnknownStrategyError,
  InvalidStrategyError,
  OutOfMemoryError,
  UnsupportedModelError,
  WorkerCrashedError,
  WorkerFaultError,
  WorkerTerminatedError,
  WorkerTimeoutError,
  type EdgeTtaErrorName,
} from './errors.js';
export { ModelExecutor, type ExecutorOptions, type ExecutorOutput, type HookContext, type LayerHook, type LayerHooks, type RunOptions } from './model/executor.js';
export { inspectModel, type BatchNormInfo, type ModelInfo } from './model/introspect.js';
export { batchMoments, batchStatisticsHook, normalizeWith, type ChannelMoments } from './model/batchNorm.js';
export type { GraphModelNodes } from './model/target.js';
export { decodeState, encodeState, type DecodeStateOptions, type EncodedState, type NamedTensors } from './model/weights.js';
export type { LameAffinity, LameOptions } from '../strategies/lame.js';
export {
  getStrategy,
  listStrategies,
  registerStrategy,
  type BuiltinStrategyName,
  type CustomStrategies,
  type StrategyName,
  type StrategyOptions,
} from '../strategies/registry.js';
export type { AdaptTarget, GraphTarget, LayersTarget } from './model/target.js';
export type { AlphaBnOptions } from '../strategies/alphaBn.js';
export type { BnAdaptOptions } from '../strategies/bnAdapt.js';
export type { CottaOptions } from '../strategies/cotta.js';
export { cottaThreshold, type CottaThreshold, type CottaThresholdOptions } from './confidenceThreshold.js';
export type { BnStatsMode, NormStatsOptions } from '../strategies/normStats.js';
export type { RoidOptions } from '../strategies/roid.js';
export type { TentOptimizer, TentOptions } from '../strategies/tent.js';
export type { VidaHka, VidaOptions } from '../strategies/vida.js';
export {
  injectVidaAdapters,
  warmUpVidaAdapters,
  VidaAdapters,
  type VidaAdapterOptions,
  type VidaAdapterSpec,
  type VidaLayerSelection,
  type VidaScales,
  type VidaWarmUpBatch,
  type VidaWarmUpOptions,
} from '../strategies/vidaAdapters.js';
export type {
  MetaFieldSchema,
  StateMetaSchema,
  StateSpec,
  StepResult,
  StepStats,
  Strategy,
  StrategyContext,
  StrategyDefinition,
  StrategyNeeds,
  StrategyState,
  TensorSpec,
} from '../strategies/strategy.js';
// The corruption suite (browser-safe): test your own model under the 15 ImageNet-C / CIFAR-10-C shifts.
export {
  CORRUPTIONS,
  corrupt,
  corruptBatch,
  isCorruptionName,
  type CorruptionName,
  type CorruptOptions,
  type ImageHWC,
  type Severity,
} from './corruptions/index.js';
export { Rng, createRng, hashSeed, mulberry32, type SeededRng } from './random.js';
