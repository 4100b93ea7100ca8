/**
 * Marble tests of the `adapt` operator on the RxJS TestScheduler: batching by size and by
 * time, each backpressure policy with its dropped-frame counts, frame order, error
 * propagation and teardown. Each frame's expected prediction is hand-computed: the fake
 * adapter's probabilities are the frame's pixels (they sum to 1), see fakeAdapter.ts.
 * One character of a marble diagram is 1 ms of virtual time; `(ab)` groups values emitted
 * at the same time, and a group advances the clock by its length.
 */
import * as tf from '@tensorflow/tfjs';
import { from, map, Subject, take, takeUntil, tap, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackpressureError, DisposedError, InvalidInputError, InvalidOptionError } from '../../src/errors.js';
import { initBackend } from '../../src/index.js';
import { adapt } from '../../src/stream/adapt.js';
import type { AdaptStreamOptions, FrameInput, StreamRecord } from '../../src/stream/types.js';
import { FakeAdapter, frame } from './fakeAdapter.js';

const PIXELS = {
  a: [0.5, 0.25, 0.125, 0.125],
  b: [0.125, 0.5, 0.25, 0.125],
  c: [0.125, 0.125, 0.5, 0.25],
  d: [0.25, 0.125, 0.125, 0.5],
  e: [0.0625, 0.0625, 0.125, 0.75],
  f: [0.75, 0.0625, 0.0625, 0.125],
  g: [0.125, 0.75, 0.0625, 0.0625],
} satisfies Record<string, [number, number, number, number]>;
type Name = keyof typeof PIXELS;

const frames = Object.fromEntries(Object.entries(PIXELS).map(([k, p]) => [k, frame(...(p as [number, number, number, number]))])) as Record<Name, ReturnType<typeof frame>>;

/** The hand-computed prediction of frame `name`: probs = pixels, label = arg-max, confidence = max. */
function pred(name: Name, frameId: number, stepId: number, latencyMs: number): StreamRecord {
  const p: number[] = PIXELS[name];
  const confidence = Math.max(...p);
  return { kind: 'prediction', frameId, probs: new Float32Array(p), label: p.indexOf(confidence), confidence, stepId, latencyMs };
}

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

function run(
  stepMs: number,
  options: AdaptStreamOptions,
  body: (h: {
    ts: TestScheduler;
    fake: FakeAdapter;
    helpers: Parameters<Parameters<TestScheduler['run']>[0]>[0];
    pipe: (src: Observable<FrameInput>) => Observable<StreamRecord>;
  }) => void,
  failAt?: Map<number, Error>,
): FakeAdapter {
  const ts = newScheduler();
  let fake!: FakeAdapter;
  ts.run((helpers) => {
    fake = new FakeAdapter(ts, stepMs, failAt);
    body({ ts, fake, helpers, pipe: (src) => src.pipe(adapt(fake, options)) });
  });
  return fake;
}

describe('adapt (marbles)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('batches by size: a batch leaves as soon as batchSize frames wait', () => {
    const fake = run(1, { batchSize: 2, maxWaitMs: Infinity }, ({ helpers: { cold, expectObservable }, pipe }) => {
      const src = cold('-a-b-c-d------|', frames);
      // a@1 b@3 -> step [a, b] at 3, done at 4; c@5 d@7 -> step at 7, done at 8.
      expectObservable(pipe(src)).toBe('----(ab)(cd)--|', {
        a: pred('a', 0, 0, 3),
        b: pred('b', 1, 0, 1),
        c: pred('c', 2, 1, 3),
        d: pred('d', 3, 1, 1),
      });
    });
    expect(fake.calls.map((c) => [c.time, c.batchSize])).toEqual([
      [3, 2],
      [7, 2],
    ]);
  });

  it('batches by time: the oldest frame never waits more than maxWaitMs; the last batch leaves on completion', () => {
    const fake = run(1, { batchSize: 4, maxWaitMs: 5 }, ({ helpers: { cold, expectObservable }, pipe }) => {
      const src = cold('-a-b--------c|', frames);
      // a@1 arms the timer: at 6 the batch [a, b] leaves (done at 7). c@12; completion at 13 sends [c].
      expectObservable(pipe(src)).toBe('-------(ab)---(c|)', {
        a: pred('a', 0, 0, 6),
        b: pred('b', 1, 0, 4),
        c: pred('c', 2, 1, 2),
      });
    });
    expect(fake.calls.map((c) => [c.time, c.batchSize])).toEqual([
      [6, 2],
      [13, 1],
    ]);
  });

  it("'buffer' keeps every frame while it fits", () => {
    const fake = run(10, { batchSize: 1, backpressure: 'buffer', bufferSize: 3 }, ({ helpers: { cold, expectObservable }, pipe }) => {
      // a runs 0-10; b, c, d wait (3 <= bufferSize) and run 10-20, 20-30, 30-40.
      expectObservable(pipe(cold('abcd|', frames))).toBe('10ms a 9ms b 9ms c 9ms (d|)', {
        a: pred('a', 0, 0, 10),
        b: pred('b', 1, 1, 19),
        c: pred('c', 2, 2, 28),
        d: pred('d', 3, 3, 37),
      });
    });
    expect(fake.reports).toEqual([]);
  });

  it("'buffer' errors with BackpressureError when more than bufferSize frames wait", () => {
    run(10, { batchSize: 1, backpressure: 'buffer', bufferSize: 2 }, ({ helpers: { cold, expectObservable, expectSubscriptions }, pipe }) => {
      const src = cold('abcdef|', frames);
      // a is in flight from 0; b, c wait; d@3 makes 3 waiting frames > 2.
      expectObservable(pipe(src)).toBe(
        '---#',
        {},
        new BackpressureError(
          "adapt: 3 frames are waiting for the adapter, more than bufferSize 2: adaptation is slower than the source. Raise bufferSize or batchSize, or use backpressure 'drop-oldest' or 'latest'.",
        ),
      );
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });

  it("'drop-oldest' drops the oldest waiting frames beyond bufferSize, reports them, keeps frame order", () => {
    const fake = run(10, { batchSize: 1, backpressure: 'drop-oldest', bufferSize: 2 }, ({ helpers: { cold, expectObservable }, pipe }) => {
      // a runs 0-10. d@3 drops b, e@4 drops c, f@5 drops d; e runs 10-20, f 20-30.
      // The dropped records wait for a's prediction: every frame's record leaves in frame order.
      expectObservable(pipe(cold('abcdef|', frames))).toBe('10ms (abcd) 4ms e 9ms (f|)', {
        a: pred('a', 0, 0, 10),
        b: { kind: 'dropped', frameId: 1, policy: 'drop-oldest' },
        c: { kind: 'dropped', frameId: 2, policy: 'drop-oldest' },
        d: { kind: 'dropped', frameId: 3, policy: 'drop-oldest' },
        e: pred('e', 4, 1, 16),
        f: pred('f', 5, 2, 25),
      });
    });
    expect(fake.reports).toEqual([1, 2, 3].map((id) => ({ kind: 'frames-dropped', frameIds: [id], policy: 'drop-oldest' })));
    expect(fake.calls.map((c) => c.batchSize)).toEqual([1, 1, 1]);
  });

  it("'latest' keeps only the newest batchSize frames while a step runs", () => {
    const fake = run(10, { batchSize: 2, maxWaitMs: 50, backpressure: 'latest' }, ({ helpers: { cold, expectObservable }, pipe }) => {
      // [a, b] runs 1-11. c, d wait; e@4 drops c, f@5 drops d, g@6 drops e; [f, g] runs 11-21.
      expectObservable(pipe(cold('abcdefg|', frames))).toBe('11ms (abcde) 3ms (fg|)', {
        a: pred('a', 0, 0, 11),
        b: pred('b', 1, 0, 10),
        c: { kind: 'dropped', frameId: 2, policy: 'latest' },
        d: { kind: 'dropped', frameId: 3, policy: 'latest' },
        e: { kind: 'dropped', frameId: 4, policy: 'latest' },
        f: pred('f', 5, 1, 16),
        g: pred('g', 6, 1, 15),
      });
    });
    const dropped = fake.reports.flatMap((r) => (r.kind === 'frames-dropped' ? r.frameIds : []));
    expect(dropped).toEqual([2, 3, 4]);
  });

  it('a bad frame becomes an error record in its place; the others are batched without it', () => {
    const bad = {
      s: { data: new Float32Array(9), shape: [3, 3, 1] },
      n: frame(NaN, 0.5, 0.25, 0.25),
      u: { data: new Uint8Array(4), shape: [2, 2, 1] },
    };
    const fake = run(2, { batchSize: 3, maxWaitMs: Infinity }, ({ helpers: { cold, expectObservable }, pipe }) => {
      const src = cold<FrameInput>('a-s-b-n-u-c-|', { ...frames, ...bad } as unknown as Record<string, FrameInput>);
      // a, b, c form the batch (sent at 10 when c arrives, done at 12); the bad frames'
      // records are held back until a's prediction so the output stays in frame order.
      expectObservable(pipe(src)).toBe('------------(asbnuc|)', {
        a: pred('a', 0, 0, 12),
        s: { kind: 'error', frameId: 1, name: 'InvalidInputError', message: 'The frame has shape [3, 3, 1]; the model expects [2, 2, 1] (or [1, 2, 2, 1]). Resize the frame first, or set preprocess: { resize: \'bilinear\' }.' },
        b: pred('b', 2, 0, 8),
        n: { kind: 'error', frameId: 3, name: 'InvalidInputError', message: 'The frame contains a non-finite value (NaN) at index 0; every pixel must be a finite number.' },
        u: { kind: 'error', frameId: 4, name: 'InvalidInputError', message: 'The frame data is a Uint8Array; expected a Float32Array (scale 8-bit pixels to [0, 1] first).' },
        c: pred('c', 5, 0, 2),
      });
    });
    expect(fake.calls.map((c) => c.batchSize)).toEqual([3]);
    expect(fake.reports.map((r) => r.kind === 'frame-error' && r.frameId)).toEqual([1, 3, 4]);
  });

  it('keeps frame order, ids and true labels of labelled frames', () => {
    const fake = run(1, { batchSize: 2, maxWaitMs: Infinity }, ({ helpers: { cold, expectObservable }, pipe }) => {
      const src = cold<FrameInput>('-x-y-z-w|', {
        x: { frame: frames.d, frameId: 'cam-7', trueLabel: 3 },
        y: { frame: frames.c, frameId: 'cam-8', trueLabel: 1 },
        z: { frame: frames.b, frameId: 'cam-9' },
        w: { frame: frames.a, frameId: 'cam-10', trueLabel: 0 },
      });
      expectObservable(pipe(src)).toBe('----(xy)(zw|)', {
        x: { ...pred('d', 0, 0, 3), frameId: 'cam-7' },
        y: { ...pred('c', 0, 0, 1), frameId: 'cam-8' },
        z: { ...pred('b', 0, 1, 3), frameId: 'cam-9' },
        w: { ...pred('a', 0, 1, 1), frameId: 'cam-10' },
      });
    });
    // Labels reach the adapter only when every frame of the batch has one.
    expect(fake.calls.map((c) => c.labels)).toEqual([[3, 1], undefined]);
  });

  it('a source error propagates at once and frees the waiting frames', () => {
    const before = tf.memory().numTensors;
    run(5, { batchSize: 2, maxWaitMs: Infinity }, ({ helpers: { cold, expectObservable }, pipe }) => {
      const src = cold('a-b-c#', frames).pipe(map((f) => tf.tensor3d(f.data, [2, 2, 1])));
      // [a, b] runs 2-7; c waits; the error at 5 wins.
      expectObservable(pipe(src)).toBe('-----#', {}, 'error');
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an adapter failure errors the stream with the same error; an InvalidInputError only fails its frames', () => {
    const disposed = new DisposedError('The adapter was used after dispose().');
    run(
      1,
      { batchSize: 1 },
      ({ helpers: { cold, expectObservable }, pipe }) => {
        expectObservable(pipe(cold('a-b-c|', frames))).toBe('-a-b-#', { a: pred('a', 0, 0, 1), b: pred('b', 1, 1, 1) }, disposed);
      },
      new Map([[2, disposed]]),
    );
    const invalid = new InvalidInputError('Got 3 labels for a batch of 1 frames.');
    run(
      1,
      { batchSize: 1 },
      ({ helpers: { cold, expectObservable }, pipe }) => {
        expectObservable(pipe(cold('a-b-c|', frames))).toBe('-a-b-(c|)', {
          a: pred('a', 0, 0, 1),
          b: { kind: 'error', frameId: 1, name: 'InvalidInputError', message: invalid.message },
          c: pred('c', 2, 2, 1),
        });
      },
      new Map([[1, invalid]]),
    );
  });

  it('unsubscribing tears down: no tensor is left, the timer and the source subscription are gone', () => {
    const before = tf.memory().numTensors;
    const fake = run(4, { batchSize: 2, maxWaitMs: 3 }, ({ helpers: { hot, expectObservable, expectSubscriptions }, pipe }) => {
      const src = hot('-a-b-c-d-e-f-|', frames);
      const tensors = src.pipe(map((f) => tf.tensor3d(f.data, [2, 2, 1])));
      // [a, b] runs 3-7: a, b leave at 7; [c, d] runs 7-11 and is cut off at 10, with e
      // (arrived at 9) waiting for its batch and its max-wait timer armed.
      expectObservable(pipe(tensors), '^---------!').toBe('-------(ab)', { a: pred('a', 0, 0, 6), b: pred('b', 1, 0, 4) });
      expectSubscriptions(src.subscriptions).toBe('^---------!');
    });
    // The step cut off at 10 settles at 11; its batch tensor is freed then; e's timer never fires.
    expect(fake.calls.map((c) => c.time)).toEqual([3, 7]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('every frame leaves as exactly one record, and completion frees every tensor frame (100 frames, 3 policies)', () => {
    for (const [backpressure, bufferSize] of [['buffer', 1000], ['drop-oldest', 8], ['latest', 8]] as const) {
      const before = tf.memory().numTensors;
      const out: StreamRecord[] = [];
      let completed = false;
      const ts = newScheduler();
      let fake!: FakeAdapter;
      ts.run(({ cold }) => {
        fake = new FakeAdapter(ts, 7, undefined);
        const src = cold('a'.repeat(100) + '|', frames).pipe(map((f) => tf.tensor3d(f.data, [2, 2, 1])));
        src.pipe(adapt(fake, { batchSize: 4, maxWaitMs: 2, backpressure, bufferSize })).subscribe({
          next: (r) => out.push(r),
          complete: () => (completed = true),
        });
      });
      expect(completed).toBe(true);
      expect(out.map((r) => r.frameId)).toEqual([...Array(100).keys()]);
      const predicted = out.filter((r) => r.kind === 'prediction').length;
      const dropped = out.filter((r) => r.kind === 'dropped').length;
      expect(predicted + dropped).toBe(100);
      expect(predicted).toBe(fake.calls.reduce((a, c) => a + c.batchSize, 0));
      // Reported drops match the dropped records.
      expect(fake.reports.flatMap((r) => (r.kind === 'frames-dropped' ? r.frameIds : []))).toEqual(
        out.filter((r) => r.kind === 'dropped').map((r) => r.frameId),
      );
      if (backpressure === 'buffer') expect(dropped).toBe(0);
      else expect(dropped).toBeGreaterThan(20); // 100 frames in 100 ms against at most 4 frames per 7 ms step
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('a source that completes while a batch is being emitted still gets every record of that batch', () => {
    // takeUntil(stop) completes the source synchronously from inside the consumer's next, while
    // the other three predictions of the same step are still to be emitted.
    const out: StreamRecord[] = [];
    let completed = false;
    const ts = newScheduler();
    ts.run(({ cold }) => {
      const fake = new FakeAdapter(ts, 2);
      const stop = new Subject<void>();
      cold('abcd', frames)
        .pipe(takeUntil(stop), adapt(fake, { batchSize: 4, maxWaitMs: Infinity }))
        .subscribe({
          next: (r) => {
            out.push(r);
            if (r.frameId === 0) stop.next();
          },
          complete: () => (completed = true),
        });
    });
    // [a, b, c, d] runs 3-5.
    expect(out).toEqual([pred('a', 0, 0, 5), pred('b', 1, 0, 4), pred('c', 2, 0, 3), pred('d', 3, 0, 2)]);
    expect(completed).toBe(true);
  });

  it('labelled tensor frames that arrive after the stream errored are disposed too', () => {
    const before = tf.memory().numTensors;
    let error: unknown;
    let delivered = 0;
    const ts = newScheduler();
    ts.run(() => {
      const fake = new FakeAdapter(ts, 5);
      // A synchronous burst: [0..3] runs, 4..12 overflow bufferSize 8 at frame 12, and from()
      // still delivers frame 13 into the errored operator, which must dispose it.
      const burst = Array.from({ length: 20 }, (_, i) => ({ frame: tf.tensor3d(frames.a.data, [2, 2, 1]), frameId: `f${i}`, trueLabel: 0 }));
      from(burst)
        .pipe(
          tap(() => delivered++),
          adapt(fake, { batchSize: 4, bufferSize: 8 }),
        )
        .subscribe({ error: (e) => (error = e) });
      // The frames the source never delivered are still the caller's.
      burst.slice(delivered).forEach((b) => b.frame.dispose());
    });
    expect(error).toBeInstanceOf(BackpressureError);
    expect(delivered).toBeGreaterThanOrEqual(14);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a synchronous source stops being read once the stream errored', () => {
    let pulled = 0;
    function* lazyFrames(): Generator<FrameInput> {
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        yield frames.a;
      }
    }
    let error: unknown;
    const ts = newScheduler();
    ts.run(() => {
      const fake = new FakeAdapter(ts, 5);
      // [0..3] runs; 4..12 overflow bufferSize 8 at frame 12 (the 13th pulled).
      from(lazyFrames())
        .pipe(adapt(fake, { batchSize: 4, bufferSize: 8 }))
        .subscribe({ error: (e) => (error = e) });
    });
    expect(error).toBeInstanceOf(BackpressureError);
    expect(pulled).toBeLessThanOrEqual(14);
  });

  it('a consumer that unsubscribes on a record emitted during a synchronous source stops it: no step runs', () => {
    // Regression: take(1) on the first record (a bad frame's error record, emitted at once, while
    // from() is still inside subscribe()) left the operator open until subscribe() returned: it
    // read all 1,001 frames and sent a batch to the adapter that nobody would see.
    let pulled = 0;
    const out: (StreamRecord | 'complete')[] = [];
    const ts = newScheduler();
    let fake!: FakeAdapter;
    ts.run(() => {
      fake = new FakeAdapter(ts, 5);
      const bad = { data: new Float32Array(9), shape: [3, 3, 1] };
      const input: FrameInput[] = [bad, ...Array.from({ length: 1000 }, () => frames.a)];
      from(input)
        .pipe(
          tap(() => pulled++),
          adapt(fake, { batchSize: 4, bufferSize: Infinity }),
          take(1),
        )
        .subscribe({ next: (r) => out.push(r), complete: () => out.push('complete') });
    });
    expect(out.map((r) => (r === 'complete' ? r : r.kind))).toEqual(['error', 'complete']);
    expect(pulled).toBeLessThanOrEqual(2); // the bad frame, and the next one that finds the stream closed
    expect(fake.calls).toEqual([]);
    expect(fake.reports.map((r) => r.kind)).toEqual(['frame-error']);
  });

  it('disposeFrames: false leaves tensor frames to their owner and frees only its own tensors', () => {
    const owned = (['a', 'b', 'c'] as const).map((k) => tf.tensor3d(frames[k].data, [2, 2, 1]));
    const before = tf.memory().numTensors;
    const out: StreamRecord[] = [];
    const ts = newScheduler();
    ts.run(({ cold }) => {
      const fake = new FakeAdapter(ts, 2);
      cold('abc|', { a: owned[0]!, b: owned[1]!, c: owned[2]! })
        .pipe(adapt(fake, { batchSize: 2, maxWaitMs: Infinity, disposeFrames: false }))
        .subscribe((r) => out.push(r));
    });
    // [a, b] runs 1-3; c (arrived at 2) runs 3-5.
    expect(out).toEqual([pred('a', 0, 0, 3), pred('b', 1, 0, 2), pred('c', 2, 1, 3)]);
    expect(owned.map((t) => t.isDisposed)).toEqual([false, false, false]);
    expect(tf.memory().numTensors).toBe(before);
    owned.forEach((t) => t.dispose());
  });

  it('rejects bad options with InvalidOptionError naming them', () => {
    const fake = new FakeAdapter(new TestScheduler(() => undefined), 1);
    expect(() => adapt(fake, { batchSize: 0 })).toThrow(InvalidOptionError);
    expect(() => adapt(fake, { backpressure: 'fifo' as never })).toThrow(/'fifo'.*'buffer', 'drop-oldest', 'latest'/);
    expect(() => adapt(fake, { batchSize: 8, bufferSize: 4 })).toThrow(/bufferSize must be an integer >= batchSize \(8\); got 4/);
    expect(() => adapt(fake, { maxWaitMs: -1 })).toThrow(/maxWaitMs/);
  });

  it('rejects option values that would silently change its behaviour: misspelt names, a maxWaitMs string, a non-boolean disposeFrames', () => {
    const fake = new FakeAdapter(new TestScheduler(() => undefined), 1);
    // Regression: these were accepted. 'maxWait' left the 100 ms default in place; maxWaitMs '5'
    // (a config file's string) compared as a number but armed no timer, so a partial batch waited
    // for the next frame (or the end of the stream) instead of 5 ms.
    expect(() => adapt(fake, { maxWait: 5 } as never)).toThrow(
      new InvalidOptionError("adapt has no option 'maxWait'. Its options: batchSize, maxWaitMs, backpressure, bufferSize, disposeFrames, scheduler."),
    );
    expect(() => adapt(fake, { batchsize: 4 } as never)).toThrow(/no option 'batchsize'/);
    expect(() => adapt(fake, { maxWaitMs: '5' as never })).toThrow(new InvalidOptionError('adapt: maxWaitMs must be a number >= 0 (Infinity waits for full batches); got "5".'));
    expect(() => adapt(fake, { disposeFrames: 'false' as never })).toThrow(new InvalidOptionError('adapt: disposeFrames must be true or false; got "false".'));
    expect(() => adapt(fake, { scheduler: {} as never })).toThrow(/scheduler must be an RxJS scheduler/);
    expect(() => adapt(fake, null as never)).toThrow(InvalidOptionError);
    // undefined values are the defaults, as before.
    expect(() => adapt(fake, { batchSize: undefined, maxWaitMs: undefined, scheduler: undefined })).not.toThrow();
  });
});
