/**
 * The SDK's typed errors. Each has a stable `name` (it survives a Comlink / worker
 * boundary, where `instanceof` does not) and a message that names the bad value,
 * what was expected and the fix.
 */

/** Base class of every error edge-tta throws on purpose. */
export class EdgeTtaError extends Error {
  /** `options.cause`: the underlying error (e.g. a tfjs or file-system error), as `Error.cause`. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A batch or frame is malformed: wrong rank, shape or dtype, empty, or not finite. */
export class InvalidInputError extends EdgeTtaError {
  override name = 'InvalidInputError' as const;
}

/** The model cannot be used with the requested strategy (no BatchNormalization, several outputs, ...). */
export class UnsupportedModelError extends EdgeTtaError {
  override name = 'UnsupportedModelError' as const;
}

/**
 * The model's files, artifacts or weights are unusable: a model file that is missing or
 * unreadable, a model.json that is not JSON or lacks `modelTopology` / `weightsManifest`,
 * weight bytes that do not match the manifest (truncated), weights that are not finite (NaN,
 * ±Infinity), or a BatchNormalization layer with a negative moving variance or an epsilon that is
 * not a finite number > 0. `cause` holds the underlying error (file system, JSON, tfjs) when there is one.
 * Nothing was created.
 */
export class InvalidModelError extends EdgeTtaError {
  override name = 'InvalidModelError' as const;
}

/** A strategy name is not in the registry. */
export class UnknownStrategyError extends EdgeTtaError {
  override name = 'UnknownStrategyError' as const;
}

/** An option has a value outside its valid range. */
export class InvalidOptionError extends EdgeTtaError {
  override name = 'InvalidOptionError' as const;
}

/** The requested tfjs backend could not be initialised. */
export class BackendError extends EdgeTtaError {
  override name = 'BackendError' as const;
}

/** The adapter or strategy was used after `dispose()`. */
export class DisposedError extends EdgeTtaError {
  override name = 'DisposedError' as const;
}

/** The names of the SDK's error classes, stable across realms and workers. */
export type EdgeTtaErrorName =
  | 'InvalidInputError'
  | 'UnsupportedModelError'
  | 'InvalidModelError'
  | 'UnknownStrategyError'
  | 'InvalidOptionError'
  | 'BackendError'
  | 'DisposedError'
  | 'BackpressureError'
  | 'InvalidSnapshotError'
  | 'ModelInUseError'
  | 'WorkerCrashedError'
  | 'WorkerTimeoutError'
  | 'WorkerTerminatedError'
  | 'ConformanceError'
  | 'InvalidStrategyError'
  | 'OutOfMemoryError';

/** `registerStrategy` was given a malformed definition, or a name that is already registered. */
export class InvalidStrategyError extends EdgeTtaError {
  override name = 'InvalidStrategyError' as const;
}

/** A stream's bounded frame buffer overflowed under the `'buffer'` backpressure policy. */
export class BackpressureError extends EdgeTtaError {
  override name = 'BackpressureError' as const;
}

/**
 * Snapshot bytes were rejected by `restore` (or `decodeState`): not an edge-tta state, corrupt,
 * truncated, out of bounds, of another strategy or model, or with values out of range. Nothing
 * was changed: the adapter keeps its state. Also thrown by `snapshot()` for a state `restore`
 * would refuse (non-finite values), instead of writing bytes that cannot be restored. See
 * docs/snapshots.md for the rules.
 */
export class InvalidSnapshotError extends EdgeTtaError {
  override name = 'InvalidSnapshotError' as const;
}

/**
 * The model already has an adapter: one adapter per model at a time (its dispose puts the source
 * weights back, so a second one would take the first's adapted weights as its source).
 */
export class ModelInUseError extends EdgeTtaError {
  override name = 'ModelInUseError' as const;
}

/**
 * Base class of the worker adapter's faults: the worker died, hung or was terminated while a
 * call was pending. Created on the calling side (never thrown inside a worker).
 */
export class WorkerFaultError extends EdgeTtaError {
  /**
   * True when auto-resume (`resume` option) replaces the worker: this call is lost, later calls
   * run on a new worker restored from the latest snapshot. False when the adapter is finished.
   */
  readonly resuming: boolean;

  constructor(message: string, options: { resuming?: boolean; cause?: unknown } = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.resuming = options.resuming ?? false;
  }
}

/** The adapter's worker died (crash, `process.exit`, uncaught error) while a call was pending. */
export class WorkerCrashedError extends WorkerFaultError {
  override name = 'WorkerCrashedError' as const;
}

/** A worker call did not settle within its timeout (`timeoutMs`): the worker is deemed hung and is stopped. */
export class WorkerTimeoutError extends WorkerFaultError {
  override name = 'WorkerTimeoutError' as const;
}

/** The call was pending when `terminate()` (or `dispose()`) stopped the worker. */
export class WorkerTerminatedError extends WorkerFaultError {
  override name = 'WorkerTerminatedError' as const;
}

/** A strategy broke its contract in the conformance suite (`edge-tta/testing`); the message names the check and the values. */
export class ConformanceError extends EdgeTtaError {
  override name = 'ConformanceError' as const;
}

/**
 * An allocation on the wasm backend would take the live tensor bytes past the memory limit
 * (`initBackend({ memoryLimitMB })`), so it was refused before the wasm heap ran out (which would
 * abort the tfjs runtime). The step that hit it changed nothing; the adapter stays usable (a
 * smaller batch, or after disposing other adapters, may fit). See docs/performance.md for the
 * peak memory of each strategy.
 */
export class OutOfMemoryError extends EdgeTtaError {
  override name = 'OutOfMemoryError' as const;
}
