// This machine's single-thread 128-bit SIMD multiply-add ceiling: 12
// independent f32x4 accumulator chains (mul + add each), no memory traffic.
// Runs iters * 12 * 8 flops. The inputs come from the caller so nothing folds.
export function simdCeiling(iters: i32, a: f32, b: f32): f32 {
  const va = f32x4.splat(a), vb = f32x4.splat(b);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(1), c2 = f32x4.splat(2), c3 = f32x4.splat(3);
  let c4 = f32x4.splat(4), c5 = f32x4.splat(5), c6 = f32x4.splat(6), c7 = f32x4.splat(7);
  let c8 = f32x4.splat(8), c9 = f32x4.splat(9), c10 = f32x4.splat(10), c11 = f32x4.splat(11);
  for (let i = 0; i < iters; i++) {
    c0 = f32x4.add(f32x4.mul(c0, va), vb); c1 = f32x4.add(f32x4.mul(c1, va), vb);
    c2 = f32x4.add(f32x4.mul(c2, va), vb); c3 = f32x4.add(f32x4.mul(c3, va), vb);
    c4 = f32x4.add(f32x4.mul(c4, va), vb); c5 = f32x4.add(f32x4.mul(c5, va), vb);
    c6 = f32x4.add(f32x4.mul(c6, va), vb); c7 = f32x4.add(f32x4.mul(c7, va), vb);
    c8 = f32x4.add(f32x4.mul(c8, va), vb); c9 = f32x4.add(f32x4.mul(c9, va), vb);
    c10 = f32x4.add(f32x4.mul(c10, va), vb); c11 = f32x4.add(f32x4.mul(c11, va), vb);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)), f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))));
  return f32x4.extract_lane(s, 0);
}
