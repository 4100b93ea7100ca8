/**
 * edge-tta in a Node service: frames from a shifted world (sample Fashion-MNIST images under
 * fog, a corruption the model never saw) go through an adapter running in a worker_threads
 * Worker, so the service's event loop stays free. Each batch adapts the model and comes back
 * with its predictions. Run from this folder: `npm run build && npm start`.
 */
// --- quickstart (README) ---
import { readFile } from 'node:fs/promises';
import { corruptBatch } from 'edge-tta';
import { createWorkerAdapter } from 'edge-tta/workers';
import { decodeSamples } from './samples.js';

// Sample 28x28 frames and their labels, shifted by fog at severity 5.
const { pixels, labels, count } = decodeSamples(await readFile('assets/samples.bin'));
const frames = corruptBatch(pixels, [count, 28, 28, 1], { name: 'fog', severity: 5, seed: 1 });

// In Node, 'edge-tta/workers' runs the adapter in a worker_threads Worker (tfjs wasm backend).
const adapter = await createWorkerAdapter({ model: 'assets/model/model.json', strategy: 'bn-adapt', seed: 1 });
let correct = 0;
for (let start = 0; start < count; start += 32) {
  const batch = { data: frames.slice(start * 784, (start + 32) * 784), shape: [32, 28, 28, 1] };
  const out = await adapter.step(batch); // adapts on the batch, then predicts it
  correct += out.labels.filter((label, i) => label === labels[start + i]).length;
  console.log(`step ${out.stepId}: ${out.stepMs.toFixed(0)} ms`);
}
console.log(`bn-adapt on fog-5: ${((100 * correct) / count).toFixed(1)}% of ${count} frames correct`);
await adapter.terminate();
// --- end quickstart ---
