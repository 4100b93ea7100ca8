/**
 * edge-tta in a Node service: frames from a shifted world (sample Fashion-MNIST images under
 * fog, a corruption the model never saw) go through an adapter running in a worker_threads
 * Worker, so the service's event loop stays free. Each batch comes back with its predictions and
 * adapts the model once the guard's startup (~580 frames) is over. Run from this folder:
 * `npm run build && npm start`.
 */
// --- quickstart (README) ---
import { readFile } from 'node:fs/promises';
import { corruptBatch } from 'edge-tta';
import { createWorkerAdapter } from 'edge-tta/workers';
import { decodeSamples } from './samples.js';

// 1,024 sample 28x28 frames and their labels, shifted by fog at severity 5.
const { pixels, labels, count } = decodeSamples(await readFile('assets/samples.bin'));
const frames = corruptBatch(pixels, [count, 28, 28, 1], { name: 'fog', severity: 5, seed: 1 });

// In Node, 'edge-tta/workers' runs the adapter in a worker_threads Worker (tfjs wasm backend).
const adapter = await createWorkerAdapter({ model: 'assets/model/model.json', strategy: 'bn-adapt', seed: 1 });
// The guard takes a new stream as class-correlated until ~580 frames show it is not: those steps
// answer with the source model and report it in `out.update` (mode 'source', reason
// 'class-correlated'); the steps after adapt (mode 'adapt'). Only for a stream known to be i.i.d.,
// `guard: { classGate: 0 }` adapts from the first step.
const byMode: Record<string, { frames: number; correct: number }> = {};
let correct = 0;
for (let start = 0; start < count; start += 32) {
  const batch = { data: frames.slice(start * 784, (start + 32) * 784), shape: [32, 28, 28, 1] };
  const out = await adapter.step(batch); // adapts on the batch (once past the startup), then predicts it
  const right = out.labels.filter((label, i) => label === labels[start + i]).length;
  const tally = (byMode[out.update.mode] ??= { frames: 0, correct: 0 });
  tally.frames += out.batchSize;
  tally.correct += right;
  correct += right;
  console.log(`step ${out.stepId}: ${out.update.mode}${out.update.reason ? ` (${out.update.reason})` : ''}, ${out.stepMs.toFixed(0)} ms`);
}
for (const [mode, { frames: n, correct: c }] of Object.entries(byMode)) {
  console.log(`mode '${mode}': ${((100 * c) / n).toFixed(1)}% of ${n} frames correct`);
}
console.log(`bn-adapt on fog-5: ${((100 * correct) / count).toFixed(1)}% of ${count} frames correct`);
await adapter.terminate();
// --- end quickstart ---
