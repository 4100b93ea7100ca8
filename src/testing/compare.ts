/**
 * Comparisons the conformance suite makes, framework-free: each throws a
 * {@link ConformanceError} that names the check and the first difference.
 */
import * as tf from '../tf.js';
import { ConformanceError } from '../errors.js';
import { decodeState } from '../model/weights.js';

/** Throws a ConformanceError with `message` unless `ok`. */
export function ensure(ok: boolean, message: string): asserts ok {
  if (!ok) throw new ConformanceError(message);
}

/** The bit patterns of float32 values (so -0 / 0 and NaN payloads count as different). */
function bits(a: ArrayLike<number>): Uint32Array {
  return new Uint32Array(Float32Array.from(a).buffer);
}

/** Index of the first element whose float32 bits differ, or -1 (also -1 for equal lengths only). */
function firstBitDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ba = bits(a);
  const bb = bits(b);
  for (let i = 0; i < ba.length; i++) if (ba[i] !== bb[i]) return i;
  return -1;
}

/** Bit-identical float32 arrays, or a ConformanceError naming `what` and the first difference. */
export function ensureBitEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const i = firstBitDifference(actual, expected);
  if (i < 0) return;
  if (actual.length !== expected.length) throw new ConformanceError(`${what}: ${actual.length} values, expected ${expected.length}.`);
  throw new ConformanceError(`${what}: element ${i} is ${actual[i]}, expected exactly ${expected[i]}.`);
}

/** Largest |a[i] - b[i]|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(worst) ? Infinity : worst;
}

/** The float32 bits of every weight of `model`, by weight name as the model defines it. */
export function weightBits(model: tf.LayersModel): Map<string, Uint32Array> {
  const out = new Map<string, Uint32Array>();
  for (const w of model.weights) out.set(w.originalName ?? w.name, bits(w.read().dataSync() as Float32Array));
  return out;
}

/** Every weight of `model` bit-identical to `expected` (from {@link weightBits}). */
export function ensureWeightsEqual(model: tf.LayersModel, expected: Map<string, Uint32Array>, what: string): void {
  const actual = weightBits(model);
  ensure(actual.size === expected.size, `${what}: the model has ${actual.size} weights, expected ${expected.size}.`);
  for (const [name, want] of expected) {
    const got = actual.get(name);
    ensure(got !== undefined, `${what}: weight '${name}' is missing.`);
    const i = firstBitDifference(got, want);
    ensure(i < 0, `${what}: weight '${name}' element ${i} differs from the source value.`);
  }
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * Two adapter snapshots hold the same strategy state: the same tensors, bit for bit, and the
 * same strategy metadata. The adapter's step counter is not compared (`reset()` keeps it).
 */
export function ensureSameState(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const a = decodeState(actual);
  const e = decodeState(expected);
  const an = Object.keys(a.tensors);
  const en = Object.keys(e.tensors);
  ensure(an.length === en.length && an.every((n, i) => n === en[i]), `${what}: the state holds [${an.join(', ')}], expected [${en.join(', ')}].`);
  for (const name of en) {
    const x = a.tensors[name]!;
    const y = e.tensors[name]!;
    ensure(x.dtype === y.dtype && x.shape.join() === y.shape.join(), `${what}: state tensor '${name}' has shape [${x.shape}] ${x.dtype}, expected [${y.shape}] ${y.dtype}.`);
    const i = firstBitDifference(x.dtype === 'int32' ? Float32Array.from(x.data) : x.data, y.dtype === 'int32' ? Float32Array.from(y.data) : y.data);
    ensure(i < 0, `${what}: state tensor '${name}' element ${i} is ${x.data[i]}, expected ${y.data[i]}.`);
  }
  ensure(
    jsonEqual(a.meta.meta ?? {}, e.meta.meta ?? {}),
    `${what}: strategy metadata ${JSON.stringify(a.meta.meta)}, expected ${JSON.stringify(e.meta.meta)}.`,
  );
}

/** Byte-identical snapshots (state, metadata and step counter). */
export function ensureSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length === expected.length && actual.every((v, i) => v === expected[i])) return;
  ensureSameState(actual, expected, what);
  throw new ConformanceError(`${what}: the snapshot bytes differ (same tensors and strategy metadata: the header differs, e.g. the step counter).`);
}
