import * as tf from '../tf.js';
import { InvalidInputError, InvalidSnapshotError } from '../errors.js';
import { checkTensorValues, isPlainObject, type TensorSpec } from './stateSpec.js';

/** Named tensors that make up a piece of state; each is owned by the holder and must be disposed. */
export type NamedTensors = Record<string, tf.Tensor>;

/**
 * A real copy of `t` with its own memory, bit for bit. (`clone()` shares the data buffer, which
 * would let in-place kernels write through to the copy.) Multiplying by 1 is exact for every
 * float32 value, -0 included (adding 0 would turn -0 into +0).
 */
export function deepCopy(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => (t.dtype === 'float32' ? tf.mul(t, tf.scalar(1)) : tf.tensor(t.dataSync(), t.shape, t.dtype)));
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
/** Prefix: magic, version, header length (u32 each). */
const PREFIX_BYTES = 12;
/** Largest JSON header `decodeState` parses (a ViDA state of a large model has a few thousand entries). */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** Largest tensor rank a state may hold. */
const MAX_RANK = 8;
const ENTRY_KEYS = ['name', 'shape', 'dtype', 'offset', 'length'];

interface Entry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  length: number;
}

/** A decoded state: plain arrays, so it can cross a worker boundary before becoming tensors. */
export interface EncodedState {
  tensors: Record<string, { data: Float32Array | Int32Array; shape: number[]; dtype: 'float32' | 'int32' }>;
  meta: Record<string, unknown>;
}

/** What {@link decodeState} checks besides the format. */
export interface DecodeStateOptions {
  /**
   * The tensors the state must hold, exactly (names, shapes, dtypes, value ranges), e.g. a
   * strategy's `stateSpec().tensors`. Checked before any data is copied.
   */
  expected?: ReadonlyMap<string, TensorSpec>;
  /** Checks the header's `meta` (throw {@link InvalidSnapshotError}); runs before the entries are read. */
  checkMeta?: (meta: Record<string, unknown>) => void;
  /** Who is decoding, for error messages. Defaults to `'decodeState'`. */
  owner?: string;
  /**
   * Bytes the header's `meta` may take (with `expected`; see `headerBound`). Defaults to
   * 64 KiB; `restore` passes what its strategy's meta schema can take (a ROID state of 5,000
   * classes holds 5,000 numbers there).
   */
  metaBytes?: number;
}

/**
 * Serialises named tensors plus JSON metadata to bytes:
 * magic u32 | version u32 | header length u32 | JSON header | pad to 4 | raw little-endian data.
 * The format and the rules {@link decodeState} enforces are in docs/snapshots.md.
 */
export function encodeState(tensors: NamedTensors, meta: Record<string, unknown> = {}): Uint8Array {
  return encodeStateValues(tensors, meta, (name) => tensors[name]!.dataSync() as Float32Array | Int32Array);
}

/**
 * {@link encodeState} (the same bytes) with each tensor's values from `values(name)` instead of a
 * read of the tensor: `snapshot()` encodes the values its check read (`checkStateToWrite`), so
 * each state tensor is copied out of the backend once.
 */
export function encodeStateValues(
  tensors: Readonly<Record<string, { readonly shape: number[]; readonly dtype: string; readonly size: number }>>,
  meta: Record<string, unknown>,
  values: (name: string) => Float32Array | Int32Array,
): Uint8Array {
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
  const headerEnd = PREFIX_BYTES + header.length;
  const dataStart = (headerEnd + 3) & ~3;
  const bytes = new Uint8Array(dataStart + offset);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  bytes.set(header, PREFIX_BYTES);
  for (const e of entries) {
    const data = values(e.name);
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, e.length * 4), dataStart + e.offset);
  }
  return bytes;
}

/**
 * Reads bytes written by {@link encodeState}, treating them as hostile: every byte read lies
 * inside the `bytes` view; the header is size-capped (16 MiB, or with `options.expected` what
 * that state's header can take: `headerBound`) UTF-8 JSON of the expected form; every
 * entry has a unique name, a shape of non-negative integers whose product is its length, a
 * float32/int32 dtype and an in-bounds, 4-aligned region that overlaps no other entry (so the
 * copies made total at most the input's size); together the regions are the whole data section
 * (a byte inserted, appended or deleted anywhere is caught); float values are finite; with
 * `options.expected`, the entries are exactly the expected tensors. Any violation throws
 * {@link InvalidSnapshotError} before anything is returned (nothing is allocated but plain
 * arrays, which are dropped). Rules: docs/snapshots.md.
 */
export function decodeState(bytes: Uint8Array, options: DecodeStateOptions = {}): EncodedState {
  const owner = options.owner ?? 'decodeState';
  const fail = (why: string): never => {
    throw new InvalidSnapshotError(`${owner}: ${why}`);
  };
  if (!(bytes instanceof Uint8Array)) fail(`expected the snapshot as a Uint8Array; got ${bytes === null ? 'null' : typeof bytes}.`);
  // A plain Uint8Array over exactly the caller's view: a Node Buffer (fs.readFileSync, Buffer.concat)
  // is a Uint8Array subclass whose slice() is a view sharing memory, and its bytes often sit at a
  // nonzero byteOffset inside a larger pooled buffer. From here on only the view's bytes are read.
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < PREFIX_BYTES) fail(`${bytes.byteLength} bytes is too short to be an edge-tta state.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) fail('these bytes are not an edge-tta state (bad magic number).');
  const version = view.getUint32(4, true);
  if (version !== VERSION) fail(`state format version ${version}; this build reads version ${VERSION}.`);
  const headerLength = view.getUint32(8, true);
  if (headerLength > MAX_HEADER_BYTES) fail(`the header claims ${headerLength} bytes; at most ${MAX_HEADER_BYTES} are read.`);
  // With the expected state known, its header is far smaller than the general cap, and parsing
  // is the one allocation made before the entries are checked: 16 MiB of `{},{},...` parse to
  // ~375 MB of objects in ~2 s, refused only afterwards for their count.
  const bound = options.expected !== undefined ? headerBound(options.expected, options.metaBytes) : MAX_HEADER_BYTES;
  if (headerLength > bound) {
    fail(`the header claims ${headerLength} bytes; the header of this adapter's state (${options.expected!.size} tensors) takes at most ${bound}. Restore a snapshot of the same strategy, options and model.`);
  }
  if (PREFIX_BYTES + headerLength > bytes.byteLength) {
    fail(`the header claims ${headerLength} bytes but only ${bytes.byteLength - PREFIX_BYTES} follow the prefix (truncated?).`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength)));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message.slice(0, 80)}).`);
  }
  if (!isPlainObject(header) || Object.keys(header).length !== 2 || !Array.isArray(header.entries) || !isPlainObject(header.meta)) {
    fail('the header must be a JSON object with exactly `entries` (an array) and `meta` (an object).');
  }
  const { entries: rawEntries, meta } = header as { entries: unknown[]; meta: Record<string, unknown> };
  options.checkMeta?.(meta);

  const dataStart = (PREFIX_BYTES + headerLength + 3) & ~3;
  if (dataStart > bytes.byteLength) fail(`the data section starts at byte ${dataStart}, past the end (${bytes.byteLength} bytes).`);
  const dataBytes = bytes.byteLength - dataStart;
  const expected = options.expected;
  if (expected !== undefined && rawEntries.length !== expected.size) {
    fail(`the state holds ${rawEntries.length} tensors; this adapter's state has ${expected.size}. Restore a snapshot of the same strategy, options and model.`);
  }

  const entries: Entry[] = [];
  const names = new Set<string>();
  for (let i = 0; i < rawEntries.length; i++) {
    const e = rawEntries[i];
    const at = `entry ${i}`;
    if (!isPlainObject(e) || Object.keys(e).length !== ENTRY_KEYS.length || !ENTRY_KEYS.every((k) => Object.hasOwn(e, k))) {
      fail(`${at} must be an object with exactly ${ENTRY_KEYS.join(', ')}.`);
    }
    const { name, shape, dtype, offset, length } = e as Record<string, unknown>;
    // No length cap of its own: the header's cap bounds it, and with `expected` it must be one of
    // the adapter's own names. (A cap of 1,024 characters refused the snapshots of a model with a
    // longer layer name, which snapshot() wrote.)
    if (typeof name !== 'string' || name.length === 0) fail(`${at}: the name must be a non-empty string.`);
    const n = name as string;
    if (names.has(n)) fail(`${at}: the tensor '${n.slice(0, 80)}' appears twice.`);
    names.add(n);
    if (dtype !== 'float32' && dtype !== 'int32') fail(`${at} ('${n.slice(0, 80)}'): dtype ${JSON.stringify(dtype)?.slice(0, 40)}; only 'float32' and 'int32' are stored.`);
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(`${at} ('${n.slice(0, 80)}'): the shape must be an array of at most ${MAX_RANK} non-negative integers.`);
    }
    let size = 1;
    for (const d of shape as number[]) size = Math.min(size * d, Number.MAX_SAFE_INTEGER);
    if (!Number.isSafeInteger(length) || length !== size) fail(`${at} ('${n.slice(0, 80)}'): length ${String(length).slice(0, 40)} is not the product of its shape [${String(shape)}].`);
    if (!Number.isSafeInteger(offset) || (offset as number) < 0 || (offset as number) % 4 !== 0) {
      fail(`${at} ('${n.slice(0, 80)}'): offset ${String(offset).slice(0, 40)} must be a non-negative multiple of 4.`);
    }
    if ((offset as number) + size * 4 > dataBytes) {
      fail(`${at} ('${n.slice(0, 80)}'): bytes ${String(offset)}..${(offset as number) + size * 4} lie outside the ${dataBytes}-byte data section.`);
    }
    if (expected !== undefined) {
      const spec = expected.get(n);
      if (spec === undefined) fail(`the state holds a tensor '${n.slice(0, 80)}' that this adapter's state does not have. Restore a snapshot of the same strategy, options and model.`);
      if (spec!.dtype !== dtype || !arraysEqual(spec!.shape, shape as number[])) {
        fail(`tensor '${n.slice(0, 80)}' is [${String(shape)}] ${String(dtype)}; this adapter's is [${spec!.shape.join(',')}] ${spec!.dtype}.`);
      }
    }
    entries.push({ name: n, shape: shape as number[], dtype: dtype as Entry['dtype'], offset: offset as number, length: size });
  }
  // No two regions overlap, so the copies below total at most the input's size.
  const regions = entries.filter((e) => e.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < regions.length; i++) {
    const prev = regions[i - 1]!;
    if (regions[i]!.offset < prev.offset + prev.length * 4) fail(`tensors '${prev.name.slice(0, 80)}' and '${regions[i]!.name.slice(0, 80)}' overlap.`);
  }
  // ... and together they are the whole data section, as encodeState lays them out: a byte
  // inserted anywhere in the data (or appended) would otherwise shift every later tensor's values
  // (finite values pass every other check) or be ignored.
  const used = regions.reduce((n, e) => n + e.length * 4, 0);
  if (used !== dataBytes) {
    fail(`the tensors take ${used} bytes but the data section holds ${dataBytes}: every byte after the header belongs to one tensor (bytes inserted or appended?).`);
  }
  for (let i = PREFIX_BYTES + headerLength; i < dataStart; i++) {
    if (bytes[i] !== 0) fail(`the padding after the header holds byte ${bytes[i]} at ${i}; it must be zero (bytes inserted?).`);
  }
  const tensors: EncodedState['tensors'] = Object.create(null) as EncodedState['tensors'];
  for (const e of entries) {
    // A copy of this region of the view (never of the underlying buffer), aligned, of its own.
    const start = dataStart + e.offset;
    const raw = new ArrayBuffer(e.length * 4);
    new Uint8Array(raw).set(bytes.subarray(start, start + e.length * 4));
    const data = e.dtype === 'int32' ? new Int32Array(raw) : new Float32Array(raw);
    checkTensorValues(owner, e.name, data, expected?.get(e.name)?.nonNegative === true);
    tensors[e.name] = { data, shape: e.shape, dtype: e.dtype };
  }
  return { tensors, meta };
}

/** Header bytes allowed for the meta of a state of known tensors, unless told (`metaBytes`). */
const HEADER_META_BYTES = 64 * 1024;
/** Header bytes allowed per entry besides its name: keys, dtype, a rank-8 shape, offset and length. */
const HEADER_ENTRY_BYTES = 256;

/**
 * The longest header a state of the `expected` tensors may have: a few times what `encodeState`
 * writes for its entries (an entry takes ~70 bytes besides its name and shape; a name is counted
 * at 6 bytes a character, each one `\uXXXX`-escaped), plus `metaBytes` (default 64 KiB) for the
 * top level and the meta. At most {@link MAX_HEADER_BYTES}.
 */
export function headerBound(expected: ReadonlyMap<string, TensorSpec>, metaBytes = HEADER_META_BYTES): number {
  let n = metaBytes;
  for (const name of expected.keys()) n += 6 * name.length + HEADER_ENTRY_BYTES;
  return Math.min(n, MAX_HEADER_BYTES);
}

function arraysEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Turns a decoded state back into tensors (owned by the caller). All or nothing: on failure none survives. */
export function stateTensors(state: EncodedState): NamedTensors {
  const out: NamedTensors = Object.create(null) as NamedTensors;
  try {
    for (const [name, t] of Object.entries(state.tensors)) out[name] = tf.tensor(t.data, t.shape, t.dtype);
  } catch (e) {
    disposeTensors(out);
    throw e;
  }
  return out;
}
