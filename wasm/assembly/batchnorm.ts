// Batch-statistics BN for NHWC tensors seen as [R, C] (R = N*H*W rows, C channels contiguous):
// per-channel moments in one read, and the normalisation y = (x - mean[c]) * scale[c] + beta[c]
// in one read and one write. Together 2 reads + 1 write of the activation, against tf.moments +
// tf.batchNorm's chain of 5 passes.

/**
 * mean[c], variance[c] (biased) of x[R, C]. scratch: 3*C f64, set here.
 * C % 4 == 0 uses f32x4 loads; any C works.
 *
 * One pass, f64 sums of d = x - K and d^2 with a per-channel shift K (the channel's first finite
 * value of row 0, else 0): var = E[d^2] - E[d]^2. Without the shift (K = 0) the cancellation in
 * E[x^2] - E[x]^2 grows as R * 1e-16 * mean^2 / var: mean 1e4, std 4e-3 over 65536 rows gave
 * a variance 93% off (tf.moments: 0.2%), and a constant channel of 0.1 a variance of 2.6e-14.
 * With K a sample of the channel, (mean - K)^2 / var is of order 1. A NaN or an infinity in a
 * channel makes its variance NaN, as tf.moments does (negative rounding is clamped to 0, NaN is not).
 */
export function channelMoments(x: usize, mean: usize, variance: usize, scratch: usize, R: i32, C: i32): void {
  const sum = scratch;
  const sq = scratch + ((<usize>C) << 3);
  const shift = scratch + ((<usize>C) << 4);
  for (let c = 0; c < 2 * C; c++) store<f64>(scratch + ((<usize>c) << 3), 0);
  for (let c = 0; c < C; c++) {
    const k = <f64>load<f32>(x + ((<usize>c) << 2));
    store<f64>(shift + ((<usize>c) << 3), k - k == 0 ? k : 0);
  }
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const row = x + ((<usize>(r * C)) << 2);
    let c = 0;
    for (; c < C4; c += 4) {
      const v = v128.load(row + ((<usize>c) << 2));
      const pk = shift + ((<usize>c) << 3);
      const lo = f64x2.sub(f64x2.promote_low_f32x4(v), v128.load(pk));
      const hi = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 0, 1)), v128.load(pk, 16));
      const ps = sum + ((<usize>c) << 3);
      const pq = sq + ((<usize>c) << 3);
      v128.store(ps, f64x2.add(v128.load(ps), lo));
      v128.store(ps, f64x2.add(v128.load(ps, 16), hi), 16);
      v128.store(pq, f64x2.add(v128.load(pq), f64x2.mul(lo, lo)));
      v128.store(pq, f64x2.add(v128.load(pq, 16), f64x2.mul(hi, hi)), 16);
    }
    for (; c < C; c++) {
      const v = <f64>load<f32>(row + ((<usize>c) << 2)) - load<f64>(shift + ((<usize>c) << 3));
      const ps = sum + ((<usize>c) << 3);
      const pq = sq + ((<usize>c) << 3);
      store<f64>(ps, load<f64>(ps) + v);
      store<f64>(pq, load<f64>(pq) + v * v);
    }
  }
  const inv = 1.0 / <f64>R;
  for (let c = 0; c < C; c++) {
    const d = load<f64>(sum + ((<usize>c) << 3)) * inv;
    const v = load<f64>(sq + ((<usize>c) << 3)) * inv - d * d;
    store<f32>(mean + ((<usize>c) << 2), <f32>(load<f64>(shift + ((<usize>c) << 3)) + d));
    store<f32>(variance + ((<usize>c) << 2), <f32>(v < 0 ? 0 : v));
  }
}

/**
 * out[r, c] = (x[r, c] - mean[c]) * rsqrt(var[c] + eps) * gamma[c] + beta[c], computed as
 * (x - mean) * scale + beta (gamma / beta pointers 0: 1 / 0). scratch: 2*C f32.
 * Not x * scale + (beta - mean * scale): that one-multiply-add form rounds x * scale, of the
 * size of mean / std, so its error grows with |mean| / std (1.7e-2 in normalised units at mean
 * 1e4, std 0.01, against 5e-8 for tf.batchNorm); x - mean is exact near the mean.
 */
export function batchNormalize(
  x: usize, mean: usize, variance: usize, gamma: usize, beta: usize, out: usize, scratch: usize,
  R: i32, C: i32, eps: f32,
): void {
  const scale = scratch;
  const shift = scratch + ((<usize>C) << 2);
  for (let c = 0; c < C; c++) {
    const o = (<usize>c) << 2;
    let s = <f32>1 / sqrt<f32>(load<f32>(variance + o) + eps);
    if (gamma != 0) s *= load<f32>(gamma + o);
    store<f32>(scale + o, s);
    store<f32>(shift + o, beta != 0 ? load<f32>(beta + o) : <f32>0);
  }
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const off = (<usize>(r * C)) << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const o = (<usize>c) << 2;
      const d = f32x4.sub(v128.load(x + off + o), v128.load(mean + o));
      v128.store(out + off + o, f32x4.add(f32x4.mul(d, v128.load(scale + o)), v128.load(shift + o)));
    }
    for (; c < C; c++) {
      const o = (<usize>c) << 2;
      store<f32>(out + off + o, (load<f32>(x + off + o) - load<f32>(mean + o)) * load<f32>(scale + o) + load<f32>(shift + o));
    }
  }
}

/**
 * The closed-form backward of batch-statistics BN over x[R, C] (N = R values per channel,
 * xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps)):
 *   dbeta[c] = sum dy,  dgamma[c] = sum dy * xhat,
 *   dx = gamma * rstd * (dy - w * dbeta / N - w * xhat * dgamma / N),
 * where w (`weight`) is 1 for the batch's own statistics and the batch's weight in moving ones.
 * in two reads of x and dy (sums in f64, on x - mean) and one write of dx, against the nine
 * full-size passes of the same formula in tfjs ops. gamma pointer 0: 1.
 * scratch: 2*C f64 (sums), then 3*C f32 (dx coefficients).
 */
export function batchNormBackward(
  x: usize, dy: usize, mean: usize, variance: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  scratch: usize, R: i32, C: i32, eps: f32, weight: f64,
): void {
  const sdy = scratch;
  const sdx = scratch + ((<usize>C) << 3);
  for (let c = 0; c < 2 * C; c++) store<f64>(scratch + ((<usize>c) << 3), 0);
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const off = (<usize>(r * C)) << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const o = (<usize>c) << 2;
      const g = v128.load(dy + off + o);
      const d = f32x4.sub(v128.load(x + off + o), v128.load(mean + o));
      const gd = f32x4.mul(g, d);
      const ps = sdy + ((<usize>c) << 3);
      const pq = sdx + ((<usize>c) << 3);
      v128.store(ps, f64x2.add(v128.load(ps), f64x2.promote_low_f32x4(g)));
      v128.store(ps, f64x2.add(v128.load(ps, 16), f64x2.promote_low_f32x4(v128.shuffle<u32>(g, g, 2, 3, 0, 1))), 16);
      v128.store(pq, f64x2.add(v128.load(pq), f64x2.promote_low_f32x4(gd)));
      v128.store(pq, f64x2.add(v128.load(pq, 16), f64x2.promote_low_f32x4(v128.shuffle<u32>(gd, gd, 2, 3, 0, 1))), 16);
    }
    for (; c < C; c++) {
      const o = (<usize>c) << 2;
      const g = load<f32>(dy + off + o);
      const d = load<f32>(x + off + o) - load<f32>(mean + o);
      const ps = sdy + ((<usize>c) << 3);
      const pq = sdx + ((<usize>c) << 3);
      store<f64>(ps, load<f64>(ps) + <f64>g);
      store<f64>(pq, load<f64>(pq) + <f64>(g * d));
    }
  }
  // dx = A * dy + B * (x - mean) + K per channel, with A = gamma * rstd, B = -A * rstd * dgamma / N,
  // K = -A * dbeta / N.
  const A = scratch + ((<usize>C) << 4);
  const B = A + ((<usize>C) << 2);
  const K = B + ((<usize>C) << 2);
  const invN = weight / <f64>R;
  for (let c = 0; c < C; c++) {
    const o = (<usize>c) << 2;
    const rstd = 1.0 / Math.sqrt(<f64>load<f32>(variance + o) + <f64>eps);
    const sumDy = load<f64>(sdy + ((<usize>c) << 3));
    const dg = load<f64>(sdx + ((<usize>c) << 3)) * rstd;
    const a = (gamma != 0 ? <f64>load<f32>(gamma + o) : 1.0) * rstd;
    store<f32>(dbeta + o, <f32>sumDy);
    store<f32>(dgamma + o, <f32>dg);
    store<f32>(A + o, <f32>a);
    store<f32>(B + o, <f32>(-a * rstd * dg * invN));
    store<f32>(K + o, <f32>(-a * sumDy * invN));
  }
  for (let r = 0; r < R; r++) {
    const off = (<usize>(r * C)) << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const o = (<usize>c) << 2;
      const d = f32x4.sub(v128.load(x + off + o), v128.load(mean + o));
      const v = f32x4.add(f32x4.add(f32x4.mul(v128.load(dy + off + o), v128.load(A + o)), f32x4.mul(d, v128.load(B + o))), v128.load(K + o));
      v128.store(dx + off + o, v);
    }
    for (; c < C; c++) {
      const o = (<usize>c) << 2;
      const d = load<f32>(x + off + o) - load<f32>(mean + o);
      store<f32>(dx + off + o, load<f32>(dy + off + o) * load<f32>(A + o) + d * load<f32>(B + o) + load<f32>(K + o));
    }
  }
}
