/**
 * The frames the SDK refused, by message: the page counts refused frames per lane, and this says
 * why (wrong size, bad bytes, a worker fault...). Bounded for a long run: only the last few
 * distinct messages are kept, each cut to a maximum length (a message can quote user data).
 */

/** One distinct error and how many frames each lane refused with it. */
export interface FrameErrorEntry {
  /** The error's class name, e.g. `InvalidInputError`. */
  name: string;
  /** The SDK's message, cut to the log's maximum length. */
  message: string;
  /** Frames refused with it, per lane: `[A, B]`. */
  counts: [number, number];
  /** The id of the latest frame refused with it. */
  lastFrameId: number | string;
}

/** The last `kept` distinct frame errors, newest first. */
export class FrameErrorLog {
  private list: FrameErrorEntry[] = [];
  /** Goes up on every change, so the page redraws only when something changed. */
  version = 0;

  constructor(
    readonly kept = 5,
    readonly maxLength = 400,
  ) {}

  /** Counts one refused frame of `lane` (0: A, 1: B). */
  add(lane: 0 | 1, name: string, message: string, frameId: number | string): void {
    const text = message.length > this.maxLength ? `${message.slice(0, this.maxLength)}…` : message;
    const at = this.list.findIndex((e) => e.name === name && e.message === text);
    // A repeated message moves to the front; a new one pushes out the least recently seen.
    const entry = at >= 0 ? this.list.splice(at, 1)[0]! : { name, message: text, counts: [0, 0] as [number, number], lastFrameId: frameId };
    entry.counts[lane]++;
    entry.lastFrameId = frameId;
    this.list.unshift(entry);
    if (this.list.length > this.kept) this.list.pop();
    this.version++;
  }

  /** The entries, newest first. */
  entries(): readonly FrameErrorEntry[] {
    return this.list;
  }

  clear(): void {
    this.list = [];
    this.version++;
  }
}
