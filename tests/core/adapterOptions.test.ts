/**
 * The one flat options shape of `createAdapter` and `createWorkerAdapter`: strategy options
 * beside adapter-level options, typed per strategy, unknown names rejected with a typed error,
 * and no strategy option that clashes with an adapter- or worker-level name.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, getStrategy, initBackend, InvalidOptionError, listStrategies } from '../../src/index.js';
import { ADAPTER_OPTION_NAMES, WORKER_OPTION_NAMES } from '../../src/optionNames.js';
import type { WorkerAdapterConfig } from '../../workers/node.js';
import { smallResNet } from '../helpers/models.js';

describe('adapter options', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('strategy options sit beside seed, flat, and getConfig reports them', async () => {
    const adapter = await createAdapter(smallResNet(), { strategy: 'tent', seed: 3, lr: 5e-3, optimizer: 'sgd' });
    const config = await adapter.getConfig();
    expect(config).toMatchObject({ strategy: 'tent', lr: 5e-3, optimizer: 'sgd' });
    adapter.dispose();
  });

  it('an unknown option throws InvalidOptionError naming it and listing the strategy and adapter options', async () => {
    const err = await createAdapter(smallResNet(), { strategy: 'tent', learningRate: 1e-3 } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as Error).message).toMatch(/Unknown option 'learningRate' for strategy 'tent'\. Its options: optimizer, lr, /);
    expect((err as Error).message).toMatch(/adapter options: seed, graphNodes/);
    // A worker-only option given to createAdapter is unknown there too.
    await expect(createAdapter(smallResNet(), { strategy: 'source', transfer: true } as never)).rejects.toThrow(InvalidOptionError);
  });

  it('no built-in strategy has an option named like an adapter- or worker-level option', () => {
    const reserved = new Set([...ADAPTER_OPTION_NAMES, ...WORKER_OPTION_NAMES]);
    for (const name of listStrategies()) {
      const clash = Object.keys(getStrategy(name).defaults).filter((k) => reserved.has(k));
      expect(clash, name).toEqual([]);
    }
  });

  it('options are typed per strategy (compile-time checks)', () => {
    // Each line below must fail to type-check; `npm run typecheck` verifies the directives.
    const m = smallResNet();
    const checks = [
      // @ts-expect-error: 'lr' is not an option of 'bn-adapt'
      () => createAdapter(m, { strategy: 'bn-adapt', lr: 1e-3 }),
      // @ts-expect-error: tent's optimizer is 'adam' | 'sgd'
      () => createAdapter(m, { strategy: 'tent', optimizer: 'rmsprop' }),
      // @ts-expect-error: the worker takes its strategy options flat, not under `options`
      (): WorkerAdapterConfig<'tent'> => ({ model: m, strategy: 'tent', options: { lr: 1e-3 } }),
    ];
    expect(checks).toHaveLength(3);
    const ok: WorkerAdapterConfig<'tent'> = { model: m, strategy: 'tent', seed: 1, lr: 1e-3, transfer: true };
    expect(ok.lr).toBe(1e-3);
    m.dispose();
  });
});
