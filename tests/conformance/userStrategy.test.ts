/**
 * Strategies a user wrote against the public `Strategy` interface and registered with
 * `registerStrategy` (the example of docs/custom-strategy.md, and a gradient-based one) run
 * through the exported conformance suite (`edge-tta/testing`), and the suite catches a user
 * strategy that breaks the contract.
 */
import '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, registerStrategy, type StrategyDefinition } from '../../src/index.js';
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
  });

  it('returning the post-update prediction fails the prediction check', async () => {
    const def = broken('bias-entropy-post-update', (s) => {
      const step = s.step.bind(s);
      s.step = (x) => {
        const r = step(x);
        r.probs.dispose();
        const inner = s as unknown as { model: { predict(x: unknown): import('@tensorflow/tfjs').Tensor2D } };
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
});
