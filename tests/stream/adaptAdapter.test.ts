/**
 * `adapt` on a real in-thread adapter: predictions equal `adapter.step` on the same frames,
 * bad frames give error records in the output and on `metrics$` without losing adapter
 * state, dropped frames are totalled in the step records, image frames convert like
 * `tf.image.rgbToGrayscale`, and `summarizeMetrics` matches a hand computation.
 */
import * as tf from '@tensorflow/tfjs';
import { asyncScheduler, from, lastValueFrom, Observable, Subject, toArray, type SchedulerLike } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, summarizeMetrics, type MetricsRecord, type StepMetrics } from '../../src/index.js';
import { adapt } from '../../src/stream/adapt.js';
import { imageDataToFloat32 } from '../../src/stream/frames.js';
import type { FrameInput, Prediction, StreamRecord } from '../../src/stream/types.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

const SHAPE = [12, 12, 1];

function pixels(seed: number): Float32Array {
  return tf.tidy(() => tf.randomUniform(SHAPE, 0, 1, 'float32', seed).dataSync() as Float32Array);
}

describe('adapt on an in-thread adapter', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it("bad frames give error records in the output and on metrics$; the good ones match adapter.step's output", async () => {
    const model = smallResNet();
    randomizeBatchNorms(model);
    // Batch statistics: each output depends on its batch only, so the replay below can compare (the 'auto' default keeps moving statistics at this batch size).
    const adapter = await createAdapter(model, { strategy: 'bn-adapt', stats: 'batch' });
    await adapter.step({ data: pixels(1), shape: SHAPE }); // warm-up: the lazily copied source state
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    const good = [0, 1, 2, 3, 4, 5].map((i) => pixels(40 + i));
    const input: FrameInput[] = [
      { frame: { data: good[0]!, shape: SHAPE }, trueLabel: 1 },
      tf.tensor3d(good[1]!, SHAPE as [number, number, number]),
      tf.zeros([12, 12, 1], 'int32'), // wrong dtype
      { frame: { data: good[2]!, shape: SHAPE }, trueLabel: 0 },
      { data: new Float32Array(144).fill(Infinity), shape: SHAPE }, // not finite
      { data: good[3]!, shape: [1, ...SHAPE] },
      { data: good[4]!, shape: [12, 12, 3] }, // wrong shape
      { data: good[5]!, shape: SHAPE },
    ];
    const before = tf.memory().numTensors - 2; // the two tensor frames are handed over
    const out = await lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: 3, maxWaitMs: Infinity }), toArray()));
    // Every tensor the pipeline held (the two tensor frames, the batch) is freed.
    expect(tf.memory().numTensors).toBe(before);
    expect(out.map((r) => r.kind)).toEqual(['prediction', 'prediction', 'error', 'prediction', 'error', 'prediction', 'error', 'prediction']);
    expect(out.map((r) => r.frameId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(out[2]).toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/dtype int32; expected float32/) });
    expect(out[4]).toMatchObject({ message: expect.stringMatching(/non-finite value \(Infinity\) at index 0/) });
    expect(out[6]).toMatchObject({ message: expect.stringMatching(/shape \[12, 12, 3\]; the model expects \[12, 12, 1\]/) });
    // The good frames were batched as [0, 1, 3] and [5, 7]: a second adapter stepping on
    // those batches directly gives the same probabilities (bn-adapt depends on the batch).
    // (One adapter per model at a time: the stream's adapter is done, so it is disposed first.)
    adapter.dispose();
    const direct = await createAdapter(model, { strategy: 'bn-adapt', stats: 'batch' });
    const b1 = await direct.step({ data: Float32Array.from([...good[0]!, ...good[1]!, ...good[2]!]), shape: [3, ...SHAPE] });
    const b2 = await direct.step({ data: Float32Array.from([...good[3]!, ...good[5]!]), shape: [2, ...SHAPE] });
    const preds = out.filter((r): r is Prediction => r.kind === 'prediction');
    expect(preds.map((p) => Array.from(p.probs))).toEqual([
      ...[0, 1, 2].map((i) => Array.from(b1.probs.slice(i * 5, i * 5 + 5))),
      ...[0, 1].map((i) => Array.from(b2.probs.slice(i * 5, i * 5 + 5))),
    ]);
    expect(preds.map((p) => p.stepId)).toEqual([1, 1, 1, 2, 2]);
    expect(preds.map((p) => p.label)).toEqual([...b1.labels, ...b2.labels]);
    // metrics$: the synchronous source is validated before the first (asynchronous) step
    // ends, so the three error records come first and both step records carry the total.
    expect(records.map((r) => r.kind)).toEqual(['frame-error', 'frame-error', 'frame-error', 'step', 'step']);
    const steps = records.filter((r): r is StepMetrics => r.kind === 'step');
    expect(steps.map((s) => s.frameErrors)).toEqual([3, 3]);
    expect(steps.map((s) => s.batchSize)).toEqual([3, 2]);
    expect(records.filter((r) => r.kind === 'frame-error').map((r) => r.kind === 'frame-error' && r.frameId)).toEqual([2, 4, 6]);
    // Frame 0 and 3 had labels but frame 1 did not: no accuracy for that batch.
    expect(steps[0]!.accuracy).toBeUndefined();
    direct.dispose();
  });

  it('a bad trueLabel fails only its own frame: the rest of its batch is predicted with labels', async () => {
    const adapter = await createAdapter(smallResNet(), { strategy: 'source' }); // 5 classes
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    const input: FrameInput[] = [
      { frame: { data: pixels(1), shape: SHAPE }, trueLabel: 1 },
      { frame: { data: pixels(2), shape: SHAPE }, trueLabel: 9 }, // no class 9
      { frame: { data: pixels(3), shape: SHAPE }, trueLabel: 2 },
      { frame: { data: pixels(4), shape: SHAPE }, trueLabel: 1.5 },
      { frame: { data: pixels(5), shape: SHAPE }, trueLabel: 0 },
    ];
    const out = await lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: 3, maxWaitMs: Infinity }), toArray()));
    expect(out.map((r) => r.kind)).toEqual(['prediction', 'error', 'prediction', 'error', 'prediction']);
    expect(out[1]).toMatchObject({ frameId: 1, name: 'InvalidInputError', message: expect.stringMatching(/trueLabel is 9; .*\[0, 5\)/) });
    expect(out[3]).toMatchObject({ frameId: 3, name: 'InvalidInputError', message: expect.stringMatching(/trueLabel is 1.5/) });
    // The good frames 0, 2, 4 made one batch, with their labels.
    const steps = records.filter((r): r is StepMetrics => r.kind === 'step');
    expect(steps.map((s) => [s.batchSize, s.labeledFrames])).toEqual([[3, 3]]);
    adapter.dispose();
  });

  it('a maxWaitMs beyond the 32-bit timer range arms one timer, not one per millisecond', async () => {
    const adapter = await createAdapter(smallResNet(), { strategy: 'source' });
    // Timers clamp a delay above 2^31 - 1 ms to 1 ms: the max-wait timer would fire and re-arm every ms.
    let armed = 0;
    const scheduler: SchedulerLike = {
      now: () => asyncScheduler.now(),
      schedule: ((work: () => void, delay?: number) => {
        armed++;
        return asyncScheduler.schedule(work, delay);
      }) as SchedulerLike['schedule'],
    };
    const frames = new Subject<FrameInput>();
    const out: StreamRecord[] = [];
    frames.pipe(adapt(adapter, { batchSize: 2, maxWaitMs: 3e9, scheduler })).subscribe((r) => out.push(r));
    frames.next({ data: pixels(1), shape: SHAPE });
    await new Promise((r) => setTimeout(r, 60));
    expect(out).toEqual([]); // still waiting for its batch
    expect(armed).toBe(1);
    frames.complete(); // the last partial batch leaves
    await new Promise((r) => setTimeout(r, 100));
    expect(out.map((r) => r.kind)).toEqual(['prediction']);
    adapter.dispose();
  });

  it('counts dropped frames in the step records and the output (latest, synchronous burst)', async () => {
    const adapter = await createAdapter(smallResNet(), { strategy: 'source' });
    const records: MetricsRecord[] = [];
    adapter.metrics$.subscribe((r) => records.push(r));
    const input = Array.from({ length: 40 }, (_, i) => ({ data: pixels(i), shape: SHAPE }));
    const out = await lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: 4, backpressure: 'latest' }), toArray()));
    // The burst arrives while the first batch runs: only the newest 4 frames wait for it.
    expect(out.map((r) => r.kind)).toEqual([...Array(4).fill('prediction'), ...Array(32).fill('dropped'), ...Array(4).fill('prediction')]);
    const steps = records.filter((r): r is StepMetrics => r.kind === 'step');
    // The drops happen during the burst, before the first step's record.
    expect(steps.map((s) => s.framesDropped)).toEqual([32, 32]);
    expect(records.filter((r) => r.kind === 'frames-dropped').reduce((a, r) => a + (r.kind === 'frames-dropped' ? r.frameIds.length : 0), 0)).toBe(32);
    expect(summarizeMetrics(records).framesDropped).toBe(32);
    adapter.dispose();
  });

  it('500 tensor frames through adapt leave tf.memory().numTensors unchanged', async () => {
    const adapter = await createAdapter(smallResNet([8, 8, 1], 3), { strategy: 'bn-adapt' });
    const warm = tf.zeros([2, 8, 8, 1]);
    await adapter.step(warm); // warm-up: lazily created state
    warm.dispose();
    const before = tf.memory().numTensors;
    const frames = Array.from({ length: 500 }, (_, i) => i);
    const out = await lastValueFrom(
      from(frames).pipe(
        (src) => new Observable<FrameInput>((sub) => src.subscribe({ next: (i) => sub.next(tf.fill([8, 8, 1], (i % 7) / 7)), complete: () => sub.complete() })),
        adapt(adapter, { batchSize: 8, backpressure: 'buffer', bufferSize: Infinity }),
        toArray(),
      ),
    );
    expect(out.filter((r) => r.kind === 'prediction')).toHaveLength(500);
    expect(tf.memory().numTensors).toBe(before);
    adapter.dispose();
  });

  it('ImageData frames convert to luma like tf.image.rgbToGrayscale, scaled to [0, 1]', async () => {
    const rgba = new Uint8ClampedArray(12 * 12 * 4);
    for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37 + 11) % 256;
    const mine = imageDataToFloat32({ data: rgba, width: 12, height: 12 }, SHAPE);
    // tfjs-wasm lacks the Einsum kernel rgbToGrayscale uses: take the reference on the CPU backend.
    await initBackend({ backend: 'cpu' });
    const reference = tf.tidy(() => {
      const rgb = tf.tensor3d(Float32Array.from(rgba), [12, 12, 4]).slice([0, 0, 0], [12, 12, 3]);
      return tf.image.rgbToGrayscale(rgb).div(255).dataSync();
    });
    await initBackend({ backend: 'wasm' });
    for (let i = 0; i < 144; i++) expect(mine[i]).toBeCloseTo(reference[i]!, 5);
    const rgb = imageDataToFloat32({ data: rgba, width: 12, height: 12 }, [12, 12, 3]);
    expect(Array.from(rgb.slice(0, 6))).toEqual([11, 48, 85, 159, 196, 233].map((v) => Math.fround(v / 255)));
    expect(() => imageDataToFloat32({ data: rgba, width: 12, height: 12 }, [10, 12, 1])).toThrow(/12x12; the model expects \[10, 12, 1\]/);
  });

  it('with preprocess.resize, an image frame the conversion would refuse fails alone; shape messages name the real fix', async () => {
    const adapter = await createAdapter(smallResNet(), { strategy: 'source', preprocess: { resize: 'bilinear' } });
    const image = (width: number, height: number, v: number) => ({ data: new Uint8ClampedArray(Math.round(width * height * 4)).fill(v), width, height });
    // Regression: an image of fractional width passed the per-frame check and failed in the step,
    // taking the two good frames of its batch with it (three error records).
    const input: FrameInput[] = [
      image(20, 16, 100),
      image(2.5, 4, 100), // 40 bytes, as 2.5 x 4 x 4 "needs"
      image(16, 20, 200),
      { data: new Float32Array(2 * 144), shape: [2, 12, 12, 1] }, // two frames, not one
      { data: new Float32Array(24 * 24 * 3), shape: [24, 24, 3] }, // 3 channels for a grey model
    ];
    const out = await lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: 3, maxWaitMs: Infinity }), toArray()));
    expect(out.map((r) => r.kind)).toEqual(['prediction', 'error', 'prediction', 'error', 'error']);
    expect(out[1]).toMatchObject({ name: 'InvalidInputError', message: 'The image is 2.5x4; its width and height must be positive integers.' });
    // resize is set: the messages must not tell the user to set it; they show the shape as sent.
    expect(out[3]).toMatchObject({
      message: 'The frame has shape [2, 12, 12, 1]; a frame is one image, [12, 12, 1] or [1, 12, 12, 1] (any height and width: preprocess.resize is set). Send the frames of a batch one at a time, or pass the batch to adapter.step.',
    });
    expect(out[4]).toMatchObject({ message: 'The frame has shape [24, 24, 3]; the model takes 1 channels (a frame is [h, w, 1], resized to [12, 12]).' });
    // The good images' predictions are the adapter's on those two images.
    const direct = await adapter.predict([image(20, 16, 100), image(16, 20, 200)]);
    const preds = out.filter((r): r is Prediction => r.kind === 'prediction');
    expect(preds.map((p) => Array.from(p.probs))).toEqual([0, 1].map((k) => Array.from(direct.probs.slice(5 * k, 5 * k + 5))));
    adapter.dispose();
  });

  it('summarizeMetrics gives frame-weighted windowed averages and quantiles (hand-computed)', () => {
    const step = (stepId: number, batchSize: number, stepMs: number, entropy: number, accuracy?: number): StepMetrics => ({
      kind: 'step',
      stepId,
      strategy: 'x',
      batchSize,
      stepMs,
      meanEntropy: entropy,
      meanConfidence: 1 - entropy,
      classHistogram: [batchSize, 0],
      ...(accuracy !== undefined ? { accuracy } : {}),
      labeledFrames: 0,
      framesDropped: stepId,
      frameErrors: 0,
      stats: { loss: stepId },
      memory: { numTensors: 10 + stepId, numBytes: 0 },
      update: { mode: 'adapt', stepsRun: stepId + 1, stepsSkipped: 0 },
    });
    const records: MetricsRecord[] = [
      step(0, 8, 100, 0.9, 0.5),
      step(1, 2, 10, 0.5, 1),
      step(2, 6, 20, 0.1),
      step(3, 4, 40, 0.2, 0.25),
      { kind: 'frame-error', frameId: 9, name: 'InvalidInputError', message: 'm', frameErrors: 1, time: 0, memory: { numTensors: 13, numBytes: 0 } },
    ];
    const s = summarizeMetrics(records, { window: 3 });
    expect(s.steps).toBe(3);
    expect(s.frames).toBe(12);
    expect(s.meanStepMs).toBeCloseTo(70 / 3, 12);
    expect(s.p50StepMs).toBe(20);
    expect(s.p95StepMs).toBeCloseTo(20 + 0.9 * 20, 12); // numpy: sorted [10, 20, 40], position 1.9
    expect(s.framesPerSecond).toBeCloseTo((12 / 70) * 1000, 9);
    expect(s.meanEntropy).toBeCloseTo((2 * 0.5 + 6 * 0.1 + 4 * 0.2) / 12, 12);
    expect(s.accuracy).toBeCloseTo((2 * 1 + 4 * 0.25) / 6, 12);
    expect(s.classHistogram).toEqual([12, 0]);
    expect(s.stats).toEqual({ loss: 2 });
    expect(s.framesDropped).toBe(3);
    expect(s.frameErrors).toBe(1);
    expect(s.memory).toEqual({ numTensors: 13, numBytes: 0 });
    expect(summarizeMetrics(records).steps).toBe(4);
  });
});
