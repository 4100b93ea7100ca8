/**
 * What `step`, `predict` and `adapt` accept (`src/input.ts`) and the `preprocess` option
 * (`src/preprocess.ts`): values checked against hand-computed numbers (scale/offset, channel
 * order, grey, bilinear and nearest resize with half-pixel centres), camera sources through
 * structural fakes (Node has no DOM: a canvas, a video element, an ImageBitmap), and the same
 * predictions through every path.
 */
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapt, createAdapter, initBackend, InvalidInputError, InvalidOptionError, type ImageDataLike } from '../../src/index.js';
import { toBatchTensor } from '../../src/batchTensor.js';
import { checkLabeledFrameKeys } from '../../src/stream/frames.js';
import { resolvePreprocess } from '../../src/preprocess.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

/** An RGBA image whose pixel p is `pixels[p]` = [r, g, b, a]. */
function image(width: number, height: number, pixels: number[][]): ImageDataLike {
  return { width, height, data: Uint8ClampedArray.from(pixels.flat()) };
}

function values(input: Parameters<typeof toBatchTensor>[0], shape: number[], preprocess?: object): number[] {
  const x = toBatchTensor(input, shape, resolvePreprocess(preprocess as never, shape));
  const out = Array.from(x.dataSync());
  expect(x.shape).toEqual([x.shape[0], ...shape]);
  x.dispose();
  return out;
}

/** A canvas as `getContext('2d').getImageData` sees it (HTMLCanvasElement and OffscreenCanvas alike). */
function fakeCanvas(img: ImageDataLike) {
  return {
    width: img.width,
    height: img.height,
    getContext: (id: string) => (id === '2d' ? { getImageData: (x: number, y: number, w: number, h: number) => ({ ...img, width: w, height: h }) } : null),
  };
}

/** An OffscreenCanvas stand-in: drawImage(source) records the source; getImageData returns its pixels. */
class FakeOffscreenCanvas {
  static drawn: unknown[] = [];
  private source: { pixels?: ImageDataLike } | null = null;
  constructor(
    public width: number,
    public height: number,
  ) {}
  getContext() {
    return {
      drawImage: (src: { pixels?: ImageDataLike }, _x: number, _y: number, w: number, h: number) => {
        FakeOffscreenCanvas.drawn.push({ src, w, h });
        this.source = src;
      },
      getImageData: (_x: number, _y: number, w: number, h: number) => {
        expect([w, h]).toEqual([this.width, this.height]);
        return this.source!.pixels!;
      },
    };
  }
}

describe('inputs and preprocess', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterEach(() => {
    delete (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas;
  });

  const px = [
    [255, 0, 51, 255],
    [0, 102, 255, 0],
  ];

  it('ImageData: RGB in [0, 1], then scale and offset ([-1, 1]), per channel, and BGR order (hand-computed)', () => {
    const img = image(2, 1, px);
    expect(values(img, [1, 2, 3])).toEqual([1, 0, 0.2, 0, 0.4, 1].map(Math.fround));
    // [-1, 1]: 2x - 1.
    const pm1 = values(img, [1, 2, 3], { scale: 2, offset: -1 });
    [1, -1, -0.6, -1, -0.2, 1].forEach((v, i) => expect(pm1[i]).toBeCloseTo(v, 6));
    // Per channel: x * [1, 2, 4] + [0, -1, 0.5].
    const pc = values(img, [1, 2, 3], { scale: [1, 2, 4], offset: [0, -1, 0.5] });
    [1, -1, 1.3, 0, -0.2, 4.5].forEach((v, i) => expect(pc[i]).toBeCloseTo(v, 6));
    // BGR: channels reversed before scaling.
    expect(values(img, [1, 2, 3], { channelOrder: 'bgr' })).toEqual([0.2, 0, 1, 1, 0.4, 0].map(Math.fround));
    // Grey: luma 0.2989 R + 0.587 G + 0.114 B, then 255 * x (a model on 0..255).
    const grey = values(img, [1, 2, 1], { scale: 255 });
    expect(grey[0]).toBeCloseTo(0.2989 * 255 + 0.114 * 51, 3);
    expect(grey[1]).toBeCloseTo(0.587 * 102 + 0.114 * 255, 3);
    // RGBA models keep alpha.
    expect(values(img, [1, 2, 4]).slice(4)).toEqual([0, 0.4, 1, 0].map(Math.fround));
  });

  it('resize: bilinear with half-pixel centres averages 2x2 blocks down and interpolates up; nearest picks (hand-computed)', () => {
    const x16 = { data: Float32Array.from({ length: 16 }, (_, i) => i), shape: [4, 4, 1] };
    expect(values(x16, [2, 2, 1], { resize: 'bilinear' })).toEqual([2.5, 4.5, 10.5, 12.5]);
    // floor((i + 0.5) * 2) = 1, 3: pixels (1, 1), (1, 3), (3, 1), (3, 3).
    expect(values(x16, [2, 2, 1], { resize: 'nearest' })).toEqual([5, 7, 13, 15]);
    // Up: source coordinate (i + 0.5) / 2 - 0.5, clamped: weights [1, 0], [.75, .25], [.25, .75], [0, 1].
    const x4 = { data: Float32Array.from([0, 4, 8, 12]), shape: [1, 2, 2, 1] };
    expect(values(x4, [4, 4, 1], { resize: 'bilinear' })).toEqual([0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12]);
    // Resize, then scale and offset.
    expect(values(x16, [2, 2, 1], { resize: 'bilinear', scale: 2, offset: -1 })).toEqual([4, 8, 20, 24]);
    // Without resize, another size is rejected with the fix in the message.
    expect(() => values(x16, [2, 2, 1])).toThrow(/set preprocess: \{ resize: 'bilinear' \}/);
    expect(() => values({ data: new Float32Array(16 * 3), shape: [4, 4, 3] }, [2, 2, 1], { resize: 'bilinear' })).toThrow(/takes 1 channels/);
  });

  it('an array of frames of different sizes: each converted and resized on its own, then stacked', () => {
    const img = image(2, 2, [
      [0, 0, 0, 255],
      [255, 255, 255, 255],
      [0, 0, 0, 255],
      [255, 255, 255, 255],
    ]);
    const raw = { data: Float32Array.from({ length: 16 }, (_, i) => i / 15), shape: [4, 4, 1] };
    const out = values([img, raw], [2, 2, 1], { resize: 'bilinear' });
    // The 2x2 image stays (same size): grey 0 and 1 (0.2989 + 0.587 + 0.114 = 0.9999).
    [0, 0.9999, 0, 0.9999].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
    [2.5, 4.5, 10.5, 12.5].forEach((v, i) => expect(out[4 + i]).toBeCloseTo(v / 15, 6));
    expect(() => values([], [2, 2, 1])).toThrow(InvalidInputError);
  });

  it('a { data, shape } batch whose shape is not an array of positive integers: InvalidInputError from step and predict, nothing changed', async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const fixed = await createAdapter(model, { strategy: 'tent' });
    const resizing = await createAdapter(smallResNet([8, 8, 1], 3), { strategy: 'tent', preprocess: { resize: 'bilinear' } });
    const x = { data: Float32Array.from({ length: 128 }, (_, i) => (i % 17) / 16), shape: [2, 8, 8, 1] };
    await fixed.step({ data: x.data.slice(), shape: [...x.shape] });
    await resizing.step({ data: x.data.slice(), shape: [...x.shape] });
    const notArray = /The batch shape must be an array of dimensions, \[n, 8, 8, 1\] or \[8, 8, 1\]; got/;
    const cases: Array<[unknown, number, RegExp, 'fixed' | 'resizing' | 'both']> = [
      [null, 64, /got null\.$/, 'both'],
      [undefined, 64, /got undefined\.$/, 'both'],
      [5, 64, /got number\.$/, 'both'],
      ['8,8,1', 64, /got string\.$/, 'both'],
      [{ length: 3, 0: 8, 1: 8, 2: 1 }, 64, /got object\.$/, 'both'],
      [[0.5, 8, 8, 1], 32, /shape \[0\.5, 8, 8, 1\]; dimension 0 is 0\.5: every dimension must be a positive integer/, 'both'],
      [[1.5, 8, 8, 1], 96, /dimension 0 is 1\.5/, 'both'],
      [[-1, 8, 8, 1], 64, /dimension 0 is -1/, 'both'],
      [[NaN, 8, 8, 1], 64, /dimension 0 is NaN/, 'both'],
      [[1, 8, 8, '1'], 64, /dimension 3 is "1" \(a string\)/, 'both'],
      [[1, 2.5, 4, 1], 10, /dimension 1 is 2\.5/, 'resizing'],
      [[2.5, 4, 1], 10, /dimension 1 is 2\.5/, 'resizing'],
      [[1, 1e-9, 1e9, 1], 1, /dimension 1 is 1e-9/, 'resizing'],
      [[1, 4, 2 ** 53, 1], 4, /dimension 2 is 9007199254740992/, 'resizing'],
    ];
    for (const [name, adapter] of [['fixed', fixed], ['resizing', resizing]] as const) {
      const snap = await adapter.snapshot();
      const p = await adapter.predict({ data: x.data.slice(), shape: [...x.shape] });
      const mem = tf.memory().numTensors;
      for (const [shape, n, message, which] of cases) {
        if (which !== 'both' && which !== name) continue;
        for (const call of ['step', 'predict'] as const) {
          const err = await adapter[call]({ data: new Float32Array(n).fill(0.5), shape: shape as number[] }).catch((e: unknown) => e);
          expect(err, `${name} ${call} ${String(shape)}`).toBeInstanceOf(InvalidInputError);
          expect((err as Error).message).toMatch(typeof shape === 'object' && Array.isArray(shape) ? message : notArray);
          expect((err as Error).message).toMatch(message);
        }
      }
      expect(tf.memory().numTensors).toBe(mem);
      expect(await adapter.snapshot()).toEqual(snap);
      expect((await adapter.predict({ data: x.data.slice(), shape: [...x.shape] })).probs).toEqual(p.probs);
    }
    fixed.dispose();
    resizing.dispose();
  });

  it('adapt: a frame whose shape has a fractional dimension gets one error record; the stream goes on', async () => {
    const adapter = await createAdapter(smallResNet([8, 8, 1], 3), { strategy: 'source', preprocess: { resize: 'bilinear' } });
    const good = (k: number) => ({ data: new Float32Array(64).fill(k / 8), shape: [8, 8, 1] });
    const frames = [good(1), good(2), { data: new Float32Array(10).fill(0.5), shape: [2.5, 4, 1] }, good(3), { data: new Float32Array(4).fill(0.5), shape: [1, 4, 1.0000001, 1] }, good(4), good(5)];
    const records = await lastValueFrom(from(frames).pipe(adapt(adapter, { batchSize: 2, maxWaitMs: Infinity }), toArray()));
    expect(records.map((r) => r.kind)).toEqual(['prediction', 'prediction', 'error', 'prediction', 'error', 'prediction', 'prediction']);
    expect(records.map((r) => r.frameId)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(records[2]).toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/The frame has shape \[1, 2\.5, 4, 1\]; dimension 1 is 2\.5/) });
    expect(records[4]).toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/dimension 2 is 1\.0000001/) });
    // The good frames' predictions are the adapter's on those frames (source: per-frame outputs).
    const direct = await adapter.predict([good(1), good(2), good(3), good(4), good(5)]);
    const preds = records.filter((r) => r.kind === 'prediction').map((r) => (r.kind === 'prediction' ? Array.from(r.probs) : []));
    expect(preds).toEqual([0, 1, 2, 3, 4].map((k) => Array.from(direct.probs.slice(3 * k, 3 * k + 3))));
    adapter.dispose();
  });

  it('preprocess is validated against the model: unknown field, bad values, bgr on a grey model', async () => {
    const bad = [
      [{ size: 3 }, /preprocess has no field 'size'/],
      [{ resize: 'cubic' }, /preprocess.resize is "cubic"; valid values: 'none', 'bilinear', 'nearest'/],
      [{ scale: [1, 2] }, /preprocess.scale is \[1,2\]; it must be a finite number or an array of 1 finite numbers/],
      [{ offset: NaN }, /preprocess.offset/],
      [{ channelOrder: 'bgr' }, /'bgr' needs a 3-channel model; this model takes 1 channels/],
      // Finite doubles that are Infinity as float32 (the tensors' type).
      [{ scale: 1e39 }, /preprocess.scale is 1e\+39; .*finite as a float32 too/],
      [{ scale: [-1e39] }, /preprocess.scale is \[-1e\+39\]; .*finite as a float32 too/],
      [{ offset: 3.5e38 }, /preprocess.offset is 3.5e\+38; .*finite as a float32 too/],
      [{ scale: Number.MAX_VALUE }, /preprocess.scale is 1.7976931348623157e\+308/],
    ] as const;
    for (const [preprocess, message] of bad) {
      const err = await createAdapter(smallResNet(), { strategy: 'source', preprocess: preprocess as never }).catch((e: unknown) => e);
      expect(err, JSON.stringify(preprocess)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toMatch(message);
    }
    // The largest float32 is accepted, and applied (0.5 * max is finite).
    const max = 3.4028234663852886e38;
    expect(resolvePreprocess({ scale: max, offset: -max }, [2, 2, 1])).toMatchObject({ scale: [max], offset: [-max] });
    expect(values({ data: new Float32Array(4).fill(0.5), shape: [2, 2, 1] }, [2, 2, 1], { scale: max })).toEqual(new Array(4).fill(Math.fround(max / 2)));
  });

  // Before any test installs a fake OffscreenCanvas (the scratch canvas is made once and kept).
  it('without OffscreenCanvas or a document, a video frame is rejected with what to send instead', async () => {
    const adapter = await createAdapter(smallResNet([6, 6, 3], 4), { strategy: 'source' });
    const err = await adapter.step({ videoWidth: 6, videoHeight: 6 } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/needs OffscreenCanvas or a DOM document.*send ImageData or RGBA bytes as \{ data, width, height \}/);
    adapter.dispose();
  });

  it('camera sources (structural fakes): canvas, video, ImageBitmap give the ImageData path; step and predict agree', async () => {
    const model = smallResNet([6, 6, 3], 4);
    const adapter = await createAdapter(model, { strategy: 'bn-adapt', preprocess: { resize: 'bilinear', scale: 2, offset: -1 } });
    const pixels: number[][] = Array.from({ length: 8 * 8 }, (_, p) => [(p * 37) % 256, (p * 91) % 256, (p * 13) % 256, 255]);
    const img = image(8, 8, pixels);
    // The reference: the same pixels as a float tensor, preprocessed by hand (tfjs resize + 2x - 1).
    const reference = tf.tidy(() => {
      const rgb = tf.tensor4d(pixels.map((p) => p.slice(0, 3)).flat(), [1, 8, 8, 3]).div(255);
      return tf.image.resizeBilinear(rgb as tf.Tensor4D, [6, 6], false, true).mul(2).sub(1) as tf.Tensor4D;
    });
    const expected = await (async () => {
      const m2 = smallResNet([6, 6, 3], 4);
      m2.setWeights(model.getWeights());
      const a = await createAdapter(m2, { strategy: 'bn-adapt' });
      const out = await a.predict(reference);
      a.dispose();
      return Array.from(out.probs);
    })();
    const fromImage = await adapter.predict(img);
    // Same values up to float rounding (bytes / 255 on the CPU vs div on the backend).
    expect(Math.max(...Array.from(fromImage.probs).map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThan(1e-5);
    expect(Array.from((await adapter.predict(fakeCanvas(img) as never)).probs)).toEqual(Array.from(fromImage.probs));
    // A video element and an ImageBitmap are drawn on a scratch OffscreenCanvas at their own size.
    (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas = FakeOffscreenCanvas;
    const video = { videoWidth: 8, videoHeight: 8, readyState: 4, pixels: img };
    const bitmap = { width: 8, height: 8, close: () => undefined, pixels: img };
    expect(Array.from((await adapter.predict(video as never)).probs)).toEqual(Array.from(fromImage.probs));
    expect(Array.from((await adapter.step(bitmap as never)).probs)).toEqual(Array.from(fromImage.probs));
    expect(FakeOffscreenCanvas.drawn).toEqual([
      { src: video, w: 8, h: 8 },
      { src: bitmap, w: 8, h: 8 },
    ]);
    // A video without a frame yet, a webgl canvas: named errors.
    await expect(adapter.step({ videoWidth: 0, videoHeight: 0 } as never)).rejects.toThrow(/video has no frame yet/);
    await expect(adapter.step({ width: 8, height: 8, getContext: () => null } as never)).rejects.toThrow(/no 2d context/);
    tf.dispose(reference);
    adapter.dispose();
  });

  it('adapt: camera frames of another size are resized by the adapter; predictions equal step on the same frames', async () => {
    const model = smallResNet([6, 6, 3], 4);
    const copy = smallResNet([6, 6, 3], 4);
    copy.setWeights(model.getWeights());
    const preprocess = { resize: 'bilinear', scale: 2, offset: -1 } as const;
    const streamed = await createAdapter(model, { strategy: 'bn-adapt', preprocess });
    const stepped = await createAdapter(copy, { strategy: 'bn-adapt', preprocess });
    const frames = Array.from({ length: 8 }, (_, f) =>
      image(10, 7, Array.from({ length: 70 }, (_, p) => [(p * 7 + f * 31) % 256, (p * 3 + f) % 256, (p * 11 + 5 * f) % 256, 255])),
    );
    // The strategy's and the guard's lazily kept state (source copy, last good state), before counting;
    // the same step on both adapters keeps them in step.
    await streamed.step(frames.slice(0, 2));
    await stepped.step(frames.slice(0, 2));
    const before = tf.memory().numTensors;
    const records = await lastValueFrom(from(frames).pipe(adapt(streamed, { batchSize: 4, maxWaitMs: Infinity }), toArray()));
    expect(tf.memory().numTensors).toBe(before);
    const a = await stepped.step(frames.slice(0, 4));
    const b = await stepped.step(frames.slice(4));
    const probs = records.map((r) => (r.kind === 'prediction' ? Array.from(r.probs) : r.kind));
    expect(probs).toEqual([...Array.from({ length: 4 }, (_, k) => Array.from(a.probs.slice(4 * k, 4 * k + 4))), ...Array.from({ length: 4 }, (_, k) => Array.from(b.probs.slice(4 * k, 4 * k + 4)))]);
    streamed.dispose();
    stepped.dispose();
  });
  // Regression (usability review): what Node image decoders give, { data: Buffer, width, height }
  // (jpeg-js, pngjs; sharp's raw output with its info), got "The frame must be a tf.Tensor, ...
  // got object." from adapt and "... got [object Object]." from step.
  it('RGBA bytes in a Uint8Array or a Node Buffer, { data, width, height }: the ImageData predictions in step, predict and adapt; the caller\'s buffer untouched', async () => {
    const model = smallResNet([6, 6, 3], 4);
    randomizeBatchNorms(model);
    const adapter = await createAdapter(model, { strategy: 'source', preprocess: { resize: 'bilinear' } });
    const pixels = (w: number, h: number, f: number) => Array.from({ length: w * h }, (_, p) => [(p * 37 + f) % 256, (p * 91) % 256, (p * 13 + 7 * f) % 256, 255]);
    const img = image(6, 6, pixels(6, 6, 0));
    const big = image(9, 7, pixels(9, 7, 1));
    const reference = await adapter.predict([img, big]);
    // A Buffer that is a view into the middle of a larger one (as Buffer.concat and pooled Buffers are).
    const pool = Buffer.alloc(16 + img.data.length + 16, 9);
    pool.set(img.data, 16);
    const buffer = pool.subarray(16, 16 + img.data.length);
    const asBuffer = { data: buffer, width: 6, height: 6 };
    const asUint8 = { data: new Uint8Array(big.data), width: 9, height: 7 };
    const before = Buffer.from(pool);
    expect(Array.from((await adapter.predict([asBuffer, asUint8])).probs)).toEqual(Array.from(reference.probs));
    expect(Array.from((await adapter.step(asBuffer)).probs)).toEqual(Array.from(reference.probs.slice(0, 4)));
    const records = await lastValueFrom(from([asBuffer, asUint8, { frame: asBuffer, trueLabel: 2 }]).pipe(adapt(adapter, { batchSize: 3, maxWaitMs: Infinity }), toArray()));
    expect(records.map((r) => (r.kind === 'prediction' ? Array.from(r.probs) : r))).toEqual([0, 1, 0].map((k) => Array.from(reference.probs.slice(4 * k, 4 * k + 4))));
    expect(pool.equals(before)).toBe(true);
    adapter.dispose();
  });

  it('RGBA bytes of the wrong length are refused exactly, naming the layout they fit (RGB, grey) and the fix; step and adapt say the same', async () => {
    const adapter = await createAdapter(smallResNet([4, 4, 3], 3), { strategy: 'source' });
    const cases: Array<[unknown, RegExp]> = [
      [{ data: new Uint8Array(48), width: 4, height: 4 }, /^The image data has 48 bytes; 4x4 RGBA \(4 bytes per pixel, width x height x 4\) needs 64\. That is 3 bytes per pixel \(RGB, no alpha\): .*ensureAlpha.*shape: \[4, 4, 3\]/],
      [{ data: Buffer.alloc(16), width: 4, height: 4 }, /^The image data has 16 bytes; .* needs 64\. That is 1 byte per pixel \(grey\)/],
      [{ data: new Uint8Array(65), width: 4, height: 4 }, /^The image data has 65 bytes; 4x4 RGBA \(4 bytes per pixel, width x height x 4\) needs 64\.$/],
      [{ data: new Uint8Array(63), width: 4, height: 4 }, /needs 64\.$/],
      // Before: "The image data has 0 bytes; 0x4 RGBA needs 0." (step), "The image is 0x4; the model expects [4, 4, 3]" (adapt).
      [{ data: new Uint8ClampedArray(0), width: 0, height: 4 }, /^The image is 0x4; its width and height must be positive integers\.$/],
      [{ data: new Uint8Array(64), width: NaN, height: 4 }, /^The image is NaNx4; its width and height must be positive integers\.$/],
      // Before, step said "The image has shape [1, 5, 6, 3]; the model expects [n, 4, 4, 3]", a shape nobody sent.
      [{ data: new Uint8Array(120), width: 6, height: 5 }, /^The image is 6x5; the model expects \[4, 4, 3\] \(height, width, channels\)\. Resize it first, or set preprocess: \{ resize: 'bilinear' \}\.$/],
    ];
    const mem = tf.memory().numTensors;
    for (const [frame, message] of cases) {
      const stepped = await adapter.step(frame as never).then(() => null, (e: unknown) => e);
      expect(stepped, message.source).toBeInstanceOf(InvalidInputError);
      expect((stepped as Error).message).toMatch(message);
      const [record] = await lastValueFrom(from([frame as never]).pipe(adapt(adapter, { maxWaitMs: 0 }), toArray()));
      expect(record).toMatchObject({ kind: 'error', name: 'InvalidInputError', message: (stepped as Error).message });
    }
    expect(tf.memory().numTensors).toBe(mem);
    // { data: Uint8Array, shape } is raw pixels (float32 only), not an image.
    await expect(adapter.step({ data: new Uint8Array(48), shape: [4, 4, 3] } as never)).rejects.toThrow(/The batch data is a Uint8Array; expected a Float32Array/);
    adapter.dispose();
  });

  // Regression (usability review): every object that was none of the inputs got "got object." (adapt)
  // or "got [object Object]." (step); a label put on a bare frame was silently dropped.
  it('an object that is none of the inputs: the message names what came (its keys) and what to send', async () => {
    const adapter = await createAdapter(smallResNet([4, 4, 3], 3), { strategy: 'source' });
    const stepCases: Array<[unknown, RegExp]> = [
      [{ frame: { data: new Float32Array(48), shape: [4, 4, 3] }, trueLabel: 1 }, /got an object with keys frame, trueLabel\. A labelled frame, \{ frame, frameId, trueLabel \}, is for the adapt\(\) operator; .*step\(frames, labels\)/],
      [{ data: new Float32Array(48) }, /got an object with keys data\. Raw pixels need their shape: \{ data: Float32Array, shape: \[h, w, c\] \}/],
      [{ data: new Float32Array(48), width: 4, height: 4 }, /got an object with keys data, width, height\. Float pixels go as \{ data, shape: \[height, width, channels\] \}/],
      [{ data: [1, 2], width: 4, height: 4 }, /ImageData-like image needs data as a Uint8ClampedArray or Uint8Array of width x height x 4 RGBA bytes, .*here data is an Array, width a number, height a number/],
      [{ data: new Uint8Array(64), width: '4', height: 4 }, /here data is a Uint8Array, width a string, height a number/],
      [{ pixels: new Float32Array(48) }, /got an object with keys pixels\.$/],
      [new Map(), /got a Map without keys\.$/],
      [[0.1, 0.2], /^The batch is an array whose element 0 is the number 0\.1; an array batch holds frames .*Float32Array\.from\(values\)/],
      [{ data: new Float32Array(48), shape: Int32Array.from([4, 4, 3]) }, /shape must be an array of dimensions, .*; got an Int32Array \(pass a plain array: Array\.from\(shape\)\)\.$/],
    ];
    for (const [batch, message] of stepCases) {
      await expect(adapter.step(batch as never), message.source).rejects.toThrow(message);
    }
    const streamCases: Array<[unknown, RegExp]> = [
      // A label on a bare frame would be dropped without a word: the wrapper was forgotten.
      [{ data: new Float32Array(48), shape: [4, 4, 3], trueLabel: 1 }, /^The frame has a trueLabel key \(got an object with keys data, shape, trueLabel\); a labelled frame wraps the frame, \{ frame, frameId\?, trueLabel\? \}/],
      [{ data: new Uint8Array(64), width: 4, height: 4, frameId: 'a' }, /^The frame has a frameId key \(got an object with keys data, width, height, frameId\)/],
      [{ image: new Uint8Array(64), trueLabel: 1 }, /^The frame has a trueLabel key \(got an object with keys image, trueLabel\); a labelled frame wraps the frame, \{ frame, frameId\?, trueLabel\? \}, e\.g\. \{ frame: \{ data, shape \}, trueLabel: 3 \}/],
      [{ data: new Float32Array(48) }, /^The frame must be a tf\.Tensor, .*; got an object with keys data\. Raw pixels need their shape/],
      [[new Float32Array(48)], /got an array of 1\. An array of frames is a batch: send its frames one at a time/],
      [{ data: new Float32Array(48), shape: Int32Array.from([4, 4, 3]) }, /^The frame shape must be an array of dimensions, \[4, 4, 3\] or \[1, 4, 4, 3\]; got an Int32Array/],
    ];
    const records = await lastValueFrom(from(streamCases.map(([f]) => f as never)).pipe(adapt(adapter, { maxWaitMs: 0 }), toArray()));
    records.forEach((r, i) => expect(r, streamCases[i]![1].source).toMatchObject({ kind: 'error', name: 'InvalidInputError', message: expect.stringMatching(streamCases[i]![1]) }));
    adapter.dispose();
  });

  it("checkLabeledFrameKeys: a labelled frame's unknown key is named with the valid keys and the one meant", () => {
    const frame = { data: new Float32Array(4), shape: [2, 2, 1] };
    expect(() => checkLabeledFrameKeys({ frame, frameId: 'x', trueLabel: 3 })).not.toThrow();
    expect(() => checkLabeledFrameKeys({ frame })).not.toThrow();
    expect(() => checkLabeledFrameKeys({ frame, label: 3 })).toThrow(
      new InvalidInputError("The labelled frame has an unknown key 'label'; its keys are frame, frameId, trueLabel ({ frame, frameId?, trueLabel? }): did you mean trueLabel?"),
    );
    expect(() => checkLabeledFrameKeys({ frame, id: 7 })).toThrow(/unknown key 'id'.*did you mean frameId\?/);
    expect(() => checkLabeledFrameKeys({ frame, domain: 'fog' })).toThrow(/unknown key 'domain'; its keys are frame, frameId, trueLabel \(\{ frame, frameId\?, trueLabel\? \}\), with the pixels under frame\.$/);
  });
  // Regression (usability review): adapt told a grey frame sent as [h, w] (or a 5-d one) to "Send
  // the frames of a batch one at a time", and step and adapt told a frame of another channel count
  // to resize or set preprocess.resize, which changes height and width, never channels.
  it('shape messages give the fix that applies: a missing channel dimension, another channel count, too many dimensions', async () => {
    const grey = await createAdapter(smallResNet([4, 4, 1], 3), { strategy: 'source' });
    const rgb = await createAdapter(smallResNet([4, 4, 3], 3), { strategy: 'source' });
    const raw = (shape: number[]) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape });
    const convert = "Convert the pixels to 1 channel first, or send RGBA bytes as { data, width, height } (converted to the model's channels).";
    const cases: Array<[typeof grey, number[], string | RegExp, string | RegExp]> = [
      // [adapter, shape, step's message, adapt's message]
      [grey, [4, 4], 'The batch has shape [4, 4]; the model takes [4, 4, 1]: the channel dimension is missing. Send shape [4, 4, 1] (the same data).', 'The frame has shape [4, 4]; the model takes [4, 4, 1]: the channel dimension is missing. Send shape [4, 4, 1] (the same data).'],
      [grey, [2, 4, 4], 'The batch has shape [2, 4, 4]; the model takes [4, 4, 1]: the channel dimension is missing. Send shape [2, 4, 4, 1] (the same data).', 'The frame has shape [2, 4, 4]; the model takes [4, 4, 1]: these look like 2 frames without their channel dimension. Send them one at a time, each as [4, 4, 1].'],
      [grey, [5, 5, 3], `The batch has shape [5, 5, 3]; the model expects [4, 4, 1]: 3 channels, not 1. ${convert}`, `The frame has shape [5, 5, 3]; the model expects [4, 4, 1]: 3 channels, not 1. ${convert}`],
      [grey, [4, 4, 4], /^The batch has shape \[4, 4, 4\]; the model expects \[4, 4, 1\]: 4 channels, not 1\./, /^The frame has shape \[4, 4, 4\]; the model expects \[4, 4, 1\]: 4 channels, not 1\./],
      [rgb, [4, 4, 1], /^The batch has shape \[4, 4, 1\]; the model expects \[4, 4, 3\]: 1 channel, not 3\. Convert the pixels to 3 channels first/, /^The frame has shape \[4, 4, 1\]; the model expects \[4, 4, 3\]: 1 channel, not 3\./],
      [grey, [1, 1, 4, 4, 1], 'The batch has shape [1, 1, 4, 4, 1]; expected [n, 4, 4, 1] (or one frame, [4, 4, 1]).', 'The frame has shape [1, 1, 4, 4, 1], 5 dimensions; a frame is one image, [4, 4, 1] or [1, 4, 4, 1].'],
      // Unchanged: a size the resize option fixes names it.
      [grey, [5, 5, 1], /Resize the frames first, or set preprocess: \{ resize: 'bilinear' \}\.$/, /Resize the frame first, or set preprocess: \{ resize: 'bilinear' \}\.$/],
    ];
    for (const [adapter, shape, stepMessage, adaptMessage] of cases) {
      for (const input of [raw(shape), tf.zeros(shape)]) {
        const err = await adapter.step(input as never).then(() => null, (e: unknown) => e);
        expect(err, `step ${String(shape)}`).toBeInstanceOf(InvalidInputError);
        expect((err as Error).message).toMatch(typeof stepMessage === 'string' ? new RegExp(`^${stepMessage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : stepMessage);
        const [record] = await lastValueFrom(from([input as never]).pipe(adapt(adapter, { maxWaitMs: 0 }), toArray()));
        expect(record, `adapt ${String(shape)}`).toMatchObject({ kind: 'error', name: 'InvalidInputError', message: typeof adaptMessage === 'string' ? adaptMessage : expect.stringMatching(adaptMessage) });
      }
    }
    grey.dispose();
    rgb.dispose();
  });

  it('preprocess given as a string or an array: the message names it (was "got bilinear." and "preprocess has no field \'0\'")', async () => {
    const bad = [
      ['bilinear', `preprocess must be an object such as { resize: 'bilinear', scale: 2, offset: -1 }; got the string "bilinear" (did you mean preprocess: { resize: 'bilinear' }?).`],
      [['bilinear'], "preprocess must be an object such as { resize: 'bilinear', scale: 2, offset: -1 }; got an array of 1."],
      [2, "preprocess must be an object such as { resize: 'bilinear', scale: 2, offset: -1 }; got the number 2."],
    ] as const;
    for (const [preprocess, message] of bad) {
      expect(() => resolvePreprocess(preprocess as never, [4, 4, 1])).toThrow(new InvalidOptionError(message));
    }
  });
  // Regression: every non-Float32Array data was told to "scale 8-bit pixels to [0, 1] first", also a
  // Float64Array or a number array already in [0, 1] ("The batch data is a Array; ...").
  it('raw pixels whose data is not a Float32Array: 8-bit bytes are told to scale, other arrays to convert', async () => {
    const adapter = await createAdapter(smallResNet([2, 2, 1], 3), { strategy: 'source' });
    const cases: Array<[unknown, string]> = [
      [new Float64Array(4), 'a Float64Array; expected a Float32Array: Float32Array.from(data) holds the same values as 32-bit floats.'],
      [[0.1, 0.2, 0.3, 0.4], 'an Array; expected a Float32Array: Float32Array.from(data) holds the same values as 32-bit floats.'],
      [new Int32Array(4), 'an Int32Array; expected a Float32Array: Float32Array.from(data) holds the same values as 32-bit floats.'],
      [Buffer.alloc(4), 'a Buffer; expected a Float32Array (scale 8-bit pixels to [0, 1] first).'],
      [undefined, 'undefined; expected a Float32Array of pixel values.'],
    ];
    for (const [data, message] of cases) {
      await expect(adapter.step({ data, shape: [2, 2, 1] } as never)).rejects.toThrow(new InvalidInputError(`The batch data is ${message}`));
      const [record] = await lastValueFrom(from([{ data, shape: [2, 2, 1] } as never]).pipe(adapt(adapter, { maxWaitMs: 0 }), toArray()));
      expect(record).toMatchObject({ kind: 'error', message: `The frame data is ${message}` });
    }
    adapter.dispose();
  });
});
