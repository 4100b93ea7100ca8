/**
 * A model.json and its weight bytes are hostile: one check (`workers/modelJson.ts`) for every way
 * they reach the worker. Before, the structure was checked twice with different rules
 * (`parseModelJson` for a file, `toArtifacts` for `{ modelJson, weights }`: a `format: 5` or a
 * weight spec `{ shape: 'x' }` passed the first and not the second, a `../` weight path the
 * second and not the first), and neither looked at the weight specs against the bytes. tfjs then:
 * - loaded a model whose weight bytes were longer than the manifest says (the bytes ignored);
 * - loaded a manifest naming one weight twice (the last copy's bytes used, the first's tensor leaked);
 * - loaded weights shifted by 4 bytes when one weight file was 4 bytes longer than its group's
 *   weights and the next group's file 4 bytes shorter (every weight of the second group wrong);
 * - walked a `string` weight of shape [10^8] (a 4-byte shape in the JSON) value by value over
 *   absent bytes: 37 s per 10^7 here, minutes before failing (the worker looked hung).
 * Now each is an InvalidModelError naming the weight or the bytes, the same detail from a file as
 * from `{ modelJson, weights }` (the latter before a worker starts), in milliseconds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, InvalidModelError } from '../../src/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { checkModelJson, checkWeightBytes } from '../../workers/modelJson.js';
import { smallResNet } from '../helpers/models.js';
import { rejection, savedModel, serveFiles, type SavedModel } from '../helpers/workerModels.js';

const SHAPE: [number, number, number] = [8, 8, 1];

/** A model.json's content and weight bytes. */
interface Files {
  json: Record<string, unknown>;
  /** One weight file per manifest group. */
  files: Uint8Array[];
}

describe('model.json and weights: one check, for files and { modelJson, weights } alike', () => {
  let good: SavedModel;
  let dir: string;
  let close: () => Promise<void>;
  let base: string;

  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    good = await savedModel(smallResNet(SHAPE, 3));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-model-json-'));
    ({ base, close } = await serveFiles(dir));
  });
  afterAll(async () => {
    await close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const bytes = (): Uint8Array => new Uint8Array(good.weights.slice(0));
  const single = (weights: unknown[], data: Uint8Array, extra: Record<string, unknown> = {}): Files => ({
    json: { modelTopology: good.modelTopology, weightsManifest: [{ paths: ['w0.bin'], weights }], ...extra },
    files: [data],
  });
  const withSpec = (i: number, edit: Record<string, unknown>): unknown[] => good.weightSpecs.map((s, k) => (k === i ? { ...s, ...edit } : s));
  const plus = (a: Uint8Array, b: Uint8Array): Uint8Array => {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };

  /** Writes the files under `name/` and returns the model.json's path. */
  const write = (name: string, f: Files): string => {
    const folder = path.join(dir, name);
    fs.mkdirSync(folder, { recursive: true });
    f.files.forEach((b, g) => fs.writeFileSync(path.join(folder, `w${g}.bin`), b));
    fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(f.json));
    return path.join(folder, 'model.json');
  };

  /** The rejection of the model given as a file, and as { modelJson, weights } (one buffer per group). */
  const both = async (name: string, f: Files): Promise<{ file: Error; artifacts: Error; fileName: string }> => {
    const fileName = write(name, f);
    const file = await rejection(createWorkerAdapter({ model: fileName, strategy: 'source' }));
    const artifacts = await rejection(createWorkerAdapter({ model: { modelJson: f.json as never, weights: f.files.map((b) => b.slice().buffer) }, strategy: 'source' }));
    return { file, artifacts, fileName };
  };

  /** Malformed model.jsons: the same detail after "is not a tfjs model.json: " from both. */
  const structural: [string, () => Files, RegExp][] = [
    ['a weight named twice', () => single([good.weightSpecs[0], ...good.weightSpecs], plus(bytes().subarray(0, 288), bytes())), /^weightsManifest\[0\]\.weights\[1\] is a second weight named "stem_conv\/kernel": tfjs would load one of them and drop the other/],
    ['a negative dimension', () => single(withSpec(0, { shape: [-3, 3, 1, 8] }), bytes()), /^weightsManifest\[0\]\.weights\[0\] \('stem_conv\/kernel'\) has the shape \[-3,3,1,8\]; a shape must be an array of non-negative integers\.$/],
    ['a fractional dimension', () => single(withSpec(0, { shape: [1.5, 6, 1, 8] }), bytes()), /has the shape \[1\.5,6,1,8\]/],
    ['a shape that is not an array', () => single(withSpec(0, { shape: 'x' }), bytes()), /has the shape "x"/],
    ['dtype float16', () => single(withSpec(0, { dtype: 'float16' }), bytes()), /has the dtype "float16"; a model\.json weight is one of float32, int32, bool, string, complex64\.$/],
    ['an unknown quantization', () => single(withSpec(0, { quantization: { dtype: 'int4' } }), bytes()), /has the quantization \{"dtype":"int4"\}/],
    ['format 5', () => single(good.weightSpecs, bytes(), { format: 5 }), /^format must be a string/],
    ['modelTopology an array', () => ({ ...single(good.weightSpecs, bytes()), json: { modelTopology: [], weightsManifest: [{ paths: ['w0.bin'], weights: good.weightSpecs }] } }), /^modelTopology must be an object/],
  ];
  it.each(structural)('%s: the same InvalidModelError from a file and from { modelJson, weights }', async (name, make, detail) => {
    const { file, artifacts, fileName } = await both(name.replace(/\W+/g, '-'), make());
    expect(file).toBeInstanceOf(InvalidModelError);
    expect(artifacts).toBeInstanceOf(InvalidModelError);
    const fileDetail = file.message.split(`The model file '${fileName}' is not a tfjs model.json: `)[1];
    const artifactsDetail = artifacts.message.split('createWorkerAdapter: { modelJson, weights }: modelJson is not a tfjs model.json: ')[1];
    expect(fileDetail, file.message).toMatch(detail);
    expect(artifactsDetail, artifacts.message).toBe(fileDetail);
  });

  it('a weight path outside the folder is refused in { modelJson, weights } too, as from a file', async () => {
    const f = single(good.weightSpecs, bytes());
    (f.json.weightsManifest as { paths: string[] }[])[0]!.paths = ['../w0.bin'];
    const err = await rejection(createWorkerAdapter({ model: { modelJson: f.json as never, weights: f.files[0]!.slice().buffer }, strategy: 'source' }));
    expect(err).toBeInstanceOf(InvalidModelError);
    expect(err.message).toBe(
      'createWorkerAdapter: { modelJson, weights }: modelJson lists the weight path "../w0.bin" in its weightsManifest, which climbs out of the model\'s folder (..); weight files must be relative paths inside the model.json\'s folder.',
    );
  }, 60_000);

  it('weight bytes longer than the manifest says: refused from a file, over HTTP and as { modelJson, weights } (tfjs ignored them)', async () => {
    const f = single(good.weightSpecs, plus(bytes(), new Uint8Array(8)));
    const n = good.weights.byteLength;
    const { file, artifacts, fileName } = await both('extra', f);
    expect(file).toBeInstanceOf(InvalidModelError);
    expect(file.message).toBe(`The model file '${fileName}': the weight files of weightsManifest[0] (w0.bin) hold ${n + 8} bytes, but the weightsManifest describes ${n}. The weight files do not belong to this model.json.`);
    expect(artifacts).toBeInstanceOf(InvalidModelError);
    expect(artifacts.message).toBe(`createWorkerAdapter: { modelJson, weights }: weights hold ${n + 8} bytes, but the weightsManifest describes ${n}. The weight files do not belong to this model.json.`);
    const url = `${base}/extra/model.json`;
    const overHttp = await rejection(createWorkerAdapter({ model: url, strategy: 'source' }));
    expect(overHttp).toBeInstanceOf(InvalidModelError);
    expect(overHttp.message).toBe(`The model file '${url}': its weights hold ${n + 8} bytes, but the weightsManifest describes ${n}. The weight files do not belong to this model.json.`);
  }, 60_000);

  it('two weight groups whose files are 4 bytes long and 4 bytes short: refused (tfjs loaded every weight of the second group shifted)', async () => {
    const all = bytes();
    const split = 288; // the stem conv's kernel is group 0; the rest group 1
    const f: Files = {
      json: {
        modelTopology: good.modelTopology,
        weightsManifest: [
          { paths: ['w0.bin'], weights: good.weightSpecs.slice(0, 1) },
          { paths: ['w1.bin'], weights: good.weightSpecs.slice(1) },
        ],
      },
      files: [all.slice(0, split + 4), all.slice(split + 4)],
    };
    const file = await rejection(createWorkerAdapter({ model: write('shifted', f), strategy: 'source' }));
    expect(file).toBeInstanceOf(InvalidModelError);
    expect(file.message).toMatch(/: the weight files of weightsManifest\[0\] \(w0\.bin\) hold 292 bytes, but the weightsManifest describes 288\./);
    // The same files at the right sizes load.
    const ok = await createWorkerAdapter({ model: write('unshifted', { ...f, files: [all.slice(0, split), all.slice(split)] }), strategy: 'source' });
    await ok.terminate();
  }, 60_000);

  it('a string weight declaring 10^8 values over 4 bytes is refused in milliseconds (tfjs walked them for minutes)', async () => {
    const junk = { name: 'junk', shape: [100_000_000], dtype: 'string' };
    const f = single([...good.weightSpecs, junk], plus(bytes(), new Uint8Array(4)));
    const t0 = performance.now();
    const { file, artifacts } = await both('strings', f);
    const ms = performance.now() - t0;
    for (const err of [file, artifacts]) {
      expect(err).toBeInstanceOf(InvalidModelError);
      expect(err.message).toMatch(/too few for the weightsManifest: the weight 'junk' \(shape \[100000000\], string\) needs bytes \d+ to \d+\./);
    }
    expect(ms).toBeLessThan(15_000); // two worker starts' worth, not the minutes of the walk
  }, 30_000);

  it('checkModelJson and checkWeightBytes: valid manifests of every dtype, quantization and string weights pass; sizes are exact', () => {
    const specs = [
      { name: 'f', shape: [2, 3], dtype: 'float32' },
      { name: 'i', shape: [2], dtype: 'int32' },
      { name: 'b', shape: [3], dtype: 'bool' },
      { name: 'c', shape: [1], dtype: 'complex64' },
      { name: 'q8', shape: [5], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: -1 } },
      { name: 'q16', shape: [2], dtype: 'int32', quantization: { dtype: 'uint16', scale: 1, min: 0 } },
      { name: 'h', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 's', shape: [2], dtype: 'string' },
      { name: 'empty', shape: [0, 7], dtype: 'float32' },
      { name: 'scalar', shape: [], dtype: 'float32' },
    ];
    const { specs: checked } = checkModelJson({ modelTopology: {}, weightsManifest: [{ paths: ['a.bin', 'sub/b.bin'], weights: specs }] }, 'm');
    // 24 + 8 + 3 + 8 + 5 + 4 + 6 = 58, two strings of 3 and 0 bytes (4-byte length each), 0, 4: 73.
    const fixed = 24 + 8 + 3 + 8 + 5 + 4 + 6;
    const data = new Uint8Array(fixed + 4 + 3 + 4 + 0 + 4);
    new DataView(data.buffer).setUint32(fixed, 3, true);
    new DataView(data.buffer).setUint32(fixed + 7, 0, true);
    expect(() => checkWeightBytes(checked, data, 'm', 'w')).not.toThrow();
    expect(() => checkWeightBytes(checked, data.subarray(0, data.length - 1), 'm', 'w')).toThrow(/the weight 'scalar' \(shape \[\], float32\) needs bytes 69 to 73/);
    expect(() => checkWeightBytes(checked, plus(data, new Uint8Array(1)), 'm', 'w')).toThrow(/hold 74 bytes, but the weightsManifest describes 73/);
    // A string's length field pointing past the end.
    const long = data.slice();
    new DataView(long.buffer).setUint32(fixed, 0xffffffff, true);
    expect(() => checkWeightBytes(checked, long, 'm', 'w')).toThrow(/the weight 's' \(shape \[2\], string\) needs bytes 58 to 4294967357/);
    // Huge declared sizes fail by arithmetic, allocating nothing.
    const huge = checkModelJson({ modelTopology: {}, weightsManifest: [{ paths: [], weights: [{ name: 'h', shape: [2 ** 30, 2 ** 30, 2 ** 30], dtype: 'float32' }] }] }, 'm').specs;
    expect(() => checkWeightBytes(huge, new Uint8Array(16), 'm', 'w')).toThrow(/needs bytes 0 to 36028797018963964/);
    // Names: non-empty strings, unique across groups; `__proto__` is an ordinary name.
    const twoGroups = (a: string, b: string) => ({ modelTopology: {}, weightsManifest: [{ paths: [], weights: [{ name: a, shape: [1], dtype: 'float32' }] }, { paths: [], weights: [{ name: b, shape: [1], dtype: 'float32' }] }] });
    expect(() => checkModelJson(twoGroups('x', 'x'), 'm')).toThrow(/weightsManifest\[1\]\.weights\[0\] is a second weight named "x"/);
    expect(() => checkModelJson(twoGroups('__proto__', 'y'), 'm')).not.toThrow();
    expect(() => checkModelJson(twoGroups('', 'y'), 'm')).toThrow(/has the name ""; a weight's name must be a non-empty string/);
    for (const bad of [[{ dtype: 'float16' }, 'int32'], [{ dtype: 'uint8', scale: 1 }, 'float32'], [{ dtype: 'uint8', scale: NaN, min: 0 }, 'float32'], [{ dtype: 'uint8', scale: 1, min: 0 }, 'bool']] as const) {
      const m = { modelTopology: {}, weightsManifest: [{ paths: [], weights: [{ name: 'q', shape: [1], dtype: bad[1], quantization: bad[0] }] }] };
      expect(() => checkModelJson(m, 'm'), JSON.stringify(bad)).toThrow(InvalidModelError);
    }
  });
});
