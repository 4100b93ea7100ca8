/**
 * The Node worker's model file loader (`workers/nodeModelFiles.ts`) on its own: the weight files'
 * sizes are checked against the manifest before they are read, and the model.json's size against
 * the 64 MiB limit (`MAX_MODEL_JSON_BYTES`), also over HTTP by its Content-Length. Before, every weight file was read
 * whole first, so a weight file of hundreds of megabytes (or gigabytes) beside a model.json whose
 * manifest describes 8 bytes was allocated in the worker before the model was refused.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidModelError } from '../../src/errors.js';
import { fileHandler } from '../../workers/nodeModelFiles.js';
import { MAX_MODEL_JSON_BYTES } from '../../workers/modelJson.js';
import { createWorkerAdapter } from '../../workers/node.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  return { ...original, readFile: vi.fn(original.readFile) };
});

describe('model files: sizes before bytes', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-model-files-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const modelJson = (weights: unknown[]) => JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights }] });

  it('a weight file of 256 MiB beside a manifest of 8 bytes is refused without being read; the right size loads; a string weight (sized by its bytes) is read, then checked', async () => {
    const file = path.join(dir, 'model.json');
    fs.writeFileSync(file, modelJson([{ name: 'w', shape: [2], dtype: 'float32' }]));
    fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(0));
    fs.truncateSync(path.join(dir, 'w.bin'), 256 * 1024 * 1024); // sparse: no disk, no memory
    vi.mocked(readFile).mockClear();
    const err = await fileHandler(file).load!().catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toBe(
      `The model file '${file}': the weight files of weightsManifest[0] (w.bin) hold 268435456 bytes, but the weightsManifest describes 8. The weight files do not belong to this model.json.`,
    );
    expect(vi.mocked(readFile).mock.calls.map((c) => path.basename(String(c[0])))).toEqual(['model.json']);

    // The right size is read and loaded.
    fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(new Float32Array([1, 2]).buffer));
    const ok = await fileHandler(file).load!();
    expect(Array.from(new Float32Array(ok.weightData as ArrayBuffer))).toEqual([1, 2]);
    // A string weight: its size is only known from its bytes, so the file is read and checked.
    fs.writeFileSync(file, modelJson([{ name: 's', shape: [1], dtype: 'string' }]));
    fs.writeFileSync(path.join(dir, 'w.bin'), Uint8Array.from([3, 0, 0, 0, 97, 98, 99, 0]));
    const stringErr = await fileHandler(file).load!().catch((e: unknown) => e as Error);
    expect(stringErr).toBeInstanceOf(InvalidModelError);
    expect((stringErr as Error).message).toMatch(/hold 8 bytes, but the weightsManifest describes 7\./);
  });
  it('a model.json over 64 MiB is refused on its size, without being read (before, it was read whole and parsed)', async () => {
    expect(MAX_MODEL_JSON_BYTES).toBe(64 * 1024 * 1024);
    const file = path.join(dir, 'huge.json');
    fs.writeFileSync(file, new Uint8Array(0));
    fs.truncateSync(file, MAX_MODEL_JSON_BYTES + 1); // sparse
    vi.mocked(readFile).mockClear();
    const err = await fileHandler(file).load!().catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toBe(
      `The model file '${file}' is 67108865 bytes; a model.json is read only up to 67108864 bytes (64 MiB). A model.json holds the topology and the weight manifest (the weights are in the files its weightsManifest lists): is this the model.json?`,
    );
    expect(vi.mocked(readFile)).not.toHaveBeenCalled();
  });

  it('over HTTP: a model.json whose Content-Length is over 64 MiB is refused at its headers, its body never read (before, the worker waited for it)', async () => {
    const served: string[] = [];
    const server = http.createServer((req, res) => {
      served.push(req.url ?? '');
      // The headers of a huge model.json, then a body that never comes: only its length is known.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MAX_MODEL_JSON_BYTES + 1) });
      res.write('{"modelTopology":');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/model/model.json`;
    try {
      const err = await createWorkerAdapter({ model: url, strategy: 'source', startTimeoutMs: 20_000 }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(InvalidModelError);
      expect((err as Error).message).toBe(
        `The model file '${url}' (its Content-Length) is 67108865 bytes; a model.json is read only up to 67108864 bytes (64 MiB). A model.json holds the topology and the weight manifest (the weights are in the files its weightsManifest lists): is this the model.json?`,
      );
      expect(served).toEqual(['/model/model.json']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);
});
