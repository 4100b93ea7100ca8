/**
 * Direct-definition (float64) references for the depthwise gradients, used
 * where the tfjs CPU kernels are not a valid reference: with dilation > 1 the
 * CPU DepthwiseConv2dNativeBackpropFilter / BackpropInput ignore the dilation
 * (tfjs-core refuses dilated depthwise gradients at the op level, so they are
 * never called that way through tf.grad). Both follow from the forward op
 *   y[n, oh, ow, c*M + m] = sum_{r,s} x[n, oh*sh - pt + r*dh, ow*sw - pl + s*dw, c] * f[r, s, c, m].
 */
export interface Geo {
  n: number; h: number; w: number; c: number; m: number; kh: number; kw: number;
  ho: number; wo: number; sh: number; sw: number; dh: number; dw: number; pt: number; pl: number;
}

function* taps(g: Geo): Generator<[number, number, number, number, number, number, number]> {
  for (let n = 0; n < g.n; n++)
    for (let oh = 0; oh < g.ho; oh++)
      for (let ow = 0; ow < g.wo; ow++)
        for (let r = 0; r < g.kh; r++)
          for (let s = 0; s < g.kw; s++) {
            const ih = oh * g.sh - g.pt + r * g.dh;
            const iw = ow * g.sw - g.pl + s * g.dw;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            yield [n, oh, ow, r, s, ih, iw];
          }
}

export function depthwiseFilterGrad(x: Float32Array, dy: Float32Array, g: Geo): Float64Array {
  const q = g.c * g.m;
  const out = new Float64Array(g.kh * g.kw * q);
  for (const [n, oh, ow, r, s, ih, iw] of taps(g))
    for (let c = 0; c < g.c; c++)
      for (let m = 0; m < g.m; m++)
        out[(r * g.kw + s) * q + c * g.m + m]! += x[((n * g.h + ih) * g.w + iw) * g.c + c]! * dy[((n * g.ho + oh) * g.wo + ow) * q + c * g.m + m]!;
  return out;
}

export function depthwiseInputGrad(dy: Float32Array, f: Float32Array, g: Geo): Float64Array {
  const q = g.c * g.m;
  const out = new Float64Array(g.n * g.h * g.w * g.c);
  for (const [n, oh, ow, r, s, ih, iw] of taps(g))
    for (let c = 0; c < g.c; c++)
      for (let m = 0; m < g.m; m++)
        out[((n * g.h + ih) * g.w + iw) * g.c + c]! += dy[((n * g.ho + oh) * g.wo + ow) * q + c * g.m + m]! * f[(r * g.kw + s) * q + c * g.m + m]!;
  return out;
}
