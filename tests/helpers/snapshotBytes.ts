/**
 * Byte surgery on edge-tta snapshots for the hardening tests: split a snapshot into its JSON
 * header and data section, edit them, and write the bytes back (a header of any content and
 * length, the data section as given) without any of the encoder's checks.
 */
const PREFIX = 12;

/** A snapshot taken apart: the parsed header (as JSON value) and the raw data section. */
export interface SnapshotParts {
  header: { entries: Array<Record<string, unknown>>; meta: Record<string, unknown> };
  data: Uint8Array;
}

/** Splits bytes written by `encodeState` (trusted here: they come from `adapter.snapshot()`). */
export function splitSnapshot(bytes: Uint8Array): SnapshotParts {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX, PREFIX + headerLength))) as SnapshotParts['header'];
  const dataStart = (PREFIX + headerLength + 3) & ~3;
  return { header, data: bytes.slice(dataStart) };
}

/** Writes a snapshot with this header (any JSON value, or raw header text) and data section. */
export function joinSnapshot(header: unknown, data: Uint8Array, rawHeader?: Uint8Array): Uint8Array {
  const text = rawHeader ?? new TextEncoder().encode(JSON.stringify(header));
  const dataStart = (PREFIX + text.length + 3) & ~3;
  const out = new Uint8Array(dataStart + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x41545445, true);
  view.setUint32(4, 1, true);
  view.setUint32(8, text.length, true);
  out.set(text, PREFIX);
  out.set(data, dataStart);
  return out;
}

/** A deep copy of the header (to edit without touching the original). */
export function cloneHeader(parts: SnapshotParts): SnapshotParts['header'] {
  return structuredClone(parts.header);
}

/** Writes float32 `value` at element `index` of entry `entry`'s region of `data` (in place). */
export function setFloat(parts: SnapshotParts, entry: Record<string, unknown>, index: number, value: number): void {
  new DataView(parts.data.buffer, parts.data.byteOffset).setFloat32((entry.offset as number) + index * 4, value, true);
}
