// Shared helpers for the edge-tta kernels.
//
// Every kernel works on tensors that live in tfjs-backend-wasm's own linear
// memory (this module imports that memory). The module therefore has no
// static data, no allocator and no stack use: it only reads and writes the
// addresses it is given.

/** floor(a / b) for b > 0 and any sign of a. */
@inline
export function floorDiv(a: i32, b: i32): i32 {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/** ceil(a / b) for b > 0 and any sign of a. */
@inline
export function ceilDiv(a: i32, b: i32): i32 {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/**
 * First output index o (>= 0) whose input position o * stride - pad + tap
 * lies at or after 0, where tap = filter offset * dilation.
 */
@inline
export function firstValidOut(pad: i32, tap: i32, stride: i32): i32 {
  const lo = ceilDiv(pad - tap, stride);
  return lo > 0 ? lo : 0;
}

/** One past the last output index whose input position is < inSize. */
@inline
export function endValidOut(inSize: i32, pad: i32, tap: i32, stride: i32, outSize: i32): i32 {
  const hi = floorDiv(inSize - 1 + pad - tap, stride) + 1;
  return hi < outSize ? hi : outSize;
}

/** Sets n floats at ptr to zero. */
export function zeroF32(ptr: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(ptr + (<usize>i << 2), z);
  for (; i < n; i++) store<f32>(ptr + (<usize>i << 2), 0);
}
