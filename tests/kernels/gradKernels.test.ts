/**
 * Parity of edge-tta's gradient kernels on 'wasm' against the tfjs CPU
 * backend's kernels (the reference), on named edge cases and seeded random
 * shapes. Kernels are run by name so that dilation > 1 (which the tfjs ops
 * refuse in gradients) is covered too; there the CPU kernels ignore the
 * dilation, so the depthwise kernels are also checked against the float64
 * definition in ./naive.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { registerEdgeKernels } from '../../src/backend/kernels/index.js';
import { createRng } from '../../src/random.js';
import { onBackend, randn, relErr, runKernel } from './helpers.js';
import { depthwiseFilterGrad, depthwiseInputGrad } from './naive.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string;
  n: number; h: number; w: number; c: number;
  kh: number; kw: number;
  /** out channels (conv2d) or channel multiplier (depthwise) */
  co: number;
  stride: [number, number];
  dil: [number, number];
  pad: Pad;
}

const named: Case[] = [
  { name: 'stride 2, odd sizes, same (asymmetric pads)', n: 2, h: 9, w: 7, c: 8, kh: 3, kw: 3, co: 12, stride: [2, 2], dil: [1, 1], pad: 'same' },
  { name: '1x1 kernel', n: 2, h: 6, w: 5, c: 16, kh: 1, kw: 1, co: 24, stride: [1, 1], dil: [1, 1], pad: 'valid' },
  { name: '1x1 kernel stride 2', n: 1, h: 7, w: 7, c: 8, kh: 1, kw: 1, co: 8, stride: [2, 2], dil: [1, 1], pad: 'same' },
  { name: 'same, even input, stride 2 (pad bottom/right only)', n: 1, h: 8, w: 8, c: 4, kh: 3, kw: 3, co: 4, stride: [2, 2], dil: [1, 1], pad: 'same' },
  { name: 'explicit pads', n: 2, h: 6, w: 7, c: 5, kh: 3, kw: 2, co: 7, stride: [1, 2], dil: [1, 1], pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { name: 'dilation 2', n: 1, h: 9, w: 9, c: 6, kh: 3, kw: 3, co: 5, stride: [1, 1], dil: [2, 2], pad: 'same' },
  { name: 'batch 1, channels not a multiple of 4', n: 1, h: 5, w: 6, c: 3, kh: 3, kw: 3, co: 7, stride: [1, 1], dil: [1, 1], pad: 'valid' },
  { name: 'RGB stem (3 -> 32, stride 2)', n: 1, h: 15, w: 15, c: 3, kh: 3, kw: 3, co: 32, stride: [2, 2], dil: [1, 1], pad: 'same' },
  { name: 'kernel larger than padded input in places (5x5 on 4x4)', n: 1, h: 4, w: 4, c: 4, kh: 5, kw: 5, co: 4, stride: [1, 1], dil: [1, 1], pad: 'same' },
  { name: 'wide co with all tails (co = 12 + 8 + 3)', n: 2, h: 5, w: 5, c: 9, kh: 3, kw: 3, co: 23, stride: [1, 1], dil: [1, 1], pad: 'same' },
];

function randomCases(seed: number, count: number): Case[] {
  const rng = createRng(seed);
  const pick = <T,>(xs: T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  const out: Case[] = [];
  for (let i = 0; i < count; i++) {
    const kh = pick([1, 2, 3, 5]);
    const kw = pick([1, 3, 4]);
    const dil: [number, number] = rng.next() < 0.2 ? [pick([1, 2]), pick([1, 2, 3])] : [1, 1];
    const stride: [number, number] = dil[0] * dil[1] > 1 ? [1, 1] : [pick([1, 2, 3]), pick([1, 2])];
    const h = kh * dil[0] + Math.floor(rng.next() * 8);
    const w = kw * dil[1] + Math.floor(rng.next() * 8);
    const pad: Pad = pick<Pad>(['same', 'valid', [[0, 0], [pick([0, 1, 2]), pick([0, 1])], [pick([0, 1]), pick([0, 2])], [0, 0]]]);
    out.push({ name: `random #${i}`, n: pick([1, 2, 3]), h, w, c: 1 + Math.floor(rng.next() * 13), kh, kw, co: 1 + Math.floor(rng.next() * 30), stride, dil, pad });
  }
  return out;
}

function outShape(c: Case, depthwise: boolean): number[] {
  const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.c], [c.kh, c.kw, c.c, c.co], c.stride, c.dil, c.pad, undefined, depthwise);
  return info.outShape;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await registerEdgeKernels();
});

describe('Conv2DBackpropFilter (wasm) vs cpu', () => {
  // tfjs's Conv2DBackpropFilter has no dilation attribute (tf.conv2d's gradient refuses dilation > 1).
  const cases = [...named.filter((c) => c.dil[0] * c.dil[1] === 1), ...randomCases(11, 25).filter((c) => c.dil[0] * c.dil[1] === 1)];
  for (const c of cases) {
    it(c.name, async () => {
      const ys = outShape(c, false);
      const x = randn(c.n * c.h * c.w * c.c, 1);
      const dy = randn(ys.reduce((a, b) => a * b, 1), 2);
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.kh, c.kw, c.c, c.co] };
      const run = () => runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, [c.n, c.h, c.w, c.c]), dy: tf.tensor(dy, ys) }, attrs);
      const [ref] = await onBackend('cpu', run);
      const [got] = await onBackend('wasm', run);
      expect(relErr(got!, ref!)).toBeLessThan(1e-4);
    });
  }
  it('throws a clear error for NCHW', async () => {
    await tf.setBackend('wasm');
    expect(() => runKernel('Conv2DBackpropFilter', { x: tf.zeros([1, 2, 4, 4]), dy: tf.zeros([1, 2, 4, 4]) },
      { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] })).toThrow(/dataFormat 'NCHW' is not supported/);
  });
  it('zero-size batch gives a zero gradient of the right shape', async () => {
    await tf.setBackend('wasm');
    const g = runKernel('Conv2DBackpropFilter', { x: tf.zeros([0, 4, 4, 2]), dy: tf.zeros([0, 4, 4, 3]) },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] });
    expect(g.shape).toEqual([3, 3, 2, 3]);
    expect(Array.from(await g.data()).every((v) => v === 0)).toBe(true);
    g.dispose();
  });
});

for (const kernel of ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] as const) {
  describe(`${kernel} (wasm) vs cpu`, () => {
    const base = [...named, ...randomCases(23, 25)].map((c) => ({ ...c, co: 1 + (c.co % 3) })); // multiplier 1..3
    const cases = [
      ...base,
      { ...named[0]!, name: 'depth multiplier 2, stride 2', co: 2 },
      { ...named[1]!, name: 'depth multiplier 1, 1x1', co: 1 },
      { name: 'MobileNet-like 3x3 s1 multiplier 1, 20 channels', n: 2, h: 10, w: 9, c: 20, kh: 3, kw: 3, co: 1, stride: [1, 1], dil: [1, 1], pad: 'same' } as Case,
      { name: 'dilation 2, multiplier 2', n: 1, h: 9, w: 8, c: 5, kh: 3, kw: 3, co: 2, stride: [1, 1], dil: [2, 2], pad: 'same' } as Case,
    ];
    for (const c of cases) {
      it(`${c.name} (multiplier ${c.co})`, async () => {
        const ys = outShape(c, true);
        const xs = [c.n, c.h, c.w, c.c];
        const fs = [c.kh, c.kw, c.c, c.co];
        const dy = randn(ys.reduce((a, b) => a * b, 1), 3);
        const attrs = { strides: c.stride, dilations: c.dil, pad: c.pad };
        const run = kernel === 'DepthwiseConv2dNativeBackpropFilter'
          ? () => runKernel(kernel, { x: tf.tensor(randn(xs.reduce((a, b) => a * b, 1), 4), xs), dy: tf.tensor(dy, ys) }, { ...attrs, filterShape: fs })
          : () => runKernel(kernel, { dy: tf.tensor(dy, ys), filter: tf.tensor(randn(fs.reduce((a, b) => a * b, 1), 5), fs) }, { ...attrs, inputShape: xs });
        const [got] = await onBackend('wasm', run);
        if (c.dil[0] * c.dil[1] === 1) {
          const [ref] = await onBackend('cpu', run);
          expect(relErr(got!, ref!)).toBeLessThan(1e-4);
        }
        // Always also against the float64 definition (the only valid reference for dilation > 1).
        const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], fs as [number, number, number, number], c.stride, c.dil, c.pad, undefined, true);
        const geo = { n: c.n, h: c.h, w: c.w, c: c.c, m: c.co, kh: c.kh, kw: c.kw, ho: info.outHeight, wo: info.outWidth,
          sh: c.stride[0], sw: c.stride[1], dh: c.dil[0], dw: c.dil[1], pt: info.padInfo.top, pl: info.padInfo.left };
        const ref64 = kernel === 'DepthwiseConv2dNativeBackpropFilter'
          ? depthwiseFilterGrad(randn(xs.reduce((a, b) => a * b, 1), 4), dy, geo)
          : depthwiseInputGrad(dy, randn(fs.reduce((a, b) => a * b, 1), 5), geo);
        expect(relErr(got!, ref64)).toBeLessThan(1e-4);
      });
    }
  });
}

describe('the registered kernels serve tf.grad', () => {
  it('depthwiseConv2d gradients wrt input and filter match cpu (tf.grads)', async () => {
    const x = randn(2 * 7 * 7 * 6, 7);
    const f = randn(3 * 3 * 6 * 2, 8);
    const run = () => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').square().sum());
      return g([tf.tensor4d(x, [2, 7, 7, 6]), tf.tensor4d(f, [3, 3, 6, 2])]);
    };
    const ref = await onBackend('cpu', run);
    const got = await onBackend('wasm', run);
    expect(relErr(got[0]!, ref[0]!)).toBeLessThan(1e-4);
    expect(relErr(got[1]!, ref[1]!)).toBeLessThan(1e-4);
  });
  it('does not leak tensors', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([1, 6, 6, 4]) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 4, 5]);
    const before = tf.memory().numTensors;
    const g = tf.grad((ff: tf.Tensor) => tf.conv2d(x, ff as tf.Tensor4D, 1, 'same').sum())(f);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, f]);
  });
});
