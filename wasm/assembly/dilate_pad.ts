// Zero-insertion and padding of a conv's output gradient, so that its input gradient
// (Conv2DBackpropInput) becomes one stride-1 'valid' forward convolution with the flipped filter:
//   out[n, top + i*sh, left + j*sw, :] = dy[n, i, j, :], every other element 0.
// Rows or columns that land outside out (top or left negative: windows wholly inside the top or
// left padding; past the end: wholly inside the bottom or right padding) are dropped: they reach
// no input position. See src/backend/kernels/backpropViaForward.ts.
import { zeroF32 } from './common';

/** dy [N, Ho, Wo, C] into out [N, Hp, Wp, C] (zeroed here). */
export function dilatePad(dy: usize, out: usize, N: i32, Ho: i32, Wo: i32, C: i32, sh: i32, sw: i32, top: i32, left: i32, Hp: i32, Wp: i32): void {
  zeroF32(out, N * Hp * Wp * C);
  const rowBytes = (<usize>C) << 2;
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < Ho; i++) {
      const r = top + i * sh;
      if (r < 0 || r >= Hp) continue;
      for (let j = 0; j < Wo; j++) {
        const q = left + j * sw;
        if (q < 0 || q >= Wp) continue;
        memory.copy(out + (<usize>((n * Hp + r) * Wp + q)) * rowBytes, dy + (<usize>((n * Ho + i) * Wo + j)) * rowBytes, rowBytes);
      }
    }
  }
}
