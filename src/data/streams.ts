/**
 * Test streams of the Fashion-MNIST-C benchmark. **Node-only** (built on the
 * Node loader in fashionMnist.ts; the corruption suite itself is browser-safe).
 *
 * - {@link continualStream}: the standard continual protocol: the test split
 *   under each of the 15 corruptions at severity 5, in the order of
 *   `CORRUPTIONS`, a seeded shuffle within each domain, optionally N images
 *   per domain, no reset between domains.
 * - {@link cleanStream}, {@link singleDomainStream}.
 * - {@link classSortedStream} (LAME's non-i.i.d. setting: each domain sorted by
 *   label) and {@link dirichletStream} (RoTTA/NOTE's: per class, Dirichlet
 *   proportions over time slots; small concentration = strongly correlated labels).
 *
 * Streams are lazy: each batch is corrupted when it is pulled. Batches never
 * straddle two domains (a domain's last batch may be shorter). Image i of the
 * test split under domain d always gets the same corruption noise, whatever
 * the stream kind, batch size or N, so results are comparable across runs.
 *
 * @example
 * ```ts
 * const stream = continualStream({ perDomain: 2000, batchSize: 64, seed: 1 });
 * for (const batch of stream) {
 *   const x = tf.tensor4d(batch.x, batch.shape); // [n,28,28,1] in [0,1]
 *   ...batch.labels, batch.domain
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
  domain: DomainName;
  /** Index of each image in the test split. */
  indices: Int32Array;
  /** Position of this batch's first image in the whole stream. */
  offset: number;
}

/** A lazily generated, re-iterable stream of batches. */
export interface TestStream extends Iterable<StreamBatch> {
  /** Short description, e.g. `continual`, `single:fog`, `dirichlet(0.1)`. */
  readonly name: string;
  /** Domains in stream order. */
  readonly domains: readonly DomainName[];
  /** Images per domain, in stream order. */
  readonly domainSizes: readonly number[];
  /** Total images. */
  readonly total: number;
  readonly batchSize: number;
}

export interface StreamOptions {
  /** Seed of the shuffles (and of the corruption noise). Defaults to 1. */
  seed?: number;
  /** Images per domain (a seeded random subset); defaults to the whole test split (10,001). */
  perDomain?: number;
  /** Batch size. Defaults to 64. */
  batchSize?: number;
  /** Corruption severity 1-5. Defaults to 5. */
  severity?: Severity;
  /** Source images; defaults to `loadFashionMnist('test')`. */
  data?: FashionMnistData;
}

/** The continual protocol's domain order (the 15 corruptions). */
export const CONTINUAL_DOMAINS: readonly CorruptionName[] = CORRUPTIONS;

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
function domainOrder(data: FashionMnistData, d: DomainName, seed: number, perDomain?: number): Int32Array {
  const idx = new Int32Array(data.n).map((_, i) => i);
  new Rng(hashSeed(seed, 7919, domainId(d))).shuffle(idx);
  const n = perDomain === undefined ? data.n : Math.max(0, Math.min(data.n, Math.floor(perDomain)));
  return idx.slice(0, n);
}

type Orderer = (data: FashionMnistData, d: DomainName, seed: number, perDomain?: number) => Int32Array;

function makeStream(
  name: string,
  domains: readonly DomainName[],
  options: StreamOptions,
  order: Orderer = domainOrder,
): TestStream {
  const seed = options.seed ?? 1;
  const batchSize = options.batchSize ?? 64;
  const severity = options.severity ?? 5;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`Stream batchSize must be a positive integer; got ${batchSize}.`);
  if (options.perDomain !== undefined && !(options.perDomain > 0)) throw new RangeError(`Stream perDomain must be positive; got ${options.perDomain}.`);
  const data = options.data ?? loadFashionMnist('test');
  const orders = domains.map((d) => order(data, d, seed, options.perDomain));
  const domainSizes = orders.map((o) => o.length);
  return {
    name,
    domains,
    domainSizes,
    total: domainSizes.reduce((a, b) => a + b, 0),
    batchSize,
    *[Symbol.iterator](): Iterator<StreamBatch> {
      let offset = 0;
      for (let di = 0; di < domains.length; di++) {
        const d = domains[di];
        const ord = orders[di];
        for (let s = 0; s < ord.length; s += batchSize) {
          const indices = ord.slice(s, Math.min(ord.length, s + batchSize));
          const n = indices.length;
          const clean = toFloat32(data, indices);
          const shape: [number, 28, 28, 1] = [n, 28, 28, 1];
          const x = d === 'clean'
            ? clean
            : corruptBatch(clean, shape, { name: d, severity, seeds: Array.from(indices, (i) => hashSeed(seed, domainId(d), i)) });
          const labels = new Int32Array(n);
          for (let i = 0; i < n; i++) labels[i] = data.labels[indices[i]];
          yield { x, shape, labels, domain: d, indices, offset };
          offset += n;
        }
      }
    },
  };
}

/** The continual Fashion-MNIST-C protocol (15 corruptions at `severity`, default 5). */
export function continualStream(options: StreamOptions & { domains?: readonly DomainName[] } = {}): TestStream {
  const domains = checkDomains(options.domains ?? CONTINUAL_DOMAINS);
  return makeStream('continual', domains, options);
}

/** The clean test split, shuffled. */
export function cleanStream(options: StreamOptions = {}): TestStream {
  return makeStream('clean', ['clean'], options);
}

/** One domain (a corruption, or 'clean'). */
export function singleDomainStream(domain: DomainName, options: StreamOptions = {}): TestStream {
  checkDomains([domain]);
  return makeStream(`single:${domain}`, [domain], options);
}

/**
 * Non-i.i.d., class-sorted: within each domain the (seeded) subset is sorted by
 * label, so consecutive batches hold one or two classes (LAME's setting).
 * Defaults to the 15 continual domains.
 */
export function classSortedStream(options: StreamOptions & { domains?: readonly DomainName[] } = {}): TestStream {
  const domains = checkDomains(options.domains ?? CONTINUAL_DOMAINS);
  return makeStream('class-sorted', domains, options, (data, d, seed, perDomain) => {
    const sub = domainOrder(data, d, seed, perDomain);
    // Stable sort by label keeps the seeded order within a class.
    return Int32Array.from(Array.from(sub).sort((a, b) => data.labels[a] - data.labels[b] || 0));
  });
}

/**
 * Non-i.i.d., Dirichlet-sampled labels (NOTE / RoTTA): within each domain, each
 * class's images are split over `slots` time slots with proportions drawn from
 * Dir(concentration); slots are played in order, each slot's class blocks in
 * random order (RoTTA's LabelDirichletDomainSequence). Small
 * concentration (RoTTA: 0.1) gives long single-class runs; large approaches i.i.d.
 */
export function dirichletStream(
  options: StreamOptions & { domains?: readonly DomainName[]; concentration?: number; slots?: number } = {},
): TestStream {
  const domains = checkDomains(options.domains ?? CONTINUAL_DOMAINS);
  const alpha = options.concentration ?? 0.1;
  const slots = options.slots ?? NUM_CLASSES;
  if (!(alpha > 0)) throw new RangeError(`dirichletStream: concentration must be > 0; got ${alpha}.`);
  if (!(Number.isInteger(slots) && slots > 0)) throw new RangeError(`dirichletStream: slots must be a positive integer; got ${slots}.`);
  return makeStream(`dirichlet(${alpha})`, domains, options, (data, d, seed, perDomain) => {
    const sub = domainOrder(data, d, seed, perDomain);
    const rng = new Rng(hashSeed(seed, 104729, domainId(d)));
    const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
    for (const i of sub) byClass[data.labels[i]].push(i);
    // slot -> the class blocks that fall in it (each block keeps its seeded order)
    const slotBlocks: number[][][] = Array.from({ length: slots }, () => []);
    for (const items of byClass) {
      const p = rng.dirichlet(slots, alpha);
      let start = 0;
      let acc = 0;
      for (let s = 0; s < slots; s++) {
        acc += p[s];
        const end = s === slots - 1 ? items.length : Math.max(start, Math.floor(acc * items.length));
        if (end > start) slotBlocks[s].push(items.slice(start, end));
        start = end;
      }
    }
    // As RoTTA's LabelDirichletDomainSequence: slots in order, the class blocks of a slot in random order.
    const out: number[] = [];
    for (const blocks of slotBlocks) for (const b of rng.shuffle(blocks)) out.push(...b);
    return Int32Array.from(out);
  });
}

/** Parses a CLI stream spec: `continual`, `clean`, `single:<name>`, `class-sorted`, `dirichlet[:<concentration>]`. */
export function streamFromSpec(spec: string, options: StreamOptions = {}): TestStream {
  if (spec === 'continual') return continualStream(options);
  if (spec === 'clean') return cleanStream(options);
  if (spec === 'class-sorted') return classSortedStream(options);
  if (spec.startsWith('single:')) return singleDomainStream(spec.slice(7) as DomainName, options);
  if (spec === 'dirichlet' || spec.startsWith('dirichlet:')) {
    const c = spec.includes(':') ? Number(spec.split(':')[1]) : undefined;
    return dirichletStream({ ...options, concentration: c });
  }
  throw new RangeError(
    `Unknown stream '${spec}'. Valid: continual, clean, single:<corruption>, class-sorted, dirichlet[:<concentration>] (corruptions: ${CORRUPTIONS.join(', ')}).`,
  );
}

export { IMAGE_SIZE };
