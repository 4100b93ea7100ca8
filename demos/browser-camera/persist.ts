/**
 * The adapters' state in IndexedDB: `adapter.snapshot()` bytes per lane and strategy, so a
 * reload resumes where the page was (same weights, same step count). One database
 * (`edge-tta-demo`), one object store (`snapshots`), keyed `lane<A|B>:<strategy>`.
 */

const DB = 'edge-tta-demo';
const STORE = 'snapshots';

/** A saved adapter state. */
export interface SavedState {
  /** `adapter.snapshot()` bytes. */
  bytes: Uint8Array;
  /** The adapter's step count when it was saved (the snapshot holds it too). */
  steps: number;
  /** `Date.now()` when saved. */
  savedAt: number;
}

let dbPromise: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`IndexedDB '${DB}' could not be opened: ${req.error?.message ?? 'unknown error'}.`));
  });
  return dbPromise;
}

/** Runs one request in its own transaction. */
async function request<T>(mode: IDBTransactionMode, make: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = make(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = tx.onabort = () => reject(new Error(`IndexedDB ${mode} failed: ${tx.error?.message ?? req.error?.message ?? 'aborted'}.`));
  });
}

/** The key of a lane's state. */
export const stateKey = (lane: 'A' | 'B', strategy: string): string => `lane${lane}:${strategy}`;

/** Saves `state` under `key`, replacing what was there. */
export async function saveState(key: string, state: SavedState): Promise<void> {
  await request('readwrite', (s) => s.put(state, key));
}

/** The state saved under `key`, or null (checked: anything else in the store is ignored). */
export async function loadState(key: string): Promise<SavedState | null> {
  const v = (await request('readonly', (s) => s.get(key))) as Partial<SavedState> | undefined;
  if (v === undefined || !(v.bytes instanceof Uint8Array) || !Number.isInteger(v.steps) || typeof v.savedAt !== 'number') return null;
  return v as SavedState;
}

/** Deletes every saved state. */
export async function clearStates(): Promise<void> {
  await request('readwrite', (s) => s.clear());
}
