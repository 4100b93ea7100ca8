/**
 * The seeded PRNG of the fused ops: mulberry32 with an exposed 32-bit state,
 * so the WASM stochastic restore can continue exactly the same sequence.
 * Same sequence as `mulberry32(seed)` in src/random.ts.
 *
 * @example
 * const rng = createRng(42);
 * rng.next();            // uniform in [0, 1)
 * const s = rng.state;   // save ...
 * rng.state = s;         // ... and replay
 */
export interface SeededRng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** The 32-bit generator state (unsigned). Setting it replays from that point. */
  state: number;
}

/** mulberry32 seeded with `seed` (any number; taken modulo 2^32). */
export function createRng(seed: number): SeededRng {
  let a = seed >>> 0;
  return {
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
    get state(): number {
      return a;
    },
    set state(s: number) {
      a = s >>> 0;
    },
  };
}
