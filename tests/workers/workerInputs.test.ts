/**
 * Camera inputs and `preprocess` through the worker adapter: the main thread reads image sources
 * to RGBA bytes, the worker converts and preprocesses them with the in-thread code, so the
 * predictions equal the in-thread adapter's; the caller's ImageData is copied, not detached.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, type ImageDataLike } from '../../src/index.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';
import { randomizeBatchNorms, smallResNet } from '../helpers/models.js';

function makeModel(): tf.LayersModel {
  const model = smallResNet([6, 6, 3], 4);
  model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 40 + i))));
  // Positive BN moving variances (random normal ones are negative, which createAdapter refuses).
  randomizeBatchNorms(model, 4);
  return model;
}

function image(width: number, height: number, seed: number): ImageDataLike {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 29 + seed * 53) % 256;
  return { data, width, height };
}

describe('worker adapter inputs', () => {
  let worker: WorkerAdapter | null = null;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await worker?.terminate();
  });

  it('ImageData, canvases and frame lists with preprocess give the in-thread predictions', async () => {
    const options = { strategy: 'bn-adapt', seed: 2, preprocess: { resize: 'bilinear', scale: 2, offset: -1, channelOrder: 'bgr' } } as const;
    worker = await createWorkerAdapter({ model: makeModel(), ...options });
    const local = await createAdapter(makeModel(), options);
    expect(worker.preprocess).toEqual(local.preprocess);
    const a = image(9, 7, 1);
    const before = a.data.slice();
    const [w1, l1] = [await worker.step(a), await local.step(a)];
    expect(Array.from(w1.probs)).toEqual(Array.from(l1.probs));
    expect(Array.from(a.data)).toEqual(Array.from(before)); // copied: the caller's pixels are intact
    // A canvas (read on the main thread), and a list of frames of different sizes and kinds.
    const canvas = { width: 9, height: 7, getContext: () => ({ getImageData: () => image(9, 7, 3) }) };
    const raw = { data: Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => (i % 7) / 7), shape: [4, 4, 3] };
    const list = [canvas, raw, image(12, 12, 4)];
    const [w2, l2] = [await worker.predict(list as never), await local.predict(list as never)];
    expect(w2.batchSize).toBe(3);
    expect(Array.from(w2.probs)).toEqual(Array.from(l2.probs));
    local.dispose();
  });
});
