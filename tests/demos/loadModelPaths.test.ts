/**
 * The demos' Node model loader (`loadSourceModel(dir)`, also `--model <folder>`) reads weight
 * files only inside the folder: a model.json listing `../secret.bin` (which exists, with the right
 * bytes) is an InvalidModelError naming the path; before, the file outside was read and loaded.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidModelError } from '../../src/index.js';
import { DEFAULT_MODEL_DIR, loadSourceModel } from '../../demos/bench/loadModel.js';

describe('loadSourceModel: weight paths', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-demo-model-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it("refuses a path outside the model's folder, and loads the same weights inside it", async () => {
    const json = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const dir = path.join(root, 'model');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(DEFAULT_MODEL_DIR, 'weights.bin'), path.join(root, 'secret.bin'));
    json.weightsManifest[0]!.paths = ['../secret.bin'];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const err = await loadSourceModel(dir).then(
      (m) => {
        m.dispose();
        return null;
      },
      (e: unknown) => e as Error,
    );
    expect(err, '../secret.bin was loaded').toBeInstanceOf(InvalidModelError);
    expect(err!.message).toContain('"../secret.bin"');
    fs.copyFileSync(path.join(root, 'secret.bin'), path.join(dir, 'weights.bin'));
    json.weightsManifest[0]!.paths = ['weights.bin'];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const model = await loadSourceModel(dir);
    expect(model.outputs[0]!.shape).toEqual([null, 10]);
    model.dispose();
  });
});
