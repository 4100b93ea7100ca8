/**
 * The IoT service's adapted state on disk: `adapter.snapshot()` bytes written atomically (a
 * temporary file in the same folder, fsync, then rename over the target), so a crash or a
 * kill mid-write leaves the previous snapshot intact, never a torn file. Reading returns
 * undefined when there is no snapshot yet; the bytes are validated by `adapter.restore`,
 * which rejects anything malformed with `InvalidSnapshotError` and leaves the adapter as it was.
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
  await Promise.all(stale.map((f) => fs.rm(path.join(dir, f), { force: true })));
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
