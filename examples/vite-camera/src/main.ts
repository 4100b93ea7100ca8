/**
 * edge-tta in a browser app built with Vite. The adapter runs in a Web Worker (the page stays
 * responsive); frames come from the camera when the page may use one, otherwise from sample
 * Fashion-MNIST frames under fog (a shift the model never saw). Each batch of 16 frames comes
 * back with its predictions and adapts the model once the guard's startup (~580 frames) is over:
 * the page shows each step's update mode (and reason), so the first steps' 'source' answers
 * are explained. The 1,024 sample frames are enough to get past the startup and adapt.
 *
 * The tfjs-backend-wasm binaries are served as the app's own assets: Vite's `?url` imports
 * give their (hashed) URLs, passed to the worker as `wasmPaths`.
 */
// --- quickstart (README) ---
import { createWorkerAdapter } from 'edge-tta/workers';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

// The worker fetches the model and the .wasm files itself: it needs absolute URLs.
const absolute = (url: string) => new URL(url, location.href).href;
const adapter = await createWorkerAdapter({
  model: absolute(`${import.meta.env.BASE_URL}model/model.json`),
  strategy: 'bn-adapt',
  seed: 1,
  backend: {
    backend: 'wasm',
    wasmPaths: {
      'tfjs-backend-wasm.wasm': absolute(wasmUrl),
      'tfjs-backend-wasm-simd.wasm': absolute(wasmSimdUrl),
      'tfjs-backend-wasm-threaded-simd.wasm': absolute(wasmThreadedSimdUrl),
    },
  },
});
// Then, for each batch of frames: `const { labels } = await adapter.step({ data, shape: [n, 28, 28, 1] });`
// --- end quickstart ---
import { corruptBatch } from 'edge-tta';
import { decodeSamples } from './samples.js';

const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const BATCH = 16;
const $ = (id: string) => document.getElementById(id)!;

interface Frame {
  pixels: Float32Array; // 28 x 28 x 1 in [0, 1]
  label?: number;
}

$('status').textContent = `Adapter ready in a Web Worker (backend ${adapter.backend.backend}, SIMD ${adapter.backend.simd}).`;
let adapted = 0;
let correct = 0;
let labelled = 0;
// Frames per update mode: the guard takes a new stream as class-correlated until ~580 frames show
// it is not, and answers those steps with the source model (mode 'source', reason
// 'class-correlated'); the steps after adapt (mode 'adapt').
const byMode: Record<string, number> = {};

/** Adapts on one batch and shows its predictions. */
async function run(batch: Frame[]): Promise<void> {
  const data = new Float32Array(batch.length * 784);
  batch.forEach((f, i) => data.set(f.pixels, i * 784));
  const out = await adapter.step({ data, shape: [batch.length, 28, 28, 1] });
  adapted += batch.length;
  batch.forEach((f, i) => {
    if (f.label === undefined) return;
    labelled++;
    if (out.labels[i] === f.label) correct++;
  });
  byMode[out.update.mode] = (byMode[out.update.mode] ?? 0) + batch.length;
  show(batch[batch.length - 1]!.pixels);
  const item = document.createElement('li');
  const names = Array.from(out.labels.slice(0, 4), (k) => CLASSES[k]).join(', ');
  const mode = `${out.update.mode}${out.update.reason ? ` (${out.update.reason})` : ''}`;
  item.textContent = `step ${out.stepId}: ${mode}: ${names}, … (${out.stepMs.toFixed(0)} ms)`;
  $('predictions').prepend(item);
  $('count').textContent = String(adapted);
  $('modes').textContent = Object.entries(byMode).map(([m, n]) => `${m} ${n}`).join(' · ');
  document.body.dataset.adaptedFrames = String(byMode.adapt ?? 0);
  if (labelled > 0) $('accuracy').textContent = `${((100 * correct) / labelled).toFixed(1)}%`;
  document.body.dataset.predictions = String(adapted);
}

function show(pixels: Float32Array): void {
  const ctx = ($('frame') as HTMLCanvasElement).getContext('2d')!;
  const img = ctx.createImageData(28, 28);
  pixels.forEach((v, i) => img.data.set([v * 255, v * 255, v * 255, 255], i * 4));
  ctx.putImageData(img, 0, 0);
}

/** Sample frames under fog, with their labels. */
async function sampleFrames(): Promise<Frame[]> {
  const response = await fetch(`${import.meta.env.BASE_URL}samples.bin`);
  const { pixels, labels, count } = decodeSamples(new Uint8Array(await response.arrayBuffer()));
  const foggy = corruptBatch(pixels, [count, 28, 28, 1], { name: 'fog', severity: 5, seed: 1 });
  return Array.from(labels, (label, i) => ({ pixels: foggy.subarray(i * 784, (i + 1) * 784), label }));
}

/** A camera frame, scaled to 28 x 28 grayscale. */
function grab(video: HTMLVideoElement, ctx: CanvasRenderingContext2D): Frame {
  ctx.drawImage(video, 0, 0, 28, 28);
  const rgba = ctx.getImageData(0, 0, 28, 28).data;
  const pixels = new Float32Array(784);
  for (let i = 0; i < 784; i++) pixels[i] = (0.299 * rgba[4 * i]! + 0.587 * rgba[4 * i + 1]! + 0.114 * rgba[4 * i + 2]!) / 255;
  return { pixels };
}

async function camera(): Promise<HTMLVideoElement | null> {
  if (navigator.mediaDevices?.getUserMedia === undefined || new URLSearchParams(location.search).has('samples')) return null;
  try {
    const video = $('camera') as HTMLVideoElement;
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 224, height: 224 } });
    await video.play();
    return video;
  } catch {
    return null; // no camera, or permission refused
  }
}

const video = await camera();
if (video !== null) {
  const ctx = new OffscreenCanvas(28, 28).getContext('2d', { willReadFrequently: true })! as unknown as CanvasRenderingContext2D;
  for (;;) {
    const batch: Frame[] = [];
    while (batch.length < BATCH) {
      batch.push(grab(video, ctx));
      await new Promise((r) => setTimeout(r, 30));
    }
    await run(batch);
  }
} else {
  const frames = await sampleFrames();
  for (let start = 0; start + BATCH <= frames.length; start += BATCH) await run(frames.slice(start, start + BATCH));
  await adapter.terminate();
  $('status').textContent += ' Done: the sample frames were adapted on and the worker is terminated.';
  document.body.dataset.done = 'true';
}
