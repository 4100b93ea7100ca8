// Runs the IoT demo service (demos/node-iot/service.ts) as a real process for the HTTP tests.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A service process that printed its `listening` line. */
export interface IotProcess {
  child: ChildProcess;
  /** The URL it listens on, e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  /** The steps its snapshot had, as printed in the `listening` line. */
  restoredSteps: number;
  /** How its start-up restore went, as printed in the `listening` line: `restored`, `none` or `rejected`. */
  restore: string;
  /** Everything it printed so far (stdout and stderr). */
  output: () => string;
}

/**
 * Starts the service with `args` (after `service.ts`); resolves once it prints its `listening`
 * line, rejects if it exits first or takes over 120 s. `children` collects the process, for the
 * test's afterAll to kill.
 */
export function startIotService(args: readonly string[], children: ChildProcess[]): Promise<IotProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demos/node-iot/service.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start in time:\n${out}`)), 120_000);
    const onData = (): void => {
      const line = out.split('\n').find((l) => l.startsWith('{"listening"'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const info = JSON.parse(line) as { listening: string; restoredSteps: number; restore: string };
      resolve({ child, url: info.listening, port: Number(new URL(info.listening).port), restoredSteps: info.restoredSteps, restore: info.restore, output: () => out });
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`service exited (${code}) before listening:\n${out}`)));
  });
}
