/**
 * The strategy conformance suite: what every strategy, built-in or registered by a user, must
 * guarantee through the `Adapter` interface, checked on tiny models. It is framework-free:
 * {@link strategyConformanceChecks} returns the checks as async functions that throw
 * {@link ConformanceError}; {@link runStrategyConformance} registers them with the
 * `describe`/`it` of any test framework (vitest, jest, mocha, node:test).
 *
 * The contract checked, on every model the strategy's `needs` allow (and the typed refusal on
 * the others, a tf.GraphModel included):
 * - `stateSpec()` describes exactly what `snapshot()` gives (names, shapes, dtypes, value ranges, meta);
 * - the strategy keeps none of the tensors the adapter passes in or takes back and disposes
 *   (the batch, the returned probabilities, snapshot and restore tensors);
 * - `stepOnSourcePass()`, where the strategy has it (LAME), gives what `step()` gives;
 * - `predictCheap()`, where the strategy has it (CoTTA), changes no state and leaks nothing;
 * - `reset()` restores the whole state bit-identically, and the next step equals a fresh adapter's;
 * - `snapshot()`/`restore()` round-trip, and a restored adapter continues step for step exactly;
 * - `dispose()` puts the source weights back, and a disposed adapter throws `DisposedError`;
 * - `tf.memory()` stays flat over create/step/dispose cycles and over a long run of steps;
 * - bad input (shape, dtype, NaN, empty, labels, snapshot bytes, unknown options, option values
 *   of the wrong type) gives the typed error and leaves the state unchanged;
 * - every step and prediction is probabilities ([n, classes] rows in [0, 1] summing to 1);
 * - runs with the same seed are bit-identical;
 * - the strategy really steps in these checks (a guard answering every step with the source
 *   model, e.g. batches under the strategy's `minBatch`, fails them instead of passing untested);
 * - `getConfig()` is JSON and round-trips through `createAdapter`;
 * - `predict()` leaves the state and `tf.memory()` unchanged and gives what `step()` then returns;
 * - a strategy that allows a tf.GraphModel keeps these guarantees on one;
 * - optionally: a worker adapter (which imports a user strategy's module itself, `strategyModule`)
 *   gives the in-thread adapter's outputs, predictions and state, snapshots restore across the
 *   boundary both ways, and errors arrive typed; and the prediction comes from the model the
 *   strategy says (e.g. a mean teacher, or the pre-update model).
 */
import * as tf from '../tf.js';
import { createAdapter, type Adapter, type StepOutput } from '../adapter.js';
import { ConformanceError, DisposedError, InvalidInputError, InvalidOptionError, InvalidSnapshotError, UnsupportedModelError } from '../errors.js';
import type { RawBatch } from '../input.js';
import { inspectModel } from '../model/introspect.js';
import { checkStateMeta } from '../model/stateSpec.js';
import { createTarget } from '../model/target.js';
import { decodeState, disposeTensors, encodeState } from '../model/weights.js';
import { ADAPTER_OPTION_NAMES } from '../optionNames.js';
import { mulberry32 } from '../random.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';
import type { Strategy, StrategyDefinition } from '../../strategies/strategy.js';
import { ensure, ensureBitEqual, ensureSameBytes, ensureSameState, ensureWeightsEqual, jsonEqual, maxAbsDiff, weightBits } from './compare.js';
import { CONFORMANCE_GRAPH_MODEL, CONFORMANCE_MODELS, type ConformanceGraphModel, type ConformanceModel } from './models.js';

/** Where a set of weights comes from: the adapted model itself, or a copy kept in the strategy state. */
export type WeightSource =
  /** The model the adapter wraps (the student, for mean-teacher methods). */
  | 'model'
  /** A model copy in the state, its tensors named `<statePrefix><weight name>` (e.g. CoTTA's teacher: `'cotta/teacher/'`). */
  | { statePrefix: string };

/** One candidate model output: a weight source, read before or after the step's update. */
export interface PredictionCandidate {
  weights: WeightSource;
  /** `'before-step'`: the state the step started from; `'after-step'`: the state it left. */
  state: 'before-step' | 'after-step';
}

/**
 * Which model's output a strategy's step returns. The suite computes every candidate itself
 * (plain `tf.LayersModel` forward passes on a copy of the model holding the candidate's weights,
 * read from snapshots), checks the step returned the declared one, and that the declared one
 * differs measurably from each of `distinctFrom` at that step (so the check can fail).
 * Weights are read from the snapshot under their names in the model (`stem_conv/kernel`), behind
 * the candidate's prefix; weights absent from the snapshot are taken as the source values.
 */
export interface PredictionFact extends PredictionCandidate {
  /** How BatchNormalization layers normalise in that forward pass: the batch's statistics or the moving ones. */
  batchNorm: 'batch' | 'moving';
  /** Candidates the declared one must differ from at the checked step (empty for strategies that do not update). */
  distinctFrom: readonly PredictionCandidate[];
  /** Strategy options for this check only (e.g. a larger learning rate so the candidates differ). */
  options?: Record<string, unknown>;
  /** The (1-based) step checked; at least 2 for mean teachers, whose teacher equals the student at step 1. Defaults to 3. */
  step?: number;
}

/**
 * Makes a worker adapter; the suite passes the model and the flat `createAdapter` options
 * (`strategy` included, and `strategyModules` when {@link ConformanceOptions.strategyModule} is
 * given): pass them on as they are, `(model, options) => createWorkerAdapter({ model, ...options })`.
 */
export type WorkerAdapterFactory = (model: tf.LayersModel, options: Record<string, unknown>) => Promise<Adapter>;

/** Options of {@link strategyConformanceChecks}. */
export interface ConformanceOptions {
  /** Strategy options every check uses (keep them cheap: few augmentations, small ranks). Defaults to none. */
  options?: Record<string, unknown>;
  /** Which model predicts (see {@link PredictionFact}); `null` or absent skips that check. */
  prediction?: PredictionFact | null;
  /** The models to run on. Defaults to {@link CONFORMANCE_MODELS} (a BN ResNet and a CNN without BN). */
  models?: readonly ConformanceModel[];
  /**
   * The tf.GraphModel of the `graph-model` check: a strategy whose `needs` allow a GraphModel
   * (`layersModel` and `batchNorm` false) must step, snapshot, restore, reset, predict and
   * dispose on it; any other must be refused with `UnsupportedModelError`. Defaults to
   * {@link CONFORMANCE_GRAPH_MODEL}.
   */
  graphModel?: ConformanceGraphModel;
  /** Frames per batch. Defaults to 4. */
  batchSize?: number;
  /** Steps of the long memory check, on the first model the strategy runs on (20 on the others). Defaults to 200. */
  longRunSteps?: number;
  /**
   * `predict(batch)` must equal what `step(batch)` then returns (true of every built-in strategy:
   * each predicts with the model its step returns). Defaults to true.
   */
  predictMatchesStep?: boolean;
  /** Run only these checks. Defaults to all. */
  only?: readonly ConformanceCheckId[];
  /** Leave out these checks. */
  skip?: readonly ConformanceCheckId[];
  /** Seed of the adapters and of the batches. Defaults to 1. */
  seed?: number;
  /**
   * Tolerance of the prediction, step-on-source-pass and worker checks (max abs difference of
   * probabilities; relative for state values and stats). Defaults to 1e-4.
   */
  tolerance?: number;
  /**
   * If given, a worker adapter made by it must give the in-thread adapter's outputs,
   * predictions and state (checked on the first model the strategy runs on). The strategy must
   * be known inside the worker: true of the built-in ones; for one of yours pass its module as
   * {@link strategyModule}.
   */
  createWorkerAdapter?: WorkerAdapterFactory;
  /**
   * The module that default-exports this strategy's definition (or an array holding it), as a
   * worker adapter's `strategyModules` takes it: a URL the worker can import (in Node also a file
   * path). The worker check passes it to {@link createWorkerAdapter} as `strategyModules:
   * [strategyModule]`, so the worker imports and registers the strategy itself, as an app's
   * worker does. Needs `createWorkerAdapter` (unless the `worker` check is left out).
   */
  strategyModule?: string;
}

/** The checks of the suite, by id (for {@link ConformanceOptions.only} and `skip`). */
export type ConformanceCheckId =
  | 'registered'
  | 'unknown-option'
  | 'bad-option'
  | 'unsupported-model'
  | 'state-spec'
  | 'ownership'
  | 'step-on-source-pass'
  | 'predict-cheap'
  | 'reset'
  | 'snapshot-restore'
  | 'dispose'
  | 'memory-cycles'
  | 'memory-long-run'
  | 'bad-input'
  | 'determinism'
  | 'config-round-trip'
  | 'predict'
  | 'worker'
  | 'prediction'
  | 'graph-model';

/** One check: run it, it throws a {@link ConformanceError} (or the strategy's own error) on failure. */
export interface ConformanceCheck {
  id: ConformanceCheckId;
  /** The model it runs on, or `'any'`. */
  model: string;
  /** What it checks, as a sentence. */
  title: string;
  run(): Promise<void>;
}

/** The subset of a test framework's API that {@link runStrategyConformance} uses. */
export interface TestFramework {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>, timeout?: number): void;
}

/** `count` seeded batches of `n` frames in [0, 1], as raw pixels (no tensors to leak). */
export function conformanceBatches(inputShape: readonly number[], n: number, count: number, seed: number): RawBatch[] {
  const rand = mulberry32(seed);
  const size = n * inputShape.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, () => ({ data: Float32Array.from({ length: size }, () => rand()), shape: [n, ...inputShape] }));
}

/** Runs `fn` and returns what it threw (fails if it did not throw). */
async function thrown(fn: () => Promise<unknown> | unknown, what: string): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new ConformanceError(`${what}: expected an error, nothing was thrown.`);
}

/** Checks that `err` is an instance of `cls` with its name (the name survives worker boundaries). */
function ensureTyped(err: unknown, cls: new (message: string) => Error, what: string): void {
  ensure(
    err instanceof cls && (err as Error).name === cls.name,
    `${what}: expected ${cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}.`,
  );
  ensure((err as Error).message.length > 0, `${what}: the ${cls.name} has no message.`);
}

function memoryNow(): { numTensors: number; numBytes: number } {
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes };
}

function ensureFlat(before: { numTensors: number; numBytes: number }, what: string): void {
  const after = memoryNow();
  ensure(
    after.numTensors === before.numTensors && after.numBytes === before.numBytes,
    `${what}: tf.memory() went from ${before.numTensors} tensors / ${before.numBytes} bytes to ${after.numTensors} / ${after.numBytes}.`,
  );
}

async function disposeAdapter(adapter: Adapter): Promise<void> {
  const terminate = (adapter as { terminate?: () => Promise<void> }).terminate;
  if (typeof terminate === 'function') await terminate.call(adapter);
  else adapter.dispose();
}

/**
 * Throws unless `probs` holds one probability row per frame: [n, classes] values in [0, 1]
 * summing to 1 (a step that returns logits, or a row left unnormalised, fails here).
 */
function ensureProbabilities(probs: Float32Array, n: number, classes: number, what: string): void {
  ensure(probs.length === n * classes, `${what}: ${probs.length} probabilities for ${n} frames of ${classes} classes; the strategy must return [n, classes].`);
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * classes, (i + 1) * classes);
    const sum = row.reduce((a, v) => a + v, 0);
    ensure(
      row.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) <= 1e-3,
      `${what}: frame ${i} has [${Array.from(row, (v) => v.toPrecision(4)).join(', ')}] (sum ${sum.toPrecision(6)}): the strategy must return probabilities ` +
        '(each row in [0, 1], summing to 1), e.g. tf.softmax of the logits, not the logits themselves.',
    );
  }
}

/** Steps through `batches`, returning every output (each checked to be probabilities). */
async function run(adapter: Adapter, batches: readonly RawBatch[]): Promise<StepOutput[]> {
  const out: StepOutput[] = [];
  for (const b of batches) {
    const o = await adapter.step({ data: b.data.slice(), shape: [...b.shape] });
    ensureProbabilities(o.probs, b.shape[0]!, o.numClasses, `step ${o.stepId + 1}`);
    out.push(o);
  }
  return out;
}

/** Same probabilities and stats, bit for bit; `hint` (the likely cause) is appended to a difference in probabilities. */
function ensureSameOutputs(actual: readonly StepOutput[], expected: readonly StepOutput[], what: string, hint = ''): void {
  ensure(actual.length === expected.length, `${what}: ${actual.length} outputs, expected ${expected.length}.`);
  actual.forEach((o, i) => {
    try {
      ensureBitEqual(o.probs, expected[i]!.probs, `${what}, step ${i + 1}: probabilities`);
    } catch (e) {
      throw new ConformanceError(hint === '' ? (e as Error).message : `${(e as Error).message} ${hint}`);
    }
    const want = expected[i]!.stats as Record<string, unknown>;
    const got = o.stats as Record<string, unknown>;
    if (!jsonEqual(got, want)) {
      const keys = [...new Set([...Object.keys(got), ...Object.keys(want)])].filter((k) => !jsonEqual(got[k], want[k]));
      throw new ConformanceError(
        `${what}, step ${i + 1}: stats ${keys.map((k) => `'${k}'`).join(', ')} differ: ${JSON.stringify(o.stats)}, expected ${JSON.stringify(expected[i]!.stats)}. ` +
          'Stats must follow from the state and the batch alone: a key that differs is a timing or clock reading (the adapter reports stepMs itself), or comes from state outside the snapshot.',
      );
    }
  });
}

/**
 * At least one of `outputs` ran the strategy's update (`update.mode` 'adapt'): a check whose
 * steps the guard all answered with the source model tests nothing, and must say so.
 */
function ensureAdapted(outputs: readonly StepOutput[], what: string): void {
  if (outputs.some((o) => o.update.mode === 'adapt')) return;
  const reasons = [...new Set(outputs.map((o) => `'${o.update.reason ?? o.update.mode}'`))].join(', ');
  const fix = outputs.some((o) => o.update.reason === 'small-batch')
    ? "the batches are smaller than the strategy's minBatch: pass batchSize (at least minBatch), or options: { guard: false } (the suite's table does so for CoTTA and ViDA)"
    : 'pass options under which the strategy adapts on these models: guard: false, or for a strategy for class-correlated streams guard: { maxShift: 0 }';
  throw new ConformanceError(
    `${what}: the guard answered all ${outputs.length} steps with the source model (reason ${reasons}), so the strategy never stepped and this check would test nothing. To run it, ${fix}.`,
  );
}

/** A copy of a batch, so the adapter may take (or a worker transfer) its buffer. */
function copyOf(b: RawBatch): RawBatch {
  return { data: b.data.slice(), shape: [...b.shape] };
}

/** `a` and `b` agree within `tolerance`, relative to their size (state values and stats may be large). */
function close(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
}

/** JSON values equal, their numbers within `tolerance` (see {@link close}). */
function closeJson(a: unknown, b: unknown, tolerance: number): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) || close(a, b, tolerance);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => closeJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tolerance));
}

/**
 * The same outputs within `tolerance` (probabilities by max abs difference, stats relative, the
 * same update mode): a worker may run another backend build than this thread, so not bit for bit.
 */
function ensureCloseOutputs(actual: readonly StepOutput[], expected: readonly StepOutput[], tolerance: number, what: string, hint: string): void {
  // `hint` (the likely cause, or '') is appended to a message: it starts with a space.
  ensure(actual.length === expected.length, `${what}: ${actual.length} outputs, expected ${expected.length}.`);
  actual.forEach((o, i) => {
    const want = expected[i]!;
    const error = maxAbsDiff(o.probs, want.probs);
    ensure(error <= tolerance, `${what}, step ${i + 1}: probabilities ${error.toExponential(2)} apart (> ${tolerance}).${hint}`);
    ensure(
      closeJson(o.stats, want.stats, tolerance),
      `${what}, step ${i + 1}: stats ${JSON.stringify(o.stats)}, expected ${JSON.stringify(want.stats)}.${hint}`,
    );
    ensure(o.update.mode === want.update.mode, `${what}, step ${i + 1}: update mode '${o.update.mode}', expected '${want.update.mode}'.`);
  });
}

/** Two snapshots hold the same tensors (values within `tolerance`, relative) and strategy metadata. */
function ensureCloseState(actual: Uint8Array, expected: Uint8Array, tolerance: number, what: string, hint: string): void {
  const a = decodeState(actual);
  const e = decodeState(expected);
  const [an, en] = [Object.keys(a.tensors), Object.keys(e.tensors)];
  ensure(an.length === en.length && an.every((k, i) => k === en[i]), `${what}: the state holds [${an.join(', ')}], expected [${en.join(', ')}].`);
  for (const key of en) {
    const [x, y] = [a.tensors[key]!, e.tensors[key]!];
    ensure(x.dtype === y.dtype && x.shape.join() === y.shape.join(), `${what}: state tensor '${key}' is [${x.shape.join(', ')}] ${x.dtype}, expected [${y.shape.join(', ')}] ${y.dtype}.`);
    const i = Array.from(x.data).findIndex((v, j) => !close(v, y.data[j]!, tolerance));
    ensure(i < 0, `${what}: state tensor '${key}' element ${i} is ${x.data[i]}, expected ${y.data[i]} (tolerance ${tolerance}).${hint}`);
  }
  ensure(
    closeJson(a.meta.meta ?? {}, e.meta.meta ?? {}, tolerance),
    `${what}: strategy metadata ${JSON.stringify(a.meta.meta)}, expected ${JSON.stringify(e.meta.meta)}.${hint}`,
  );
}

/** Why a worker's results may differ from this thread's, for the author of a strategy loaded from its module. */
const WORKER_MODULE_STATE =
  'The worker imports the strategy module itself and runs its own copy of it: state the module keeps at module level (a variable set by a call in this thread, ' +
  'a cache or counter filled here) starts fresh there. Keep every setting in the strategy\'s options and all state in the strategy instance (and its snapshot).';

/**
 * Starts a worker adapter through `factory`; a failure to load or find the strategy in the
 * worker becomes a ConformanceError saying what the worker lacks and what to pass.
 */
async function startWorker(factory: WorkerAdapterFactory, model: tf.LayersModel, options: Record<string, unknown>, module: string | undefined): Promise<Adapter> {
  const name = options.strategy as string;
  try {
    return await factory(model, options);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    if (err.name === 'InvalidStrategyError' && module !== undefined) {
      throw new ConformanceError(`the worker could not load the strategy module ${module}: ${err.message}`, { cause: err });
    }
    if (err.name === 'UnknownStrategyError') {
      throw new ConformanceError(
        module !== undefined
          ? `the worker imported the strategy module ${module}, but no strategy '${name}' is registered there (${err.message}). ` +
              `The module's default export must be the definition registered here as '${name}' (or an array holding it); ` +
              'and createWorkerAdapter must get the options as the suite passes them: createWorkerAdapter({ model, ...options }), strategyModules included.'
          : `the worker has no strategy '${name}' (${err.message}). A worker has its own registry: pass strategyModule, the URL (in Node also the path) ` +
              `of the module that default-exports the definition of '${name}', and the worker imports and registers it.`,
        { cause: err },
      );
    }
    throw new ConformanceError(`createWorkerAdapter failed: ${err.name}: ${err.message}`, { cause: err });
  }
}

/** Runs `fn`; a ConformanceError it throws gets `hint` appended (the likely cause, for the strategy's author). */
async function withHint<T>(hint: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ConformanceError) throw new ConformanceError(`${e.message} ${hint}`);
    throw e;
  }
}

const RANDOMNESS = 'Every random choice must come from context.seed (mulberry32, or tf.random* with a seed drawn from it), never Math.random or an unseeded tf.random*.';

/** `before` to now in tf.memory(), as text: '+3 tensors / +72 bytes'. */
function memoryDelta(before: { numTensors: number; numBytes: number }): string {
  const m = memoryNow();
  const sign = (v: number) => (v >= 0 ? `+${v}` : String(v));
  return `${sign(m.numTensors - before.numTensors)} tensors / ${sign(m.numBytes - before.numBytes)} bytes`;
}

/** A bare strategy's whole state as snapshot bytes (to compare states before and after a call). */
function stateBytes(impl: Strategy, strategy: string): Uint8Array {
  const state = impl.snapshot();
  try {
    return encodeState(state.tensors, { strategy, stepId: 0, meta: state.meta });
  } finally {
    disposeTensors(state.tensors);
  }
}

/** The model's own pass of `x` as the guard hands it to `stepOnSourcePass`: softmax probabilities and penultimate features. */
function sourcePassOf(target: ReturnType<typeof createTarget>, x: tf.Tensor4D): { probs: tf.Tensor2D; features: tf.Tensor2D } {
  return tf.tidy(() => {
    const out = target.kind === 'layers' ? target.executor.run(x) : target.run(x);
    return { probs: tf.softmax(out.logits) as tf.Tensor2D, features: out.features };
  });
}

/**
 * The strategy itself, built as `createAdapter` builds it (same target, options and seed) but
 * without the adapter around it, so a check can see what the adapter hides: the tensors it
 * passes in and takes back, and `stateSpec()` next to `snapshot()`.
 */
async function withBareStrategy(
  definition: StrategyDefinition,
  spec: ConformanceModel,
  adapterOptions: Record<string, unknown>,
  n: number,
  fn: (impl: Strategy, batch: (i: number) => tf.Tensor4D, target: ReturnType<typeof createTarget>) => Promise<void>,
): Promise<void> {
  const model = spec.build();
  const target = createTarget(model);
  const strategyOptions = Object.fromEntries(Object.entries(adapterOptions).filter(([k]) => !ADAPTER_OPTION_NAMES.includes(k)));
  let impl: Strategy | null = null;
  let failed = false;
  try {
    const seed = (adapterOptions.seed as number | undefined) ?? 0;
    impl = definition.create(target, resolveOptions(definition, strategyOptions) as never, { seed });
    // The adapter never steps a strategy on a batch under its minBatch (the guard answers those).
    const batches = conformanceBatches(spec.inputShape, Math.max(n, impl.minBatch ?? 0), 4, seed);
    const batch = (i: number) => {
      const b = batches[i % batches.length]!;
      return tf.tensor4d(b.data, b.shape as [number, number, number, number]);
    };
    await fn(impl, batch, target);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // A strategy the check found broken may fail to dispose too (a variable it gave away was
    // disposed): that error must not hide the check's.
    let cleanup: unknown = null;
    for (const free of [() => impl?.dispose(), () => target.kind === 'layers' && target.executor.dispose(), () => model.dispose()]) {
      try {
        free();
      } catch (e) {
        cleanup ??= e;
      }
    }
    if (cleanup !== null && !failed) throw cleanup;
  }
}

/**
 * Runs `fn` (a call after the adapter would have disposed tensors it passed to or took from the
 * strategy); an error from the strategy becomes a ConformanceError saying what was disposed and
 * what the strategy must do instead.
 */
function afterDisposal<T>(what: string, fix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConformanceError || fix === '') throw e;
    throw new ConformanceError(`${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}. ${fix}`);
  }
}

/** Class probabilities of a fresh copy of `spec`'s model holding the candidate's weights from a decoded snapshot. */
function candidateProbs(
  spec: ConformanceModel,
  state: ReturnType<typeof decodeState>,
  weights: WeightSource,
  batchNorm: 'batch' | 'moving',
  batch: RawBatch,
): Float32Array {
  const model = spec.build();
  try {
    const prefix = weights === 'model' ? '' : weights.statePrefix;
    ensure(
      Object.keys(state.tensors).some((k) => k.startsWith(prefix) && model.weights.some((w) => k === prefix + (w.originalName ?? w.name))),
      `prediction check: the snapshot holds no weight of the model under '${prefix}'; it holds [${Object.keys(state.tensors).join(', ')}].`,
    );
    for (const w of model.weights) {
      const name = w.originalName ?? w.name;
      // A copy may hold only the weights it trains: the others are the model's, and weights
      // outside the state are by contract unchanged, i.e. the source values the copy was built with.
      const t = state.tensors[prefix + name] ?? state.tensors[name];
      if (t === undefined) continue;
      const value = tf.tensor(t.data, t.shape, t.dtype);
      w.write(value);
      value.dispose();
    }
    const softmaxOutput = inspectModel(model).outputKind === 'softmax';
    return tf.tidy(() => {
      const x = tf.tensor4d(batch.data, batch.shape as [number, number, number, number]);
      // training: true makes tfjs's BatchNormalization normalise with the batch's statistics.
      const y = (batchNorm === 'batch' ? model.apply(x, { training: true }) : model.predict(x)) as tf.Tensor;
      return (softmaxOutput ? y : tf.softmax(y)).dataSync() as Float32Array;
    });
  } finally {
    model.dispose();
  }
}

function describeCandidate(c: PredictionCandidate): string {
  const who = c.weights === 'model' ? 'the model' : `the copy '${c.weights.statePrefix}'`;
  return `${who} ${c.state === 'before-step' ? 'before' : 'after'} the step`;
}

/** Check `id` is to run under `only` and `skip`. */
function wantedCheck(options: ConformanceOptions, id: ConformanceCheckId): boolean {
  return (options.only === undefined || options.only.includes(id)) && !(options.skip ?? []).includes(id);
}

/**
 * The conformance checks of a registered strategy. Run each check's `run()` (after
 * `initBackend`); a failure throws {@link ConformanceError} naming the broken guarantee.
 *
 * @example
 * await initBackend({ backend: 'wasm' });
 * for (const check of strategyConformanceChecks(getStrategy('tent'), { options: { lr: 1e-2 } })) await check.run();
 */
export function strategyConformanceChecks(definition: StrategyDefinition, options: ConformanceOptions = {}): ConformanceCheck[] {
  const opts = options.options ?? {};
  const models = options.models ?? CONFORMANCE_MODELS;
  const n = options.batchSize ?? 4;
  const seed = options.seed ?? 1;
  const longRun = options.longRunSteps ?? 200;
  const tolerance = options.tolerance ?? 1e-4;
  const name = definition.name;
  const adapterOptions = (extra: Record<string, unknown> = {}) => ({ strategy: name, seed, ...opts, ...extra });
  const make = (model: tf.LayersModel, extra: Record<string, unknown> = {}) => createAdapter(model, adapterOptions(extra) as never);
  const strategyModule = options.strategyModule;
  if (strategyModule !== undefined && (typeof strategyModule !== 'string' || strategyModule === '')) {
    throw new InvalidOptionError(`strategyConformanceChecks: strategyModule must be the URL (in Node also the file path) of a module; got ${JSON.stringify(strategyModule)}.`);
  }
  if (strategyModule !== undefined && options.createWorkerAdapter === undefined && wantedCheck(options, 'worker')) {
    // Else the worker check would not run, and the module pass untested.
    throw new InvalidOptionError(
      "strategyConformanceChecks: strategyModule needs createWorkerAdapter, e.g. (model, options) => createWorkerAdapter({ model, ...options }) from 'edge-tta/workers' (or skip: ['worker']).",
    );
  }
  /** What the worker check passes to createWorkerAdapter: the adapter's options and the strategy's module. */
  const workerOptions = (extra: Record<string, unknown> = {}) => ({ ...adapterOptions(extra), ...(strategyModule !== undefined ? { strategyModules: [strategyModule] } : {}) });
  const checks: ConformanceCheck[] = [];
  const wanted = (id: ConformanceCheckId) => wantedCheck(options, id);
  const add = (id: ConformanceCheckId, model: string, title: string, fn: () => Promise<void>) => {
    if (wanted(id)) checks.push({ id, model, title, run: fn });
  };
  // The first model the strategy runs on gets the long memory run and the worker check.
  const firstModel = models.find((m) => m.batchNorm || !definition.needs.batchNorm);

  add('registered', 'any', `'${name}' is the registered definition`, async () => {
    let registered: StrategyDefinition | undefined;
    try {
      registered = getStrategy(name);
    } catch {
      registered = undefined;
    }
    // registerStrategy keeps a frozen copy of the definition: the same factory means the same strategy.
    ensure(
      registered !== undefined && registered.create === definition.create,
      `Strategy '${name}' is not registered (or another definition holds its name): registerStrategy(definition) before running the suite.`,
    );
  });

  add('unknown-option', 'any', 'an unknown option gives InvalidOptionError naming it', async () => {
    const spec = models[0]!;
    const model = spec.build();
    try {
      const err = await thrown(() => make(model, { notAnOptionOfAnyStrategy: 1 }), 'unknown option');
      ensureTyped(err, InvalidOptionError, 'unknown option');
      ensure((err as Error).message.includes('notAnOptionOfAnyStrategy'), `unknown option: the message does not name the option: ${(err as Error).message}`);
    } finally {
      model.dispose();
    }
  });

  add('bad-option', 'any', 'an option of the wrong type (a string or NaN for a number, a string for a boolean) gives InvalidOptionError naming it', async () => {
    const spec = models[0]!;
    for (const [key, value] of Object.entries(definition.defaults)) {
      // Only types no strategy could mean to accept; a string option may well take numbers too.
      const bad: unknown[] = typeof value === 'number' ? ['1', NaN] : typeof value === 'boolean' ? ['true'] : [];
      for (const v of bad) {
        const model = spec.build();
        try {
          const what = `option '${key}' set to ${typeof v === 'string' ? JSON.stringify(v) : String(v)} (its default is the ${typeof value} ${String(value)})`;
          let err: unknown = null;
          try {
            (await make(model, { [key]: v })).dispose();
          } catch (e) {
            err = e;
          }
          ensure(err !== null, `${what}: createAdapter accepted it. The definition's validate() must refuse a value of the wrong type or out of range with InvalidOptionError naming the option.`);
          ensureTyped(err, InvalidOptionError, what);
          ensure((err as Error).message.includes(key), `${what}: the InvalidOptionError does not name the option: ${(err as Error).message}`);
        } finally {
          model.dispose();
        }
      }
    }
  });

  for (const spec of models) {
    const batches = (count: number, s = seed) => conformanceBatches(spec.inputShape, n, count, s);
    if (definition.needs.batchNorm && !spec.batchNorm) {
      add('unsupported-model', spec.name, 'createAdapter refuses the model with UnsupportedModelError (the strategy needs BN)', async () => {
        const model = spec.build();
        try {
          ensureTyped(await thrown(() => make(model), 'model without BN'), UnsupportedModelError, 'model without BN');
        } finally {
          model.dispose();
        }
      });
      continue;
    }

    add('state-spec', spec.name, 'stateSpec() describes exactly the tensors, values and meta snapshot() gives', async () => {
      await withBareStrategy(definition, spec, adapterOptions(), n, async (impl, batch) => {
        for (let i = 0; i < 2; i++) {
          const x = batch(i);
          tf.dispose([impl.step(x).probs, x]);
        }
        const state = impl.snapshot();
        try {
          const declared = impl.stateSpec();
          const held = Object.keys(state.tensors);
          const missing = [...declared.tensors.keys()].filter((k) => !held.includes(k));
          const extra = held.filter((k) => !declared.tensors.has(k));
          ensure(
            missing.length === 0 && extra.length === 0,
            `stateSpec() and snapshot() name different tensors:${missing.length > 0 ? ` declared but not in the snapshot: ${missing.map((k) => `'${k}'`).join(', ')};` : ''}` +
              `${extra.length > 0 ? ` in the snapshot but not declared: ${extra.map((k) => `'${k}'`).join(', ')};` : ''} ` +
              'stateSpec() must list exactly the tensors snapshot() returns (restore() checks snapshot bytes against it).',
          );
          for (const [key, want] of declared.tensors) {
            const t = state.tensors[key]!;
            ensure(
              t.dtype === want.dtype && t.shape.length === want.shape.length && t.shape.every((d, i) => d === want.shape[i]),
              `stateSpec() says '${key}' is [${want.shape.join(', ')}] ${want.dtype}; snapshot() gives [${t.shape.join(', ')}] ${t.dtype}. ` +
                'Derive the spec from the tensors the strategy holds (their shape and dtype on this model), not from constants.',
            );
            if (want.nonNegative === true) {
              const data = t.dataSync();
              const i = data.findIndex((v) => v < 0);
              ensure(
                i < 0,
                `stateSpec() marks '${key}' nonNegative, but after 2 steps snapshot() holds ${data[i]} at index ${i}: restore() refuses such bytes, so this adapter's own snapshot would not restore. ` +
                  'Mark nonNegative only values that cannot go below 0 (variances, second moments).',
              );
            }
          }
          try {
            checkStateMeta(`strategy '${name}'`, declared.meta, state.meta);
          } catch (e) {
            throw new ConformanceError(`snapshot().meta does not match stateSpec().meta (${(e as Error).message}). stateSpec().meta must describe every field snapshot() writes, with its type and range.`);
          }
        } finally {
          disposeTensors(state.tensors);
        }
      });
    });

    add('ownership', spec.name, 'the strategy keeps none of the tensors the adapter passes in or takes back (and disposes)', async () => {
      await withBareStrategy(definition, spec, adapterOptions(), n, async (impl, batch) => {
        const ownStep = 'The adapter disposes the batch it passes to step() and the probabilities step() returns once the step is over: ' +
          'a strategy that needs either later must keep its own copy (tf.clone), and must return probabilities it does not hold itself.';
        let call = 0;
        const step = (what: string, fix: string) => {
          const x = batch(call++);
          try {
            const out = afterDisposal(what, fix, () => impl.step(x));
            ensure(
              !x.isDisposed,
              'step() disposed its input batch. The batch belongs to the adapter, which still reads it after the step (the guard runs the source model on it on its check steps and for the non-finite fallback): dispose only the tensors the step makes.',
            );
            out.probs.dispose();
          } finally {
            x.dispose();
          }
        };
        step('step 1', '');
        step("step 2, after step 1's batch and returned probabilities were disposed (as the adapter does),", ownStep);
        if (typeof impl.predict === 'function') {
          const x = batch(call++);
          try {
            afterDisposal('predict()', '', () => impl.predict!(x)).dispose();
            ensure(!x.isDisposed, 'predict() disposed its input batch. The batch belongs to the adapter: dispose only the tensors predict() makes.');
          } finally {
            x.dispose();
          }
          step("a step after predict(), whose batch and returned probabilities were disposed (as the adapter does),", 'predict() must not keep its input or the probabilities it returns: keep a copy (tf.clone) of what it needs.');
        }
        disposeTensors(impl.snapshot().tensors);
        const afterSnapshot = 'snapshot() must return copies (tf.clone(variable)), not the tensors or variables the strategy holds: the adapter disposes them once it has encoded them.';
        step('a step after the tensors snapshot() returned were disposed (as the adapter does),', afterSnapshot);
        disposeTensors(afterDisposal('snapshot() after the tensors of the previous snapshot() were disposed (as the adapter does)', afterSnapshot, () => impl.snapshot()).tensors);
        const state = impl.snapshot();
        try {
          impl.restore(state);
        } finally {
          disposeTensors(state.tensors);
        }
        const afterRestore = 'restore() must copy what it keeps (variable.assign(t), tf.clone(t)), not keep the tensors it is given: the adapter disposes them once restore() returns.';
        step('a step after restore(), once the tensors restore() was given were disposed (as the adapter does),', afterRestore);
        disposeTensors(afterDisposal('snapshot() after restore(), once the tensors restore() was given were disposed (as the adapter does),', afterRestore, () => impl.snapshot()).tensors);
        afterDisposal('reset() after restore(), once the tensors restore() was given were disposed (as the adapter does),', afterRestore, () => impl.reset());
        step('a step after reset(),', afterRestore);
      });
    });

    if (spec === firstModel) {
      add('step-on-source-pass', spec.name, 'stepOnSourcePass(), if the strategy has it, gives what step() gives (probabilities, stats, state), and with update false what predict() gives, changing nothing', async () => {
        await withBareStrategy(definition, spec, adapterOptions(), n, async (viaStep, batch) => {
          if (typeof viaStep.stepOnSourcePass !== 'function') return;
          await withBareStrategy(definition, spec, adapterOptions(), n, async (viaPass, _, target) => {
            const why =
              'The guard calls stepOnSourcePass() instead of step() whenever it has already run the source model on the batch for its detectors (with LAME\'s defaults on a model with BN, every step), ' +
              'so it must make the same prediction and the same update as step(), up to float rounding.';
            const close = (a: number, b: number) => Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
            for (let i = 0; i < 3; i++) {
              const x = batch(i);
              const bySteps = viaStep.step(x);
              const { probs, features } = sourcePassOf(target, x);
              const byPass = viaPass.stepOnSourcePass!(probs, features);
              try {
                const error = maxAbsDiff(await bySteps.probs.data(), await byPass.probs.data());
                ensure(error <= tolerance, `step ${i + 1}: stepOnSourcePass() and step() give probabilities ${error.toExponential(2)} apart (> ${tolerance}). ${why}`);
                const keys = [...new Set([...Object.keys(bySteps.stats), ...Object.keys(byPass.stats)])];
                const differ = keys.filter((k) => {
                  const [a, b] = [(bySteps.stats as Record<string, unknown>)[k], (byPass.stats as Record<string, unknown>)[k]];
                  return typeof a === 'number' && typeof b === 'number' ? !close(a, b) : !jsonEqual(a, b);
                });
                ensure(differ.length === 0, `step ${i + 1}: stepOnSourcePass() and step() give different stats ${differ.map((k) => `'${k}'`).join(', ')}: ${JSON.stringify(byPass.stats)} vs ${JSON.stringify(bySteps.stats)}. ${why}`);
              } finally {
                tf.dispose([x, bySteps.probs, byPass.probs, probs, features]);
              }
            }
            const [a, b] = [viaStep.snapshot(), viaPass.snapshot()];
            try {
              for (const [key, t] of Object.entries(a.tensors)) {
                const other = b.tensors[key];
                const error = other === undefined ? Infinity : maxAbsDiff(t.dataSync(), other.dataSync());
                ensure(error <= tolerance, `after 3 steps, state tensor '${key}' of stepOnSourcePass() is ${error.toExponential(2)} from step()'s (> ${tolerance}). ${why}`);
              }
              ensure(jsonEqual(a.meta, b.meta), `after 3 steps, the meta of stepOnSourcePass() is ${JSON.stringify(b.meta)}, step()'s ${JSON.stringify(a.meta)}. ${why}`);
            } finally {
              disposeTensors(a.tensors);
              disposeTensors(b.tensors);
            }
            // update: false (the guard's steps that must not update, e.g. the budget's): the
            // prediction with no state change, as predict() gives it.
            const before = stateBytes(viaPass, name);
            const x = batch(3);
            const { probs, features } = sourcePassOf(target, x);
            try {
              const frozen = viaPass.stepOnSourcePass!(probs, features, false);
              const got = (await frozen.probs.data()) as Float32Array;
              frozen.probs.dispose();
              ensureSameState(
                stateBytes(viaPass, name),
                before,
                'state after stepOnSourcePass(probs, features, false) (the guard calls it so on the steps that must not update: it must change nothing, as predict())',
              );
              if (typeof viaStep.predict === 'function') {
                const predicted = viaStep.predict(x);
                const error = maxAbsDiff(got, (await predicted.data()) as Float32Array);
                predicted.dispose();
                ensure(error <= tolerance, `stepOnSourcePass(probs, features, false) and predict() give probabilities ${error.toExponential(2)} apart (> ${tolerance}); it must give the prediction with no update, as predict().`);
              }
            } finally {
              tf.dispose([x, probs, features]);
            }
          });
        });
      });
    }

    if (spec === firstModel) {
      add('predict-cheap', spec.name, 'predictCheap(), if the strategy has it, changes no state, leaks nothing and keeps its input', async () => {
        await withBareStrategy(definition, spec, adapterOptions(), n, async (cheap, batch, target) => {
          if (typeof cheap.predictCheap !== 'function') return;
          await withBareStrategy(definition, spec, adapterOptions(), n, async (twin) => {
            const stepBoth = () =>
              [cheap, twin].map((impl) => {
                const x = batch(0);
                try {
                  const out = impl.step(x);
                  const probs = out.probs.dataSync() as Float32Array;
                  out.probs.dispose();
                  return { probs, stats: out.stats };
                } finally {
                  x.dispose();
                }
              });
            stepBoth();
            const before = stateBytes(cheap, name);
            const x = batch(1);
            try {
              const probs = cheap.predictCheap!(x);
              ensure(!x.isDisposed, 'predictCheap() disposed its input batch. The batch belongs to the adapter: dispose only the tensors predictCheap() makes.');
              ensure(
                probs.shape.length === 2 && probs.shape[0] === x.shape[0] && probs.shape[1] === target.numClasses && (probs.dataSync() as Float32Array).every(Number.isFinite),
                `predictCheap() gave [${probs.shape.join(', ')}]; it must give finite probabilities [${x.shape[0]}, ${target.numClasses}].`,
              );
              probs.dispose();
              const memory = memoryNow();
              for (let i = 0; i < 2; i++) cheap.predictCheap!(x).dispose();
              ensure(
                memoryNow().numTensors === memory.numTensors && memoryNow().numBytes === memory.numBytes,
                `2 more calls of predictCheap(): tf.memory() changed by ${memoryDelta(memory)}. predictCheap() leaves tensors behind: run its work in tf.tidy and return only the probabilities.`,
              );
            } finally {
              x.dispose();
            }
            ensureSameState(stateBytes(cheap, name), before, 'state after predictCheap() (the budget calls it on the steps it skips: it must change nothing)');
            const [a, b] = stepBoth();
            ensureBitEqual(a!.probs, b!.probs, 'the step after predictCheap() vs a twin that did not call it: probabilities');
            ensure(jsonEqual(a!.stats, b!.stats), `the step after predictCheap() vs a twin that did not call it: stats ${JSON.stringify(a!.stats)}, expected ${JSON.stringify(b!.stats)}.`);
          });
        });
      });
    }

    add('reset', spec.name, 'reset() restores the state bit-identically and the next step equals a fresh adapter\'s', async () => {
      const m1 = spec.build();
      const m2 = spec.build();
      const source = weightBits(m1);
      const a = await make(m1);
      const fresh = await make(m2);
      try {
        const initial = await fresh.snapshot();
        const [b1, b2, b3, probeBatch] = batches(4);
        ensureAdapted(await run(a, [b1!, b2!, b3!]), 'reset()');
        await a.reset();
        ensureWeightsEqual(m1, source, 'after reset()');
        ensureSameState(await a.snapshot(), initial, 'state after reset() vs a fresh adapter');
        const [afterReset] = await run(a, [probeBatch!]);
        ensureSameOutputs(
          [afterReset!],
          await run(fresh, [probeBatch!]),
          'first step after reset() vs a fresh adapter',
          'reset() put back every tensor and meta field of the snapshot, so the difference is in state outside it: a variable, counter or generator that step() reads ' +
            `and reset() leaves as it is (put it in snapshot() and stateSpec() too). Or: ${RANDOMNESS}`,
        );
      } finally {
        a.dispose();
        fresh.dispose();
        m1.dispose();
        m2.dispose();
      }
    });

    add('snapshot-restore', spec.name, 'snapshot()/restore() round-trips and a restored adapter continues step for step', async () => {
      const m1 = spec.build();
      const m2 = spec.build();
      const a = await make(m1);
      const b = await make(m2);
      try {
        const bs = batches(6);
        ensureAdapted(await run(a, bs.slice(0, 3)), 'snapshot()/restore()');
        const snap = await a.snapshot();
        const continued = await run(a, bs.slice(3));
        await b.restore(snap);
        ensureSameBytes(await b.snapshot(), snap, 'snapshot of an adapter restored from it');
        const restored = await run(b, bs.slice(3));
        ensureSameOutputs(
          restored,
          continued,
          'a second adapter restored from the snapshot',
          'The restored adapter re-snapshots to the same bytes, so the difference is in state the snapshot does not hold: a variable, counter or generator that step() reads ' +
            `and snapshot() leaves out (with stateSpec()), or restore() does not set. Or: ${RANDOMNESS}`,
        );
        await a.restore(snap);
        ensureSameOutputs(await run(a, bs.slice(3)), continued, 'the same adapter restored from its snapshot');
      } finally {
        a.dispose();
        b.dispose();
        m1.dispose();
        m2.dispose();
      }
    });

    add('dispose', spec.name, 'dispose() puts the source weights back; a disposed adapter throws DisposedError', async () => {
      const model = spec.build();
      const source = weightBits(model);
      const a = await make(model);
      try {
        await run(a, batches(2));
        a.dispose();
        ensureWeightsEqual(model, source, 'after dispose()');
        ensureTyped(await thrown(() => a.step(batches(1)[0]!), 'step after dispose()'), DisposedError, 'step after dispose()');
        ensureTyped(await thrown(() => a.snapshot(), 'snapshot after dispose()'), DisposedError, 'snapshot after dispose()');
      } finally {
        a.dispose();
        model.dispose();
      }
    });

    add('memory-cycles', spec.name, 'tf.memory() is flat over create/step/dispose cycles', async () => {
      const model = spec.build();
      try {
        const bs = batches(2);
        // What each call left in tf.memory() over the measured cycles, to point at the leaking method.
        const net = new Map<string, number>();
        let counting = false;
        const measured = async <T>(method: string, fn: () => Promise<T>): Promise<T> => {
          const before = tf.memory().numTensors;
          const out = await fn();
          if (counting) net.set(method, (net.get(method) ?? 0) + tf.memory().numTensors - before);
          return out;
        };
        const cycle = async () => {
          const a = await measured('create', () => make(model));
          await measured('step', () => run(a, bs));
          const snap = await measured('snapshot', () => a.snapshot());
          await measured('restore', () => a.restore(snap));
          await measured('reset', () => a.reset());
          await measured('dispose', async () => a.dispose());
        };
        await cycle(); // warm-up: backends create some tensors once per process
        const before = memoryNow();
        counting = true;
        for (let i = 0; i < 3; i++) await cycle();
        await withHint(
          `Tensors each call left over the 3 cycles: ${[...net].map(([k, v]) => `${k} ${v >= 0 ? '+' : ''}${v}`).join(', ')}. ` +
            "create and step allocate state (the strategy's, and the guard's copies), which restore, reset and dispose free: a figure that does not cancel out points at the method that leaks.",
          async () => ensureFlat(before, '3 create/step/snapshot/restore/reset/dispose cycles'),
        );
      } finally {
        model.dispose();
      }
    });

    const steps = spec === firstModel ? longRun : Math.min(20, longRun);
    add('memory-long-run', spec.name, `tf.memory() is flat over ${steps} steps`, async () => {
      const model = spec.build();
      const a = await make(model);
      try {
        const bs = batches(8);
        // Counted after a warm-up of a few steps: a strategy, the guard or the model executor may
        // build state once, lazily, in the first steps (LAME on bn-resnet: the executor's folded
        // conv-BN weights, 8 tensors, at its first plain pass, step 2, since step 1 is a guard
        // check step on the source pass); a leak grows on every step after.
        const warmUp = Math.max(1, Math.min(5, Math.floor(steps / 2)));
        let before = memoryNow();
        for (let i = 0; i < steps; i++) {
          if (i === warmUp) before = memoryNow();
          const out = await a.step({ data: bs[i % bs.length]!.data.slice(), shape: [...bs[0]!.shape] });
          ensure(out.probs.every(Number.isFinite), `step ${i + 1} of ${steps}: non-finite probabilities.`);
        }
        const grew = tf.memory().numTensors - before.numTensors;
        await withHint(
          `That is ${(grew / (steps - warmUp)).toFixed(2)} tensors per step: step() leaves tensors behind (run its work in tf.tidy, and dispose what it keeps from the previous step).`,
          async () => ensureFlat(before, `steps ${warmUp + 1}..${steps}`),
        );
      } finally {
        a.dispose();
        model.dispose();
      }
    });

    add('bad-input', spec.name, 'bad input gives InvalidInputError, bad snapshot bytes InvalidSnapshotError, and the state is unchanged', async () => {
      const model = spec.build();
      const a = await make(model);
      try {
        const [good] = batches(1);
        await run(a, [good!]);
        const state = await a.snapshot();
        const before = memoryNow();
        const [h, w, c] = spec.inputShape;
        const bad: Array<[string, () => Promise<unknown>, new (message: string) => Error]> = [
          ['a batch of the wrong size', () => a.step({ data: new Float32Array(n * (h + 1) * w * c), shape: [n, h + 1, w, c] }), InvalidInputError],
          ['a batch of the wrong rank', () => a.step({ data: new Float32Array(n * h * w), shape: [n, h, w] }), InvalidInputError],
          ['an empty batch', () => a.step({ data: new Float32Array(0), shape: [0, h, w, c] }), InvalidInputError],
          ['data shorter than the shape', () => a.step({ data: new Float32Array(5), shape: [n, h, w, c] }), InvalidInputError],
          ['a NaN pixel', () => a.step({ data: good!.data.map((v, i) => (i === 7 ? NaN : v)), shape: [...good!.shape] }), InvalidInputError],
          ['an infinite pixel', () => a.step({ data: good!.data.map((v, i) => (i === 3 ? Infinity : v)), shape: [...good!.shape] }), InvalidInputError],
          ['Uint8 pixels', () => a.step({ data: new Uint8Array(good!.data.length) as unknown as Float32Array, shape: [...good!.shape] }), InvalidInputError],
          [
            'an int32 tensor',
            () => {
              const t = tf.zeros([n, h, w, c], 'int32');
              return a.step(t).finally(() => t.dispose());
            },
            InvalidInputError,
          ],
          ['predict() on a NaN batch', () => a.predict({ data: good!.data.map((v, i) => (i === 7 ? NaN : v)), shape: [...good!.shape] }), InvalidInputError],
          ['labels of the wrong length', () => a.step({ data: good!.data.slice(), shape: [...good!.shape] }, [0]), InvalidInputError],
          ['bytes that are not a snapshot', () => a.restore(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])), InvalidSnapshotError],
          ['a truncated snapshot', () => a.restore(state.subarray(0, 10)), InvalidSnapshotError],
          ["another strategy's snapshot", () => a.restore(encodeState({}, { strategy: `not-${name}`, stepId: 0, meta: {} })), InvalidSnapshotError],
          [
            'a snapshot with a tensor of the wrong shape',
            () => {
              const decoded = decodeState(state);
              const first = Object.keys(decoded.tensors)[0];
              ensure(first !== undefined, 'the strategy state holds no tensor');
              const tensors: Record<string, tf.Tensor> = {};
              for (const [k, t] of Object.entries(decoded.tensors)) tensors[k] = k === first ? tf.zeros([t.data.length + 1]) : tf.tensor(t.data, t.shape, t.dtype);
              const bytes = encodeState(tensors, decoded.meta);
              tf.dispose(Object.values(tensors));
              return a.restore(bytes);
            },
            InvalidSnapshotError,
          ],
        ];
        for (const [what, fn, cls] of bad) {
          ensureTyped(await thrown(fn, what), cls, what);
          ensureSameBytes(await a.snapshot(), state, `state after ${what}`);
        }
        ensureFlat(before, 'the rejected inputs');
      } finally {
        a.dispose();
        model.dispose();
      }
    });

    add('determinism', spec.name, 'runs with the same seed are bit-identical', async () => {
      const m1 = spec.build();
      const m2 = spec.build();
      const a = await make(m1);
      const b = await make(m2);
      try {
        const bs = batches(3);
        const second = await run(b, bs);
        ensureAdapted(second, 'determinism');
        ensureSameOutputs(second, await run(a, bs), 'a second adapter with the same seed', `${RANDOMNESS} And no state may be shared between instances (module-level variables).`);
        ensureSameBytes(await b.snapshot(), await a.snapshot(), 'snapshots of two runs with the same seed');
      } finally {
        a.dispose();
        b.dispose();
        m1.dispose();
        m2.dispose();
      }
    });

    add('config-round-trip', spec.name, 'getConfig() is JSON and round-trips through createAdapter', async () => {
      const m1 = spec.build();
      const m2 = spec.build();
      const a = await make(m1);
      let b: Adapter | null = null;
      try {
        const config = await a.getConfig();
        ensure(config.strategy === name, `getConfig().strategy is ${JSON.stringify(config.strategy)}, expected '${name}'.`);
        const json = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
        ensure(jsonEqual(json, config), `getConfig() is not plain JSON: ${JSON.stringify(config)}.`);
        for (const key of Object.keys(definition.defaults)) ensure(key in config, `getConfig() lacks option '${key}'.`);
        b = await createAdapter(m2, { ...json, seed } as never);
        ensure(jsonEqual(await b.getConfig(), config), `createAdapter(getConfig()).getConfig() is ${JSON.stringify(await b.getConfig())}, expected ${JSON.stringify(config)}.`);
        const bs = batches(2);
        ensureSameOutputs(await run(b, bs), await run(a, bs), 'an adapter created from getConfig()');
      } finally {
        a.dispose();
        b?.dispose();
        m1.dispose();
        m2.dispose();
      }
    });

    add('predict', spec.name, 'predict() leaves the state unchanged and gives what step() then returns', async () => {
      const m1 = spec.build();
      const m2 = spec.build();
      const a = await make(m1);
      const b = await make(m2);
      try {
        const bs = batches(3);
        await run(a, [bs[0]!]);
        await run(b, [bs[0]!]);
        const state = await a.snapshot();
        const predicted = await a.predict({ data: bs[1]!.data.slice(), shape: [...bs[1]!.shape] });
        ensureProbabilities(predicted.probs, n, predicted.numClasses, 'predict()');
        ensureSameBytes(await a.snapshot(), state, 'state after predict()');
        // After a first call (a strategy may build something once), predict() leaves tf.memory() as it found it.
        const before = memoryNow();
        for (let i = 0; i < 2; i++) await a.predict({ data: bs[1]!.data.slice(), shape: [...bs[1]!.shape] });
        ensure(
          memoryNow().numTensors === before.numTensors && memoryNow().numBytes === before.numBytes,
          `2 calls of predict(): tf.memory() changed by ${memoryDelta(before)}. predict() leaves tensors behind: run its work in tf.tidy and return only the probabilities.`,
        );
        const after = await run(a, bs.slice(1));
        ensureSameOutputs(after, await run(b, bs.slice(1)), 'steps after predict() vs an adapter that did not predict');
        if (options.predictMatchesStep ?? true) {
          // A step the guard answers with the source model is not the strategy's prediction (predict()
          // gives that source answer too, but only up to float rounding: no bit-for-bit check).
          const update = after[0]!.update;
          ensure(
            update.mode !== 'source',
            `predict() vs the next step(): the guard answered that step with the source model (reason '${update.reason ?? ''}'), so predict() cannot match it. ` +
              "Run the suite with options under which the strategy adapts on this model: for a strategy for class-correlated streams on a model far from its BN statistics, guard: { maxShift: 0 }; or guard: false.",
          );
          ensureBitEqual(predicted.probs, after[0]!.probs, 'predict() vs the next step() on the same batch');
        }
      } finally {
        a.dispose();
        b.dispose();
        m1.dispose();
        m2.dispose();
      }
    });

    // One worker per strategy (a worker takes seconds to start): on the first model it runs on.
    const workerFactory = options.createWorkerAdapter;
    if (workerFactory !== undefined && spec === firstModel) {
      const title = strategyModule === undefined
        ? "a worker adapter gives the in-thread adapter's outputs, predictions and state; restore and reset cross; errors arrive typed"
        : `a worker that loads the strategy module ${strategyModule} gives the in-thread adapter's outputs, predictions and state; restore and reset cross; errors arrive typed`;
      add('worker', spec.name, title, async () => {
        const hint = strategyModule !== undefined ? ` ${WORKER_MODULE_STATE}` : ''; // appended to a message
        const m1 = spec.build();
        const m2 = spec.build();
        const local = await make(m1);
        let remote: Adapter | null = null;
        try {
          remote = await startWorker(workerFactory, m2, workerOptions(), strategyModule);
          const config = await remote.getConfig();
          ensure(
            jsonEqual(config, await local.getConfig()),
            `worker: getConfig() is ${JSON.stringify(config)}, in-thread ${JSON.stringify(await local.getConfig())}: the worker's definition of '${name}' is not the one registered here.${hint}`,
          );
          const bs = batches(6);
          const steps = await run(local, bs.slice(0, 3));
          ensureAdapted(steps, 'worker');
          ensureCloseOutputs(await run(remote, bs.slice(0, 3)), steps, tolerance, 'worker vs in-thread adapter', hint);
          const [l, r] = [await local.predict(copyOf(bs[3]!)), await remote.predict(copyOf(bs[3]!))];
          const error = maxAbsDiff(r.probs, l.probs);
          ensure(error <= tolerance, `worker vs in-thread adapter: predict() probabilities ${error.toExponential(2)} apart (> ${tolerance}).${hint}`);
          const state = await local.snapshot();
          ensureCloseState(await remote.snapshot(), state, tolerance, 'worker vs in-thread snapshot', hint);
          // A snapshot crosses both ways: the in-thread one restored in the worker (to the byte),
          // and both continue alike; the worker's then restored in-thread.
          await run(remote, bs.slice(4, 5));
          await remote.restore(state);
          ensureSameBytes(await remote.snapshot(), state, 'the in-thread snapshot restored in the worker, snapshot again there');
          const [afterRestore] = await run(remote, bs.slice(5, 6));
          ensureCloseOutputs([afterRestore!], await run(local, bs.slice(5, 6)), tolerance, 'the worker restored from the in-thread snapshot vs the in-thread adapter', hint);
          const workerState = await remote.snapshot();
          await local.restore(workerState);
          ensureSameBytes(await local.snapshot(), workerState, "the worker's snapshot restored in-thread, snapshot again");
          await Promise.all([local.reset(), remote.reset()]);
          ensureCloseState(await remote.snapshot(), await local.snapshot(), tolerance, 'worker vs in-thread state after reset()', hint);
          const [afterReset] = await run(remote, bs.slice(0, 1));
          ensureCloseOutputs([afterReset!], await run(local, bs.slice(0, 1)), tolerance, 'the first step after reset(), worker vs in-thread', hint);
          // Errors arrive as the same classes (their names survive the boundary), and leave the worker's state as it was.
          const before = await remote.snapshot();
          const [h, w, c] = spec.inputShape;
          const what = 'a batch of the wrong size, sent to the worker';
          ensureTyped(await thrown(() => remote!.step({ data: new Float32Array(n * (h + 1) * w * c), shape: [n, h + 1, w, c] }), what), InvalidInputError, what);
          const foreign = "another strategy's snapshot, restored in the worker";
          ensureTyped(await thrown(() => remote!.restore(encodeState({}, { strategy: `not-${name}`, stepId: 0, meta: {} })), foreign), InvalidSnapshotError, foreign);
          ensureSameBytes(await remote.snapshot(), before, 'the worker\'s state after the rejected batch and snapshot');
        } finally {
          local.dispose();
          if (remote !== null) await disposeAdapter(remote);
          m1.dispose();
          m2.dispose();
        }
      });
    }

    const fact = options.prediction;
    if (fact !== undefined && fact !== null) {
      const at = fact.step ?? 3;
      add('prediction', spec.name, `step ${at} returns the prediction of ${describeCandidate(fact)}`, async () => {
        const model = spec.build();
        const a = await make(model, fact.options ?? {});
        try {
          const bs = batches(at);
          await run(a, bs.slice(0, at - 1));
          const before = decodeState(await a.snapshot());
          const [returned] = await run(a, [bs[at - 1]!]);
          const after = decodeState(await a.snapshot());
          const probs = (c: PredictionCandidate) =>
            candidateProbs(spec, c.state === 'before-step' ? before : after, c.weights, fact.batchNorm, bs[at - 1]!);
          const expected = probs(fact);
          const error = maxAbsDiff(returned!.probs, expected);
          ensure(
            error <= tolerance,
            `step ${at}: the returned probabilities are not those of ${describeCandidate(fact)} (max abs difference ${error.toExponential(2)} > ${tolerance}).` +
              fact.distinctFrom
                .map((c) => ` Distance to ${describeCandidate(c)}: ${maxAbsDiff(returned!.probs, probs(c)).toExponential(2)}.`)
                .join(''),
          );
          for (const rival of fact.distinctFrom) {
            const gap = maxAbsDiff(probs(rival), expected);
            ensure(
              gap > 10 * tolerance,
              `step ${at}: ${describeCandidate(fact)} and ${describeCandidate(rival)} predict within ${gap.toExponential(2)} of each other, ` +
                'so this step cannot tell them apart: raise the learning rate or the step in the prediction fact.',
            );
          }
        } finally {
          a.dispose();
          model.dispose();
        }
      });
    }
  }
  const graph = options.graphModel ?? CONFORMANCE_GRAPH_MODEL;
  const graphOk = !definition.needs.layersModel && !definition.needs.batchNorm;
  add(
    'graph-model',
    graph.name,
    graphOk
      ? 'on a tf.GraphModel (needs.layersModel is false): steps, snapshot/restore, reset, predict and dispose keep their guarantees'
      : 'createAdapter refuses a tf.GraphModel with UnsupportedModelError (the strategy needs a tf.LayersModel)',
    async () => {
      const [g1, g2] = await Promise.all([graph.load(), graph.load()]);
      const makeOn = (g: tf.GraphModel) => createAdapter(g, adapterOptions({ graphNodes: graph.graphNodes }) as never);
      try {
        if (!graphOk) {
          ensureTyped(await thrown(() => makeOn(g1), 'a tf.GraphModel'), UnsupportedModelError, 'a tf.GraphModel');
          return;
        }
        const bs = conformanceBatches(graph.inputShape, n, 5, seed);
        const onGraph = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
          try {
            return await fn();
          } catch (e) {
            if (e instanceof ConformanceError) throw e;
            throw new ConformanceError(
              `on a tf.GraphModel, ${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}. The strategy declares needs.layersModel: false, so it must work on a ` +
                "GraphModel target (target.kind 'graph': target.run(x) gives { logits, features }; it has no target.executor, target.info or layers), or declare needs.layersModel: true.",
            );
          }
        };
        const a = await onGraph('createAdapter', () => makeOn(g1));
        let b: Adapter | null = null;
        try {
          b = await onGraph('createAdapter', () => makeOn(g2));
          const initial = await b.snapshot();
          const first = await onGraph('step()', () => run(a, bs.slice(0, 3)));
          first.forEach((o, i) => ensure(o.probs.every(Number.isFinite), `on a tf.GraphModel, step ${i + 1}: non-finite probabilities.`));
          const snap = await a.snapshot();
          const state = await onGraph('predict()', async () => {
            await a.predict({ data: bs[3]!.data.slice(), shape: [...bs[3]!.shape] });
            return a.snapshot();
          });
          ensureSameBytes(state, snap, 'on a tf.GraphModel: state after predict()');
          const continued = await run(a, bs.slice(3));
          await onGraph('restore()', () => b!.restore(snap));
          ensureSameOutputs(await run(b, bs.slice(3)), continued, 'on a tf.GraphModel: a second adapter restored from a snapshot');
          await onGraph('reset()', () => a.reset());
          ensureSameState(await a.snapshot(), initial, 'on a tf.GraphModel: state after reset() vs a fresh adapter');
        } finally {
          a.dispose();
          b?.dispose();
        }
        // A cycle after the first (which may build what a backend keeps per process) leaves tf.memory() as it found it.
        const before = memoryNow();
        const c = await makeOn(g1);
        try {
          await run(c, bs.slice(0, 2));
          await c.restore(await c.snapshot());
          await c.reset();
        } finally {
          c.dispose();
        }
        ensureFlat(before, 'on a tf.GraphModel, a create/step/snapshot/restore/reset/dispose cycle');
      } finally {
        g1.dispose();
        g2.dispose();
      }
    },
  );
  return checks;
}

/**
 * Registers the conformance checks of `definition` with a test framework: one `describe` per
 * strategy, one `it` per check. Initialise the backend first (e.g. in a `beforeAll`).
 *
 * @example
 * import { describe, it, beforeAll } from 'vitest';
 * import { initBackend, registerStrategy } from 'edge-tta';
 * import { runStrategyConformance } from 'edge-tta/testing';
 * registerStrategy(myStrategy);
 * beforeAll(() => initBackend({ backend: 'wasm' }));
 * runStrategyConformance(myStrategy, { describe, it, options: { lr: 1e-2 } });
 */
export function runStrategyConformance(
  definition: StrategyDefinition,
  options: ConformanceOptions & TestFramework & { timeoutMs?: number },
): void {
  const { describe, it, timeoutMs, ...rest } = options;
  describe(`strategy '${definition.name}' conformance`, () => {
    for (const check of strategyConformanceChecks(definition, rest)) {
      it(check.model === 'any' ? check.title : `${check.model}: ${check.title}`, () => check.run(), timeoutMs ?? 120_000);
    }
  });
}
