/**
 * src/model/weights.ts on its own: the byte layout encodeState writes (checked byte by byte), each
 * rule decodeState enforces on hostile bytes with its exact message, and the copies
 * (deepCopy, copyVariables, assignVariables, stateTensors) that snapshot, restore and reset use.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidInputError, InvalidSnapshotError, initBackend } from '../../src/index.js';
import type { TensorSpec } from '../../src/model/stateSpec.js';
import {
  MAX_HEADER_BYTES,
  assignVariables,
  copyVariables,
  decodeState,
  deepCopy,
  encodeState,
  stateTensors,
  type EncodedState,
} from '../../src/model/weights.js';
import { joinSnapshot } from '../helpers/snapshotBytes.js';

const f32 = (...v: number[]) => new Float32Array(v);
const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

/** The message of the InvalidSnapshotError that decoding `bytes` throws. */
function decodeError(bytes: unknown, options?: Parameters<typeof decodeState>[1]): string {
  try {
    decodeState(bytes as Uint8Array, options);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidSnapshotError);
    return (e as Error).message;
  }
  throw new Error('decodeState accepted the bytes');
}

/** A snapshot whose header holds these entries (and meta) over a data section of `dataBytes` zero bytes. */
function withEntries(entries: unknown[], dataBytes = 64, meta: object = {}): Uint8Array {
  return joinSnapshot({ entries, meta }, new Uint8Array(dataBytes));
}

const entry = (over: Record<string, unknown> = {}) => ({ name: 'w', shape: [2], dtype: 'float32', offset: 0, length: 2, ...over });

describe('encodeState / decodeState', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('writes magic, version, header length, the JSON header, zero padding to 4, then each tensor little-endian', () => {
    const a = tf.tensor(f32(1.5, -2), [2]);
    const b = tf.tensor(Int32Array.from([7, -1, 3]), [3, 1], 'int32');
    const bytes = encodeState({ a, b }, { step: 3 });
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(0x41545445);
    expect(view.getUint32(4, true)).toBe(1);
    const header = JSON.stringify({
      entries: [
        { name: 'a', shape: [2], dtype: 'float32', offset: 0, length: 2 },
        { name: 'b', shape: [3, 1], dtype: 'int32', offset: 8, length: 3 },
      ],
      meta: { step: 3 },
    });
    expect(view.getUint32(8, true)).toBe(header.length);
    expect(new TextDecoder().decode(bytes.subarray(12, 12 + header.length))).toBe(header);
    const dataStart = Math.ceil((12 + header.length) / 4) * 4;
    expect(Array.from(bytes.subarray(12 + header.length, dataStart))).toEqual(new Array(dataStart - 12 - header.length).fill(0));
    expect(bytes.length).toBe(dataStart + 8 + 12);
    expect(view.getFloat32(dataStart, true)).toBe(1.5);
    expect(view.getFloat32(dataStart + 4, true)).toBe(-2);
    expect([0, 1, 2].map((i) => view.getInt32(dataStart + 8 + 4 * i, true))).toEqual([7, -1, 3]);
    // And back, also from a view that does not start at its buffer's first byte.
    const shifted = new Uint8Array(bytes.length + 5);
    shifted.set(bytes, 5);
    for (const input of [bytes, shifted.subarray(5)]) {
      const d = decodeState(input);
      expect(d.meta).toEqual({ step: 3 });
      expect(Object.keys(d.tensors)).toEqual(['a', 'b']);
      expect(Array.from(d.tensors.a!.data)).toEqual([1.5, -2]);
      expect(d.tensors.a!.data).toBeInstanceOf(Float32Array);
      expect(d.tensors.b).toEqual({ data: Int32Array.from([7, -1, 3]), shape: [3, 1], dtype: 'int32' });
    }
    expect(() => encodeState({ c: tf.tensor([true], [1], 'bool') })).toThrow(
      new InvalidInputError("encodeState: tensor 'c' has dtype bool; only float32 and int32 are stored."),
    );
    tf.dispose([a, b]);
  });

  it('decodes only the view\'s bytes from a Node Buffer (whose slice() shares memory) inside a larger buffer, into copies of its own', () => {
    const w = tf.tensor(f32(1, 2, 3));
    const n = tf.tensor(Int32Array.from([-4, 5]), [2], 'int32');
    const bytes = encodeState({ w, n }, { k: 1 });
    tf.dispose([w, n]);
    // The snapshot at byte 8 of a larger buffer (as fs, net and Buffer.concat give), its neighbours 42.0f.
    const ab = new ArrayBuffer(8 + bytes.length + 4000);
    new Float32Array(ab, 0, 2).fill(42);
    new Uint8Array(ab).set(bytes, 8);
    new Float32Array(ab, 8 + bytes.length, 1000).fill(42);
    const inputs: Uint8Array[] = [
      Buffer.from(ab, 8, bytes.length),
      Buffer.from(ab, 0, 8 + bytes.length).subarray(8),
      new Uint8Array(ab, 8, bytes.length),
      Buffer.from(bytes),
    ];
    for (const input of inputs) {
      const d = decodeState(input);
      expect(d.meta).toEqual({ k: 1 });
      expect(d.tensors.w).toEqual({ data: f32(1, 2, 3), shape: [3], dtype: 'float32' });
      expect(d.tensors.n).toEqual({ data: Int32Array.from([-4, 5]), shape: [2], dtype: 'int32' });
      for (const t of Object.values(d.tensors)) {
        expect(t.data.buffer).not.toBe(ab);
        expect(t.data.buffer.byteLength).toBe(t.data.length * 4);
      }
      // Copies: writing to the input afterwards changes nothing decoded.
      const before = Array.from(d.tensors.w!.data);
      input.fill(0);
      expect(Array.from(d.tensors.w!.data)).toEqual(before);
      new Uint8Array(ab).set(bytes, 8);
    }
  });

  it('refuses bytes that are not a state, with the reason', () => {
    const good = encodeState({ w: tf.tensor(f32(1, 2)) });
    const headerLength = new DataView(good.buffer).getUint32(8, true);
    const patch = (at: number, value: number) => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(at, value, true);
      return b;
    };
    expect(decodeError(null)).toBe('decodeState: expected the snapshot as a Uint8Array; got null.');
    expect(decodeError([1, 2, 3])).toBe('decodeState: expected the snapshot as a Uint8Array; got object.');
    expect(decodeError(good.subarray(0, 11))).toBe('decodeState: 11 bytes is too short to be an edge-tta state.');
    expect(decodeError(good.subarray(0, 12), { owner: 'restore' })).toBe(
      `restore: the header claims ${headerLength} bytes but only 0 follow the prefix (truncated?).`,
    );
    expect(decodeError(patch(0, 0x41545446))).toBe('decodeState: these bytes are not an edge-tta state (bad magic number).');
    expect(decodeError(patch(4, 2))).toBe('decodeState: state format version 2; this build reads version 1.');
    expect(decodeError(patch(8, MAX_HEADER_BYTES + 1))).toBe(`decodeState: the header claims ${MAX_HEADER_BYTES + 1} bytes; at most ${MAX_HEADER_BYTES} are read.`);
    expect(decodeError(patch(8, good.length - 11))).toBe(`decodeState: the header claims ${good.length - 11} bytes but only ${good.length - 12} follow the prefix (truncated?).`);
    // A header of exactly the bytes that follow is read (and then its JSON is cut short).
    expect(decodeError(patch(8, good.length - 12))).toMatch(/^decodeState: the header is not valid UTF-8 JSON \(.+\)\.$/);
    expect(decodeError(joinSnapshot(null, new Uint8Array(0), new Uint8Array([0xff, 0xfe])))).toMatch(/^decodeState: the header is not valid UTF-8 JSON \(.{1,80}\)\.$/);
    const shape = 'decodeState: the header must be a JSON object with exactly `entries` (an array) and `meta` (an object).';
    for (const header of [[], { entries: [] }, { entries: [], meta: {}, x: 1 }, { entries: {}, meta: {} }, { entries: [], meta: [] }, { entries: [], meta: null }]) {
      expect(decodeError(joinSnapshot(header, new Uint8Array(0))), JSON.stringify(header)).toBe(shape);
    }
    // The data section starts after the padded header: a header ending 1 byte before the end has no room.
    const short = joinSnapshot({ entries: [], meta: { x: 1 } }, new Uint8Array(0)); // a 29-byte header
    expect(decodeError(short.subarray(0, 41))).toBe('decodeState: the data section starts at byte 44, past the end (41 bytes).');
    expect(decodeState(short).meta).toEqual({ x: 1 });
  });

  it('checks the meta first, then every entry, with its index and name', () => {
    const checkMeta = (meta: Record<string, unknown>) => {
      if (meta.ok !== true) throw new InvalidSnapshotError('meta refused');
    };
    expect(decodeError(withEntries([{ bad: 1 }], 64, {}), { checkMeta })).toBe('meta refused');
    const keys = 'decodeState: entry 1 must be an object with exactly name, shape, dtype, offset, length.';
    for (const e of [null, [1], { ...entry(), extra: 1 }, { name: 'w', shape: [2], dtype: 'float32', offset: 0 }, { name: 'w', shape: [2], dtype: 'float32', offset: 0, size: 2 }]) {
      expect(decodeError(withEntries([entry({ name: 'v', offset: 16 }), e])), JSON.stringify(e)).toBe(keys);
    }
    for (const name of ['', 5, null]) {
      expect(decodeError(withEntries([entry({ name })]))).toBe('decodeState: entry 0: the name must be a non-empty string.');
    }
    // No length cap of its own (a layer may have a long name; the header's cap bounds it): before,
    // names over 1,024 characters were refused, also in the snapshots of the adapter's own model.
    expect(decodeState(withEntries([entry({ name: 'n'.repeat(5000) })], 8)).tensors['n'.repeat(5000)]).toBeDefined();
    expect(decodeError(withEntries([entry(), entry({ offset: 8 })]))).toBe("decodeState: entry 1: the tensor 'w' appears twice.");
    expect(decodeError(withEntries([entry({ name: 'x'.repeat(100), dtype: 'bool' })]))).toBe(
      `decodeState: entry 0 ('${'x'.repeat(80)}'): dtype "bool"; only 'float32' and 'int32' are stored.`,
    );
    expect(decodeError(withEntries([entry({ dtype: 'y'.repeat(60) })]))).toBe(
      `decodeState: entry 0 ('w'): dtype ${JSON.stringify('y'.repeat(60)).slice(0, 40)}; only 'float32' and 'int32' are stored.`,
    );
    const shapeMsg = "decodeState: entry 0 ('w'): the shape must be an array of at most 8 non-negative integers.";
    for (const shape of [2, [2, -1], [1.5], ['2'], [1, 1, 1, 1, 1, 1, 1, 1, 2], [2 ** 53]]) {
      expect(decodeError(withEntries([entry({ shape, length: 2 })])), JSON.stringify(shape)).toBe(shapeMsg);
    }
    expect(decodeState(withEntries([entry({ shape: [1, 1, 1, 1, 1, 1, 1, 2] })], 8)).tensors.w!.shape).toHaveLength(8);
    expect(decodeError(withEntries([entry({ length: 3 })]))).toBe("decodeState: entry 0 ('w'): length 3 is not the product of its shape [2].");
    expect(decodeError(withEntries([entry({ length: '2' })]))).toBe("decodeState: entry 0 ('w'): length 2 is not the product of its shape [2].");
    // A product past 2^53 is clamped, never equal to a safe length.
    expect(decodeError(withEntries([entry({ shape: [2 ** 30, 2 ** 30, 2 ** 30], length: Number.MAX_SAFE_INTEGER })]))).toMatch(/^decodeState: entry 0 \('w'\): bytes/);
    for (const offset of [-4, 2, 4.5, '0', null]) {
      expect(decodeError(withEntries([entry({ offset })])), String(offset)).toBe(`decodeState: entry 0 ('w'): offset ${String(offset)} must be a non-negative multiple of 4.`);
    }
    expect(decodeError(withEntries([entry({ offset: 60 })]))).toBe("decodeState: entry 0 ('w'): bytes 60..68 lie outside the 64-byte data section.");
    expect(decodeState(withEntries([entry({ name: 'v', shape: [14], length: 14 }), entry({ offset: 56 })])).tensors.w!.data).toHaveLength(2);
  });

  it('refuses overlapping regions (empty tensors overlap nothing) and non-finite values', () => {
    expect(decodeError(withEntries([entry({ name: 'a', offset: 8 }), entry({ name: 'b', offset: 12 })]))).toBe("decodeState: tensors 'a' and 'b' overlap.");
    expect(decodeError(withEntries([entry({ name: 'b', offset: 12 }), entry({ name: 'a', offset: 8 })]))).toBe("decodeState: tensors 'a' and 'b' overlap.");
    const ok = decodeState(withEntries([entry({ name: 'a', offset: 0 }), entry({ name: 'b', offset: 8 }), entry({ name: 'e', shape: [0], length: 0, offset: 4 })], 16));
    expect(Object.keys(ok.tensors)).toEqual(['a', 'b', 'e']);
    expect(ok.tensors.e!.data).toHaveLength(0);
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat32(4, NaN, true);
    expect(() => decodeState(joinSnapshot({ entries: [entry()], meta: {} }, data))).toThrow("decodeState: snapshot tensor 'w' holds NaN at index 1; values must be finite.");
    // An int32 region is read as integers: the same bytes are a finite value there.
    expect(Array.from(decodeState(joinSnapshot({ entries: [entry({ dtype: 'int32' })], meta: {} }, data)).tensors.w!.data)).toEqual([0, 0x7fc00000]);
  });

  it('with `expected`, a header longer than that state\'s can be is refused before it is parsed', () => {
    // Before, only the general 16 MiB cap applied: 16 MiB of `{},{},...` parsed to ~375 MB of
    // objects in ~2 s (node, measured) before the entry count refused them.
    const expected = new Map<string, TensorSpec>([
      ['a', { shape: [2], dtype: 'float32' }],
      ['bn/moving_variance', { shape: [2], dtype: 'float32', nonNegative: true }],
    ]);
    const bound = 64 * 1024 + (6 * 1 + 256) + (6 * 18 + 256);
    const junk = new TextEncoder().encode(`{"entries":[${'{},'.repeat(1_000_000)}{}],"meta":{}}`);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(decodeError(joinSnapshot(null, new Uint8Array(16), junk), { expected })).toBe(
        `decodeState: the header claims ${junk.length} bytes; the header of this adapter's state (2 tensors) takes at most ${bound}. Restore a snapshot of the same strategy, options and model.`,
      );
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    // Without `expected`, the general cap: parsed, then refused for what it holds.
    expect(decodeError(joinSnapshot(null, new Uint8Array(16), junk))).toBe('decodeState: entry 0 must be an object with exactly name, shape, dtype, offset, length.');
    // A header of exactly the bound (a real one padded with spaces) is read; one byte more is not.
    const a = tf.tensor(f32(1, 2));
    const v = tf.tensor(f32(3, 4));
    const real = encodeState({ a, 'bn/moving_variance': v });
    const parts = { headerLength: new DataView(real.buffer).getUint32(8, true) };
    const header = new TextDecoder().decode(real.subarray(12, 12 + parts.headerLength));
    const data = real.subarray(real.length - 16);
    const padded = (n: number) => joinSnapshot(null, data, new TextEncoder().encode(header + ' '.repeat(n - header.length)));
    expect(Array.from(decodeState(padded(bound), { expected }).tensors['bn/moving_variance']!.data)).toEqual([3, 4]);
    expect(decodeError(padded(bound + 1), { expected })).toMatch(/takes at most/);
    tf.dispose([a, v]);
  });

  it('refuses a data section the tensors do not cover exactly (bytes inserted, appended or skipped) and padding that is not zero', () => {
    // Before, bytes after the last tensor were ignored, and 4 bytes inserted in a CoTTA snapshot's
    // data section were accepted at 10,977 of its 14,676 offsets (every later tensor shifted, its
    // values still finite).
    const a = tf.tensor(f32(1, 2, 3));
    const b = tf.tensor(f32(4, 5));
    const bytes = encodeState({ a, b }, { k: 1 });
    const dataStart = bytes.length - 20;
    const msg = (used: number, held: number) =>
      `decodeState: the tensors take ${used} bytes but the data section holds ${held}: every byte after the header belongs to one tensor (bytes inserted or appended?).`;
    for (const extra of [1, 4, 8]) {
      const appended = new Uint8Array(bytes.length + extra);
      appended.set(bytes);
      expect(decodeError(appended), `appended ${extra}`).toBe(msg(20, 20 + extra));
      for (let at = dataStart; at <= bytes.length; at += 4) {
        const inserted = new Uint8Array(bytes.length + extra);
        inserted.set(bytes.subarray(0, at));
        inserted.fill(0x3f, at, at + extra); // finite float32 bytes
        inserted.set(bytes.subarray(at), at + extra);
        expect(decodeError(inserted), `inserted ${extra} at ${at}`).toBe(msg(20, 20 + extra));
      }
    }
    // A gap between two tensors, with the data section's size right.
    const gap = joinSnapshot({ entries: [entry({ name: 'a', offset: 0 }), entry({ name: 'b', offset: 12 })], meta: {} }, new Uint8Array(20));
    expect(decodeError(gap)).toBe(msg(16, 20));
    // Empty tensors take no bytes: a state of only empty tensors has an empty data section.
    expect(decodeState(withEntries([entry({ shape: [0, 3], length: 0 })], 0)).tensors.w!.data).toHaveLength(0);
    expect(decodeError(withEntries([entry({ shape: [0, 3], length: 0 })], 4))).toBe(msg(0, 4));
    // The padding between the header and the data is zero.
    const headerEnd = 12 + new DataView(bytes.buffer).getUint32(8, true);
    expect(dataStart).toBeGreaterThan(headerEnd); // this header needs padding
    const padded = bytes.slice();
    padded[headerEnd] = 1;
    expect(decodeError(padded)).toBe(`decodeState: the padding after the header holds byte 1 at ${headerEnd}; it must be zero (bytes inserted?).`);
    expect(Array.from(decodeState(bytes).tensors.b!.data)).toEqual([4, 5]);
    tf.dispose([a, b]);
  });

  it('with `expected`: exactly those tensors, shapes, dtypes, and non-negative where asked', () => {
    const expected = new Map<string, TensorSpec>([
      ['a', { shape: [2], dtype: 'float32' }],
      ['v', { shape: [2], dtype: 'float32', nonNegative: true }],
    ]);
    const a = tf.tensor(f32(-1, 2));
    const v = tf.tensor(f32(0, 3));
    const bytes = encodeState({ a, v });
    expect(Array.from(decodeState(bytes, { expected }).tensors.v!.data)).toEqual([0, 3]);
    expect(decodeError(encodeState({ a }), { expected })).toBe(
      'decodeState: the state holds 1 tensors; this adapter\'s state has 2. Restore a snapshot of the same strategy, options and model.',
    );
    expect(decodeError(encodeState({ a, w: v }), { expected })).toBe(
      "decodeState: the state holds a tensor 'w' that this adapter's state does not have. Restore a snapshot of the same strategy, options and model.",
    );
    const v3 = tf.tensor(f32(0, 3, 4));
    expect(decodeError(encodeState({ a, v: v3 }), { expected })).toBe("decodeState: tensor 'v' is [3] float32; this adapter's is [2] float32.");
    const vi = tf.tensor(Int32Array.from([0, 3]), [2], 'int32');
    expect(decodeError(encodeState({ a, v: vi }), { expected })).toBe("decodeState: tensor 'v' is [2] int32; this adapter's is [2] float32.");
    const neg = tf.tensor(f32(0, -3));
    expect(decodeError(encodeState({ a, v: neg }), { expected, owner: 'tent.restore' })).toBe(
      "tent.restore: snapshot tensor 'v' holds -3 at index 1; values must be finite and >= 0.",
    );
    tf.dispose([a, v, v3, vi, neg]);
  });
});

describe('decodeState: long names and values are cut in messages; boundaries', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('every message quotes at most 80 characters of a name and 40 of a bad value', () => {
    const long = 'x'.repeat(100);
    const cut = 'x'.repeat(80);
    const L = (over: Record<string, unknown> = {}) => entry({ name: long, ...over });
    expect(decodeError(withEntries([L(), L({ offset: 8 })]))).toBe(`decodeState: entry 1: the tensor '${cut}' appears twice.`);
    expect(decodeError(withEntries([L({ shape: [-1] })]))).toBe(`decodeState: entry 0 ('${cut}'): the shape must be an array of at most 8 non-negative integers.`);
    expect(decodeError(withEntries([L({ length: '9'.repeat(50) })]))).toBe(`decodeState: entry 0 ('${cut}'): length ${'9'.repeat(40)} is not the product of its shape [2].`);
    expect(decodeError(withEntries([L({ offset: '7'.repeat(50) })]))).toBe(`decodeState: entry 0 ('${cut}'): offset ${'7'.repeat(40)} must be a non-negative multiple of 4.`);
    expect(decodeError(withEntries([L({ offset: 64 })]))).toBe(`decodeState: entry 0 ('${cut}'): bytes 64..72 lie outside the 64-byte data section.`);
    const expected = new Map<string, TensorSpec>([['a', { shape: [2, 3], dtype: 'float32' }]]);
    expect(decodeError(withEntries([L({ shape: [6], length: 6 })]), { expected })).toBe(
      `decodeState: the state holds a tensor '${cut}' that this adapter's state does not have. Restore a snapshot of the same strategy, options and model.`,
    );
    const a = (shape: number[]) => entry({ name: 'a', shape, length: shape.reduce((x, y) => x * y, 1) });
    for (const shape of [[2, 4], [2, 3, 1], [6]]) {
      expect(decodeError(withEntries([a(shape)], 128), { expected }), JSON.stringify(shape)).toBe(
        `decodeState: tensor 'a' is [${shape}] float32; this adapter's is [2,3] float32.`,
      );
    }
    expect(decodeState(withEntries([a([2, 3])], 24), { expected }).tensors.a!.shape).toEqual([2, 3]);
    const y = 'y'.repeat(100);
    expect(decodeError(withEntries([L(), entry({ name: y, offset: 4 })]))).toBe(`decodeState: tensors '${cut}' and '${'y'.repeat(80)}' overlap.`);
  });

  it('a header of exactly the largest size is read; a header with bytes that are not UTF-8 inside a JSON string is refused', () => {
    const bytes = joinSnapshot({ entries: [], meta: {} }, new Uint8Array(0));
    new DataView(bytes.buffer).setUint32(8, MAX_HEADER_BYTES, true);
    expect(decodeError(bytes)).toBe(`decodeState: the header claims ${MAX_HEADER_BYTES} bytes but only ${bytes.length - 12} follow the prefix (truncated?).`);
    const text = new TextEncoder().encode('{"entries":[],"meta":{"a":"__"}}');
    text[text.indexOf(0x5f)] = 0xff; // an invalid byte inside the string: JSON.parse alone would accept U+FFFD there
    expect(decodeError(joinSnapshot(null, new Uint8Array(0), text))).toMatch(/^decodeState: the header is not valid UTF-8 JSON \(/);
  });
});

describe('copies of weights', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('deepCopy is bit-exact (-0 included) and owns its memory; int32 too', () => {
    const t = tf.tensor(f32(-0, 1e-45, -3.5, 3.4e38));
    const c = deepCopy(t);
    expect(bits(c)).toEqual(bits(t));
    expect(c.dataId).not.toBe(t.dataId);
    const i = tf.tensor(Int32Array.from([2 ** 31 - 1, -5]), [2], 'int32');
    const ci = deepCopy(i);
    expect(ci.dtype).toBe('int32');
    expect(Array.from(ci.dataSync())).toEqual([2 ** 31 - 1, -5]);
    expect(ci.dataId).not.toBe(i.dataId);
    tf.dispose([t, c, i, ci]);
  });

  it('copyVariables takes kept copies that later writes to the variables do not change', () => {
    const vars = new Map([
      ['a', tf.variable(tf.tensor(f32(1, 2)), true, 'weights_test_a')],
      ['b', tf.variable(tf.tensor(f32(3)), true, 'weights_test_b')],
    ]);
    let copy: Record<string, tf.Tensor> = {};
    tf.tidy(() => {
      copy = copyVariables(vars);
    });
    vars.get('a')!.assign(tf.tensor(f32(9, 9)));
    expect(Object.keys(copy)).toEqual(['a', 'b']);
    expect(Array.from(copy.a!.dataSync())).toEqual([1, 2]);
    expect(copy.b!.isDisposed).toBe(false);
    // assignVariables writes them back, as copies again (the source stays usable).
    assignVariables(vars, copy);
    expect(Array.from(vars.get('a')!.dataSync())).toEqual([1, 2]);
    vars.get('a')!.assign(tf.tensor(f32(5, 5)));
    expect(Array.from(copy.a!.dataSync())).toEqual([1, 2]);
    tf.dispose([...Object.values(copy), ...vars.values()]);
  });

  it('assignVariables writes nothing unless every variable has a value of its shape and dtype', () => {
    const vars = new Map([
      ['a', tf.variable(tf.tensor(f32(1, 2)), true, 'weights_test_c')],
      ['b', tf.variable(tf.tensor(f32(3)), true, 'weights_test_d')],
    ]);
    const a = tf.tensor(f32(7, 8));
    const before = tf.memory().numTensors;
    expect(() => assignVariables(vars, { a })).toThrow(new InvalidInputError("State has no value for 'b'; it was taken from a different strategy or model."));
    const b2 = tf.tensor(f32(1, 2));
    expect(() => assignVariables(vars, { a, b: b2 })).toThrow(
      new InvalidInputError("State value 'b' has shape [2] (float32); the variable has [1] (float32). Restore a snapshot taken from the same model and strategy."),
    );
    const bi = tf.tensor(Int32Array.from([1]), [1], 'int32');
    expect(() => assignVariables(vars, { a, b: bi })).toThrow(/State value 'b' has shape \[1\] \(int32\); the variable has \[1\] \(float32\)/);
    expect(Array.from(vars.get('a')!.dataSync())).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([a, b2, bi, ...vars.values()]);
  });

  it('stateTensors makes every tensor or, when one fails, leaves none', () => {
    const good: EncodedState = { tensors: { a: { data: f32(1, 2), shape: [2], dtype: 'float32' } }, meta: {} };
    const t = stateTensors(good);
    expect(Array.from(t.a!.dataSync())).toEqual([1, 2]);
    t.a!.dispose();
    const before = tf.memory().numTensors;
    const bad: EncodedState = {
      tensors: { a: { data: f32(1, 2), shape: [2], dtype: 'float32' }, b: { data: f32(1, 2, 3), shape: [2], dtype: 'float32' } },
      meta: {},
    };
    expect(() => stateTensors(bad)).toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });
});
