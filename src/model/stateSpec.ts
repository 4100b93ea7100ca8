/**
 * What a strategy's state must look like, so that snapshot bytes (untrusted: they come back from
 * storage or the network) are checked against it before anything is allocated or written:
 * every tensor's name, shape, dtype and value range, and a schema of the JSON `meta` scalars.
 * The rules are in docs/snapshots.md.
 *
 * @example
 * const spec: StateSpec = {
 *   tensors: new Map([['dense/kernel', { shape: [16, 3], dtype: 'float32' }]]),
 *   meta: { adamStep: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER } },
 * };
 * checkStateMeta('tent', spec.meta, { adamStep: 3 }); // ok
 * checkStateMeta('tent', spec.meta, { adamStep: -1 }); // throws InvalidSnapshotError
 */
import { InvalidSnapshotError } from '../errors.js';

/** The shape, dtype and value range one state tensor must have. Every value must be finite. */
export interface TensorSpec {
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  /** Every value must be >= 0 (variances, Adam's second moments: a negative one makes sqrt NaN). */
  readonly nonNegative?: boolean;
}

/** One field of a state's `meta`. Numbers are always finite. */
export type MetaFieldSchema =
  /** An integer in [min, max] (counters, 32-bit generator states). */
  | { readonly type: 'integer'; readonly min: number; readonly max: number }
  /** A finite number, optionally bounded. */
  | { readonly type: 'number'; readonly min?: number; readonly max?: number }
  /** A plain object with exactly these fields. */
  | { readonly type: 'object'; readonly fields: StateMetaSchema };

/** The schema of a state's `meta`: exactly these fields (none missing, none extra). */
export type StateMetaSchema = Readonly<Record<string, MetaFieldSchema>>;

/** Everything a restored state must match: its tensors (by name) and its `meta`. */
export interface StateSpec {
  readonly tensors: ReadonlyMap<string, TensorSpec>;
  readonly meta: StateMetaSchema;
}

/** A step counter or Adam step count: an integer in [0, 2^53 - 1]. */
export const COUNTER: MetaFieldSchema = Object.freeze({ type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER });
/** A 32-bit generator state (mulberry32): an integer in [0, 2^32 - 1]. */
export const RNG_STATE: MetaFieldSchema = Object.freeze({ type: 'integer', min: 0, max: 0xffffffff });

/** A plain JSON object (not an array, not null, not a class instance). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

/**
 * Checks `meta` against `schema` (exactly its fields, each of the right type and range).
 * Throws {@link InvalidSnapshotError} naming the first bad field; returns `meta` typed.
 */
export function checkStateMeta(owner: string, schema: StateMetaSchema, meta: unknown, path = 'meta'): Record<string, unknown> {
  if (!isPlainObject(meta)) throw new InvalidSnapshotError(`${owner}: snapshot ${path} is ${describe(meta)}; expected an object.`);
  const expected = Object.keys(schema);
  for (const key of Object.keys(meta)) {
    if (!Object.hasOwn(schema, key)) {
      throw new InvalidSnapshotError(
        `${owner}: snapshot ${path} has an unknown field '${key.slice(0, 40)}'; expected the fields ${expected.length > 0 ? expected.join(', ') : '(none)'}.`,
      );
    }
  }
  for (const [key, field] of Object.entries(schema)) {
    const where = `${path}.${key}`;
    if (!Object.hasOwn(meta, key)) throw new InvalidSnapshotError(`${owner}: snapshot ${where} is missing.`);
    const v = meta[key];
    if (field.type === 'object') {
      checkStateMeta(owner, field.fields, v, where);
      continue;
    }
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (field.type !== 'integer' || Number.isInteger(v)) &&
      (field.min === undefined || v >= field.min) &&
      (field.max === undefined || v <= field.max);
    if (!ok) {
      const range =
        field.type === 'integer'
          ? `an integer in [${field.min}, ${field.max}]`
          : `a finite number${field.min !== undefined ? ` >= ${field.min}` : ''}${field.max !== undefined ? ` <= ${field.max}` : ''}`;
      throw new InvalidSnapshotError(`${owner}: snapshot ${where} is ${describe(v)}; expected ${range}.`);
    }
  }
  return meta;
}

/** Throws {@link InvalidSnapshotError} unless every value is finite (and >= 0 if `nonNegative`). */
export function checkTensorValues(owner: string, name: string, data: Float32Array | Int32Array, nonNegative: boolean): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // One comparison catches NaN (false), +-Infinity and, if asked, negatives.
    if (!(v - v === 0) || (nonNegative && v < 0)) {
      throw new InvalidSnapshotError(
        `${owner}: snapshot tensor '${name}' holds ${v} at index ${i}; ${nonNegative ? 'values must be finite and >= 0' : 'values must be finite'}.`,
      );
    }
  }
}

/** A state about to be written by `snapshot()`: tensors (read with `dataSync`) and meta. */
export interface StateToWrite {
  readonly tensors: Readonly<Record<string, { readonly shape: readonly number[]; readonly dtype: string; dataSync(): ArrayLike<number> }>>;
  readonly meta: unknown;
}

/**
 * The checks `restore` makes on a snapshot, made by `snapshot()` on the state it is about to
 * write, so that a snapshot either restores or is never written: the tensors are exactly those of
 * `spec` (names, shapes, dtypes), every value is finite, and the meta matches the schema. Before,
 * a state that had gone non-finite (the guard off) was written, and `restore` (or auto-resume,
 * from that snapshot) refused the bytes. Throws {@link InvalidSnapshotError} naming the tensor or
 * field and the way out. Not checked here: `nonNegative` (adaptation keeps variances and second
 * moments >= 0, and `createAdapter` refuses a model with a negative BN moving variance:
 * docs/snapshots.md).
 *
 * Returns the values it read and checked, by name (each tensor read once), for `snapshot()` to
 * encode: reading them again would copy every tensor out of the backend a second time.
 */
export function checkStateToWrite(owner: string, spec: StateSpec, state: StateToWrite): Record<string, Float32Array | Int32Array> {
  const fix = 'restore() refuses such a state, so snapshot() writes none: reset() the adapter, or restore() an earlier snapshot.';
  const names = Object.keys(state.tensors);
  const missing = [...spec.tensors.keys()].filter((n) => !Object.hasOwn(state.tensors, n));
  const extra = names.filter((n) => !spec.tensors.has(n));
  if (missing.length > 0 || extra.length > 0) {
    const list = (l: string[]) => l.slice(0, 5).map((n) => `'${n.slice(0, 80)}'`).join(', ');
    throw new InvalidSnapshotError(
      `${owner}: the strategy's state does not match its stateSpec()${missing.length > 0 ? `: ${list(missing)} missing` : ''}${extra.length > 0 ? `: ${list(extra)} not declared` : ''}; ${fix}`,
    );
  }
  const values: Record<string, Float32Array | Int32Array> = Object.create(null) as Record<string, Float32Array | Int32Array>;
  try {
    for (const name of names) {
      const t = state.tensors[name]!;
      const want = spec.tensors.get(name)!;
      if (t.dtype !== want.dtype || t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i])) {
        throw new InvalidSnapshotError(`${owner}: state tensor '${name.slice(0, 80)}' is [${t.shape.join(',')}] ${t.dtype}; its stateSpec() says [${want.shape.join(',')}] ${want.dtype}.`);
      }
      const data = t.dataSync() as Float32Array | Int32Array;
      checkTensorValues(owner, name, data, false);
      values[name] = data;
    }
    checkStateMeta(owner, spec.meta, state.meta);
    return values;
  } catch (err) {
    if (!(err instanceof InvalidSnapshotError)) throw err;
    throw new InvalidSnapshotError(`${err.message} ${fix}`);
  }
}

/**
 * The most bytes a `meta` of `schema` takes as JSON, whatever its values: each key counted at 6
 * bytes a character (`\uXXXX`-escaped), each number at 32 (the longest a double prints is 24).
 * What a snapshot's header may spend on it (`decodeState`'s `metaBytes`).
 */
export function metaJsonBound(schema: StateMetaSchema): number {
  let n = 2;
  for (const [key, field] of Object.entries(schema)) n += 6 * key.length + 4 + (field.type === 'object' ? metaJsonBound(field.fields) : 32);
  return n;
}
