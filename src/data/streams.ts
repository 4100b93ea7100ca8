/**
 * Test streams of the Fashion-MNIST-C benchmark. **Node-only** (built on the
 * Node loader in fashionMnist.ts; the corruption suite itself is browser-safe).
 *
 * A stream is a plan of *segments* played in order, each a list of frames
 * (test image, domain, severity). Batches never straddle two segments (a
 * segment's last batch may be shorter). Layouts (docs/benchmark.md has the
 * official protocols they follow):
 * - {@link continualStream}: the 15 corruptions at severity 5 in the order of
 *   `CORRUPTIONS`, one segment each, a seeded shuffle within each domain,
 *   optionally N images per domain, no reset between domains.
 * - {@link gradualStream} (CoTTA's gradual setting): per corruption, severities
 *   1..5..1, one segment per (corruption, severity); the first corruption 5..1.
 * - {@link mixedStream} (mariodoebler/test-time-adaptation `mixed_domains`):
 *   the images of all 15 domains shuffled together in one segment.
 * - {@link longStream}: the continual sequence played `rounds` times (10).
 * - {@link cleanStream}, {@link singleDomainStream}.
 * Label orders, applied within each segment: i.i.d. (a seeded shuffle),
 * `class-sorted` (LAME's setting, the official `correlated` with δ = 0) and
 * `dirichlet` (NOTE / RoTTA; `TEST.DELTA_DIRICHLET` > 0). {@link streamFromSpec}
 * combines them: `mixed+dirichlet:0.1`, `gradual+class-sorted`, ...
 *
 * Streams are lazy: each batch is corrupted when it is pulled. Image i of the
 * test split under domain d always gets the same corruption noise, whatever
 * the stream kind, batch size or N, so results are comparable across runs.
 *
 * @example
 * ```ts
 * const stream = continualStream({ perDomain: 2000, batchSize: 64, seed: 1 });
 * for (const batch of stream) {
 *   const x = tf.tensor4d(batch.x, batch.shape); // [n,28,28,1] in [0,1]
 *   ...batch.labels, batch.frameDomains
 * }
 * ```
 */
import { Rng, hashSeed } from '../random.js';
import { CORRUPTIONS, type CorruptionName, type Severity, corruptBatch, isCorruptionName } from '../corruptions/index.js';
import { IMAGE_SIZE, NUM_CLASSES, type FashionMnistData, loadFashionMnist, toFloat32 } from './fashionMnist.js';

/** A domain of a stream: a corruption name or `'clean'`. */
export type DomainName = CorruptionName | 'clean';

/** One batch of a stream. */
export interface StreamBatch {
  /** NHWC float32 pixels in [0, 1]. */
  x: Float32Array;
  shape: [number, 28, 28, 1];
  labels: Int32Array;
  /** The batch's domain, or `'mixed'` when its frames come from more than one. */
  domain: DomainName | 'mixed';
  /** The domain of each frame (score per-domain error with these, not `domain`). */
  frameDomains: DomainName[];
  /** The corruption severity of each frame (0 for clean frames). */
  severities: Uint8Array;
  /** Index of each image in the test split. */
  indices: Int32Array;
  /** Position of this batch's first image in the whole stream. */
  offset: number;
  /** Index of the segment this batch belongs to (see {@link TestStream.segments}). */
  segment: number;
  /** Repetition of the whole sequence this batch belongs to (0-based; > 0 only in `long`). */
  round: number;
}

/** A run of the stream with one layout: one domain (or the mixed pool), one severity, one round. */
export interface StreamSegment {
  /** The segment's domain, or `'mixed'` for the pool of all domains. */
  domain: DomainName | 'mixed';
  /** Corruption severity of its corrupted frames. */
  severity: Severity;
  round: number;
  /** Frames in the segment. */
  size: number;
}

/** A lazily generated, re-iterable stream of batches. */
export interface TestStream extends Iterable<StreamBatch> {
  /** Short description, e.g. `continual`, `single:fog`, `dirichlet(0.1)`, `mixed+dirichlet(0.1)`. */
  readonly name: string;
  /** The distinct domains, in order of first appearance (the 15 corruptions for a mixed stream). */
  readonly domains: readonly DomainName[];
  /** Frames of each domain over the whole stream, aligned with `domains`. */
  readonly domainSizes: readonly number[];
  /** Segments in play order. */
  readonly segments: readonly StreamSegment[];
  /** Times the sequence is repeated (10 for `long`, else 1). */
  readonly rounds: number;
  /** Total frames. */
  readonly total: number;
  readonly batchSize: number;
}

export interface StreamOptions {
  /** Seed of the shuffles (and of the corruption noise). Defaults to 1. */
  seed?: number;
  /** Images per domain (a seeded random subset), a whole number from 1 to the split's size; defaults to the whole test split (10,001). */
  perDomain?: number;
  /** Batch size. Defaults to 64. */
  batchSize?: number;
  /** Corruption severity 1-5. Defaults to 5. The gradual stream sets its own. */
  severity?: Severity;
  /** Source images; defaults to `loadFashionMnist('test')`. */
  data?: FashionMnistData;
}

/** The label order within each segment: i.i.d., sorted by label, or Dirichlet-correlated. */
export type LabelOrder = { kind: 'iid' } | { kind: 'class-sorted' } | { kind: 'dirichlet'; concentration: number; slots?: number };

/** The continual protocol's domain order (the 15 corruptions). */
export const CONTINUAL_DOMAINS: readonly CorruptionName[] = CORRUPTIONS;

/** Severities of each corruption in CoTTA's gradual setting (the first corruption plays {@link GRADUAL_FIRST}). */
export const GRADUAL_SEVERITIES: readonly Severity[] = Object.freeze([1, 2, 3, 4, 5, 4, 3, 2, 1] as Severity[]);
/** The first corruption of the gradual setting starts at 5, "to simulate the large gap between source and first target". */
export const GRADUAL_FIRST: readonly Severity[] = Object.freeze([5, 4, 3, 2, 1] as Severity[]);
/** Repetitions of the continual sequence in the `long` stream. */
export const LONG_ROUNDS = 10;

/** Domain ids: 0 = clean, 1..15 = the corruptions (the id also keys the corruption noise seeds). */
const DOMAIN_BY_ID: readonly DomainName[] = ['clean', ...CORRUPTIONS];
const MIXED_KEY = 99; // rng key of the mixed pool (domain ids are 0..15)

function domainId(d: DomainName): number {
  return d === 'clean' ? 0 : CORRUPTIONS.indexOf(d) + 1;
}

function checkDomains(domains: readonly string[]): DomainName[] {
  for (const d of domains) {
    if (d !== 'clean' && !isCorruptionName(d)) {
      throw new RangeError(`Unknown stream domain '${d}'. Valid domains: clean, ${CORRUPTIONS.join(', ')}.`);
    }
  }
  return domains as DomainName[];
}

/** The seeded subset of the test split for one domain (first N of a seeded shuffle). */
function domainSubset(data: FashionMnistData, d: DomainName, seed: number, perDomain?: number): Int32Array {
  const idx = new Int32Array(data.n).map((_, i) => i);
  new Rng(hashSeed(seed, 7919, domainId(d))).shuffle(idx);
  return idx.slice(0, perDomain ?? data.n); // perDomain checked by resolve()
}

/** Frames of one segment: parallel arrays of test-split index and domain id. */
interface Frames {
  indices: Int32Array;
  domains: Uint8Array;
}

/** One segment as planned: its frames in play order. */
interface PlannedSegment extends StreamSegment {
  frames: Frames;
}

const take = (f: Frames, order: ArrayLike<number>): Frames => ({
  indices: Int32Array.from(order, (k) => f.indices[k]),
  domains: Uint8Array.from(order, (k) => f.domains[k]),
});

/** Stable sort by label: consecutive frames hold one class (LAME's setting; the official `correlated`, δ = 0). */
function classSorted(f: Frames, data: FashionMnistData): Frames {
  const order = Array.from(f.indices, (_, k) => k).sort((a, b) => data.labels[f.indices[a]] - data.labels[f.indices[b]] || a - b);
  return take(f, order);
}

/**
 * Dirichlet-correlated labels (NOTE / RoTTA): each class's frames are split over `slots` time
 * slots with proportions drawn from Dir(concentration); slots play in order, a slot's class
 * blocks in random order (RoTTA's LabelDirichletDomainSequence). Small concentration (0.1) gives
 * long single-class runs; large approaches i.i.d.
 */
function dirichletOrder(f: Frames, data: FashionMnistData, rng: Rng, concentration: number, slots: number): Frames {
  const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  for (let k = 0; k < f.indices.length; k++) byClass[data.labels[f.indices[k]]].push(k);
  // slot -> the class blocks that fall in it (each block keeps its seeded order)
  const slotBlocks: number[][][] = Array.from({ length: slots }, () => []);
  for (const items of byClass) {
    let p = rng.dirichlet(slots, concentration);
    // A huge concentration overflows the gamma draws' sum (all proportions 0): use the limit of
    // Dir(δ) as δ grows, equal proportions, instead of putting the whole class in the last slot.
    if (!(Math.abs(p.reduce((a, v) => a + v, 0) - 1) < 1e-6)) p = new Float64Array(slots).fill(1 / slots);
    let start = 0;
    let acc = 0;
    for (let s = 0; s < slots; s++) {
      acc += p[s];
      const end = s === slots - 1 ? items.length : Math.max(start, Math.floor(acc * items.length));
      if (end > start) slotBlocks[s].push(items.slice(start, end));
      start = end;
    }
  }
  const out: number[] = [];
  for (const blocks of slotBlocks) for (const b of rng.shuffle(blocks)) out.push(...b);
  return take(f, out);
}

function applyOrder(f: Frames, data: FashionMnistData, order: LabelOrder, rngKey: number): Frames {
  if (order.kind === 'iid') return f;
  if (order.kind === 'class-sorted') return classSorted(f, data);
  return dirichletOrder(f, data, new Rng(rngKey), order.concentration, order.slots ?? NUM_CLASSES);
}

function checkOrder(order: LabelOrder): void {
  if (order.kind !== 'dirichlet') return;
  // Infinity would give NaN proportions and drop every frame.
  if (!(order.concentration > 0 && Number.isFinite(order.concentration))) throw new RangeError(`Dirichlet concentration must be a finite number > 0; got ${order.concentration}.`);
  const slots = order.slots ?? NUM_CLASSES;
  if (!(Number.isInteger(slots) && slots > 0)) throw new RangeError(`Dirichlet slots must be a positive integer; got ${slots}.`);
}

const orderSuffix = (order: LabelOrder): string =>
  order.kind === 'iid' ? '' : order.kind === 'class-sorted' ? 'class-sorted' : `dirichlet(${order.concentration})`;

/** Builds the lazy stream from planned segments. */
function makeStream(name: string, plan: PlannedSegment[], data: FashionMnistData, seed: number, batchSize: number, rounds = 1): TestStream {
  const sizes = new Map<DomainName, number>();
  for (const seg of plan) for (const id of seg.frames.domains) sizes.set(DOMAIN_BY_ID[id]!, (sizes.get(DOMAIN_BY_ID[id]!) ?? 0) + 1);
  // Distinct domains in order of first appearance; a mixed pool lists them in id order.
  const domains: DomainName[] = [];
  for (const seg of plan) {
    const ids = seg.domain === 'mixed' ? [...new Set(seg.frames.domains)].sort((a, b) => a - b) : [domainId(seg.domain)];
    for (const id of ids) if (!domains.includes(DOMAIN_BY_ID[id]!)) domains.push(DOMAIN_BY_ID[id]!);
  }
  const segments = plan.map(({ domain, severity, round, size }) => ({ domain, severity, round, size }));
  return {
    name,
    domains,
    domainSizes: domains.map((d) => sizes.get(d) ?? 0),
    segments,
    rounds,
    total: segments.reduce((a, s) => a + s.size, 0),
    batchSize,
    *[Symbol.iterator](): Iterator<StreamBatch> {
      let offset = 0;
      for (let si = 0; si < plan.length; si++) {
        const seg = plan[si]!;
        for (let s = 0; s < seg.size; s += batchSize) {
          const e = Math.min(seg.size, s + batchSize);
          const indices = seg.frames.indices.slice(s, e);
          const ids = seg.frames.domains.subarray(s, e);
          yield renderBatch(data, indices, ids, seg, si, offset, seed);
          offset += indices.length;
        }
      }
    },
  };
}

/** Corrupts one batch: each run of consecutive same-domain frames in one corruptBatch call. */
function renderBatch(data: FashionMnistData, indices: Int32Array, ids: Uint8Array, seg: PlannedSegment, segment: number, offset: number, seed: number): StreamBatch {
  const n = indices.length;
  const x = toFloat32(data, indices);
  for (let a = 0; a < n; ) {
    let b = a + 1;
    while (b < n && ids[b] === ids[a]) b++;
    const d = DOMAIN_BY_ID[ids[a]!]!;
    if (d !== 'clean') {
      const seeds = Array.from(indices.subarray(a, b), (i) => hashSeed(seed, ids[a]!, i));
      x.set(corruptBatch(x.subarray(a * IMAGE_SIZE, b * IMAGE_SIZE), [b - a, 28, 28, 1], { name: d, severity: seg.severity, seeds }), a * IMAGE_SIZE);
    }
    a = b;
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = data.labels[indices[i]];
  const frameDomains = Array.from(ids, (id) => DOMAIN_BY_ID[id]!);
  const severities = Uint8Array.from(frameDomains, (d) => (d === 'clean' ? 0 : seg.severity));
  const domain = seg.domain !== 'mixed' ? seg.domain : frameDomains.every((d) => d === frameDomains[0]) && n > 0 ? frameDomains[0]! : 'mixed';
  return { x, shape: [n, 28, 28, 1], labels, domain, frameDomains, severities, indices, offset, segment, round: seg.round };
}

interface Resolved {
  seed: number;
  batchSize: number;
  severity: Severity;
  data: FashionMnistData;
}

function resolve(options: StreamOptions): Resolved {
  const seed = options.seed ?? 1;
  const batchSize = options.batchSize ?? 64;
  const severity = options.severity ?? 5;
  // hashSeed cuts seeds to 32-bit integers: 1.5 would replay seed 1, -1 seed 4294967295.
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new RangeError(`Stream seed must be an integer in [0, 4294967295]; got ${seed}.`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`Stream batchSize must be a positive integer; got ${batchSize}.`);
  if (![1, 2, 3, 4, 5].includes(severity)) throw new RangeError(`Stream severity must be 1-5; got ${severity}.`);
  const data = options.data ?? loadFashionMnist('test');
  // No silent cut: a fraction used to floor to an empty stream, and more than the split played
  // the whole split while callers reported the number they asked for.
  const n = options.perDomain;
  if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= data.n)) {
    throw new RangeError(`Stream perDomain must be a whole number from 1 to ${data.n} (the images of the split); got ${n}.`);
  }
  return { seed, batchSize, severity, data };
}

/** One segment per domain, each its seeded subset in `order` (the continual layout). */
function perDomainPlan(domains: readonly DomainName[], options: StreamOptions, r: Resolved, order: LabelOrder): PlannedSegment[] {
  checkOrder(order);
  return domains.map((d) => {
    const indices = domainSubset(r.data, d, r.seed, options.perDomain);
    const base = { indices, domains: new Uint8Array(indices.length).fill(domainId(d)) };
    return { domain: d, severity: r.severity, round: 0, size: indices.length, frames: applyOrder(base, r.data, order, hashSeed(r.seed, 104729, domainId(d))) };
  });
}

type WithDomains = StreamOptions & { domains?: readonly DomainName[] };

/** The continual Fashion-MNIST-C protocol (15 corruptions at `severity`, default 5), i.i.d. within each domain unless `order` says otherwise. */
export function continualStream(options: WithDomains & { order?: LabelOrder } = {}): TestStream {
  const r = resolve(options);
  const order = options.order ?? { kind: 'iid' };
  const name = order.kind === 'iid' ? 'continual' : orderSuffix(order);
  return makeStream(name, perDomainPlan(checkDomains(options.domains ?? CONTINUAL_DOMAINS), options, r, order), r.data, r.seed, r.batchSize);
}

/** The clean test split, shuffled (the do-no-harm stream: no shift at all). */
export function cleanStream(options: StreamOptions = {}): TestStream {
  const r = resolve(options);
  return makeStream('clean', perDomainPlan(['clean'], options, r, { kind: 'iid' }), r.data, r.seed, r.batchSize);
}

/** One domain (a corruption, or 'clean'). */
export function singleDomainStream(domain: DomainName, options: StreamOptions = {}): TestStream {
  checkDomains([domain]);
  const r = resolve(options);
  return makeStream(`single:${domain}`, perDomainPlan([domain], options, r, { kind: 'iid' }), r.data, r.seed, r.batchSize);
}

/**
 * Non-i.i.d., class-sorted: within each domain the (seeded) subset is sorted by
 * label, so consecutive batches hold one or two classes (LAME's setting).
 * Defaults to the 15 continual domains.
 */
export function classSortedStream(options: WithDomains = {}): TestStream {
  return continualStream({ ...options, order: { kind: 'class-sorted' } });
}

/**
 * Non-i.i.d., Dirichlet-sampled labels (NOTE / RoTTA): within each domain, each
 * class's images are split over `slots` time slots with proportions drawn from
 * Dir(concentration); slots are played in order, each slot's class blocks in
 * random order (RoTTA's LabelDirichletDomainSequence). Small
 * concentration (RoTTA: 0.1) gives long single-class runs; large approaches i.i.d.
 */
export function dirichletStream(options: WithDomains & { concentration?: number; slots?: number } = {}): TestStream {
  return continualStream({ ...options, order: { kind: 'dirichlet', concentration: options.concentration ?? 0.1, slots: options.slots } });
}

/**
 * All domains in one pool, shuffled together (mariodoebler/test-time-adaptation's
 * `mixed_domains`): consecutive frames likely come from different corruptions. Each domain
 * contributes the same seeded subset as in the continual stream (N per domain). With a
 * non-i.i.d. `order` the labels of the whole pool are correlated (the official
 * `mixed_domains_correlated`).
 */
export function mixedStream(options: WithDomains & { order?: LabelOrder } = {}): TestStream {
  const r = resolve(options);
  const order = options.order ?? { kind: 'iid' };
  checkOrder(order);
  const domains = checkDomains(options.domains ?? CONTINUAL_DOMAINS);
  const subsets = domains.map((d) => domainSubset(r.data, d, r.seed, options.perDomain));
  const total = subsets.reduce((a, s) => a + s.length, 0);
  const pool: Frames = { indices: new Int32Array(total), domains: new Uint8Array(total) };
  let at = 0;
  subsets.forEach((s, k) => {
    pool.indices.set(s, at);
    pool.domains.fill(domainId(domains[k]!), at, at + s.length);
    at += s.length;
  });
  const perm = new Rng(hashSeed(r.seed, 7919, MIXED_KEY)).shuffle(Int32Array.from({ length: total }, (_, k) => k));
  const frames = applyOrder(take(pool, perm), r.data, order, hashSeed(r.seed, 104729, MIXED_KEY));
  const name = order.kind === 'iid' ? 'mixed' : `mixed+${orderSuffix(order)}`;
  return makeStream(name, [{ domain: 'mixed', severity: r.severity, round: 0, size: total, frames }], r.data, r.seed, r.batchSize);
}

/**
 * CoTTA's gradual setting (qinenergy/cotta `cifar10c_gradual.py`): the corruptions in the
 * continual order, each played at severities 1, 2, 3, 4, 5, 4, 3, 2, 1 (the first at 5, 4, 3,
 * 2, 1), one segment per (corruption, severity), no reset. Every visit plays the domain's
 * seeded subset once, in a fresh seeded order. `severity` is ignored.
 */
export function gradualStream(options: WithDomains & { order?: LabelOrder } = {}): TestStream {
  const r = resolve(options);
  const order = options.order ?? { kind: 'iid' };
  checkOrder(order);
  const domains = checkDomains(options.domains ?? CONTINUAL_DOMAINS);
  const plan: PlannedSegment[] = [];
  domains.forEach((d, k) => {
    const subset = domainSubset(r.data, d, r.seed, options.perDomain);
    const severities = k === 0 ? GRADUAL_FIRST : GRADUAL_SEVERITIES;
    severities.forEach((severity, visit) => {
      const perm = new Rng(hashSeed(r.seed, 7919, domainId(d), 1 + visit)).shuffle(Int32Array.from(subset, (_, j) => j));
      const base = take({ indices: subset, domains: new Uint8Array(subset.length).fill(domainId(d)) }, perm);
      const frames = applyOrder(base, r.data, order, hashSeed(r.seed, 104729, domainId(d), 1 + visit));
      plan.push({ domain: d, severity, round: 0, size: subset.length, frames });
    });
  });
  const name = order.kind === 'iid' ? 'gradual' : `gradual+${orderSuffix(order)}`;
  return makeStream(name, plan, r.data, r.seed, r.batchSize);
}

/**
 * The continual sequence played `rounds` times (default {@link LONG_ROUNDS}) without reset:
 * the same frames in the same order each round. Shows slow collapse (Tent with a large
 * learning rate) that a single pass hides.
 */
export function longStream(options: WithDomains & { order?: LabelOrder; rounds?: number } = {}): TestStream {
  const rounds = options.rounds ?? LONG_ROUNDS;
  if (!(Number.isInteger(rounds) && rounds > 0)) throw new RangeError(`longStream: rounds must be a positive integer; got ${rounds}.`);
  const r = resolve(options);
  const order = options.order ?? { kind: 'iid' };
  const once = perDomainPlan(checkDomains(options.domains ?? CONTINUAL_DOMAINS), options, r, order);
  const plan = Array.from({ length: rounds }, (_, round) => once.map((seg) => ({ ...seg, round }))).flat();
  const base = rounds === LONG_ROUNDS ? 'long' : `long(${rounds})`;
  return makeStream(order.kind === 'iid' ? base : `${base}+${orderSuffix(order)}`, plan, r.data, r.seed, r.batchSize, rounds);
}

/** The stream specs {@link streamFromSpec} accepts, for help texts and errors. */
export const STREAM_SPECS =
  'continual | gradual | mixed | long[:<rounds>] | clean | single:<corruption> | class-sorted | dirichlet[:<δ>] | <continual|gradual|mixed|long>+<class-sorted|dirichlet[:<δ>]>';

/**
 * Parses a non-i.i.d. label order as the stream specs write it after `+`: `class-sorted`,
 * `dirichlet[:δ]` (δ defaults to 0.1). Throws `RangeError` naming `whole` (the spec it came from).
 */
export function parseLabelOrder(spec: string, whole = spec): LabelOrder {
  if (spec === 'class-sorted') return { kind: 'class-sorted' };
  if (spec === 'dirichlet') return { kind: 'dirichlet', concentration: 0.1 };
  if (spec.startsWith('dirichlet:')) {
    const c = Number(spec.slice('dirichlet:'.length));
    if (!(c > 0 && Number.isFinite(c))) throw new RangeError(`Stream '${whole}': the Dirichlet δ must be a finite number > 0, e.g. dirichlet:0.1; got '${spec.slice(10)}'.`);
    return { kind: 'dirichlet', concentration: c };
  }
  throw unknownSpec(whole);
}

const unknownSpec = (spec: string) =>
  new RangeError(`Unknown stream '${spec}'. Valid: ${STREAM_SPECS} (corruptions: ${CORRUPTIONS.join(', ')}).`);

/** A parsed stream spec: the layout and label order {@link streamFromSpec} builds. */
export type StreamSpec =
  | { layout: 'clean' }
  | { layout: 'single'; domain: DomainName }
  | { layout: 'continual' | 'gradual' | 'mixed'; order: LabelOrder }
  | { layout: 'long'; order: LabelOrder; rounds: number };

/**
 * Parses a CLI stream spec (see {@link STREAM_SPECS}) without loading any data, so a command
 * line can reject a bad spec before it starts: a layout (`continual`, `gradual`, `mixed`,
 * `long[:rounds]`), optionally `+` a label order (`class-sorted`, `dirichlet[:δ]`);
 * `class-sorted` and `dirichlet[:δ]` alone mean `continual+...`; also `clean` and
 * `single:<name>`. Throws `RangeError` naming the spec and the valid ones.
 */
export function parseStreamSpec(spec: string): StreamSpec {
  if (spec === 'clean') return { layout: 'clean' };
  if (spec.startsWith('single:')) return { layout: 'single', domain: checkDomains([spec.slice(7)])[0]! };
  const plus = spec.indexOf('+');
  let layout = plus < 0 ? spec : spec.slice(0, plus);
  let order: LabelOrder = plus < 0 ? { kind: 'iid' } : parseLabelOrder(spec.slice(plus + 1), spec);
  if (plus < 0 && (layout === 'class-sorted' || layout === 'dirichlet' || layout.startsWith('dirichlet:'))) {
    order = parseLabelOrder(layout, spec);
    layout = 'continual';
  }
  if (layout === 'continual' || layout === 'gradual' || layout === 'mixed') return { layout, order };
  if (layout === 'long' || layout.startsWith('long:')) {
    const rounds = layout === 'long' ? LONG_ROUNDS : Number(layout.slice(5));
    if (!(Number.isInteger(rounds) && rounds > 0)) throw new RangeError(`Stream '${spec}': rounds must be a positive integer, e.g. long:10.`);
    return { layout: 'long', order, rounds };
  }
  throw unknownSpec(spec);
}

/** Builds the stream a CLI spec names (see {@link parseStreamSpec}). */
export function streamFromSpec(spec: string, options: StreamOptions = {}): TestStream {
  const p = parseStreamSpec(spec);
  if (p.layout === 'clean') return cleanStream(options);
  if (p.layout === 'single') return singleDomainStream(p.domain, options);
  if (p.layout === 'continual') return continualStream({ ...options, order: p.order });
  if (p.layout === 'gradual') return gradualStream({ ...options, order: p.order });
  if (p.layout === 'mixed') return mixedStream({ ...options, order: p.order });
  if (p.layout === 'long') return longStream({ ...options, order: p.order, rounds: p.rounds });
  throw unknownSpec(spec);
}

export { IMAGE_SIZE };
