/**
 * The shared command line of the replay scripts that chose the guard's defaults
 * (correlationPolicy.ts, mixturePolicy.ts, shiftDistances.ts): `--streams`, `--per-domain` (500),
 * `--batch` (64) and `--help` beside each script's own flags, and the wasm backend started.
 */
import { initBackend } from '../../src/index.js';
import { commaList, HELP, parseCli, positiveInt, seedArg, type Options, type ParsedValues } from '../cli.js';
import { perDomainArg, streamSpecArg } from './benchArgs.js';

/** Flags every replay script takes. */
export const REPLAY_OPTIONS = { streams: { type: 'string' }, 'per-domain': { type: 'string' }, batch: { type: 'string' }, help: HELP } as const;

/** One --streams entry: a stream spec, optionally `@seed` (lamePolicy.ts replays other seeds that way). */
function replayStream(entry: string): string {
  const at = entry.lastIndexOf('@');
  if (at >= 0) seedArg('--streams seed', entry.slice(at + 1));
  streamSpecArg('--streams', at < 0 ? entry : entry.slice(0, at));
  return entry;
}

/** What a replay script runs over: its parsed flags (its own included) and the common ones. */
export interface ReplayRun<A> {
  args: A;
  streams: string[];
  perDomain: number;
  batchSize: number;
}

/**
 * Parses `argv` with the replay flags plus `own`; prints `usage` and returns null on `--help`;
 * otherwise checks the common flags (a bad one is a UsageError) and starts the wasm backend.
 */
export async function replayArgs<const O extends Options>(
  own: O,
  usage: string,
  defaultStreams: string,
  argv: string[] = process.argv.slice(2),
): Promise<ReplayRun<ParsedValues<typeof REPLAY_OPTIONS & O>> | null> {
  const args = parseCli({ ...REPLAY_OPTIONS, ...own } as typeof REPLAY_OPTIONS & O, argv);
  const common = args as { help?: boolean; streams?: string; 'per-domain'?: string; batch?: string };
  if (common.help === true) {
    console.log(usage);
    return null;
  }
  // Flags are checked before the backend starts: a typo fails at once, with the usage.
  const run = {
    args,
    streams: commaList(common.streams ?? defaultStreams).map(replayStream),
    perDomain: perDomainArg(common['per-domain'] ?? '500'),
    batchSize: positiveInt('--batch', common.batch, 64),
  };
  await initBackend({ backend: 'wasm' });
  return run;
}
