/**
 * The worker's loading of user strategy modules (`strategyModules`): what the worker imports
 * and registers, and the typed error when it cannot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAdapter, initBackend, InvalidStrategyError } from '../../src/index.js';
import { tinyPlainCnn } from '../../src/testing/index.js';
import { createWorkerAdapter } from '../../workers/node.js';
import { selfRegistering } from './fixtures/selfRegisteringStrategy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (file: string) => path.join(here, 'fixtures', file);
const EXAMPLE = path.join(here, '../helpers/exampleStrategy.ts');
// prior-ema corrects class-correlated streams: with the default guard it would answer with the source model.
const PRIOR_EMA_OPTIONS = { momentum: 0.5, guard: { maxShift: 0 } };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe("the worker's strategyModules loading", () => {
  it('registers a module that registered itself on import (the same definition), so the worker gives the in-thread outputs', async () => {
    const model = tinyPlainCnn();
    const local = await createAdapter(model, { strategy: selfRegistering.name, ...PRIOR_EMA_OPTIONS, seed: 1 } as never);
    const worker = await createWorkerAdapter({ model, strategy: selfRegistering.name, ...PRIOR_EMA_OPTIONS, seed: 1, strategyModules: [fixture('selfRegisteringStrategy.ts')] } as never);
    try {
      const batch = { data: Float32Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => (i % 7) / 7), shape: [4, 8, 8, 3] };
      const [w, l] = [await worker.step({ ...batch, data: batch.data.slice() }), await local.step({ ...batch, data: batch.data.slice() })];
      expect(Array.from(w.probs)).toEqual(Array.from(l.probs));
    } finally {
      local.dispose();
      await worker.terminate();
      model.dispose();
    }
  });

  it('still refuses another definition under a name already registered in the worker (InvalidStrategyError)', async () => {
    const model = tinyPlainCnn();
    try {
      const err = await createWorkerAdapter({ model, strategy: 'prior-ema', strategyModules: [EXAMPLE, fixture('clashingStrategy.ts')] } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidStrategyError);
      expect((err as Error).message).toMatch(/a strategy named 'prior-ema' is already registered/);
    } finally {
      model.dispose();
    }
  });

  /** Starts (and stops) a worker adapter of the example strategy that imports it from `module`. */
  async function startsWith(module: string): Promise<void> {
    const model = tinyPlainCnn();
    try {
      const worker = await createWorkerAdapter({ model, strategy: 'prior-ema', ...PRIOR_EMA_OPTIONS, strategyModules: [module] } as never);
      await worker.terminate();
    } finally {
      model.dispose();
    }
  }

  it("imports a module from a path with '#' or '?' in it (they were taken for a URL's fragment and query)", async () => {
    // The example strategy, re-exported by a module in a folder whose name has '#' and '?'.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta #1?x '));
    try {
      const file = path.join(dir, 'strategy.mjs');
      fs.writeFileSync(file, `export { default } from '${pathToFileURL(EXAMPLE).href}';`);
      await startsWith(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('imports a module given as a data: URL (it was taken for a relative file path)', async () => {
    await startsWith(`data:text/javascript,${encodeURIComponent(`export { default } from '${pathToFileURL(EXAMPLE).href}';`)}`);
  });
});
