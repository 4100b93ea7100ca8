/**
 * Property-based fuzz of snapshot decoding and restore (fast-check), over every registered
 * strategy (`listStrategies()`, so a new strategy is covered as soon as it is registered):
 * real snapshots of a tiny net, mutated by bit flips, truncation, appended bytes, prefix edits,
 * header edits (offsets, lengths, shapes, dtypes, names, duplicated / aliased / deleted /
 * reordered entries, huge counts), meta edits (wrong types, out of range, missing, unknown
 * fields) and value edits (NaN, infinities, negatives, large). For each mutated snapshot:
 * - `decodeState` returns or throws InvalidSnapshotError, nothing else;
 * - `adapter.restore` either rejects with InvalidSnapshotError, leaving the state (its snapshot
 *   bytes) and tf.memory() exactly as they were, or accepts, and then the adapter's state is
 *   exactly what the bytes say (same tensors bit for bit, same meta) with tf.memory() flat.
 * At least 10,000 mutated snapshots in all (fixed seed; a failure prints the fast-check seed
 * and path to replay it).
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, decodeState, initBackend, InvalidSnapshotError, listStrategies, type Adapter } from '../../src/index.js';
import { randomBatch, randomizeBatchNorms } from '../helpers/models.js';
import { cloneHeader, joinSnapshot, splitSnapshot, type SnapshotParts } from '../helpers/snapshotBytes.js';

const TOTAL_RUNS = 10_000;
const STRATEGIES = listStrategies();
const RUNS = Math.ceil(TOTAL_RUNS / STRATEGIES.length);

/**
 * Options giving each strategy its largest state at the lowest cost (moving statistics on, few
 * augmentations). A strategy not listed runs with its defaults.
 */
const FUZZ_OPTIONS: Record<string, Record<string, unknown>> = {
  'bn-adapt': { stats: 'ema' },
  'alpha-bn': { stats: 'ema' },
  tent: { stats: 'ema' },
  cotta: { augmentations: 1, threshold: 2 },
  vida: { augmentations: 2, highRank: 2 },
};

/** The smallest net every strategy accepts: conv, BN, relu, GAP, dense (softmax). */
function tinyNet(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 1] });
  let x = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', useBias: false, name: 'c1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'logits' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'tiny' });
}

type Header = SnapshotParts['header'];
type Mutation = { what: string; bytes: Uint8Array };

/** Values that break type or range expectations, for any JSON field. */
const nasty = fc.oneof(
  fc.constantFrom<unknown>(-1, -4, 0, 1, 3, 4, 0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324),
  fc.constantFrom<unknown>(null, true, false, '', 'x', 'NaN', '1', '__proto__', [], [1], [[1]], {}, { a: 1 }),
  fc.integer(),
  fc.double(), // NaN and infinities serialise as null
  fc.string({ maxLength: 6 }),
);

/** Leaf paths of a JSON object (meta), e.g. ['meta', 'scales', 'low']. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [prefix];
  const out: string[][] = prefix.length > 0 ? [prefix] : [];
  for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function parentOf(root: Record<string, unknown>, path: string[]): Record<string, unknown> | null {
  let o: unknown = root;
  for (const k of path.slice(0, -1)) {
    if (typeof o !== 'object' || o === null) return null;
    o = (o as Record<string, unknown>)[k];
  }
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>) : null;
}

/** Every kind of mutation of one real snapshot. */
function mutations(base: Uint8Array): fc.Arbitrary<Mutation> {
  const parts = splitSnapshot(base);
  const { entries } = parts.header;
  const n = entries.length;
  const dataStart = base.length - parts.data.length;
  const withHeader = (what: string, edit: (h: Header) => void): Mutation => {
    const h = cloneHeader(parts);
    edit(h);
    return { what, bytes: joinSnapshot(h, parts.data) };
  };
  const entryIndex = fc.nat(Math.max(0, n - 1));
  const offsets = entries.map((e) => e.offset as number);

  const bitFlips = fc
    .array(fc.tuple(fc.oneof(fc.nat(dataStart - 1), fc.nat(base.length - 1)), fc.nat(7)), { minLength: 1, maxLength: 4 })
    .map((flips) => {
      const b = base.slice();
      for (const [i, bit] of flips) b[i]! ^= 1 << bit;
      return { what: `flip bits ${JSON.stringify(flips)}`, bytes: b };
    });
  const truncate = fc.nat(base.length - 1).map((len) => ({ what: `truncate to ${len}`, bytes: base.subarray(0, len) }));
  const append = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => {
    const b = new Uint8Array(base.length + tail.length);
    b.set(base);
    b.set(tail, base.length);
    return { what: `append ${tail.length} bytes`, bytes: b };
  });
  const prefix = fc
    .tuple(fc.constantFrom(0, 4, 8), fc.oneof(fc.nat(), fc.constantFrom(0, 1, 0xffffffff, dataStart - 12, dataStart - 11, base.length)))
    .map(([at, v]) => {
      const b = base.slice();
      new DataView(b.buffer).setUint32(at, v >>> 0, true);
      return { what: `prefix u32 at ${at} = ${v >>> 0}`, bytes: b };
    });
  const fieldValue = (field: string, i: number): fc.Arbitrary<unknown> => {
    const e = entries[i]!;
    const other = entries[(i + 1) % n]!;
    const plausible: Record<string, unknown[]> = {
      offset: [...offsets, parts.data.length, (e.offset as number) + 4, (e.offset as number) - 4, -(e.offset as number) - 4, 2 ** 32],
      length: [(e.length as number) + 1, (e.length as number) - 1, 0, 2 ** 31, 2 ** 53],
      shape: [[], [0], [-1], other.shape, [...(e.shape as number[]), 1], [2 ** 30, 2 ** 30], Array(20).fill(1)],
      dtype: ['int32', 'float32', 'bool', 'complex64', 'string'],
      name: [other.name, '', '__proto__', 'constructor', 'x'.repeat(2000), `${e.name as string}#1`],
    };
    return fc.oneof(fc.constantFrom(...plausible[field]!), nasty);
  };
  const entryField = fc
    .tuple(entryIndex, fc.constantFrom('name', 'shape', 'dtype', 'offset', 'length'))
    .chain(([i, field]) => fieldValue(field, i).map((value) => ({ i, field, value })))
    .map(({ i, field, value }) => withHeader(`entry ${i}.${field} = ${JSON.stringify(value)?.slice(0, 60)}`, (h) => (h.entries[i]![field] = value)));
  const entryStructure = fc.oneof(
    entryIndex.map((i) => withHeader(`duplicate entry ${i}`, (h) => h.entries.push({ ...h.entries[i]! }))),
    fc.tuple(entryIndex, fc.integer({ min: 1, max: 2000 })).map(([i, k]) =>
      withHeader(`alias entry ${i} x${k}`, (h) => {
        for (let j = 0; j < k; j++) h.entries.push({ ...h.entries[i]!, name: `alias/${j}` });
      }),
    ),
    entryIndex.map((i) => withHeader(`delete entry ${i}`, (h) => h.entries.splice(i, 1))),
    fc.tuple(entryIndex, entryIndex).map(([i, j]) =>
      withHeader(`swap entries ${i} and ${j}`, (h) => ([h.entries[i], h.entries[j]] = [h.entries[j]!, h.entries[i]!])),
    ),
    fc.tuple(entryIndex, entryIndex).map(([i, j]) =>
      withHeader(`entry ${i} takes entry ${j}'s region`, (h) => {
        h.entries[i]!.offset = h.entries[j]!.offset;
      }),
    ),
    fc.tuple(entryIndex, fc.constantFrom('name', 'shape', 'dtype', 'offset', 'length')).map(([i, f]) =>
      withHeader(`entry ${i} without ${f}`, (h) => delete h.entries[i]![f]),
    ),
    fc.tuple(entryIndex, nasty).map(([i, v]) => withHeader(`entry ${i} with an extra field`, (h) => (h.entries[i]!.extra = v))),
    fc.tuple(entryIndex, nasty).map(([i, v]) => withHeader(`entry ${i} replaced by ${JSON.stringify(v)}`, (h) => (h.entries[i] = v as never))),
  );
  const headerTop = fc.tuple(fc.constantFrom('entries', 'meta', 'extra'), fc.oneof(nasty, fc.constant(undefined))).map(([key, v]) =>
    withHeader(`header.${key} = ${JSON.stringify(v)}`, (h) => {
      if (v === undefined) delete (h as unknown as Record<string, unknown>)[key];
      else (h as unknown as Record<string, unknown>)[key] = v;
    }),
  );
  const metaPaths = paths(parts.header.meta);
  const metaEdit = fc.tuple(fc.constantFrom(...metaPaths), fc.oneof(nasty, fc.constant(undefined), fc.constant('__add__'))).map(([path, v]) =>
    withHeader(`meta.${path.join('.')} = ${JSON.stringify(v)}`, (h) => {
      const parent = parentOf(h.meta, path);
      if (parent === null) return;
      const key = path[path.length - 1]!;
      if (v === undefined) delete parent[key];
      else if (v === '__add__') parent[`${key}2`] = 1;
      else parent[key] = v;
    }),
  );
  const nonEmpty = entries.map((e, i) => [e, i] as const).filter(([e]) => (e.length as number) > 0);
  const dataEdit = fc
    .tuple(
      fc.constantFrom(...nonEmpty),
      fc.nat(),
      fc.constantFrom(NaN, Infinity, -Infinity, -1, -1e-30, 1e38, -0, 0, 1, 3.5),
    )
    .map(([[e, i], k, value]) => {
      const data = parts.data.slice();
      const at = (e.offset as number) + (k % (e.length as number)) * 4;
      const view = new DataView(data.buffer);
      if (e.dtype === 'int32') view.setInt32(at, Number.isFinite(value) ? Math.trunc(value) : -1, true);
      else view.setFloat32(at, value, true);
      return { what: `entry ${i} element ${k % (e.length as number)} = ${value}`, bytes: joinSnapshot(parts.header, data) };
    });
  return fc.oneof(bitFlips, truncate, append, prefix, entryField, entryStructure, headerTop, metaEdit, dataEdit);
}

/** Tensor values by name, as bit patterns (so NaN payloads and -0 compare exactly). */
function bits(state: ReturnType<typeof decodeState>): Record<string, { shape: number[]; dtype: string; bits: number[] }> {
  const out: Record<string, { shape: number[]; dtype: string; bits: number[] }> = {};
  for (const [name, t] of Object.entries(state.tensors)) {
    out[name] = { shape: t.shape, dtype: t.dtype, bits: Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)) };
  }
  return out;
}

/** Byte equality without the matcher's per-element machinery (thousands of comparisons here). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const tally = { runs: 0, accepted: 0, byStrategy: {} as Record<string, { runs: number; accepted: number }> };

describe('snapshot fuzz (fast-check)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  afterAll(() => {
    console.log(`snapshot fuzz: ${tally.runs} mutated snapshots, ${tally.accepted} accepted (valid states), per strategy ${JSON.stringify(tally.byStrategy)}`);
  });

  for (const [k, strategy] of STRATEGIES.entries()) {
    it(`'${strategy}': ${RUNS} mutated snapshots: typed rejection with nothing changed, or an exact valid state`, { timeout: 600_000 }, async () => {
      const model = tinyNet();
      randomizeBatchNorms(model, k + 1);
      const adapter: Adapter = await createAdapter(model, { strategy, seed: 5, ...(FUZZ_OPTIONS[strategy] ?? {}) } as never);
      const x = randomBatch([4, 4, 4, 1], 7 + k);
      await adapter.step(x);
      await adapter.step(x);
      x.dispose();
      const base = await adapter.snapshot();
      await adapter.restore(base); // first-call set-up (kernels, lazily created state) before memory is measured
      const mem = tf.memory();
      const stats = { runs: 0, accepted: 0 };
      await fc.assert(
        fc.asyncProperty(mutations(base), async ({ bytes }) => {
          // Let the test runner's RPC through now and then (the adapter's queue is all microtasks).
          if (++stats.runs % 50 === 0) await new Promise((r) => setImmediate(r));
          // decodeState alone: a value or a typed error.
          try {
            decodeState(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(InvalidSnapshotError);
          }
          let error: unknown = null;
          try {
            await adapter.restore(bytes);
          } catch (e) {
            error = e;
          }
          if (error !== null) {
            expect(error).toBeInstanceOf(InvalidSnapshotError);
            expect(tf.memory().numTensors).toBe(mem.numTensors);
            expect(tf.memory().numBytes).toBe(mem.numBytes);
            expect(sameBytes(await adapter.snapshot(), base)).toBe(true);
            return;
          }
          // Accepted: the state is exactly what the bytes say, and memory is flat.
          stats.accepted++;
          expect(tf.memory().numTensors).toBe(mem.numTensors);
          expect(tf.memory().numBytes).toBe(mem.numBytes);
          const now = decodeState(await adapter.snapshot());
          const given = decodeState(bytes);
          expect(bits(now)).toEqual(bits(given));
          expect(now.meta).toEqual(given.meta);
          await adapter.restore(base);
          expect(sameBytes(await adapter.snapshot(), base)).toBe(true);
        }),
        { numRuns: RUNS, seed: 14_000 + k, endOnFailure: true },
      );
      adapter.dispose();
      tally.runs += stats.runs;
      tally.accepted += stats.accepted;
      tally.byStrategy[strategy] = stats;
      expect(stats.runs).toBe(RUNS);
    });
  }

  it('covers at least 10,000 mutated snapshots across all strategies', () => {
    expect(tally.runs).toBeGreaterThanOrEqual(TOTAL_RUNS);
  });
});
