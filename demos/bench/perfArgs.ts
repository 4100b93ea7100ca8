/** The command line of `npm run bench:perf` (demos/bench/perf.ts), parsed by demos/cli.ts. */
import { commaList, exitOnHelp, HELP, parseCli, positive, positiveInt, seedArg, UsageError } from '../cli.js';
import { PERF_MODELS, type PerfModelName } from './perfModels.js';
import { parseStrategyOptions, strategiesArg } from './benchArgs.js';

export const PERF_USAGE = `Usage: npm run bench:perf -- [--models resnet14,mobilenetv2] [--strategies a,b] [--batches 1,8,64]
                          [--rounds 5] [--seconds 8] [--seed 1] [--threads 1] [--profile] [--guard]
                          [--opt s.key=value ...] [--json file]

Speed of every strategy's step against plain model.predict on the same model and batch, in one
process with interleaved rounds (wasm backend, SIMD, one XNNPACK thread unless --threads). Models are built with tf.layers
and seeded weights (demos/bench/perfModels.ts): resnet14 (32x32x3, 15 BN) and mobilenetv2 (Keras
MobileNetV2 224x224x3, 52 BN). Batch 64 runs on resnet14 only.

Options:
  --models      models to run (default: both)
  --strategies  strategies (default: every registered one)
  --batches     batch sizes (default: 1,8,64)
  --rounds      minimum interleaved rounds per cell, each one predict and one step (default 5;
                2 when one step takes longer than --seconds)
  --seconds     keep adding rounds (up to 400) until a cell has run this long (default 8)
  --seed        weights, inputs and adapter seed (default 1)
  --threads     XNNPACK threads of the wasm backend (default 1; initBackend({ threads })). With
                more than one, compare the wall-time ratio: CPU time then sums every thread
  --profile     print the 12 most expensive kernels of one step per cell (tf.profile)
  --guard       keep the adapter's default guard on (default: off, so a row is the strategy's own
                step: on these random-weight models and random inputs the guard trips on most
                steps and the row would time its source fallback instead)
  --opt s.key=value  a strategy option, repeatable (value parsed as JSON when it can be), e.g.
                --opt cotta.threshold=2 (every batch augmented: 32 teacher views)
  --json file   also write the JSON there (always written to bench-results/)
  -h, --help    this text`;

/** Parsed `bench:perf` options. */
export interface PerfOptions {
  models: PerfModelName[];
  /** Empty: every registered strategy. */
  strategies: string[];
  batches: number[];
  rounds: number;
  seconds: number;
  seed: number;
  /** XNNPACK threads (initBackend's `threads`). */
  threads: number;
  profile: boolean;
  /** Run adapters with their default guard (off by default: see PERF_USAGE). */
  guard: boolean;
  /** Per-strategy options (`--opt`). */
  strategyOptions: Record<string, Record<string, unknown>>;
  json?: string;
}

/** Parses argv; returns 'help' when --help was given (after printing nothing: the caller prints). */
export function parsePerfArgs(argv: string[]): PerfOptions {
  const v = parseCli(
    {
      models: { type: 'string' },
      strategies: { type: 'string' },
      batches: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      profile: { type: 'boolean' },
      guard: { type: 'boolean' },
      opt: { type: 'string', multiple: true },
      json: { type: 'string' },
      help: HELP,
    },
    argv,
  );
  exitOnHelp(v, PERF_USAGE);
  const models = v.models === undefined ? [...PERF_MODELS] : commaList(v.models);
  for (const m of models) {
    if (!PERF_MODELS.includes(m as PerfModelName)) throw new UsageError(`--models: unknown model '${m}'; valid: ${PERF_MODELS.join(', ')}.`);
  }
  const batches = v.batches === undefined ? [1, 8, 64] : commaList(v.batches).map((b) => positiveInt('--batches', b));
  return {
    models: models as PerfModelName[],
    strategies: v.strategies === undefined ? [] : strategiesArg('--strategies', v.strategies),
    batches,
    rounds: positiveInt('--rounds', v.rounds, 5),
    seconds: positive('--seconds', v.seconds, 8),
    seed: seedArg('--seed', v.seed, 1),
    threads: positiveInt('--threads', v.threads, 1),
    profile: v.profile ?? false,
    guard: v.guard ?? false,
    strategyOptions: parseStrategyOptions(v.opt ?? []),
    ...(v.json !== undefined ? { json: v.json } : {}),
  };
}
