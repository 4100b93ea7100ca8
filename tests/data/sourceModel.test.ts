import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/index.js';
import { CORRUPTIONS } from '../../src/corruptions/index.js';
import { singleDomainStream, type DomainName } from '../../src/data/streams.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from '../../demos/bench/loadModel.js';
import { buildSourceModel, countMacs } from '../../demos/bench/model.js';

const N = 400;
let model: tf.LayersModel;

async function accuracy(domain: DomainName): Promise<number> {
  const [batch] = [...singleDomainStream(domain, { perDomain: N, batchSize: N, seed: 11 })];
  const pred = tf.tidy(() => (model.predict(tf.tensor4d(batch!.x, batch!.shape)) as tf.Tensor).argMax(-1));
  const p = await pred.data();
  pred.dispose();
  let ok = 0;
  for (let i = 0; i < N; i++) if (p[i] === batch!.labels[i]) ok++;
  return ok / N;
}

describe('shipped source model (demos/bench/model)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    model = await loadSourceModel();
  });

  it('is small, has the documented architecture and BN layers', () => {
    const bytes = fs.statSync(path.join(DEFAULT_MODEL_DIR, 'weights.bin')).size;
    expect(bytes).toBeLessThan(2 * 2 ** 20);
    expect(model.inputs[0]!.shape).toEqual([null, 28, 28, 1]);
    expect(model.outputs[0]!.shape).toEqual([null, 10]);
    expect(model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length).toBe(9);
    expect(countMacs(model)).toBe(countMacs(buildSourceModel()));
    expect(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'MODEL_CARD.md'), 'utf8')).toMatch(/Clean test accuracy/);
  });

  it(`is less accurate under every severity-5 corruption than on clean images (${N} test images)`, async () => {
    const clean = await accuracy('clean');
    expect(clean).toBeGreaterThan(0.85);
    const drops: string[] = [];
    for (const name of CORRUPTIONS) {
      const acc = await accuracy(name);
      drops.push(`${name} ${(100 * acc).toFixed(1)}%`);
      expect(acc, `${name}: ${(100 * acc).toFixed(1)}% vs clean ${(100 * clean).toFixed(1)}%`).toBeLessThan(clean);
    }
  });
});
