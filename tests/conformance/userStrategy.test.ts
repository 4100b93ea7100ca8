/**
 * Strategies a user wrote against the public `Strategy` interface and registered with
 * `registerStrategy` (the example of docs/custom-strategy.md, and a gradient-based one) run
 * through the exported conformance suite (`edge-tta/testing`), and the suite catches a user
 * strategy that breaks the contract.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getStrategy, initBackend, InvalidOptionError, registerStrategy, type StrategyDefinition } from '../../src/index.js';
import { ConformanceError, runStrategyConformance, strategyConformanceChecks } from '../../src/testing/index.js';
import { biasEntropyStrategy } from '../helpers/biasEntropyStrategy.js';
import { priorEma } from '../helpers/exampleStrategy.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

// The example strategy of docs/custom-strategy.md: output-level (no model predicts its corrected output).
registerStrategy(priorEma);
// prior-ema is for class-correlated streams (as LAME): on the suite's random models, far from their
// own BN statistics, the guard answers such a strategy with the source model (guard.maxShift).
runStrategyConformance(priorEma as unknown as StrategyDefinition, { describe, it, options: { momentum: 0.5, guard: { maxShift: 0 } }, longRunSteps: 50 });

registerStrategy(biasEntropyStrategy);
runStrategyConformance(biasEntropyStrategy as unknown as StrategyDefinition, {
  describe,
  it,
  options: { lr: 0.5 },
  longRunSteps: 50,
  prediction: { weights: 'model', state: 'before-step', batchNorm: 'moving', distinctFrom: [{ weights: 'model', state: 'after-step' }] },
});

describe('the exported suite catches broken user strategies', () => {
  /** The user strategy with one method replaced, registered under its own name. */
  function broken(name: string, patch: (s: ReturnType<StrategyDefinition['create']>) => void): StrategyDefinition {
    const def: StrategyDefinition = {
      ...(biasEntropyStrategy as unknown as StrategyDefinition),
      name,
      create: (target, config, context) => {
        const s = biasEntropyStrategy.create(target, config as never, context);
        patch(s as never);
        return s as never;
      },
    };
    registerStrategy(def);
    return def;
  }
  async function failures(def: StrategyDefinition, title: RegExp): Promise<string[]> {
    const checks = strategyConformanceChecks(def, { options: { lr: 0.5 }, longRunSteps: 20, models: undefined }).filter(
      (c) => c.model === 'bn-resnet' && title.test(c.title),
    );
    expect(checks.length).toBeGreaterThan(0);
    const out: string[] = [];
    for (const c of checks) {
      try {
        await c.run();
      } catch (e) {
        expect(e).toBeInstanceOf(ConformanceError);
        out.push((e as Error).message);
      }
    }
    return out;
  }

  it('a reset() that forgets the step counter fails the reset check', async () => {
    const def = broken('bias-entropy-bad-reset', (s) => {
      const reset = s.reset.bind(s);
      s.reset = () => {
        const meta = s.snapshot();
        reset();
        (s as unknown as { steps: number }).steps = Number(meta.meta.steps);
        Object.values(meta.tensors).forEach((t) => t.dispose());
      };
    });
    const msgs = await failures(def, /^reset\(\)/);
    expect(msgs.join('\n')).toMatch(/metadata/);
  });

  it('a restore() that ignores the step counter fails the snapshot/restore check', async () => {
    const def = broken('bias-entropy-lax-restore', (s) => {
      const restore = s.restore.bind(s);
      s.restore = (state) => restore({ tensors: state.tensors, meta: { steps: 0 } });
    });
    const msgs = await failures(def, /^snapshot\(\)\/restore\(\)/);
    expect(msgs.join('\n')).toMatch(/snapshot of an adapter restored from it: strategy metadata/);
  });

  it('a snapshot() that leaks a tensor fails the memory check', async () => {
    const def = broken('bias-entropy-leaky', (s) => {
      const snapshot = s.snapshot.bind(s);
      s.snapshot = () => {
        snapshot(); // dropped on the floor
        return snapshot();
      };
    });
    const msgs = await failures(def, /create\/step\/dispose/);
    expect(msgs.join('\n')).toMatch(/tf\.memory\(\) went from/);
    // The message says which call left the tensors (one per cycle: snapshot +3 over 3 cycles).
    expect(msgs.join('\n')).toMatch(/Tensors each call left over the 3 cycles: .*snapshot \+3,/);
  });

  it('returning the post-update prediction fails the prediction check', async () => {
    const def = broken('bias-entropy-post-update', (s) => {
      const step = s.step.bind(s);
      s.step = (x) => {
        const r = step(x);
        r.probs.dispose();
        const inner = s as unknown as { model: { predict(x: unknown): tf.Tensor2D } };
        return { ...r, probs: inner.model.predict(x) };
      };
    });
    const checks = strategyConformanceChecks(def, {
      options: { lr: 0.5 },
      prediction: { weights: 'model', state: 'before-step', batchNorm: 'moving', distinctFrom: [{ weights: 'model', state: 'after-step' }] },
    }).filter((c) => c.model === 'bn-resnet' && /prediction/.test(c.title));
    expect(checks).toHaveLength(1);
    await expect(checks[0]!.run()).rejects.toThrow(/not those of the model before the step/);
  });

  // Each bug below was written as a user would (scratch/conformance, 2026-12-02), one per strategy.
  // Before these checks the suite missed it (passed), or failed on it only with an error from
  // tfjs that named neither the method nor the fix ("Cannot read properties of undefined
  // (reading 'backend')", "Tensor is disposed.").

  /** The failures of the checks `id` on `model` (default the first model), as messages. */
  async function failuresOf(def: StrategyDefinition, id: string, options: Record<string, unknown> = { lr: 0.5 }, model = 'bn-resnet'): Promise<string[]> {
    const checks = strategyConformanceChecks(def, { options, longRunSteps: 20, only: [id as never] }).filter((c) => c.model === model);
    expect(checks).toHaveLength(1);
    try {
      await checks[0]!.run();
    } catch (e) {
      expect(e).toBeInstanceOf(ConformanceError);
      return [(e as Error).message];
    }
    return [];
  }
  type Inner = { model: tf.LayersModel; bias: tf.Variable; key: string; steps: number };

  it('a predict() that leaks a tensor per call fails the predict check (it passed before: no check called predict() twice)', async () => {
    const def = broken('bias-entropy-leaky-predict', (s) => {
      const inner = s as unknown as Inner;
      (s as { predict?: (x: tf.Tensor4D) => tf.Tensor2D }).predict = (x) => {
        const y = inner.model.predict(x) as tf.Tensor2D; // outside tf.tidy: left behind
        return tf.tidy(() => tf.div(y, tf.sum(y, 1, true)) as tf.Tensor2D);
      };
    });
    expect((await failuresOf(def, 'predict')).join('\n')).toMatch(/2 calls of predict\(\): tf\.memory\(\) changed by \+2 tensors.*predict\(\) leaves tensors behind/);
  });

  it('a step() that disposes its input batch fails the ownership check (it passed on bn-resnet before)', async () => {
    const def = broken('bias-entropy-disposes-input', (s) => {
      const step = s.step.bind(s);
      s.step = (x) => {
        const r = step(x);
        x.dispose(); // "done with the batch"
        return r;
      };
    });
    expect((await failuresOf(def, 'ownership')).join('\n')).toMatch(/step\(\) disposed its input batch/);
  });

  it('a step() that keeps its input batch for the next step fails the ownership check, naming the fix', async () => {
    const def = broken('bias-entropy-keeps-input', (s) => {
      const step = s.step.bind(s);
      let previous: tf.Tensor4D | null = null;
      s.step = (x) => {
        if (previous !== null) tf.tidy(() => tf.mean(previous!).dataSync()); // reads last step's batch
        previous = x; // no copy: the adapter disposes it
        return step(x);
      };
    });
    expect((await failuresOf(def, 'ownership')).join('\n')).toMatch(/^step 2, after step 1's batch .* were disposed .* keep its own copy \(tf\.clone\)/);
  });

  it('a snapshot() that returns the variable itself, not a copy, fails the ownership check', async () => {
    const def = broken('bias-entropy-snapshot-no-copy', (s) => {
      const inner = s as unknown as Inner;
      s.snapshot = () => ({ tensors: { [inner.key]: inner.bias }, meta: { steps: inner.steps } });
    });
    expect((await failuresOf(def, 'ownership')).join('\n')).toMatch(/snapshot\(\) must return copies/);
  });

  it('a restore() that keeps the tensor it is given instead of copying it fails the ownership check', async () => {
    registerStrategy(priorEmaBroken('prior-ema-restore-keeps', (s) => {
      const inner = s as unknown as { prior: tf.Tensor };
      s.restore = (state) => {
        inner.prior.dispose();
        inner.prior = state.tensors.prior!; // kept, not copied: the adapter disposes it
      };
    }));
    const msgs = await failuresOf(getStrategy('prior-ema-restore-keeps'), 'ownership', { momentum: 0.5, guard: { maxShift: 0 } });
    expect(msgs.join('\n')).toMatch(/after restore\(\).*restore\(\) must copy what it keeps/);
  });

  it('a stateSpec() that lies about a shape fails the state-spec check, naming the tensor and both shapes', async () => {
    const def = broken('bias-entropy-spec-shape', (s) => {
      const stateSpec = s.stateSpec.bind(s);
      s.stateSpec = () => {
        const spec = stateSpec();
        return { ...spec, tensors: new Map([...spec.tensors].map(([k, v]) => [k, { ...v, shape: [10] }])) }; // "10 classes"
      };
    });
    expect((await failuresOf(def, 'state-spec')).join('\n')).toMatch(/stateSpec\(\) says 'classifier\/bias' is \[10\] float32; snapshot\(\) gives \[4\] float32/);
  });

  it('a stateSpec() that marks a signed tensor nonNegative fails the state-spec check (before: restore() refused the own snapshot, blaming the bytes)', async () => {
    const def = broken('bias-entropy-spec-nonnegative', (s) => {
      const stateSpec = s.stateSpec.bind(s);
      s.stateSpec = () => {
        const spec = stateSpec();
        return { ...spec, tensors: new Map([...spec.tensors].map(([k, v]) => [k, { ...v, nonNegative: true }])) };
      };
    });
    expect((await failuresOf(def, 'state-spec')).join('\n')).toMatch(/stateSpec\(\) marks 'classifier\/bias' nonNegative, but after 2 steps snapshot\(\) holds -/);
  });

  it('a snapshot() that leaves out a tensor the step reads fails snapshot/restore, saying the state is not all in the snapshot', async () => {
    const def = broken('bias-entropy-snapshot-partial', (s) => {
      const inner = s as unknown as Inner;
      s.snapshot = () => ({ tensors: {}, meta: { steps: inner.steps } }); // the trained bias left out
      s.stateSpec = () => ({ tensors: new Map(), meta: { steps: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER } } });
      s.restore = (state) => {
        inner.steps = Number(state.meta.steps);
      };
    });
    const msgs = await failuresOf(def, 'snapshot-restore');
    expect(msgs.join('\n')).toMatch(/a second adapter restored from the snapshot, step 1: probabilities.*re-snapshots to the same bytes, so the difference is in state the snapshot does not hold/);
  });

  it('a step that draws from Math.random fails the determinism check, naming Math.random', async () => {
    const def = broken('bias-entropy-math-random', (s) => {
      const step = s.step.bind(s);
      s.step = (x) => {
        if (Math.random() >= 0.5) return step(x);
        const flipped = tf.reverse(x, 2) as tf.Tensor4D; // a random flip, unseeded
        try {
          return step(flipped);
        } finally {
          flipped.dispose();
        }
      };
    });
    // Two seeded runs differ at a step where the draws differ: try until they do (each step flips with probability 1/2).
    let msgs: string[] = [];
    for (let i = 0; i < 5 && msgs.length === 0; i++) msgs = await failuresOf(def, 'determinism');
    expect(msgs.join('\n')).toMatch(/a second adapter with the same seed.*never Math\.random/);
  });

  it('a stepOnSourcePass() that forgets the update step() makes fails the step-on-source-pass check (it passed before: the suite never reached stepOnSourcePass)', async () => {
    registerStrategy(priorEmaBroken('prior-ema-source-pass', (s) => {
      const inner = s as unknown as { prior: tf.Variable; stepOnSourcePass?: (probs: tf.Tensor2D, features: tf.Tensor2D) => unknown };
      // The guard's shortcut for an output-level strategy: the corrected probabilities, but no prior update.
      inner.stepOnSourcePass = (probs) => {
        const out = tf.tidy(() => {
          const p = tf.mul(probs, inner.prior);
          return tf.div(p, tf.sum(p, 1, true));
        });
        const top = tf.tidy(() => tf.max(inner.prior));
        const priorMax = top.dataSync()[0]!;
        top.dispose();
        return { probs: out, stats: { priorMax } };
      };
    }));
    const msgs = await failuresOf(getStrategy('prior-ema-source-pass'), 'step-on-source-pass', { momentum: 0.5, guard: { maxShift: 0 } });
    expect(msgs.join('\n')).toMatch(/stepOnSourcePass\(\) .* must make the same prediction and the same update as step\(\)/);
  });

  it("a strategy with a minBatch above the suite's batches fails instead of passing untested (before, the guard answered every step and a broken reset() passed)", async () => {
    const def = broken('bias-entropy-min-batch', (s) => {
      (s as { minBatch?: number }).minBatch = 16; // batch statistics: needs 16 frames
      s.reset = () => undefined; // the bug the suite could not see: reset() does nothing
    });
    expect((await failuresOf(def, 'reset')).join('\n')).toMatch(/reset\(\): the guard answered all 3 steps with the source model \(reason 'small-batch'\).*pass batchSize/);
    // Run as the message says, the suite steps the strategy and finds the bug.
    const checks = strategyConformanceChecks(def, { options: { lr: 0.5, guard: false }, only: ['reset'] }).filter((c) => c.model === 'bn-resnet');
    await expect(checks[0]!.run()).rejects.toThrow(/after reset\(\): weight 'classifier\/bias' element 0 differs from the source value/);
  });

  it('a stepOnSourcePass() that updates even when called with update false fails the step-on-source-pass check (the guard calls it so on steps that must not update)', async () => {
    registerStrategy(priorEmaBroken('prior-ema-source-pass-always', (s) => {
      const inner = s as unknown as { prior: tf.Variable; stepOnSourcePass?: (probs: tf.Tensor2D, features: tf.Tensor2D, update?: boolean) => unknown };
      // step() on the source pass, right, but written before the update flag: it always updates.
      inner.stepOnSourcePass = (source) => {
        const probs = tf.tidy(() => {
          const p = tf.mul(source, inner.prior);
          return tf.div(p, tf.sum(p, 1, true)) as tf.Tensor2D;
        });
        const top = tf.tidy(() => {
          inner.prior.assign(tf.add(tf.mul(inner.prior, 0.5), tf.mul(tf.mean(probs, 0), 0.5)));
          return tf.max(inner.prior);
        });
        const priorMax = top.dataSync()[0]!;
        top.dispose();
        return { probs, stats: { priorMax } };
      };
    }));
    const msgs = await failuresOf(getStrategy('prior-ema-source-pass-always'), 'step-on-source-pass', { momentum: 0.5, guard: { maxShift: 0 } });
    expect(msgs.join('\n')).toMatch(/^state after stepOnSourcePass\(probs, features, false\) .*: state tensor 'prior'/);
  });

  it('a predictCheap() that updates the state fails the predict-cheap check (it passed before: only a compute budget calls predictCheap, and the suite sets none)', async () => {
    registerStrategy(priorEmaBroken('prior-ema-cheap-updates', (s) => {
      const inner = s as unknown as { prior: tf.Variable; predict(x: tf.Tensor4D): tf.Tensor2D; predictCheap?: (x: tf.Tensor4D) => tf.Tensor2D };
      inner.predictCheap = (x) => {
        const p = inner.predict(x);
        tf.tidy(() => inner.prior.assign(tf.add(tf.mul(inner.prior, 0.5), tf.mul(tf.mean(p, 0), 0.5)))); // "cheap step": moves the prior
        return p;
      };
    }));
    const msgs = await failuresOf(getStrategy('prior-ema-cheap-updates'), 'predict-cheap', { momentum: 0.5, guard: { maxShift: 0 } });
    expect(msgs.join('\n')).toMatch(/state after predictCheap\(\) \(the budget calls it on the steps it skips: it must change nothing\): state tensor 'prior'/);
  });

  it('a step that returns logits, not probabilities, fails with a message saying so (it passed before: no check looked at the values)', async () => {
    const def = broken('bias-entropy-logits', (s) => {
      const inner = s as unknown as Inner;
      const step = s.step.bind(s);
      s.step = (x) => {
        const r = step(x);
        r.probs.dispose();
        return { ...r, probs: tf.tidy(() => tf.log(inner.model.predict(x) as tf.Tensor2D)) as tf.Tensor2D }; // log-probabilities
      };
    });
    expect((await failuresOf(def, 'reset')).join('\n')).toMatch(/^step 1: frame 0 has \[-.*\] \(sum .*\): the strategy must return probabilities .* not the logits themselves/);
  });

  it("a validate() that only checks lr <= 0 lets a string or NaN through and fails the bad-option check (it passed before: only unknown option names were tried)", async () => {
    const def: StrategyDefinition = {
      ...(biasEntropyStrategy as unknown as StrategyDefinition),
      name: 'bias-entropy-lax-validate',
      validate: (c: Record<string, unknown>) => {
        if ((c.lr as number) <= 0) throw new InvalidOptionError(`bias-entropy: option 'lr' is ${String(c.lr)}; it must be positive.`); // "1" <= 0 and NaN <= 0 are false
      },
    };
    registerStrategy(def);
    expect((await failuresOf(def, 'bad-option', { lr: 0.5 }, 'any')).join('\n')).toMatch(/option 'lr' set to "1" \(its default is the number 0\.01\): createAdapter accepted it/);
  });

  it('a strategy that declares needs.layersModel: false but reads target.executor fails the graph-model check (it passed before: no check ran on a GraphModel)', async () => {
    registerStrategy(priorEmaBroken('prior-ema-layers-only', (s, target) => {
      const t = target as unknown as { executor: { logits(x: tf.Tensor): tf.Tensor } };
      (s as { predict?: (x: tf.Tensor4D) => tf.Tensor2D }).predict = (x) => tf.tidy(() => tf.softmax(t.executor.logits(x)) as tf.Tensor2D);
    }));
    const msgs = await failuresOf(getStrategy('prior-ema-layers-only'), 'graph-model', { momentum: 0.5, guard: { maxShift: 0 } }, 'graph-mlp');
    expect(msgs.join('\n')).toMatch(/on a tf\.GraphModel, step\(\) threw TypeError.*declare needs\.layersModel: true/);
  });
});

/** prior-ema (docs/custom-strategy.md) with one method replaced, under its own name. */
function priorEmaBroken(name: string, patch: (s: ReturnType<StrategyDefinition['create']>, target: Parameters<StrategyDefinition['create']>[0]) => void): StrategyDefinition {
  const base = priorEma as unknown as StrategyDefinition;
  return {
    ...base,
    name,
    create: (target, config, context) => {
      const s = base.create(target, config, context);
      patch(s, target);
      return s;
    },
  };
}
