import * as tf from '../tf.js';
import { InvalidInputError } from '../errors.js';

/** Named tensors that make up a piece of state; each is owned by the holder and must be disposed. */
export type NamedTensors = Record<string, tf.Tensor>;

/**
 * A real copy of `t` with its own memory. (`clone()` shares the data buffer, which would
 * let in-place kernels write through to the copy.)
 */
export function deepCopy(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => (t.dtype === 'float32' ? tf.add(t, tf.scalar(0)) : tf.tensor(t.dataSync(), t.shape, t.dtype)));
}

/** Copies the current values of named variables. */
export function copyVariables(vars: ReadonlyMap<string, tf.Variable>): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, v] of vars) out[name] = tf.keep(deepCopy(v));
  return out;
}

/**
 * Writes `values` into the named variables. Every variable must have a value of the same
 * shape and dtype: a partial or mismatched restore throws before anything is written.
 */
export function assignVariables(vars: ReadonlyMap<string, tf.Variable>, values: NamedTensors): void {
  for (const [name, v] of vars) {
    const t = values[name];
    if (t === undefined) throw new InvalidInputError(`State has no value for '${name}'; it was taken from a different strategy or model.`);
    if (t.dtype !== v.dtype || !tf.util.arraysEqual(t.shape, v.shape)) {
      throw new InvalidInputError(
        `State value '${name}' has shape [${t.shape}] (${t.dtype}); the variable has [${v.shape}] (${v.dtype}). ` +
          'Restore a snapshot taken from the same model and strategy.',
      );
    }
  }
  for (const [name, v] of vars) {
    // The variable takes its own reference to the copy's data; the copy's handle is freed.
    const copy = deepCopy(values[name]!);
    v.assign(copy);
    copy.dispose();
  }
}

export function disposeTensors(tensors: NamedTensors): void {
  for (const t of Object.values(tensors)) t.dispose();
}

const MAGIC = 0x41545445; // "ETTA" little-endian
const VERSION = 1;

interface Entry {
  name: string;
  shape: number[];
  dtype: tf.DataType;
  offset: number;
  length: number;
}

/** A decoded state: plain arrays, so it can cross a worker boundary before becoming tensors. */
export interface EncodedState {
  tensors: Record<string, { data: Float32Array | Int32Array; shape: number[]; dtype: 'float32' | 'int32' }>;
  meta: Record<string, unknown>;
}

/**
 * Serialises named tensors plus JSON metadata to bytes:
 * magic u32 | version u32 | header length u32 | JSON header | pad to 4 | raw little-endian data.
 */
export function encodeState(tensors: NamedTensors, meta: Record<string, unknown> = {}): Uint8Array {
  const entries: Entry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      throw new InvalidInputError(`encodeState: tensor '${name}' has dtype ${t.dtype}; only float32 and int32 are stored.`);
    }
    entries.push({ name, shape: t.shape, dtype: t.dtype, offset, length: t.size });
    offset += t.size * 4;
  }
  const header = new TextEncoder().encode(JSON.stringify({ entries, meta }));
  const headerEnd = 12 + header.length;
  const dataStart = (headerEnd + 3) & ~3;
  const bytes = new Uint8Array(dataStart + offset);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  bytes.set(header, 12);
  for (const e of entries) {
    const data = tensors[e.name]!.dataSync();
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, e.length * 4), dataStart + e.offset);
  }
  return bytes;
}

/** Reads bytes written by {@link encodeState}. */
export function decodeState(bytes: Uint8Array): EncodedState {
  if (bytes.byteLength < 12) throw new InvalidInputError(`decodeState: ${bytes.byteLength} bytes is too short to be an edge-tta state.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new InvalidInputError('decodeState: these bytes are not an edge-tta state (bad magic number).');
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw new InvalidInputError(`decodeState: state format version ${version}; this build reads version ${VERSION}.`);
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as {
    entries: Entry[];
    meta: Record<string, unknown>;
  };
  const dataStart = (12 + headerLength + 3) & ~3;
  const tensors: EncodedState['tensors'] = {};
  for (const e of header.entries) {
    const start = bytes.byteOffset + dataStart + e.offset;
    // Copy into an aligned buffer of its own.
    const raw = bytes.buffer.slice(start, start + e.length * 4);
    const data = e.dtype === 'int32' ? new Int32Array(raw) : new Float32Array(raw);
    tensors[e.name] = { data, shape: e.shape, dtype: e.dtype as 'float32' | 'int32' };
  }
  return { tensors, meta: header.meta };
}

/** Turns a decoded state back into tensors (owned by the caller). */
export function stateTensors(state: EncodedState): NamedTensors {
  const out: NamedTensors = {};
  for (const [name, t] of Object.entries(state.tensors)) out[name] = tf.tensor(t.data, t.shape, t.dtype);
  return out;
}
