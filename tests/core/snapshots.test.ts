/**
 * Untrusted snapshots (issue 14, reproductions 1-5): each attack as it was reproduced on the
 * built package now ends in an InvalidSnapshotError, with the adapter's state (its snapshot
 * bytes), its predictions and tf.memory() unchanged.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdapter, decodeState, encodeState, initBackend, InvalidSnapshotError, type Adapter } from '../../src/index.js';
import { checkStateToWrite } from '../../src/model/stateSpec.js';
import { createTarget } from '../../src/model/target.js';
import { disposeTensors, stateTensors } from '../../src/model/weights.js';
import { getStrategy, resolveOptions } from '../../strategies/registry.js';
import { randomBatch, randomizeBatchNorms, smallResNet } from '../helpers/models.js';
import { cloneHeader, joinSnapshot, setFloat, splitSnapshot } from '../helpers/snapshotBytes.js';

/** Options that keep the heavy strategies fast on the tiny net. */
const FAST: Record<string, Record<string, unknown>> = {
  cotta: { augmentations: 2, threshold: 2 },
  vida: { augmentations: 2, highRank: 4 },
};

interface Fixture {
  adapter: Adapter;
  x: tf.Tensor4D;
  snap: Uint8Array;
}

async function fixture(strategy: string, options: Record<string, unknown> = {}): Promise<Fixture> {
  const model = smallResNet([8, 8, 1], 3);
  randomizeBatchNorms(model);
  const adapter = await createAdapter(model, { strategy, seed: 3, ...(FAST[strategy] ?? {}), ...options } as never);
  const x = randomBatch([4, 8, 8, 1], 11) as tf.Tensor4D;
  await adapter.step(x); // a state with moved weights, moments and counters
  return { adapter, x, snap: await adapter.snapshot() };
}

/** Restores `bad`, expects InvalidSnapshotError, and checks that nothing changed. */
async function expectRejected(f: Fixture, bad: Uint8Array, message?: RegExp): Promise<InvalidSnapshotError> {
  const before = await f.adapter.predict(f.x);
  const mem = tf.memory();
  const err = await f.adapter.restore(bad).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidSnapshotError);
  expect((err as Error).name).toBe('InvalidSnapshotError');
  if (message !== undefined) expect((err as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(mem.numTensors);
  expect(tf.memory().numBytes).toBe(mem.numBytes);
  expect(await f.adapter.snapshot()).toEqual(f.snap);
  expect((await f.adapter.predict(f.x)).probs).toEqual(before.probs);
  return err as InvalidSnapshotError;
}

describe('untrusted snapshots', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a valid snapshot still round-trips exactly (state bytes and predictions)', async () => {
    for (const strategy of ['tent', 'cotta', 'vida', 'bn-adapt']) {
      const f = await fixture(strategy, strategy === 'bn-adapt' ? { stats: 'ema' } : {});
      const p = await f.adapter.predict(f.x);
      await f.adapter.step(f.x);
      await f.adapter.restore(f.snap);
      expect(await f.adapter.snapshot()).toEqual(f.snap);
      expect((await f.adapter.predict(f.x)).probs).toEqual(p.probs);
      f.adapter.dispose();
    }
  });

  it('a snapshot read back with fs.readFileSync (a Node Buffer) or held in a view at a nonzero byteOffset restores the same state', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-snap-'));
    try {
      for (const strategy of ['bn-adapt', 'tent']) {
        const f = await fixture(strategy);
        const p = await f.adapter.predict(f.x);
        const file = path.join(dir, `${strategy}.bin`);
        fs.writeFileSync(file, f.snap);
        // Inside larger buffers whose other bytes are 0x7f7f7f7f (a finite float32 that no state holds).
        const big = new Uint8Array(f.snap.length + 4096).fill(0x7f);
        big.set(f.snap, 1024);
        const inputs: [string, Uint8Array][] = [
          ['fs.readFileSync', fs.readFileSync(file)],
          ['a Buffer view at byteOffset 1024', Buffer.from(big.buffer, 1024, f.snap.length)],
          ['a Uint8Array view at byteOffset 1024', big.subarray(1024, 1024 + f.snap.length)],
          ['Buffer.concat', Buffer.concat([Buffer.from(f.snap.subarray(0, 100)), Buffer.from(f.snap.subarray(100))])],
        ];
        for (const [what, bytes] of inputs) {
          await f.adapter.step(f.x); // move the state away from the snapshot
          await expect(f.adapter.restore(bytes), `${strategy}: ${what}`).resolves.toBeUndefined();
          expect(await f.adapter.snapshot(), `${strategy}: ${what}`).toEqual(f.snap);
          expect((await f.adapter.predict(f.x)).probs, `${strategy}: ${what}`).toEqual(p.probs);
        }
        f.adapter.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('1. offsets past the view or negative are rejected; bytes outside the view are never read', async () => {
    const f = await fixture('tent');
    const parts = splitSnapshot(f.snap);
    for (const offset of [parts.data.length, parts.data.length - 4, -4, -1_000_000]) {
      const h = cloneHeader(parts);
      const bias = h.entries.find((e) => e.name === 'logits/bias')!;
      bias.offset = offset;
      const edited = joinSnapshot(h, parts.data);
      // The view sits inside a larger buffer whose bytes after (and before) it are 7s.
      const big = new Uint8Array(edited.length + 256).fill(7);
      big.set(edited, 128);
      await expectRejected(f, big.subarray(128, 128 + edited.length), /outside|non-negative/);
    }
    // decodeState copies from the view: a snapshot inside a larger buffer decodes to itself.
    const big = new Uint8Array(f.snap.length + 64).fill(7);
    big.set(f.snap, 32);
    const a = decodeState(f.snap);
    const b = decodeState(big.subarray(32, 32 + f.snap.length));
    for (const name of Object.keys(a.tensors)) expect(b.tensors[name]!.data).toEqual(a.tensors[name]!.data);
    f.adapter.dispose();
  });

  it('2. entries that alias one region (memory amplification) are rejected before any copy', async () => {
    const f = await fixture('tent');
    const parts = splitSnapshot(f.snap);
    const biggest = [...parts.header.entries].sort((p, q) => (q.length as number) - (p.length as number))[0]!;
    for (const extra of [1, 100, 1100]) {
      const h = cloneHeader(parts);
      for (let i = 0; i < extra; i++) h.entries.push({ ...biggest, name: `alias/${i}` });
      const rss = process.memoryUsage().rss;
      await expectRejected(f, joinSnapshot(h, parts.data), /tensors|does not have/);
      expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
    }
    // Without an expected state, the overlap rule alone catches it.
    const h = cloneHeader(parts);
    h.entries.push({ ...biggest, name: 'alias' });
    expect(() => decodeState(joinSnapshot(h, parts.data))).toThrow(/overlap/);
    // An entry whose region is the same as another's under its own name (a shifted duplicate).
    const h2 = cloneHeader(parts);
    h2.entries[1]!.offset = h2.entries[0]!.offset;
    expect(() => decodeState(joinSnapshot(h2, parts.data))).toThrow(InvalidSnapshotError);
    f.adapter.dispose();
  });

  it('3. a restore that fails part-way allocates nothing (tent, cotta, vida; 5 tries each)', async () => {
    for (const strategy of ['tent', 'cotta', 'vida']) {
      const f = await fixture(strategy);
      // A first prediction builds what a predict path caches for good (the guard's source copy folds
      // its BN layers into the convolutions on its first pass without hooks: CoTTA and ViDA answer
      // these 4-frame batches with the source model).
      await f.adapter.predict(f.x);
      const mem = tf.memory();
      for (let i = 0; i < 5; i++) await expectRejected(f, f.snap.subarray(0, f.snap.length - 4), /outside/);
      expect(tf.memory().numTensors).toBe(mem.numTensors);
      f.adapter.dispose();
    }
  });

  it('bytes inserted, deleted or cut at every offset, and every header length but the true one, are rejected (before, 4 bytes inserted in the data were accepted)', async () => {
    // Before, decodeState ignored bytes after the last tensor: bytes appended were accepted, and
    // bytes inserted in the data section shifted every later tensor and were accepted whenever the
    // shifted values stayed finite (for this Tent snapshot, 4 bytes of 0.5f at most offsets; a
    // CoTTA snapshot took them at 10,977 of 14,676 offsets). The fuzz test samples such edits;
    // this walks every offset.
    const f = await fixture('tent');
    const before = await f.adapter.predict(f.x);
    const mem = tf.memory();
    const snap = f.snap;
    const headerLength = new DataView(snap.buffer, snap.byteOffset).getUint32(8, true);
    const rejected = async (bytes: Uint8Array, what: string): Promise<void> => {
      const err = await f.adapter.restore(bytes).then(
        () => new Error(`${what} was accepted`),
        (e: unknown) => e,
      );
      if (!(err instanceof InvalidSnapshotError)) throw new Error(`${what}: ${String(err)}`);
    };
    const half = new Uint8Array(new Float32Array([0.5]).buffer);
    let tries = 0;
    for (let at = 0; at <= snap.length; at++) {
      for (const inserted of [half, half.subarray(0, 1)]) {
        const b = new Uint8Array(snap.length + inserted.length);
        b.set(snap.subarray(0, at));
        b.set(inserted, at);
        b.set(snap.subarray(at), at + inserted.length);
        await rejected(b, `${inserted.length} bytes inserted at ${at}`);
        tries++;
      }
      if (at < snap.length) {
        const deleted = new Uint8Array(snap.length - 1);
        deleted.set(snap.subarray(0, at));
        deleted.set(snap.subarray(at + 1), at);
        await rejected(deleted, `byte ${at} deleted`);
        await rejected(snap.subarray(0, at), `cut to ${at} bytes`);
        tries += 2;
      }
    }
    for (const h of [...Array(snap.length - 11).keys(), 0x7fffffff, 0x80000000, 0xffffffff, 16 * 1024 * 1024 + 1]) {
      if (h === headerLength) continue;
      const b = snap.slice();
      new DataView(b.buffer).setUint32(8, h, true);
      await rejected(b, `header length ${h}`);
      tries++;
    }
    expect(tries).toBeGreaterThan(4 * snap.length);
    // Nothing changed: the state, the predictions, the memory.
    expect(tf.memory().numTensors).toBe(mem.numTensors);
    expect(tf.memory().numBytes).toBe(mem.numBytes);
    expect(await f.adapter.snapshot()).toEqual(snap);
    expect((await f.adapter.predict(f.x)).probs).toEqual(before.probs);
    f.adapter.dispose();
  }, 300_000);

  it('a state whose meta grows with the classes (ROID, 5,000 classes) restores: the header bound counts the meta schema', async () => {
    // 94973d7 bounded the header by the expected tensors plus a fixed 64 KiB for the meta, and
    // refused this snapshot (a 154,597-byte header, 5,000 class probabilities in its meta).
    const model = smallResNet([8, 8, 1], 5000);
    randomizeBatchNorms(model);
    const adapter = await createAdapter(model, { strategy: 'roid', seed: 3 });
    const x = randomBatch([4, 8, 8, 1], 11);
    await adapter.step(x);
    const snap = await adapter.snapshot();
    expect(new DataView(snap.buffer, snap.byteOffset).getUint32(8, true)).toBeGreaterThan(100_000);
    const p = await adapter.predict(x);
    await adapter.step(x);
    await adapter.restore(snap);
    expect(await adapter.snapshot()).toEqual(snap);
    expect((await adapter.predict(x)).probs).toEqual(p.probs);
    // A header past what this state's tensors and meta schema can take is still refused, unparsed.
    const parts = splitSnapshot(snap);
    const padded = joinSnapshot(null, parts.data, new TextEncoder().encode(JSON.stringify(parts.header) + ' '.repeat(1_000_000)));
    await expect(adapter.restore(padded)).rejects.toThrow(/the header of this adapter's state \(\d+ tensors\) takes at most/);
    x.dispose();
    adapter.dispose();
  });

  it('4. malformed bytes of every kind give InvalidSnapshotError, never SyntaxError/TypeError/RangeError', async () => {
    const f = await fixture('bn-adapt');
    const parts = splitSnapshot(f.snap);
    const text = (s: string) => new TextEncoder().encode(s);
    const cases: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['too short', f.snap.subarray(0, 11)],
      ['bad magic', Uint8Array.from(f.snap, (b, i) => (i === 0 ? b ^ 1 : b))],
      ['bad version', joinSnapshot(parts.header, parts.data).map((b, i) => (i === 4 ? 9 : b))],
      ['header length past the end', (() => { const b = f.snap.slice(); new DataView(b.buffer).setUint32(8, 0xffffffff, true); return b; })()],
      ['header not JSON', joinSnapshot(null, parts.data, text('{"entries": [oops'))],
      ['header not UTF-8', joinSnapshot(null, parts.data, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))],
      ['header an array', joinSnapshot([], parts.data)],
      ['header null', joinSnapshot(null, parts.data)],
      ['entries not an array', joinSnapshot({ entries: 5, meta: parts.header.meta }, parts.data)],
      ['entry null', joinSnapshot({ entries: [null], meta: parts.header.meta }, parts.data)],
      ['meta a string', joinSnapshot({ entries: parts.header.entries, meta: 'x' }, parts.data)],
      ['deeply nested header', joinSnapshot(null, parts.data, text('['.repeat(100_000) + ']'.repeat(100_000)))],
      ['shape with a string', (() => { const h = cloneHeader(parts); h.entries[0]!.shape = ['3']; return joinSnapshot(h, parts.data); })()],
      ['huge shape', (() => { const h = cloneHeader(parts); h.entries[0]!.shape = [2 ** 40, 2 ** 40]; h.entries[0]!.length = 2 ** 53; return joinSnapshot(h, parts.data); })()],
      ['dtype bool', (() => { const h = cloneHeader(parts); h.entries[0]!.dtype = 'bool'; return joinSnapshot(h, parts.data); })()],
      ['name __proto__', (() => { const h = cloneHeader(parts); h.entries[0]!.name = '__proto__'; return joinSnapshot(h, parts.data); })()],
      ['duplicate name', (() => { const h = cloneHeader(parts); h.entries[1]!.name = h.entries[0]!.name; return joinSnapshot(h, parts.data); })()],
      ['other strategy', (() => { const h = cloneHeader(parts); h.meta.strategy = 'tent'; return joinSnapshot(h, parts.data); })()],
      ['not a Uint8Array', 'bytes' as unknown as Uint8Array],
    ];
    for (const [what, bytes] of cases) {
      const err = await expectRejected(f, bytes).catch((e: unknown) => {
        throw new Error(`case '${what}': ${(e as Error).message}`);
      });
      expect(err.message.length).toBeGreaterThan(20);
    }
    f.adapter.dispose();
  });

  it('5. crafted meta and non-finite or negative values are rejected; later steps stay finite', async () => {
    const edits: Array<[string, (h: ReturnType<typeof cloneHeader>) => void, RegExp]> = [
      ['tent', (h) => ((h.meta.meta as Record<string, unknown>).adamStep = 'x'), /adamStep is "x"/],
      ['tent', (h) => ((h.meta.meta as Record<string, unknown>).adamStep = -1), /adamStep is -1/],
      ['tent', (h) => ((h.meta.meta as Record<string, unknown>).adamStep = 1.5), /integer/],
      ['tent', (h) => ((h.meta.meta as Record<string, unknown>).extra = 1), /unknown field 'extra'/],
      ['tent', (h) => delete (h.meta.meta as Record<string, unknown>).adamStep, /adamStep is missing/],
      ['cotta', (h) => ((h.meta.meta as Record<string, unknown>).adamT = 'x'), /adamT/],
      ['cotta', (h) => ((h.meta.meta as Record<string, unknown>).restoreRng = 2 ** 32), /restoreRng/],
      ['vida', (h) => ((h.meta.meta as Record<string, unknown>).scales = 'x'), /scales/],
      ['vida', (h) => (((h.meta.meta as Record<string, unknown>).scales as Record<string, unknown>).low = null), /scales.low/],
      ['vida', (h) => (h.meta.stepId = 'x'), /stepId/],
      ['vida', (h) => (h.meta.stepId = -3), /stepId/],
    ];
    const fixtures = new Map<string, Fixture>();
    for (const s of ['tent', 'cotta', 'vida']) fixtures.set(s, await fixture(s));
    for (const [strategy, edit, message] of edits) {
      const f = fixtures.get(strategy)!;
      const parts = splitSnapshot(f.snap);
      const h = cloneHeader(parts);
      edit(h);
      await expectRejected(f, joinSnapshot(h, parts.data), message);
    }
    // Non-finite weights, and negative values where a variance or second moment must be >= 0.
    const f = fixtures.get('tent')!;
    const parts = splitSnapshot(f.snap);
    const find = (re: RegExp) => parts.header.entries.find((e) => re.test(e.name as string))!;
    for (const [entry, value] of [
      [find(/logits\/kernel/), NaN],
      [find(/stem_bn\/gamma/), Infinity],
      [find(/moving_variance/), -1],
      [find(/tent\/adam\/v\//), -0.5],
    ] as const) {
      const data = parts.data.slice();
      setFloat({ header: parts.header, data }, entry, 0, value);
      await expectRejected(f, joinSnapshot(parts.header, data), /finite/);
    }
    // And after all of this the next steps are still finite.
    for (const fx of fixtures.values()) {
      const out = await fx.adapter.step(fx.x);
      expect(out.probs.every((v) => Number.isFinite(v))).toBe(true);
      fx.adapter.dispose();
    }
  });

  it('Strategy.restore (tensors, not bytes) applies the same rules before the source copy or any write', () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const def = getStrategy('tent');
    const mem = tf.memory().numTensors;
    const strategy = def.create(createTarget(model), resolveOptions(def, { stats: 'ema' }) as never, { seed: 0 });
    const created = tf.memory().numTensors;
    const state = strategy.snapshot();
    const weightsBefore = model.weights.map((w) => Array.from(w.read().dataSync()));
    const names = Object.keys(state.tensors);
    const without = { ...state.tensors };
    delete without[names[0]!];
    const nan = tf.fill(state.tensors[names[0]!]!.shape, NaN);
    const wrongShape = tf.zeros([1]);
    const cases: Array<[Record<string, tf.Tensor>, Record<string, unknown>, RegExp]> = [
      [without, state.meta, /no tensor/],
      [{ ...state.tensors, extra: wrongShape }, state.meta, /does not have/],
      [{ ...state.tensors, [names[0]!]: nan }, state.meta, /finite/],
      [{ ...state.tensors, [names[0]!]: wrongShape }, state.meta, /shape|\[1\]/],
      [state.tensors, { adamStep: 'x' }, /adamStep/],
      [state.tensors, { adamStep: 1, more: 2 }, /unknown field/],
    ];
    const held = tf.memory().numTensors;
    for (const [tensors, meta, message] of cases) {
      expect(() => strategy.restore({ tensors, meta })).toThrow(InvalidSnapshotError);
      expect(() => strategy.restore({ tensors, meta })).toThrow(message);
      expect(tf.memory().numTensors).toBe(held);
    }
    expect(model.weights.map((w) => Array.from(w.read().dataSync()))).toEqual(weightsBefore);
    strategy.restore(state); // the untouched state is accepted
    tf.dispose([nan, wrongShape, ...Object.values(state.tensors)]);
    expect(tf.memory().numTensors).toBeGreaterThan(created); // the source copy, taken at the first snapshot
    strategy.dispose();
    expect(tf.memory().numTensors).toBe(mem);
  });

  it('a layer name longer than 1,024 characters: the snapshot restores (before, restore refused the bytes snapshot() wrote)', async () => {
    const build = (): tf.LayersModel => {
      const input = tf.input({ shape: [4, 4, 1] });
      let h = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'x'.repeat(1100), kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization({ name: 'y'.repeat(2000) }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
      const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }).apply(h) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out });
    };
    const x = randomBatch([4, 4, 4, 1], 5);
    const a = await createAdapter(build(), { strategy: 'tent', seed: 1 });
    await a.step(x);
    const snap = await a.snapshot();
    expect(Object.keys(decodeState(snap).tensors).some((n) => n.length > 2000)).toBe(true);
    const b = await createAdapter(build(), { strategy: 'tent', seed: 1 });
    await b.restore(snap);
    expect(await b.snapshot()).toEqual(snap);
    expect((await b.predict(x)).probs).toEqual((await a.predict(x)).probs);
    a.dispose();
    b.dispose();
    x.dispose();
  });

  it('snapshot() reads each state tensor once (its finite check and its bytes share the read) and writes the bytes encodeState writes for that state', async () => {
    for (const strategy of ['tent', 'cotta', 'vida', 'bn-adapt']) {
      const f = await fixture(strategy);
      // Every dataSync() call during snapshot(), by tensor (before, each state tensor was read twice).
      const reads = new Map<tf.Tensor, number>();
      const dataSync = tf.Tensor.prototype.dataSync;
      const spy = vi.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(function (this: tf.Tensor) {
        reads.set(this, (reads.get(this) ?? 0) + 1);
        return dataSync.call(this);
      });
      let snap: Uint8Array;
      try {
        snap = await f.adapter.snapshot();
      } finally {
        spy.mockRestore();
      }
      const decoded = decodeState(snap);
      expect(reads.size, strategy).toBeGreaterThanOrEqual(Object.keys(decoded.tensors).length);
      expect(Math.max(...reads.values()), strategy).toBe(1);
      // The same bytes as before, and as encodeState writes for the state the bytes hold.
      expect(snap, strategy).toEqual(f.snap);
      const tensors = stateTensors(decoded);
      expect(encodeState(tensors, decoded.meta), strategy).toEqual(snap);
      disposeTensors(tensors);
      f.adapter.dispose();
      f.x.dispose();
    }
  });

  it('a state gone non-finite (guard off) fails at snapshot() with InvalidSnapshotError naming the tensor; nothing restore() would refuse is written', async () => {
    const model = smallResNet([8, 8, 1], 3);
    randomizeBatchNorms(model);
    const adapter = await createAdapter(model, { strategy: 'tent', seed: 3, guard: false });
    const x = randomBatch([4, 8, 8, 1], 11) as tf.Tensor4D;
    await adapter.step(x);
    const f: Fixture = { adapter, x, snap: await adapter.snapshot() };
    // As a diverged update leaves it: a non-finite BN gamma (a state tensor: the model's variable).
    const v = model.getLayer('stem_bn').weights.find((w) => /gamma/.test(w.name))!;
    const good = v.read().clone();
    const bits = () => model.weights.map((w) => Array.from(new Uint32Array((w.read().dataSync() as Float32Array).slice().buffer)));
    for (const value of [NaN, Infinity]) {
      v.write(tf.tensor(Float32Array.from(good.dataSync(), (g, i) => (i === 1 ? value : g)), good.shape));
      const mem = tf.memory().numTensors;
      const before = bits();
      const err = await f.adapter.snapshot().catch((e: unknown) => e);
      expect(bits()).toEqual(before); // the refused snapshot changed no state
      expect(err).toBeInstanceOf(InvalidSnapshotError);
      expect((err as Error).message).toMatch(new RegExp(`^snapshot \\(tent\\): .*stem_bn/gamma' holds ${value} at index 1; values must be finite\\. restore\\(\\) refuses such a state, so snapshot\\(\\) writes none: reset\\(\\) the adapter, or restore\\(\\) an earlier snapshot\\.$`));
      expect(tf.memory().numTensors).toBe(mem); // the state's copies were disposed
    }
    // A finite state snapshots again, and the earlier snapshot restores.
    v.write(good);
    await f.adapter.restore(f.snap);
    expect(await f.adapter.snapshot()).toEqual(f.snap);
    f.adapter.dispose();
    x.dispose();
  });

  it('checkStateToWrite: a meta field restore() would refuse (NaN, which JSON writes as null) or a state that is not its stateSpec() fails at snapshot()', () => {
    const spec = { tensors: new Map([['w', { shape: [2], dtype: 'float32' as const, nonNegative: true }]]), meta: { scales: { type: 'object' as const, fields: { low: { type: 'number' as const } } } } };
    const w = tf.tensor1d([1, 2]);
    expect(() => checkStateToWrite('snapshot (x)', spec, { tensors: { w }, meta: { scales: { low: 0.5 } } })).not.toThrow();
    expect(() => checkStateToWrite('snapshot (x)', spec, { tensors: { w }, meta: { scales: { low: NaN } } })).toThrow(/meta\.scales\.low is NaN; expected a finite number\. restore\(\) refuses/);
    expect(() => checkStateToWrite('snapshot (x)', spec, { tensors: {}, meta: { scales: { low: 1 } } })).toThrow(/does not match its stateSpec\(\): 'w' missing/);
    const nan = tf.tensor1d([1, NaN]);
    expect(() => checkStateToWrite('snapshot (x)', spec, { tensors: { w: nan }, meta: { scales: { low: 1 } } })).toThrow(/holds NaN at index 1; values must be finite\. restore\(\) refuses/);
    // Negative values where the spec wants >= 0 are not refused here: adaptation keeps them >= 0,
    // and createAdapter refuses a model with a BN moving variance < 0 (docs/snapshots.md).
    const neg = tf.tensor1d([1, -2]);
    expect(() => checkStateToWrite('snapshot (x)', spec, { tensors: { w: neg }, meta: { scales: { low: 1 } } })).not.toThrow();
    const wide = tf.tensor1d([1, 2, 3]);
    expect(() => checkStateToWrite('snapshot (x)', spec, { tensors: { w: wide }, meta: { scales: { low: 1 } } })).toThrow(/'w' is \[3\] float32; its stateSpec\(\) says \[2\] float32/);
    tf.dispose([w, nan, neg, wide]);
  });

  it('encodeState output of another model or options is rejected by name, shape or count', async () => {
    const f = await fixture('tent', { stats: 'batch' }); // no moving statistics (the default 'auto' keeps them)
    const other = await fixture('tent', { stats: 'ema' }); // more tensors (moving statistics)
    await expectRejected(f, other.snap, /tensors/);
    // Same names, one shape changed.
    const parts = splitSnapshot(f.snap);
    const h = cloneHeader(parts);
    const e = h.entries.find((x) => x.name === 'logits/bias')!;
    e.shape = [1, 3];
    await expectRejected(f, joinSnapshot(h, parts.data), /logits\/bias/);
    // A self-made state of the right names with a wrong dtype.
    const t = tf.tensor1d([1, 2, 3], 'int32');
    const bytes = encodeState({ x: t }, parts.header.meta);
    t.dispose();
    await expectRejected(f, bytes);
    f.adapter.dispose();
    other.adapter.dispose();
  });
});
