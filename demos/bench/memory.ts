/**
 * `npm run bench:memory`: several adapters of different strategies, each on its own Keras
 * MobileNetV2-224 (demos/bench/perfModels.ts, seeded weights), in one Node process on the wasm
 * backend, stepping in turn at one batch size. Every step either runs or fails with the typed
 * `OutOfMemoryError` (never a wasm abort); the script prints what each adapter did, the live
 * tensor bytes after its step and the wasm heap size. (Not under `tf.profile`: tfjs's profiler
 * turns an error thrown inside a kernel into a TypeError of its own bookkeeping. The peak per
 * strategy is measured by `bench:perf`.)
 *
 *   npm run bench:memory -- [--strategies source,bn-adapt,alpha-bn,lame,tent] [--batch 8] [--rounds 2] [--limit-mb 3072]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createAdapter, initBackend, OutOfMemoryError, type Adapter } from '../../src/index.js';
import { backendMemory, type WasmBackendLike } from '../../src/backend/kernels/edgeModule.js';
import { exitOnHelp, HELP, parseCli, positiveInt, runCli } from '../cli.js';
import { buildPerfModel } from './perfModels.js';
import { strategiesArg } from './benchArgs.js';

const USAGE = `Usage: npm run bench:memory -- [--strategies a,b,...] [--batch 8] [--rounds 2] [--limit-mb 3072]

Adapters of the given strategies, one MobileNetV2-224 each, in one process; each steps --rounds
times at --batch, in turn. Every step runs or fails with OutOfMemoryError.

Options:
  --strategies  default source,bn-adapt,alpha-bn,lame,tent
  --batch       default 8
  --rounds      default 2
  --limit-mb    initBackend's memoryLimitMB (default 3072)
  -h, --help    this text`;

async function main(): Promise<void> {
  const v = parseCli({ strategies: { type: 'string' }, batch: { type: 'string' }, rounds: { type: 'string' }, 'limit-mb': { type: 'string' }, help: HELP }, process.argv.slice(2));
  exitOnHelp(v, USAGE);
  const strategies = strategiesArg('--strategies', v.strategies ?? 'source,bn-adapt,alpha-bn,lame,tent');
  const batch = positiveInt('--batch', v.batch, 8);
  const rounds = positiveInt('--rounds', v.rounds, 2);
  const limitMB = positiveInt('--limit-mb', v['limit-mb'], 3072);
  await initBackend({ backend: 'wasm', memoryLimitMB: limitMB });
  const heapMB = () => backendMemory(tf.backend() as unknown as WasmBackendLike).buffer.byteLength / 2 ** 20;
  const x = tf.randomUniform([batch, 224, 224, 3], 0, 1, 'float32', 1);
  const lanes: Array<{ strategy: string; adapter: Adapter; ok: number; oom: number; liveMB: number }> = [];
  for (const [i, strategy] of strategies.entries()) {
    const model = buildPerfModel('mobilenetv2', i + 1);
    lanes.push({ strategy, adapter: await createAdapter(model, { strategy: strategy as never, seed: 1 } as never), ok: 0, oom: 0, liveMB: 0 });
  }
  for (let r = 0; r < rounds; r++) {
    for (const lane of lanes) {
      try {
        await lane.adapter.step(x);
        lane.ok++;
        lane.liveMB = tf.memory().numBytes / 2 ** 20;
        console.error(`round ${r + 1} ${lane.strategy}: ok (${lane.liveMB.toFixed(0)} MB live tensors after it, wasm heap ${heapMB().toFixed(0)} MB)`);
      } catch (e) {
        if (!(e instanceof OutOfMemoryError)) throw e;
        lane.oom++;
        console.error(`round ${r + 1} ${lane.strategy}: OutOfMemoryError (${e.message.slice(0, 120)}...)`);
      }
    }
  }
  console.log(`| strategy | steps ok | OutOfMemoryError | live tensors MB after its last step (all ${lanes.length} adapters) |`);
  console.log('|---|---|---|---|');
  for (const l of lanes) console.log(`| ${l.strategy} | ${l.ok} | ${l.oom} | ${l.ok > 0 ? l.liveMB.toFixed(0) : '-'} |`);
  console.log(`\nwasm heap ${heapMB().toFixed(0)} MB, limit ${limitMB} MB of live tensors, batch ${batch}, ${rounds} rounds.`);
  for (const l of lanes) l.adapter.dispose();
  x.dispose();
}

await runCli(USAGE, main);
