/**
 * CoTTA's augmentation (src/augment) against hand-computed values and a plain-TS oracle of
 * torchvision's pad(edge) -> affine(bilinear, zeros) -> centre-crop on an explicitly padded image.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  adjustBrightness,
  adjustContrast,
  adjustGamma,
  adjustHue,
  adjustHueOps,
  applyAugment,
  applyWarp,
  applyWarpOps,
  toGrayscale,
  toGrayscaleOps,
  COTTA_AUGMENT_DEFAULTS,
  CottaAugmenter,
  drawAugment,
  gaussianKernel1d,
  planAffineWarp,
  resolveAugmentOptions,
  ROID_AUGMENT,
  type AffineParams,
  type CottaAugmentOptions,
} from '../../src/augment/index.js';
import { InvalidInputError, InvalidOptionError } from '../../src/errors.js';
import { createRng } from '../../src/random.js';
import { initBackend } from '../../src/index.js';

const data = (t: tf.Tensor) => Array.from(t.dataSync());

/** Seeded image batch in [0, 1]. */
function images(n: number, h: number, w: number, c: number, seed = 3): tf.Tensor4D {
  const rng = createRng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
}

/** torch.nn.functional.pad's 'reflect' index for a 1-D size n (pad < n): mirror without repeating the edge. */
const reflectIndex = (i: number, n: number) => (i < 0 ? -i : i > n - 1 ? 2 * (n - 1) - i : i);

/** Oracle: torchvision's tensor path written out literally on an explicit edge- or reflect-padded image (one channel, one image). */
function oracleWarp(img: number[][], p: AffineParams, padding: 'edge' | 'reflect' = 'edge'): number[][] {
  const h = img.length;
  const w = img[0]!.length;
  const pad = Math.floor(h / 2);
  const hp = h + 2 * pad;
  const wp = w + 2 * pad;
  const src = (i: number, n: number) => (padding === 'edge' ? Math.min(n - 1, Math.max(0, i)) : reflectIndex(i, n));
  const padded = Array.from({ length: hp }, (_, y) => Array.from({ length: wp }, (_, x) => img[src(y - pad, h)]![src(x - pad, w)]!));
  // _get_inverse_affine_matrix(center=0, angle, translate, scale, shear=0)
  const rot = (p.angle * Math.PI) / 180;
  const m = [Math.cos(rot), Math.sin(rot), 0, -Math.sin(rot), Math.cos(rot), 0].map((v) => v / p.scale);
  m[2] += m[0]! * -p.tx + m[1]! * -p.ty;
  m[5] += m[3]! * -p.tx + m[4]! * -p.ty;
  const read = (y: number, x: number) => (y >= 0 && y < hp && x >= 0 && x < wp ? padded[y]![x]! : 0);
  const warped = Array.from({ length: hp }, (_, oy) =>
    Array.from({ length: wp }, (_, ox) => {
      // _gen_affine_grid base grid: pixel centres relative to the image centre.
      const bx = ox - wp / 2 + 0.5;
      const by = oy - hp / 2 + 0.5;
      const gx = (m[0]! * bx + m[1]! * by + m[2]!) / (0.5 * wp);
      const gy = (m[3]! * bx + m[4]! * by + m[5]!) / (0.5 * hp);
      // grid_sample, align_corners=False
      const ix = ((gx + 1) * wp - 1) / 2;
      const iy = ((gy + 1) * hp - 1) / 2;
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fx = ix - x0;
      const fy = iy - y0;
      return (
        read(y0, x0) * (1 - fx) * (1 - fy) + read(y0, x0 + 1) * fx * (1 - fy) + read(y0 + 1, x0) * (1 - fx) * fy + read(y0 + 1, x0 + 1) * fx * fy
      );
    }),
  );
  const top = Math.round((hp - h) / 2);
  return warped.slice(top, top + h).map((row) => row.slice(top, top + w));
}

const identity: CottaAugmentOptions = {
  brightness: [1, 1],
  contrast: [1, 1],
  saturation: [1, 1],
  hue: [0, 0],
  gamma: [1, 1],
  rotation: 0,
  translate: 0,
  scale: [1, 1],
  blurSigma: [0.001, 0.001],
  horizontalFlip: false,
  noiseStd: 0,
};

describe('CoTTA augmentation', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('colour jitters match hand-computed torchvision values', () => {
    const x = tf.tensor4d([0.9, 0.5, 0.25, 0.0], [1, 2, 2, 1]);
    expect(data(adjustBrightness(x, 1.2))).toEqual([1, 0.6, 0.3, 0].map((v) => expect.closeTo(v, 6)));
    // contrast: mean = 0.4125; 1.5 x - 0.5 mean, clipped.
    expect(data(adjustContrast(x, 1.5))).toEqual([1, 0.54375, 0.16875, 0].map((v) => expect.closeTo(v, 6)));
    // gamma 0.5: sqrt, with 0 clamped to 1e-8 first (sqrt = 1e-4).
    expect(data(adjustGamma(x, 0.5))).toEqual([Math.sqrt(0.9), Math.sqrt(0.5), 0.5, 1e-4].map((v) => expect.closeTo(v, 6)));
    // contrast of an RGB image uses the grayscale mean: pixel (1, 0, 0) has luma 0.2989.
    const red = tf.tensor4d([1, 0, 0], [1, 1, 1, 3]);
    expect(data(adjustContrast(red, 0.5))).toEqual([0.5 + 0.5 * 0.2989, 0.5 * 0.2989, 0.5 * 0.2989].map((v) => expect.closeTo(v, 6)));
    // hue: red shifted by a third of a turn is green, by two thirds blue; shift 0 is the identity.
    expect(data(adjustHue(red, 1 / 3))).toEqual([0, 1, 0].map((v) => expect.closeTo(v, 5)));
    expect(data(adjustHue(red, -1 / 3))).toEqual([0, 0, 1].map((v) => expect.closeTo(v, 5)));
    const rgb = images(2, 3, 3, 3);
    const back = adjustHue(rgb, 0);
    data(back).forEach((v, i) => expect(v).toBeCloseTo(rgb.dataSync()[i]!, 5));
    // saturation/hue leave grayscale untouched (torchvision returns the 1-channel image as is).
    expect(data(adjustHue(x, 0.3))).toEqual(data(x));
    tf.dispose([x, red, rgb, back]);
  });

  it('Gaussian kernel matches torchvision _get_gaussian_kernel1d', () => {
    const k = gaussianKernel1d(5, 0.5);
    const z = 1 + 2 * Math.exp(-2) + 2 * Math.exp(-8);
    expect(Array.from(k)).toEqual([Math.exp(-8), Math.exp(-2), 1, Math.exp(-2), Math.exp(-8)].map((v) => expect.closeTo(v / z, 6)));
    expect(Array.from(gaussianKernel1d(5, 0.001))).toEqual([0, 0, 1, 0, 0]);
  });

  it('warp: integer translation and a 90-degree rotation give hand-derived pixel maps', () => {
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
    const at = (t: tf.Tensor, y: number, xx: number) => t.dataSync()[y * 4 + xx]!;
    // tx = +1: content moves right; the left column replicates the edge.
    const shifted = applyWarp(x, planAffineWarp(4, 4, { angle: 0, tx: 1, ty: 0, scale: 1 }));
    for (let y = 0; y < 4; y++) for (let c = 0; c < 4; c++) expect(at(shifted, y, c)).toBeCloseTo(y * 4 + Math.max(0, c - 1), 6);
    // angle 90 (torchvision's affine turns clockwise in pixel coordinates): out[i][j] = in[3 - j][i].
    const rotated = applyWarp(x, planAffineWarp(4, 4, { angle: 90, tx: 0, ty: 0, scale: 1 }));
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(at(rotated, i, j)).toBeCloseTo((3 - j) * 4 + i, 5);
    tf.dispose([x, shifted, rotated]);
  });

  it('warp matches the literal torchvision oracle on random draws (odd and even sizes)', () => {
    const rng = createRng(11);
    for (const [h, w] of [[7, 7], [10, 10]] as const) {
      const x = images(1, h, w, 1, 5);
      const img = Array.from({ length: h }, (_, y) => Array.from(x.dataSync().slice(y * w, (y + 1) * w)));
      for (let trial = 0; trial < 6; trial++) {
        const p: AffineParams = { angle: -15 + 30 * rng.next(), tx: Math.round(-2 + 4 * rng.next()), ty: Math.round(-2 + 4 * rng.next()), scale: 0.9 + 0.2 * rng.next() };
        const got = applyWarp(x, planAffineWarp(h, w, p)).dataSync();
        const want = oracleWarp(img, p).flat();
        want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
      }
      x.dispose();
    }
  });

  it('reflect padding (ROID): a shift reads the mirror image without its edge; random draws match the oracle', () => {
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
    // tx = +2: output column c reads input column c - 2, reflected: -2 -> 2, -1 -> 1.
    const shifted = applyWarp(x, planAffineWarp(4, 4, { angle: 0, tx: 2, ty: 0, scale: 1 }, 0, 'reflect'));
    const cols = [2, 1, 0, 1];
    for (let y = 0; y < 4; y++) for (let c = 0; c < 4; c++) expect(shifted.dataSync()[y * 4 + c]).toBeCloseTo(y * 4 + cols[c]!, 6);
    const rng = createRng(12);
    for (const [h, w] of [[7, 7], [10, 10]] as const) {
      const img4 = images(1, h, w, 1, 6);
      const img = Array.from({ length: h }, (_, y) => Array.from(img4.dataSync().slice(y * w, (y + 1) * w)));
      for (let trial = 0; trial < 6; trial++) {
        // Translations up to the full padding, so the reflected border is read.
        const p: AffineParams = { angle: -15 + 30 * rng.next(), tx: Math.round(-3 + 6 * rng.next()), ty: Math.round(-3 + 6 * rng.next()), scale: 0.9 + 0.2 * rng.next() };
        const got = applyWarp(img4, planAffineWarp(h, w, p, 0, 'reflect')).dataSync();
        oracleWarp(img, p, 'reflect').flat().forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
      }
      img4.dispose();
    }
    tf.dispose([x, shifted]);
  });

  it("ROID_AUGMENT (cotta_augs=False) is jitter -> reflect pad + affine -> crop -> flip, with no blur and no noise", () => {
    expect(ROID_AUGMENT).toMatchObject({ blur: false, padding: 'reflect', noiseStd: 0, rotation: 15, translate: 1 / 16, brightness: [0.6, 1.4] });
    const x = images(2, 8, 8, 1, 4);
    const draw = drawAugment(createRng(3), 8, 8, ROID_AUGMENT);
    const got = applyAugment(x, draw, ROID_AUGMENT);
    // Expected: the same jitter and warp applied by hand (the identity options keep only the warp and flip).
    const jitterOnly = resolveAugmentOptions({ ...identity, brightness: ROID_AUGMENT.brightness, contrast: ROID_AUGMENT.contrast, gamma: ROID_AUGMENT.gamma });
    const jittered = applyAugment(x, { ...draw, affine: { angle: 0, tx: 0, ty: 0, scale: 1 }, flip: false }, { ...jitterOnly, blur: false });
    let want = applyWarp(jittered, planAffineWarp(8, 8, draw.affine, 0, 'reflect'));
    if (draw.flip) want = tf.reverse(want, 2);
    const w = want.dataSync();
    got.dataSync().forEach((v, i) => expect(v).toBeCloseTo(Math.min(1, Math.max(0, w[i]!)), 5));
    expect(() => resolveAugmentOptions({ padding: 'zeros' as never })).toThrow(/'padding' is "zeros".*'edge', 'reflect'/);
    expect(() => resolveAugmentOptions({ blur: 1 as never })).toThrow(/'blur' is 1/);
    tf.dispose([x, got, jittered, want]);
  });

  it('is the identity at zero strength, and stays in [0, 1] with the right shape at full strength', () => {
    const x = images(3, 9, 9, 3);
    const id = new CottaAugmenter(identity, 1);
    const y = id.augment(x);
    const xs = x.dataSync();
    y.dataSync().forEach((v, i) => expect(v).toBeCloseTo(xs[i]!, 6));
    const full = new CottaAugmenter({}, 2);
    for (let i = 0; i < 5; i++) {
      const a = full.augment(x);
      expect(a.shape).toEqual(x.shape);
      const v = a.dataSync();
      expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...v)).toBeLessThanOrEqual(1);
      // Real change: the default augmentation moves pixels.
      expect(v.some((u, k) => Math.abs(u - xs[k]!) > 0.05)).toBe(true);
      a.dispose();
    }
    tf.dispose([x, y]);
  });

  it('draws every parameter inside its range, one draw per batch; flips about half the time only when enabled', () => {
    const o = resolveAugmentOptions();
    const rng = createRng(9);
    let flips = 0;
    for (let i = 0; i < 400; i++) {
      const d = drawAugment(rng, 28, 28, o);
      expect([...d.order].sort()).toEqual([0, 1, 2, 3, 4]);
      expect(d.brightness).toBeGreaterThanOrEqual(0.6);
      expect(d.brightness).toBeLessThan(1.4);
      expect(d.contrast).toBeGreaterThanOrEqual(0.7);
      expect(d.gamma).toBeLessThan(1.3);
      expect(Math.abs(d.hue)).toBeLessThanOrEqual(0.06);
      expect(Math.abs(d.affine.angle)).toBeLessThanOrEqual(15);
      // translate 1/16 of the padded 56 px: |t| <= round(3.5) = 4, integer.
      expect(Number.isInteger(d.affine.tx) && Math.abs(d.affine.tx) <= 4).toBe(true);
      expect(Number.isInteger(d.affine.ty) && Math.abs(d.affine.ty) <= 4).toBe(true);
      expect(d.affine.scale).toBeGreaterThanOrEqual(0.9);
      expect(d.affine.scale).toBeLessThan(1.1);
      expect(d.blurSigma).toBeGreaterThanOrEqual(0.001);
      expect(d.blurSigma).toBeLessThan(0.5);
      if (d.flip) flips++;
    }
    expect(flips).toBeGreaterThan(160);
    expect(flips).toBeLessThan(240);
    const noFlip = resolveAugmentOptions({ horizontalFlip: false });
    for (let i = 0; i < 50; i++) expect(drawAugment(rng, 28, 28, noFlip).flip).toBe(false);
  });

  it('flip mirrors columns; noise has the requested standard deviation', () => {
    const x = images(2, 6, 6, 1);
    const o = resolveAugmentOptions(identity);
    const base = drawAugment(createRng(1), 6, 6, o);
    const flipped = applyAugment(x, { ...base, flip: true }, o);
    const xs = x.dataSync();
    for (let n = 0; n < 2; n++) for (let r = 0; r < 6; r++) for (let c = 0; c < 6; c++) {
      expect(flipped.dataSync()[n * 36 + r * 6 + c]).toBeCloseTo(xs[n * 36 + r * 6 + 5 - c]!, 6);
    }
    const grey = tf.fill([8, 16, 16, 1], 0.5) as tf.Tensor4D;
    const on = resolveAugmentOptions({ ...identity, noiseStd: 0.005 });
    const noisy = applyAugment(grey, drawAugment(createRng(2), 16, 16, on), on);
    const d = Array.from(noisy.dataSync(), (v) => v - 0.5);
    const std = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    expect(std).toBeGreaterThan(0.0045);
    expect(std).toBeLessThan(0.0055);
    tf.dispose([x, flipped, grey, noisy]);
  });

  it('is deterministic for a seed, differs across seeds and calls, and its state replays', () => {
    const x = images(4, 10, 10, 1);
    const a = new CottaAugmenter({}, 7);
    const b = new CottaAugmenter({}, 7);
    const c = new CottaAugmenter({}, 8);
    const saved = a.state;
    const a1 = data(a.augment(x));
    expect(data(b.augment(x))).toEqual(a1);
    expect(data(c.augment(x))).not.toEqual(a1);
    expect(data(a.augment(x))).not.toEqual(a1);
    a.state = saved;
    expect(data(a.augment(x))).toEqual(a1);
    x.dispose();
  });

  it('matches between the cpu and wasm backends', async () => {
    const x = images(3, 12, 12, 3);
    const xv = x.dataSync().slice();
    x.dispose();
    const run = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const aug = new CottaAugmenter({}, 21);
      const out: number[][] = [];
      for (let i = 0; i < 3; i++) out.push(tf.tidy(() => data(aug.augment(tf.tensor4d(xv, [3, 12, 12, 3])))));
      return out;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    await tf.setBackend('cpu');
    cpu.forEach((o, i) => o.forEach((v, k) => expect(wasm[i]![k]).toBeCloseTo(v, 4)));
  });

  it('does not leak tensors', () => {
    const x = images(4, 10, 10, 3);
    const aug = new CottaAugmenter({}, 3);
    tf.dispose(tf.tidy(() => aug.augment(x)));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) tf.dispose(tf.tidy(() => aug.augment(x)));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('rejects bad options and inputs with typed errors', () => {
    expect(() => new CottaAugmenter({ rotation: -1 })).toThrow(InvalidOptionError);
    expect(() => new CottaAugmenter({ scale: [1.1, 0.9] })).toThrow(/scale/);
    expect(() => new CottaAugmenter({ bogus: 1 } as never)).toThrow(/no option 'bogus'/);
    expect(() => new CottaAugmenter().augment(tf.zeros([1, 4, 4, 2]) as tf.Tensor4D)).toThrow(InvalidInputError);
    expect(COTTA_AUGMENT_DEFAULTS.rotation).toBe(15);
  });
});

describe('CoTTA augmentation kernels on wasm (src/fused warpGatherFused, adjustHueFused, grayscaleFused)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('the warp equals the four gathers and their sum bit for bit (edge and reflect, with the blur border)', () => {
    const x = images(3, 13, 11, 3);
    const draws: Array<[AffineParams, number, 'edge' | 'reflect']> = [
      [{ angle: 12.5, tx: 2, ty: -3, scale: 1.07 }, 2, 'edge'],
      [{ angle: -7, tx: -1, ty: 0, scale: 0.92 }, 0, 'reflect'],
      [{ angle: 0, tx: 0, ty: 0, scale: 1 }, 2, 'reflect'],
    ];
    for (const [p, border, padding] of draws) {
      const plan = planAffineWarp(13, 11, p, border, padding);
      tf.tidy(() => {
        const fused = applyWarp(x, plan);
        const ops = applyWarpOps(x, plan);
        expect(fused.shape).toEqual(ops.shape);
        expect(data(fused)).toEqual(data(ops));
      });
    }
    x.dispose();
  });

  it('the hue shift and the grayscale equal their tfjs-op versions bit for bit, grey, saturated and black pixels included', () => {
    // Random pixels, then pure greys, primaries, black, white, and ties between two channels.
    const special = [0.5, 0.5, 0.5, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0.3, 0.3, 0.1, 0.2, 0.7, 0.7, 0.9, 0.1, 0.9];
    const rand = images(2, 6, 7, 3).dataSync();
    const x = tf.tensor4d([...rand, ...special, ...special.slice(0, 6)], [1, 1, (rand.length + special.length + 6) / 3, 3]);
    tf.tidy(() => {
      expect(data(toGrayscale(x))).toEqual(data(toGrayscaleOps(x)));
    });
    for (const shift of [0.06, -0.06, 0.5, -0.5, 0, 0.0123]) {
      tf.tidy(() => {
        expect(data(adjustHue(x, shift))).toEqual(data(adjustHueOps(x, shift)));
      });
    }
    x.dispose();
  });
});
