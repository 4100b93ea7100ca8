/**
 * edge-tta in a Node service. A stream of camera frames whose world has shifted (fog, a
 * corruption the model never saw in training) goes through an adapter running in a
 * worker_threads Worker, so the service's event loop stays free; each batch adapts the model
 * and comes back with its predictions.
 *
 *   npm run build && npm start -- [--model assets/model/model.json] [--samples assets/samples.bin]
 *                                 [--strategy bn-adapt] [--batch 32]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { corruptBatch, listStrategies, type StrategyName } from 'edge-tta';
import { createWorkerAdapter } from 'edge-tta/workers';
import { decodeSamples } from './samples.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'assets/model/model.json' },
    samples: { type: 'string', default: 'assets/samples.bin' },
    strategy: { type: 'string', default: 'bn-adapt' },
    batch: { type: 'string', default: '32' },
  },
});
const strategy = values.strategy as StrategyName;
if (!listStrategies().includes(strategy)) throw new Error(`Unknown strategy '${strategy}'. Valid: ${listStrategies().join(', ')}.`);
const batchSize = Number(values.batch);

// Frames: 28x28 grayscale in [0, 1], shifted by fog at severity 5.
const { pixels, labels, count } = decodeSamples(await readFile(values.samples));
const frames = corruptBatch(pixels, [count, 28, 28, 1], { name: 'fog', severity: 5, seed: 1 });

// --- quickstart (README) ---
// In Node, 'edge-tta/workers' runs the adapter in a worker_threads Worker on the wasm backend.
const adapter = await createWorkerAdapter({ model: values.model, strategy, seed: 1 });

let correct = 0;
for (let start = 0; start + batchSize <= count; start += batchSize) {
  const batch = { data: frames.slice(start * 784, (start + batchSize) * 784), shape: [batchSize, 28, 28, 1] };
  const out = await adapter.step(batch); // adapts on the batch, returns its predictions
  const hits = out.labels.filter((label, i) => label === labels[start + i]).length;
  correct += hits;
  console.log(`step ${out.stepId}: ${hits}/${batchSize} correct, ${out.stepMs.toFixed(1)} ms`);
}
await adapter.terminate();
// --- end quickstart ---

const seen = Math.floor(count / batchSize) * batchSize;
console.log(`${strategy} on fog-5: ${((100 * correct) / seen).toFixed(1)}% of ${seen} frames correct (backend ${adapter.backend.backend}, SIMD ${adapter.backend.simd})`);
