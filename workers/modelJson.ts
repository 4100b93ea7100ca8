/**
 * One check of a model.json and its weight bytes, for every way a model reaches the worker: a
 * model.json file read in the Node worker (`nodeModelFiles.ts`), `{ modelJson, weights }` given
 * to `createWorkerAdapter` (checked on the calling side, before a worker starts), and the
 * artifacts every loader hands to tfjs (checked in the worker, so a model.json fetched over HTTP
 * is held to the same rules). Both are hostile until checked; tfjs checks neither: it loads
 * extra weight bytes silently, keeps the last of two weights of one name, reads weights shifted
 * when one weight file is longer than the manifest says and another shorter, and walks a
 * `string` weight's declared element count (seconds per 10^7, from a 4-byte shape) before it
 * finds the bytes missing. Browser-safe (no `node:` import).
 */
import type * as tf from '../src/tf.js';
import { InvalidModelError } from '../src/errors.js';
import { checkWeightPath } from './modelPaths.js';

/**
 * Largest model.json the worker reads (64 MiB): a file on disk by its size (`stat`), one over HTTP
 * by its Content-Length when the server sends one, both before it is read. A model.json holds the
 * topology and the weight manifest, not the weights (a converted GraphModel of hundreds of layers
 * takes a few MB); a larger file is not a model.json, and reading and parsing it whole would
 * allocate its size several times over in the worker.
 */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

/** Throws {@link InvalidModelError} if a model.json of `size` bytes is over {@link MAX_MODEL_JSON_BYTES}. */
export function checkModelJsonSize(size: number, where: string): void {
  if (size > MAX_MODEL_JSON_BYTES) {
    throw new InvalidModelError(
      `${where} is ${size} bytes; a model.json is read only up to ${MAX_MODEL_JSON_BYTES} bytes (64 MiB). A model.json holds the topology and the weight manifest (the weights are in the files its weightsManifest lists): is this the model.json?`,
    );
  }
}

/** The dtypes a weight of a tfjs model.json can have. */
const WEIGHT_DTYPES = ['float32', 'int32', 'bool', 'string', 'complex64'] as const;
/** Bytes per value of each stored dtype (`string` is variable: a u32 length before each value's bytes). */
const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  return (JSON.stringify(v) ?? String(v)).slice(0, 60);
}

/**
 * Throws {@link InvalidModelError} unless `specs` are weight specs tfjs can decode: each a
 * `{ name, shape, dtype }` with a name of its own (unique across the whole manifest: tfjs keeps
 * only the last of two), a shape of non-negative integers, a dtype of a model.json and a
 * quantization tfjs knows. `at(i)` starts the message about spec `i` ("The model file 'x' is
 * not a tfjs model.json: weightsManifest[0].weights[3]").
 */
export function checkWeightSpecs(specs: readonly unknown[], at: (i: number) => string): tf.io.WeightsManifestEntry[] {
  const bad = (i: number, detail: string): never => {
    throw new InvalidModelError(`${at(i)} ${detail}`);
  };
  const names = new Set<string>();
  specs.forEach((spec, i) => {
    if (!isObject(spec)) return bad(i, `must be a weight spec { name, shape, dtype }; got ${show(spec)}.`);
    const { name, shape, dtype, quantization } = spec;
    if (typeof name !== 'string' || name.length === 0) bad(i, `has the name ${show(name)}; a weight's name must be a non-empty string.`);
    if (names.has(name as string)) bad(i, `is a second weight named ${show(name)}: tfjs would load one of them and drop the other. Each weight must have a name of its own.`);
    names.add(name as string);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      bad(i, `('${(name as string).slice(0, 80)}') has the shape ${show(shape)}; a shape must be an array of non-negative integers.`);
    }
    if (!(WEIGHT_DTYPES as readonly unknown[]).includes(dtype)) {
      bad(i, `('${(name as string).slice(0, 80)}') has the dtype ${show(dtype)}; a model.json weight is one of ${WEIGHT_DTYPES.join(', ')}.`);
    }
    if (quantization !== undefined) {
      const q = quantization as Record<string, unknown>;
      const ok =
        isObject(q) &&
        ((q.dtype === 'float16' && dtype === 'float32') ||
          ((q.dtype === 'uint8' || q.dtype === 'uint16') && (dtype === 'float32' || dtype === 'int32') && Number.isFinite(q.scale) && Number.isFinite(q.min)));
      if (!ok) {
        bad(
          i,
          `('${(name as string).slice(0, 80)}') has the quantization ${show(quantization)}; tfjs reads { dtype: 'uint8' | 'uint16', scale, min } (finite numbers) for float32 and int32 weights, and { dtype: 'float16' } for float32 weights.`,
        );
      }
    }
  });
  return specs as tf.io.WeightsManifestEntry[];
}

/**
 * How many bytes `specs` take, decoded from the start of `byteLength` bytes as tfjs does, or an
 * {@link InvalidModelError} as soon as a weight runs past the end. The element counts are not
 * trusted: a fixed-size weight is sized by arithmetic, and a `string` weight's values are walked
 * in `view` only while their length fields lie inside it (at most `byteLength / 4` steps). Null
 * when a `string` weight needs the bytes and `view` is null. `specs` must have passed
 * {@link checkWeightSpecs}.
 */
function decodedLength(specs: readonly tf.io.WeightsManifestEntry[], byteLength: number, view: DataView | null, where: string, what: string): number | null {
  let offset = 0;
  const short = (spec: tf.io.WeightsManifestEntry, need: number): never => {
    throw new InvalidModelError(
      `${where}: ${what} hold ${byteLength} bytes, too few for the weightsManifest: the weight '${spec.name.slice(0, 80)}' (shape [${spec.shape.join(', ')}], ${spec.dtype}) needs bytes ${offset} to ${need}. The weight files do not belong to this model.json, or are cut short.`,
    );
  };
  for (const spec of specs) {
    let size = 1;
    for (const d of spec.shape) size = Math.min(size * d, Number.MAX_SAFE_INTEGER);
    if (spec.dtype === 'string' && spec.quantization === undefined) {
      if (view === null) return null;
      // Each value: a u32 byte count, then that many bytes.
      for (let k = 0; k < size; k++) {
        if (offset + 4 > byteLength) short(spec, offset + 4);
        const end = offset + 4 + view.getUint32(offset, true);
        if (end > byteLength) short(spec, end);
        offset = end;
      }
      continue;
    }
    const end = offset + size * BYTES_PER_VALUE[spec.quantization?.dtype ?? spec.dtype]!;
    if (end > byteLength) short(spec, end);
    offset = end;
  }
  return offset;
}

function checkLength(used: number, byteLength: number, where: string, what: string): void {
  if (used !== byteLength) {
    throw new InvalidModelError(
      `${where}: ${what} hold ${byteLength} bytes, but the weightsManifest describes ${used}. The weight files do not belong to this model.json.`,
    );
  }
}

/**
 * Throws {@link InvalidModelError} unless `bytes` hold exactly the weights `specs` describe (checked
 * with {@link checkWeightSpecs}): not fewer (tfjs would fail on a half-read weight or read the next
 * file's bytes) and not more (tfjs would ignore them, and load a model whose weight files belong
 * to another model.json). `what` names the bytes in the message (plural: 'the weight files of weightsManifest[0] (w.bin)').
 */
export function checkWeightBytes(specs: readonly tf.io.WeightsManifestEntry[], bytes: Uint8Array, where: string, what: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkLength(decodedLength(specs, bytes.byteLength, view, where, what)!, bytes.byteLength, where, what);
}

/**
 * {@link checkWeightBytes} from the size alone, before the bytes are read (a file's size from
 * `stat`): the same error, without reading a weight file far larger than the manifest says.
 * Returns false when it cannot tell (a `string` weight is sized by its bytes).
 */
export function checkWeightSize(specs: readonly tf.io.WeightsManifestEntry[], byteLength: number, where: string, what: string): boolean {
  const used = decodedLength(specs, byteLength, null, where, what);
  if (used === null) return false;
  checkLength(used, byteLength, where, what);
  return true;
}

/** What {@link checkModelJson} returns: the model.json typed, with every weight spec in manifest order. */
export interface CheckedModelJson {
  json: tf.io.ModelJSON;
  specs: tf.io.WeightsManifestEntry[];
}

/**
 * The structure of a model.json, for every way it reaches the worker: an object with a
 * `modelTopology` object, an optional string `format`, and a `weightsManifest` array of
 * `{ paths, weights }` groups; each path a relative file name inside the model.json's folder
 * (`checkWeightPath`), each weight spec valid ({@link checkWeightSpecs}). Throws
 * {@link InvalidModelError} starting with `where` ("The model file 'x.json'").
 */
export function checkModelJson(json: unknown, where: string): CheckedModelJson {
  const bad = (detail: string): never => {
    throw new InvalidModelError(`${where} is not a tfjs model.json: ${detail}`);
  };
  if (!isObject(json)) return bad(`its content is ${Array.isArray(json) ? 'an array' : show(json)}, not an object.`);
  if (!isObject(json.modelTopology)) return bad('modelTopology must be an object (the model\'s layers or graph).');
  if (json.format !== undefined && typeof json.format !== 'string') return bad(`format must be a string ('layers-model' or 'graph-model'); got ${show(json.format)}.`);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) return bad(`weightsManifest must be an array of { paths, weights } groups; got ${show(manifest)}.`);
  const specs: unknown[] = [];
  const groupOf: [number, number][] = [];
  manifest.forEach((group: unknown, g) => {
    if (!isObject(group)) bad(`weightsManifest[${g}] must be a { paths, weights } group; got ${show(group)}.`);
    const { paths, weights } = group as Record<string, unknown>;
    if (!Array.isArray(paths)) bad(`weightsManifest[${g}].paths must be an array of weight file names; got ${show(paths)}.`);
    // Relative to the model.json's folder, inside it: no absolute path, URL or '..'.
    for (const p of paths as unknown[]) checkWeightPath(p, where);
    if (!Array.isArray(weights)) bad(`weightsManifest[${g}].weights must be an array of weight specs; got ${show(weights)}.`);
    (weights as unknown[]).forEach((w, i) => {
      specs.push(w);
      groupOf.push([g, i]);
    });
  });
  const checked = checkWeightSpecs(specs, (k) => `${where} is not a tfjs model.json: weightsManifest[${groupOf[k]![0]}].weights[${groupOf[k]![1]}]`);
  return { json: json as unknown as tf.io.ModelJSON, specs: checked };
}

/**
 * The weights of loaded artifacts (what a model loader hands to tfjs), checked as a model.json's:
 * valid specs ({@link checkWeightSpecs}) and weight bytes that hold exactly those weights
 * ({@link checkWeightBytes}). `where` names the model ("The model file 'x'").
 */
export function checkArtifactWeights(weightSpecs: unknown, weightData: unknown, where: string): void {
  if (!Array.isArray(weightSpecs)) throw new InvalidModelError(`${where} has no weight specs (weightSpecs is ${show(weightSpecs)}).`);
  const specs = checkWeightSpecs(weightSpecs, (i) => `${where}: weight ${i}`);
  const parts = weightData === undefined ? [] : Array.isArray(weightData) ? weightData : [weightData];
  const views = parts.map((b: unknown, i) => {
    if (b instanceof ArrayBuffer) return new Uint8Array(b);
    throw new InvalidModelError(`${where}: its weight data (part ${i}) is ${b === null ? 'null' : typeof b}, not an ArrayBuffer.`);
  });
  checkWeightBytes(specs, views.length === 1 ? views[0]! : concatBytes(views), where, 'its weights');
}

/** The bytes of `parts`, one after another, in one new buffer of their own. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
