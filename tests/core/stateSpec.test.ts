/**
 * The snapshot meta schema (src/model/stateSpec.ts): every rejection's exact message (the field's
 * path, the value as described, the range expected), the plain-object rule, and the value check
 * of state tensors.
 */
import { describe, expect, it } from 'vitest';
import { InvalidSnapshotError } from '../../src/errors.js';
import { COUNTER, RNG_STATE, checkStateMeta, checkTensorValues, isPlainObject, metaJsonBound, type StateMetaSchema } from '../../src/model/stateSpec.js';

const SCHEMA: StateMetaSchema = {
  step: COUNTER,
  rng: RNG_STATE,
  lr: { type: 'number', min: 0 },
  mix: { type: 'number', min: 0, max: 1 },
  free: { type: 'number' },
  cap: { type: 'number', max: 2 },
  inner: { type: 'object', fields: { t: { type: 'integer', min: 1, max: 9 } } },
};
const GOOD = { step: 3, rng: 0xffffffff, lr: 0, mix: 1, free: -1e30, cap: 2, inner: { t: 9 } };

function rejects(meta: unknown, message: string, schema: StateMetaSchema = SCHEMA): void {
  expect(() => checkStateMeta('tent', schema, meta)).toThrow(InvalidSnapshotError);
  expect(() => checkStateMeta('tent', schema, meta)).toThrow(new InvalidSnapshotError(message));
}

describe('snapshot meta schema', () => {
  it('accepts exactly the schema, at its bounds, and returns the meta itself', () => {
    const meta = { ...GOOD, inner: { ...GOOD.inner } };
    expect(checkStateMeta('tent', SCHEMA, meta)).toBe(meta);
    expect(checkStateMeta('x', {}, {})).toEqual({});
    expect(checkStateMeta('x', {}, Object.create(null))).toEqual({});
  });

  it('a meta that is not a plain object is described in the message', () => {
    rejects(null, 'tent: snapshot meta is null; expected an object.');
    rejects(undefined, 'tent: snapshot meta is undefined; expected an object.');
    rejects([], 'tent: snapshot meta is an array; expected an object.');
    rejects(7, 'tent: snapshot meta is 7; expected an object.');
    rejects(true, 'tent: snapshot meta is true; expected an object.');
    rejects('x', 'tent: snapshot meta is "x"; expected an object.');
    rejects(new Date(0), 'tent: snapshot meta is a object; expected an object.');
    rejects({ ...GOOD, inner: 'y'.repeat(41) }, `tent: snapshot meta.inner is "${'y'.repeat(40)}..."; expected an object.`);
    rejects({ ...GOOD, inner: 'y'.repeat(40) }, `tent: snapshot meta.inner is "${'y'.repeat(40)}"; expected an object.`);
  });

  it('unknown and missing fields name the field and the expected ones', () => {
    rejects({ ...GOOD, extra: 1 }, "tent: snapshot meta has an unknown field 'extra'; expected the fields step, rng, lr, mix, free, cap, inner.");
    rejects({ ['k'.repeat(50)]: 1 }, `tent: snapshot meta has an unknown field '${'k'.repeat(40)}'; expected the fields (none).`, {});
    const { rng: _, ...noRng } = GOOD;
    rejects(noRng, 'tent: snapshot meta.rng is missing.');
    rejects({ ...GOOD, inner: {} }, 'tent: snapshot meta.inner.t is missing.');
    rejects({ ...GOOD, inner: { t: 1, u: 2 } }, "tent: snapshot meta.inner has an unknown field 'u'; expected the fields t.");
  });

  it('numbers out of type or range name the value and the range', () => {
    rejects({ ...GOOD, step: -1 }, `tent: snapshot meta.step is -1; expected an integer in [0, ${Number.MAX_SAFE_INTEGER}].`);
    rejects({ ...GOOD, step: 1.5 }, `tent: snapshot meta.step is 1.5; expected an integer in [0, ${Number.MAX_SAFE_INTEGER}].`);
    rejects({ ...GOOD, step: '3' }, `tent: snapshot meta.step is "3"; expected an integer in [0, ${Number.MAX_SAFE_INTEGER}].`);
    rejects({ ...GOOD, rng: 2 ** 32 }, 'tent: snapshot meta.rng is 4294967296; expected an integer in [0, 4294967295].');
    rejects({ ...GOOD, lr: -0.1 }, 'tent: snapshot meta.lr is -0.1; expected a finite number >= 0.');
    rejects({ ...GOOD, lr: NaN }, 'tent: snapshot meta.lr is NaN; expected a finite number >= 0.');
    rejects({ ...GOOD, mix: 1.01 }, 'tent: snapshot meta.mix is 1.01; expected a finite number >= 0 <= 1.');
    rejects({ ...GOOD, free: Infinity }, 'tent: snapshot meta.free is Infinity; expected a finite number.');
    rejects({ ...GOOD, free: null }, 'tent: snapshot meta.free is null; expected a finite number.');
    rejects({ ...GOOD, free: false }, 'tent: snapshot meta.free is false; expected a finite number.');
    rejects({ ...GOOD, free: [1] }, 'tent: snapshot meta.free is an array; expected a finite number.');
    rejects({ ...GOOD, cap: 2.5 }, 'tent: snapshot meta.cap is 2.5; expected a finite number <= 2.');
    rejects({ ...GOOD, inner: { t: 0 } }, 'tent: snapshot meta.inner.t is 0; expected an integer in [1, 9].');
    rejects({ ...GOOD, inner: { t: 10 } }, 'tent: snapshot meta.inner.t is 10; expected an integer in [1, 9].');
  });

  it('isPlainObject: object literals and null-prototype objects only', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject(JSON.parse('{"a":1}'))).toBe(true);
    for (const v of [null, undefined, [], 1, 'a', new Date(0), new Map(), Object.create({})]) expect(isPlainObject(v), String(v)).toBe(false);
  });

  it('checkTensorValues: non-finite values always, negatives only when asked, naming value and index', () => {
    expect(() => checkTensorValues('vida', 'w', new Float32Array([0, -2, 3]), false)).not.toThrow();
    expect(() => checkTensorValues('vida', 'w', new Float32Array([0, 1, NaN]), false)).toThrow(
      new InvalidSnapshotError("vida: snapshot tensor 'w' holds NaN at index 2; values must be finite."),
    );
    expect(() => checkTensorValues('vida', 'w', new Float32Array([-Infinity]), false)).toThrow("holds -Infinity at index 0");
    expect(() => checkTensorValues('vida', 'v', new Float32Array([0, 0.5, -0.25]), true)).toThrow(
      new InvalidSnapshotError("vida: snapshot tensor 'v' holds -0.25 at index 2; values must be finite and >= 0."),
    );
    expect(() => checkTensorValues('vida', 'v', new Int32Array([0, 3]), true)).not.toThrow();
  });

  it('metaJsonBound: no meta of the schema, at its longest, takes more', () => {
    expect(metaJsonBound({})).toBe(2);
    // Every key \u-escaped, every number at its longest.
    const longest = (schema: StateMetaSchema): string =>
      `{${Object.entries(schema)
        .map(([k, f]) => `"${[...k].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}":${f.type === 'object' ? longest(f.fields) : '-2.2250738585072014e-308'}`)
        .join(',')}}`;
    const text = longest(SCHEMA);
    expect(JSON.parse(text)).toMatchObject({ step: -2.2250738585072014e-308, inner: { t: -2.2250738585072014e-308 } });
    expect(text.length).toBeLessThanOrEqual(metaJsonBound(SCHEMA));
    const classes: StateMetaSchema = { ema: { type: 'object', fields: Object.fromEntries(Array.from({ length: 5000 }, (_, c) => [String(c), { type: 'number' }])) } };
    expect(longest(classes).length).toBeLessThanOrEqual(metaJsonBound(classes));
  });
});
