// The input gradient of a (clipped) ReLU in one pass: dx = dy where 0 < x <= maxValue, else 0.
// The same values as the gradient tfjs composes for relu (dy * step(x)) and a clip after it
// (select on x >= 0 and x <= max with zerosLike), in one read of x and dy and one write instead of
// five to seven full-size ops (masked entries are +0 where tfjs may give -0).

/**
 * dx[i] = x[i] > 0 && x[i] <= maxValue ? dy[i] : 0 (maxValue +Infinity: plain ReLU); with
 * `inclusive` 0, x[i] < maxValue (tfjs-layers' relu6 activation, minimum(6, relu(x)), passes no
 * gradient at exactly 6; its ReLU layer's clip and tf.relu6 do).
 */
export function reluBackward(x: usize, dy: usize, dx: usize, n: i32, maxValue: f32, inclusive: i32): void {
  const zero = f32x4.splat(0);
  const hi = f32x4.splat(maxValue);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    const v = v128.load(x + o);
    const keep = v128.and(f32x4.gt(v, zero), inclusive != 0 ? f32x4.le(v, hi) : f32x4.lt(v, hi));
    v128.store(dx + o, v128.and(v128.load(dy + o), keep));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const v = load<f32>(x + o);
    store<f32>(dx + o, v > 0 && (inclusive != 0 ? v <= maxValue : v < maxValue) ? load<f32>(dy + o) : 0);
  }
}
