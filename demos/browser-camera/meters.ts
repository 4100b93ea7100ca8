/**
 * Small live meters of the page: events per second and recent values over a sliding time
 * window, and accuracy over the last N labelled frames.
 */

/** Counts events in the last `windowMs` (e.g. frames per second). */
export class RateMeter {
  private readonly times: number[] = [];
  constructor(private readonly windowMs = 2000) {}

  /** Records `count` events at `now` (ms). */
  add(now: number, count = 1): void {
    for (let i = 0; i < count; i++) this.times.push(now);
    this.trim(now);
  }

  /** Events per second over the window ending at `now`. */
  perSecond(now: number): number {
    this.trim(now);
    return (this.times.length * 1000) / this.windowMs;
  }

  private trim(now: number): void {
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! <= now - this.windowMs) drop++;
    if (drop > 0) this.times.splice(0, drop);
  }
}

/** Keeps the values of the last `windowMs` (e.g. latencies) and gives their median. */
export class RecentValues {
  private readonly items: { t: number; v: number }[] = [];
  constructor(private readonly windowMs = 2000) {}

  add(now: number, v: number): void {
    this.items.push({ t: now, v });
    while (this.items.length > 0 && this.items[0]!.t <= now - this.windowMs) this.items.shift();
  }

  /** The median of the window ending at `now`, or NaN when it is empty. */
  median(now: number): number {
    while (this.items.length > 0 && this.items[0]!.t <= now - this.windowMs) this.items.shift();
    if (this.items.length === 0) return NaN;
    const s = this.items.map((x) => x.v).sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  }
}

/** Accuracy over the last `size` labelled predictions (a ring of hits). */
export class WindowAccuracy {
  private readonly hits: number[] = [];
  private sum = 0;
  constructor(readonly size: number) {}

  add(hit: boolean): void {
    this.hits.push(hit ? 1 : 0);
    this.sum += hit ? 1 : 0;
    if (this.hits.length > this.size) this.sum -= this.hits.shift()!;
  }

  /** Hits / predictions in the window, or NaN before the first one. */
  get value(): number {
    return this.hits.length === 0 ? NaN : this.sum / this.hits.length;
  }

  get count(): number {
    return this.hits.length;
  }
}

/**
 * True labels by frame id, in bounded memory however long the stream runs: a ring of the newest
 * `ring` frames for look-ups (a frame's prediction comes at most a few hundred frames later),
 * and the first `keep` frames' labels as a plain list (for tests and the console).
 */
export class FrameLabels {
  /** Labels of frames 0 to `keep` - 1, by frame id. */
  readonly list: number[] = [];
  private readonly labels: Int32Array;
  private readonly ids: Float64Array;
  constructor(
    readonly keep = 10_000,
    private readonly ring = 4096,
  ) {
    this.labels = new Int32Array(ring);
    this.ids = new Float64Array(ring).fill(-1);
  }

  set(id: number, label: number): void {
    if (id < this.keep) this.list[id] = label;
    this.labels[id % this.ring] = label;
    this.ids[id % this.ring] = id;
  }

  /** The label of frame `id`, or undefined when it was never set or is older than the ring. */
  get(id: number): number | undefined {
    const k = id % this.ring;
    return this.ids[k] === id ? this.labels[k] : undefined;
  }
}
