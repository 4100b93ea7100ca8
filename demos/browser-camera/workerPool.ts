/**
 * The lanes' Web Workers, started as soon as the page opens (by `main.ts`, before the page's
 * own code loads), so their bundle, the tfjs wasm binary and the model load while the page
 * code is parsed. `takeWorker` hands out a started worker, or starts a new one.
 */
import type { DemoAssets } from './build.js';

/** The hashed URLs of the worker bundle and the .wasm files, written in by the build. */
declare const __DEMO_ASSETS__: DemoAssets;

const started: Worker[] = [];

const newWorker = (): Worker => new Worker(new URL(__DEMO_ASSETS__.worker, location.href), { type: 'module' });

/** Starts `n` workers for later use. */
export function startWorkers(n: number): void {
  for (let i = 0; i < n; i++) started.push(newWorker());
}

/** A started worker, or a new one. */
export function takeWorker(): Worker {
  return started.shift() ?? newWorker();
}

/** Ends the started workers nobody took (e.g. lane B turned off). */
export function endUnusedWorkers(): void {
  for (const w of started.splice(0)) w.terminate();
}
