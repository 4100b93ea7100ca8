import * as tf from '../src/tf.js';
import { adamStepFused } from '../src/fused/index.js';

/** Options of {@link Adam}, with PyTorch's defaults (which the reference TTA code uses). */
export interface AdamOptions {
  /** Learning rate. */
  lr: number;
  /** Defaults to 0.9. */
  beta1?: number;
  /** Defaults to 0.999. */
  beta2?: number;
  /** Defaults to 1e-8 (PyTorch's; tfjs's own Adam uses 1e-7). */
  epsilon?: number;
}

/**
 * Adam as `torch.optim.Adam` computes it (bias-corrected, epsilon outside the square root),
 * with its moments held as named variables so a strategy's snapshot, restore and reset
 * include the optimiser state exactly (tfjs's optimisers keep theirs out of reach).
 */
export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Number of steps taken; part of the state (see `stateMeta`). */
  t = 0;
  private readonly params: tf.Variable[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(params: tf.Variable[], options: AdamOptions) {
    this.params = params;
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    // tidy frees the zerosLike temporaries; variables outlive it.
    this.m = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
    this.v = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
  }

  /** Applies one update; `grads[i]` is the gradient of `params[i]`; `lr` this step's learning rate (default: the optimiser's). */
  step(grads: tf.Tensor[], lr = this.lr): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    const scalars = { beta1: this.beta1, beta2: this.beta2, sqrtC2: Math.sqrt(c2), epsilon: this.epsilon, step: lr / c1 };
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g = grads[i]!;
        // On wasm one pass with the same f32 operations (src/fused adamStepFused); the ops below elsewhere.
        const fused = adamStepFused(p, g, this.m[i]!, this.v[i]!, scalars);
        if (fused !== null) {
          this.m[i]!.assign(fused.m);
          this.v[i]!.assign(fused.v);
          p.assign(fused.p);
          return;
        }
        const m = tf.add(tf.mul(this.m[i]!, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i]!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(c2)), this.epsilon);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), lr / c1)));
      });
    });
  }

  /** The second-moment variables (non-negative by construction; a snapshot must keep them so). */
  secondMoments(): readonly tf.Variable[] {
    return this.v;
  }

  /** The moment variables, named `${prefix}m/${i}` and `${prefix}v/${i}`, for a strategy's state. */
  stateVariables(prefix = 'adam/'): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    this.m.forEach((m, i) => out.set(`${prefix}m/${i}`, m));
    this.v.forEach((v, i) => out.set(`${prefix}v/${i}`, v));
    return out;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
