// The IoT demo service's command line, run as the real process (`node --import tsx
// demos/node-iot/service.ts ...`, what `npm run demo:iot --` runs): a bad flag value is a usage
// error (exit 2, a message naming the flag, then the usage), never a stack trace.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function run(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'demos/node-iot/service.ts', '--port', '0', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('IoT service command line', () => {
  it('an unknown --stream is a usage error naming the flag and the valid specs', () => {
    const r = run('--stream', 'bogus');
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^--stream: Unknown stream 'bogus'\. Valid: continual/);
    expect(r.stderr).toContain('Usage: npm run demo:iot');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);

  it("a malformed --opt names the service's syntax (key=value), not the benchmarks' strategy.key=value", () => {
    // 'bn-adapt.stats=ema' is what the old message told the operator to write; it failed again with the same advice.
    for (const opt of ['lr', 'bn-adapt.stats=ema']) {
      const r = run('--opt', opt);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`--opt takes key=value (an option of --strategy bn-adapt), e.g. --opt stats=ema; got '${opt}'.`);
      expect(r.stderr).not.toContain('strategy.key=value');
    }
  }, 60_000);

  it('--per-domain above the test split and a seed outside 32 bits are usage errors (they were a RangeError stack from the stream)', () => {
    for (const [args, message] of [
      [['--per-domain', '20000'], '--per-domain must be at most 10001'],
      [['--seed', '4294967296'], '--seed'],
    ] as const) {
      const r = run(...args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain('Usage: npm run demo:iot');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);
});
