/**
 * A converted-style tf.GraphModel in a worker: LAME (an output-level strategy, the one kind
 * that runs on GraphModels) gives the same predictions in the worker as in-thread, with the
 * model sent as graph-model artifacts or loaded by the worker from a model.json on disk.
 * The graph is a small hand-written GraphDef (Placeholder -> Reshape -> MatMul -> BiasAdd ->
 * Relu -> MatMul -> BiasAdd), the format `tensorflowjs_converter` writes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidOptionError } from '../../src/index.js';
import { H, OUT, loadMlpGraphModel, mlpGraphArtifacts, randomMlpWeights } from '../helpers/graphModel.js';
import { listStrategies } from '../../strategies/registry.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/node.js';

const graphArtifacts = (seed: number) => mlpGraphArtifacts(randomMlpWeights(seed));
const loadGraph = (seed: number) => loadMlpGraphModel(randomMlpWeights(seed));

const graphNodes = { outputNode: 'logits', featuresNode: 'features' };
const hasLame = (listStrategies() as string[]).includes('lame');

describe.skipIf(!hasLame)('createWorkerAdapter with a tf.GraphModel', () => {
  const open: WorkerAdapter[] = [];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await Promise.all(open.map((a) => a.terminate()));
  });

  it("'lame' predicts the same in the worker (model sent, and loaded from disk) as in-thread", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-graph-'));
    const { modelJson, weights } = graphArtifacts(5);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(weights));
    const sent = await createWorkerAdapter({ model: await loadGraph(5), strategy: 'lame', classGate: 0, graphNodes, seed: 2 });
    const fromDisk = await createWorkerAdapter({ model: path.join(dir, 'model.json'), strategy: 'lame', classGate: 0, graphNodes, seed: 2 });
    open.push(sent, fromDisk);
    const local = await createAdapter(await loadGraph(5), { strategy: 'lame', classGate: 0, graphNodes, seed: 2 } as never);
    expect(sent.inputShape).toEqual([H, H, 1]);
    expect(sent.numClasses).toBe(OUT);
    const x = tf.randomUniform([12, H, H, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
    const expected = await local.step(x);
    for (const w of [sent, fromDisk]) {
      const got = await w.step(x);
      expect(Array.from(got.probs)).toEqual(Array.from(expected.probs));
    }
    // The same model.json without graphNodes: the worker says it is a GraphModel and what to pass
    // (it was tfjs's 'Improper config format' from loading it as a LayersModel).
    const noNodes = await createWorkerAdapter({ model: path.join(dir, 'model.json'), strategy: 'lame' }).catch((e: unknown) => e);
    expect(noNodes).toBeInstanceOf(InvalidOptionError);
    expect((noNodes as Error).message).toMatch(/model\.json' is a converted tf\.GraphModel \(format 'graph-model'\): pass graphNodes/);
    // LAME really moved the predictions away from the model's own softmax ('source').
    const source = await createAdapter(await loadGraph(5), { strategy: 'source', graphNodes } as never);
    const plain = await source.step(x);
    expect(Array.from(plain.probs)).not.toEqual(Array.from(expected.probs));
    source.dispose();
    x.dispose();
    local.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});
