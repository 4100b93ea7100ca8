import { asyncScheduler, Observable, takeWhile, type OperatorFunction, type Subscription } from 'rxjs';
import type { StepOutput } from '../adapter.js';
import { checkLabel } from '../adapterArgs.js';
import { BackpressureError, InvalidOptionError, WorkerFaultError } from '../errors.js';
import type { BatchInput } from '../input.js';
import { isTensor } from '../tensorLike.js';
import { checkLabeledFrameKeys, prepareFrame, type PreparedFrame } from './frames.js';
import type {
  AdaptStreamOptions,
  BackpressurePolicy,
  Frame,
  FrameId,
  FrameInput,
  LabeledFrame,
  StreamAdapter,
  StreamRecord,
} from './types.js';

/** A validated frame waiting for (or in) a step. */
interface Item {
  seq: number;
  frameId: FrameId;
  trueLabel: number | undefined;
  frame: PreparedFrame;
  arrival: number;
}

const POLICIES: readonly BackpressurePolicy[] = ['buffer', 'drop-oldest', 'latest'];
/** The longest delay a JavaScript timer keeps (a longer one fires after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every option `adapt` takes (a misspelt one would silently leave its default in place). */
const OPTION_NAMES: readonly (keyof AdaptStreamOptions)[] = ['batchSize', 'maxWaitMs', 'backpressure', 'bufferSize', 'disposeFrames', 'scheduler'];

function resolveStreamOptions(options: AdaptStreamOptions): Required<Omit<AdaptStreamOptions, 'scheduler'>> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`adapt: options must be an object such as { batchSize: 16, maxWaitMs: 100 }; got ${String(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) {
      throw new InvalidOptionError(`adapt has no option '${key}'. Its options: ${OPTION_NAMES.join(', ')}.`);
    }
  }
  const batchSize = options.batchSize ?? 16;
  const maxWaitMs = options.maxWaitMs ?? 100;
  const backpressure = options.backpressure ?? 'buffer';
  const bufferSize = options.bufferSize ?? Math.max(256, batchSize);
  const disposeFrames = options.disposeFrames ?? true;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidOptionError(`adapt: batchSize must be a positive integer; got ${String(batchSize)}.`);
  }
  // A number, not only >= 0: a string such as '100' (from a config file) compared fine but armed no
  // max-wait timer, so a partial batch waited for the next frame.
  if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0)) {
    throw new InvalidOptionError(`adapt: maxWaitMs must be a number >= 0 (Infinity waits for full batches); got ${JSON.stringify(maxWaitMs) ?? String(maxWaitMs)}.`);
  }
  if (typeof disposeFrames !== 'boolean') {
    throw new InvalidOptionError(`adapt: disposeFrames must be true or false; got ${JSON.stringify(disposeFrames) ?? String(disposeFrames)}.`);
  }
  const scheduler = options.scheduler as Partial<Record<'now' | 'schedule', unknown>> | undefined;
  if (scheduler !== undefined && scheduler !== null && (typeof scheduler.now !== 'function' || typeof scheduler.schedule !== 'function')) {
    throw new InvalidOptionError('adapt: scheduler must be an RxJS scheduler (with now() and schedule()), e.g. asyncScheduler or a TestScheduler.');
  }
  if (!POLICIES.includes(backpressure)) {
    throw new InvalidOptionError(`adapt: unknown backpressure '${String(backpressure)}'. Valid policies: ${POLICIES.map((p) => `'${p}'`).join(', ')}.`);
  }
  if (!(bufferSize >= batchSize) || (!Number.isInteger(bufferSize) && bufferSize !== Infinity)) {
    throw new InvalidOptionError(`adapt: bufferSize must be an integer >= batchSize (${batchSize}); got ${bufferSize}.`);
  }
  return { batchSize, maxWaitMs, backpressure, bufferSize, disposeFrames };
}

function isLabeledFrame(input: FrameInput): input is LabeledFrame {
  return typeof input === 'object' && input !== null && !isTensor(input) && 'frame' in input;
}

/**
 * One batch for the adapter: packed float32 pixels when every frame has the model's shape, else
 * (frames the adapter resizes) the frames as a list, each converted on its own by the adapter.
 */
function buildBatch(items: readonly Item[], inputShape: readonly number[]): BatchInput {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const modelSized = (f: PreparedFrame): boolean => f.shape !== undefined && f.shape.length === inputShape.length && f.shape.every((d, i) => d === inputShape[i]);
  if (items.every((i) => modelSized(i.frame))) {
    const data = new Float32Array(items.length * size);
    items.forEach((item, k) => data.set(item.frame.data!, k * size));
    return { data, shape: [items.length, ...inputShape] };
  }
  return items.map(({ frame: f }): Frame => (f.image !== undefined ? f.image : { data: f.data, shape: f.shape }));
}

function errorFields(err: unknown): { name: string; message: string } {
  const e = err as { name?: unknown; message?: unknown } | null;
  return { name: typeof e?.name === 'string' ? e.name : 'Error', message: typeof e?.message === 'string' ? e.message : String(err) };
}

/**
 * Adapts a model on a stream of frames: turns an `Observable` of frames into an `Observable`
 * of records, one per frame and in frame order: a `'prediction'`
 * (`{ frameId, probs, label, confidence, stepId }`), an `'error'` for a bad frame (the stream
 * goes on with the next frame; the adapter's state is untouched), or `'dropped'` when the
 * backpressure policy dropped the frame. Frames are batched by size and by maximum wait;
 * one adapter step runs at a time. Bad and dropped frames are also reported on
 * `adapter.metrics$`. A tensor frame is read into float32 pixels as it arrives and then
 * disposed (unless `disposeFrames: false`), so the operator itself holds no tensor. An unknown
 * option or a value of the wrong type throws `InvalidOptionError` when `adapt` is called.
 *
 * @example
 * const adapter = await createAdapter(model, { strategy: 'bn-adapt' });
 * camera$.pipe(adapt(adapter, { batchSize: 8, maxWaitMs: 100, backpressure: 'latest' }))
 *   .subscribe((r) => { if (r.kind === 'prediction') show(r.label, r.confidence); });
 */
export function adapt(adapter: StreamAdapter, options: AdaptStreamOptions = {}): OperatorFunction<FrameInput, StreamRecord> {
  const { batchSize, maxWaitMs, backpressure, bufferSize, disposeFrames } = resolveStreamOptions(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  // Most frames that may wait while a step runs.
  const limit = backpressure === 'latest' ? batchSize : bufferSize;

  return (source) =>
    new Observable<StreamRecord>((subscriber) => {
      let seq = 0;
      let nextOut = 0;
      // Records finished out of order wait here until every earlier frame has its record.
      const ready = new Map<number, StreamRecord>();
      const pending: Item[] = [];
      let inFlight = false;
      let sourceDone = false;
      let closed = false;
      let timer: Subscription | null = null;

      const emit = (at: number, record: StreamRecord): void => {
        ready.set(at, record);
        while (!closed && ready.has(nextOut)) {
          const r = ready.get(nextOut)!;
          ready.delete(nextOut);
          nextOut++;
          subscriber.next(r);
        }
      };

      const cancelTimer = (): void => {
        timer?.unsubscribe();
        timer = null;
      };

      const teardown = (): void => {
        closed = true;
        cancelTimer();
        pending.splice(0);
        ready.clear();
      };

      const fail = (err: unknown): void => {
        if (closed) return;
        teardown();
        subscriber.error(err);
      };

      const reject = (at: number, frameId: FrameId, err: unknown): void => {
        const { name, message } = errorFields(err);
        adapter.report?.({ kind: 'frame-error', frameId, name, message });
        emit(at, { kind: 'error', frameId, name, message });
      };

      const drop = (items: Item[]): void => {
        const policy = backpressure as 'drop-oldest' | 'latest';
        adapter.report?.({ kind: 'frames-dropped', frameIds: items.map((i) => i.frameId), policy });
        for (const item of items) emit(item.seq, { kind: 'dropped', frameId: item.frameId, policy });
      };

      const dispatch = (): void => {
        cancelTimer();
        const items = pending.splice(0, batchSize);
        inFlight = true;
        const batch = buildBatch(items, adapter.inputShape);
        const labels = items.every((i) => i.trueLabel !== undefined) ? items.map((i) => i.trueLabel!) : undefined;
        const onResult = (out: StepOutput): void => {
          if (closed) return;
          inFlight = false;
          const c = out.numClasses;
          const now = scheduler.now();
          items.forEach((item, k) =>
            emit(item.seq, {
              kind: 'prediction',
              frameId: item.frameId,
              probs: out.probs.slice(k * c, (k + 1) * c),
              label: out.labels[k]!,
              confidence: out.confidence[k]!,
              stepId: out.stepId,
              latencyMs: now - item.arrival,
            }),
          );
          schedule();
        };
        const onError = (err: unknown): void => {
          if (closed) return;
          inFlight = false;
          // The adapter rejected the batch's input (frames are validated one by one first,
          // so this is e.g. a label count), or a worker adapter lost the batch to a worker
          // fault and resumes on a new worker: the frames get error records, the stream goes on.
          if (errorFields(err).name === 'InvalidInputError' || (err instanceof WorkerFaultError && err.resuming)) {
            for (const item of items) reject(item.seq, item.frameId, err);
            schedule();
          } else fail(err);
        };
        let step: PromiseLike<StepOutput>;
        try {
          step = adapter.step(batch, labels);
        } catch (err) {
          onError(err);
          return;
        }
        step.then(onResult, onError);
      };

      // Sends a batch when the adapter is free and a batch is due; otherwise arms the max-wait timer.
      const schedule = (): void => {
        if (closed || inFlight) return;
        if (pending.length === 0) {
          cancelTimer();
          // Every frame has its record: a source that completes from inside a consumer's next
          // (e.g. takeUntil) while a batch is being emitted waits for the rest of that batch.
          if (sourceDone && nextOut === seq) {
            closed = true;
            subscriber.complete();
          }
          return;
        }
        const waited = scheduler.now() - pending[0]!.arrival;
        if (pending.length >= batchSize || sourceDone || waited >= maxWaitMs) {
          dispatch();
          return;
        }
        if (timer === null && Number.isFinite(maxWaitMs)) {
          // Capped: a longer wait re-arms once per ~24.8 days instead of every millisecond.
          timer = scheduler.schedule(() => {
            timer = null;
            schedule();
          }, Math.min(maxWaitMs - waited, MAX_TIMER_MS));
        }
      };

      const onFrame = (input: FrameInput): void => {
        const at = seq++;
        const labeled = isLabeledFrame(input);
        const frame: Frame = labeled ? input.frame : input;
        const frameId = (labeled ? input.frameId : undefined) ?? at;
        const trueLabel = labeled ? input.trueLabel : undefined;
        let prepared: PreparedFrame;
        try {
          // A misspelt key (label for trueLabel) would leave the frame unlabelled without a word.
          if (labeled) checkLabeledFrameKeys(input);
          prepared = prepareFrame(frame, adapter.inputShape, (adapter.preprocess?.resize ?? 'none') !== 'none');
          // A bad label is a bad frame: checked here, it would fail its whole batch in the adapter.
          if (trueLabel !== undefined) checkLabel(trueLabel, adapter.numClasses, "The frame's trueLabel");
        } catch (err) {
          reject(at, frameId, err);
          return;
        } finally {
          if (disposeFrames && isTensor(frame)) frame.dispose();
        }
        pending.push({ seq: at, frameId, trueLabel, frame: prepared, arrival: scheduler.now() });
        schedule();
        if (pending.length > limit) {
          if (backpressure === 'buffer') {
            fail(
              new BackpressureError(
                `adapt: ${pending.length} frames are waiting for the adapter, more than bufferSize ${bufferSize}: adaptation is slower than the source. ` +
                  "Raise bufferSize or batchSize, or use backpressure 'drop-oldest' or 'latest'.",
              ),
            );
          } else drop(pending.splice(0, pending.length - limit));
        }
      };

      // Registered before the source is subscribed: a consumer that unsubscribes while a
      // synchronous source is still emitting inside subscribe() (take(1) or first() on a bad
      // frame's error record, emitted at once) closes the stream then, not only once subscribe()
      // returns (the source was read to its end and a batch nobody wanted was adapted on).
      subscriber.add(teardown);
      // takeWhile: a synchronous source (from(array), a generator) that is still emitting inside
      // subscribe() when the stream closes is stopped at its next frame (inclusive: that frame
      // reaches next below, which disposes it), not read to its end.
      return source.pipe(takeWhile(() => !closed, true)).subscribe({
        next: (input) => {
          if (!closed) onFrame(input);
          else if (disposeFrames) {
            const frame = isLabeledFrame(input) ? input.frame : input;
            if (isTensor(frame)) frame.dispose();
          }
        },
        error: fail,
        complete: () => {
          sourceDone = true;
          schedule();
        },
      });
    });
}
