/**
 * The IoT service's adapted state on disk: `adapter.snapshot()` bytes written atomically (a
 * temporary file in the same folder, fsync, then rename over the target), so a crash or a
 * kill mid-write leaves the previous snapshot intact, never a torn file. Reading returns
 * undefined when there is no snapshot yet; the bytes are validated by `adapter.restore`,
 * which rejects anything malformed with `InvalidSnapshotError` and leaves the adapter as it was.
 * A snapshot the service cannot use at start is moved aside (`quarantineSnapshot`), never deleted.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Writes `bytes` to `file` atomically (temp file + fsync + rename). */
export async function writeSnapshotAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `${tempPrefix(file)}${process.pid}.${Date.now()}.tmp`);
  const handle = await fs.open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** The temp-file name prefix `writeSnapshotAtomic` uses for `file`. */
function tempPrefix(file: string): string {
  return `.${path.basename(file)}.`;
}

/**
 * The snapshot bytes at `file`, or undefined if there is none. At most `maxBytes` are read.
 * Temp files left by a process killed mid-write (never the snapshot itself) are removed first.
 */
export async function readSnapshot(file: string, maxBytes: number): Promise<Uint8Array | undefined> {
  const dir = path.dirname(path.resolve(file));
  const stale = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(tempPrefix(file)) && f.endsWith('.tmp'));
  // Best effort: a temp name that cannot be removed (e.g. a folder) says nothing about the snapshot.
  await Promise.all(stale.map((f) => fs.rm(path.join(dir, f), { force: true }).catch(() => undefined)));
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!stat.isFile()) throw new Error(`Snapshot path '${file}' is not a file.`);
  if (stat.size > maxBytes) throw new Error(`Snapshot '${file}' is ${stat.size} bytes, more than the ${maxBytes} allowed (--snapshot-max-mb).`);
  return new Uint8Array(await fs.readFile(file));
}

/**
 * Moves an unusable snapshot (a file or whatever else is at `file`) aside, next to it, as
 * `<file>.rejected-<UTC time>` (e.g. `iot-adapter.snapshot.rejected-20260102T030405.678Z`; `-1`,
 * `-2`... appended if that name is taken), so the next start does not meet it again and the
 * operator can still inspect it. Resolves with the new path; rejects if the rename fails.
 */
export async function quarantineSnapshot(file: string, now: Date = new Date()): Promise<string> {
  const base = `${file}.rejected-${now.toISOString().replace(/[-:]/g, '')}`;
  for (let n = 0; n < 100; n++) {
    const target = n === 0 ? base : `${base}-${n}`;
    try {
      await fs.lstat(target);
      continue; // taken: never rename over an earlier rejected snapshot
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await fs.rename(file, target);
    return target;
  }
  throw new Error(`No free name '${base}[-n]' to move the snapshot to.`);
}
