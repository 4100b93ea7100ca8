// This machine's single-thread 128-bit WASM SIMD multiply-add ceiling, the
// most any 128-bit kernel here can reach (no relaxed-SIMD FMA in wasm).
//
// simdCeiling: the register-blocked micro-kernel shape with its operands in
// L1: each iteration loads 3 f32x4 and 4 broadcast scalars from p (64 bytes,
// always the same, so they stay in L1) and does 12 independent
// acc += a * b chains. Runs iters * 12 * 8 flops.
export function simdCeiling(iters: i32, p: usize): f32 {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
  let c8 = f32x4.splat(0), c9 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  for (let i = 0; i < iters; i++) {
    const d0 = v128.load(p), d1 = v128.load(p, 16), d2 = v128.load(p, 32);
    let a = v128.load32_splat(p, 48);
    c0 = f32x4.add(c0, f32x4.mul(a, d0)); c1 = f32x4.add(c1, f32x4.mul(a, d1)); c2 = f32x4.add(c2, f32x4.mul(a, d2));
    a = v128.load32_splat(p, 52);
    c3 = f32x4.add(c3, f32x4.mul(a, d0)); c4 = f32x4.add(c4, f32x4.mul(a, d1)); c5 = f32x4.add(c5, f32x4.mul(a, d2));
    a = v128.load32_splat(p, 56);
    c6 = f32x4.add(c6, f32x4.mul(a, d0)); c7 = f32x4.add(c7, f32x4.mul(a, d1)); c8 = f32x4.add(c8, f32x4.mul(a, d2));
    a = v128.load32_splat(p, 60);
    c9 = f32x4.add(c9, f32x4.mul(a, d0)); c10 = f32x4.add(c10, f32x4.mul(a, d1)); c11 = f32x4.add(c11, f32x4.mul(a, d2));
  }
  return sum12(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
}

// simdCeilingChained: the form DESIGN.md quotes (12 chains c = c * a + b, no
// memory). Each chain waits for its multiply and its add, so it is bounded by
// latency and usually a little lower. Runs iters * 12 * 8 flops.
export function simdCeilingChained(iters: i32, a: f32, b: f32): f32 {
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
  return sum12(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
}

@inline function sum12(c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, c7: v128, c8: v128, c9: v128, c10: v128, c11: v128): f32 {
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)),
    f32x4.add(f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)), f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))));
  return f32x4.extract_lane(s, 0);
}
