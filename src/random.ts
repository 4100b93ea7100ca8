/**
 * Small seeded pseudo-random helpers shared by the corruption suite, the
 * stream builders and any strategy that needs reproducible randomness.
 *
 * Browser-safe: no Node imports.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * rng.next();        // uniform in [0, 1)
 * rng.gaussian();    // standard normal
 * rng.int(0, 10);    // integer in [0, 10)
 * ```
 */

/** A seeded generator whose 32-bit state can be read and set (to save and replay a sequence). */
export interface SeededRng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** The 32-bit generator state (unsigned). Setting it replays from that point. */
  state: number;
}

/**
 * mulberry32 with an exposed state: a 32-bit generator with good statistical quality for
 * simulation work (not cryptographic). The WASM stochastic restore (wasm/assembly/fused.ts)
 * continues exactly this sequence.
 *
 * @example
 * const rng = createRng(42);
 * rng.next();            // uniform in [0, 1)
 * const s = rng.state;   // save ...
 * rng.state = s;         // ... and replay
 */
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

/** mulberry32 as a plain function yielding floats in [0, 1) (the sequence of {@link createRng}). */
export function mulberry32(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

/**
 * Mixes several integers into one 32-bit seed (splitmix-style), so that
 * e.g. `(seed, imageIndex, corruptionId)` give independent streams.
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9 >>> 0;
  for (const p of parts) {
    h = (h ^ (Math.floor(p) >>> 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** A seeded generator with the distributions the SDK needs. */
export class Rng {
  private readonly u: () => number;
  private spare: number | null = null;

  /** @param seed any integer; equal seeds give equal sequences. */
  constructor(seed: number) {
    this.u = mulberry32(seed);
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.u();
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.u();
  }

  /** Uniform integer in [lo, hi) (hi exclusive, like numpy's randint). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.u() * (hi - lo));
  }

  /** Normal sample (Box-Muller, polar form not needed: spare value cached). */
  gaussian(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return mean + std * s;
    }
    let u1 = this.u();
    while (u1 <= 1e-12) u1 = this.u();
    const u2 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return mean + std * r * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Poisson sample. Knuth's method for small means, a normal approximation
   * (rounded, clamped at 0) above 60, where its error is negligible for images.
   */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 60) {
      return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.gaussian()));
    }
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.u();
    } while (p > l);
    return k - 1;
  }

  /** Gamma(shape, 1) sample (Marsaglia-Tsang; boosted for shape < 1). */
  gamma(shape: number): number {
    if (shape < 1) {
      const u = Math.max(this.u(), 1e-300);
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.gaussian();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.u();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Dirichlet sample with concentration `alpha` for each of `k` components. */
  dirichlet(k: number, alpha: number): Float64Array {
    const out = new Float64Array(k);
    let s = 0;
    for (let i = 0; i < k; i++) {
      out[i] = this.gamma(alpha);
      s += out[i];
    }
    if (s <= 0) {
      // All components underflowed (tiny alpha): put all mass on one.
      out[this.int(0, k)] = 1;
      return out;
    }
    for (let i = 0; i < k; i++) out[i] /= s;
    return out;
  }

  /** In-place Fisher-Yates shuffle; returns the same array. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.u() * (i + 1));
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }
}
