/**
 * The page's live time-series charts, drawn with uPlot: accuracy over the last N frames,
 * mean entropy, mean confidence, step time and the shift detector's distance to the source
 * (the guard's: how far the stream's BN statistics are from the training data's), one line per
 * lane, against seconds since the stream started. Vertical markers show corruption changes and the adapters' events (guard
 * trips, shift-detector changes, non-finite outputs, steps that did not adapt and why).
 * The page adds one row per render tick (the lanes' figures since the last tick). uPlot's
 * stylesheet is imported by `main.ts`, so the build links it from the page's head.
 */
import uPlot from 'uplot';

/** What a marker shows: a corruption change, or an adapter event of lane A or B. */
export type MarkerKind = 'corruption' | 'guard' | 'shift' | 'nonfinite' | 'update';

/** A vertical line at time `t` (seconds) on every chart. */
export interface Marker {
  t: number;
  kind: MarkerKind;
  label: string;
}

/** One tick's figures: `[lane A, lane B]`, null where a lane has no new value. */
export interface ChartRow {
  t: number;
  accuracy: [number | null, number | null];
  entropy: [number | null, number | null];
  confidence: [number | null, number | null];
  stepMs: [number | null, number | null];
  shiftDistance: [number | null, number | null];
}

const MARKER_COLORS: Record<MarkerKind, string> = {
  corruption: '#475467',
  guard: '#d92d20',
  shift: '#7a5af8',
  nonfinite: '#101828',
  update: '#dc6803',
};
const LANE_COLORS = ['#2f6fde', '#c2410c'];
const HEIGHT = 150;
/** Rows kept (2 minutes at 4 rows a second). */
const MAX_ROWS = 480;

type Metric = Exclude<keyof ChartRow, 't'>;
const CHARTS: { key: Metric; title: string; unit: string }[] = [
  { key: 'accuracy', title: 'Accuracy, last 100 frames', unit: 'accuracy (%)' },
  { key: 'entropy', title: 'Mean entropy per step', unit: 'entropy (nats)' },
  { key: 'confidence', title: 'Mean confidence per step', unit: 'confidence (%)' },
  { key: 'stepMs', title: 'Step time', unit: 'step time (ms)' },
  { key: 'shiftDistance', title: 'Shift: BN statistics, distance to the source', unit: 'distance' },
];

/** Draws the markers over the plot area (a uPlot plugin). */
function markersPlugin(markers: () => readonly Marker[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx } = u;
          const { left, top, width, height } = u.bbox;
          ctx.save();
          ctx.font = `${Math.round(10 * devicePixelRatio)}px system-ui, sans-serif`;
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          let lastLabelX = -Infinity;
          for (const m of markers()) {
            const x = Math.round(u.valToPos(m.t, 'x', true));
            if (x < left || x > left + width) continue;
            ctx.strokeStyle = ctx.fillStyle = MARKER_COLORS[m.kind];
            ctx.setLineDash(m.kind === 'corruption' ? [4 * devicePixelRatio, 3 * devicePixelRatio] : []);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            // Labels that would overlap the previous one are left out (the line stays).
            if (x - lastLabelX > 60 * devicePixelRatio) {
              ctx.fillText(m.label, x + 3 * devicePixelRatio, top + 11 * devicePixelRatio);
              lastLabelX = x;
            }
          }
          ctx.restore();
        },
      ],
    },
  };
}

/** The five live charts in `container`, resized with it. */
export class LiveCharts {
  /** The rows, column-wise, as uPlot takes them: t, then lane A and lane B of each metric. */
  private readonly t: number[] = [];
  private readonly columns = new Map<Metric, [(number | null)[], (number | null)[]]>();
  readonly markers: Marker[] = [];
  private readonly plots: uPlot[] = [];
  /** The charts' figures (caption and plot) in the container. */
  private readonly boxes: HTMLElement[] = [];
  private readonly resize: ResizeObserver;

  constructor(container: HTMLElement, laneNames: [string, string | null]) {
    for (const { key } of CHARTS) this.columns.set(key, [[], []]);
    // Resized on the next frame, and only when the width changed: resizing inside the
    // observer's callback would trigger it again (a "ResizeObserver loop" error event).
    let pending = false;
    this.resize = new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        for (const u of this.plots) {
          const width = this.widthOf(u.root.parentElement!);
          if (width !== u.width) u.setSize({ width, height: HEIGHT });
        }
      });
    });
    for (const { key, title, unit } of CHARTS) {
      const box = document.createElement('figure');
      box.className = 'chart';
      box.dataset['metric'] = key;
      const caption = document.createElement('figcaption');
      caption.textContent = title;
      box.append(caption);
      container.append(box);
      this.boxes.push(box);
      const percent = key === 'accuracy' || key === 'confidence';
      const plot = new uPlot(
        {
          width: this.widthOf(box),
          height: HEIGHT,
          scales: { x: { time: false }, ...(percent ? { y: { range: [0, 100] as [number, number] } } : {}) },
          axes: [
            { label: 'seconds since start', labelSize: 18, size: 32, font: '11px system-ui', labelFont: '11px system-ui' },
            { label: unit, labelSize: 18, size: 44, font: '11px system-ui', labelFont: '11px system-ui' },
          ],
          series: [
            { label: 's', value: (_u, v) => (v == null ? '–' : v.toFixed(1)) },
            ...[0, 1].map((lane) => ({
              label: laneNames[lane] ?? 'off',
              show: laneNames[lane] !== null,
              stroke: LANE_COLORS[lane],
              width: 1.5,
              spanGaps: true,
              value: (_u: uPlot, v: number | null) => (v == null ? '–' : v.toFixed(percent ? 1 : key === 'stepMs' ? 1 : 3)),
            })),
          ],
          legend: { live: false },
          cursor: { drag: { x: false, y: false } },
          plugins: [markersPlugin(() => this.markers)],
        },
        [this.t, ...this.columns.get(key)!] as uPlot.AlignedData,
        box,
      );
      this.plots.push(plot);
      this.resize.observe(box);
    }
  }

  private widthOf(el: HTMLElement): number {
    return Math.max(200, Math.floor(el.clientWidth));
  }

  /** Appends one tick's figures (percent metrics are given as fractions). */
  push(row: ChartRow): void {
    this.t.push(row.t);
    for (const { key } of CHARTS) {
      const scale = key === 'accuracy' || key === 'confidence' ? 100 : 1;
      const cols = this.columns.get(key)!;
      for (const lane of [0, 1] as const) {
        const v = row[key][lane];
        cols[lane].push(v === null || !Number.isFinite(v) ? null : v * scale);
      }
    }
    if (this.t.length > MAX_ROWS) {
      this.t.shift();
      for (const cols of this.columns.values()) for (const c of cols) c.shift();
      while (this.markers.length > 0 && this.markers[0]!.t < this.t[0]!) this.markers.shift();
    }
  }

  /** Adds a vertical marker. */
  mark(marker: Marker): void {
    this.markers.push(marker);
  }

  /** Redraws every chart with the current rows. */
  redraw(): void {
    CHARTS.forEach(({ key }, i) => this.plots[i]!.setData([this.t, ...this.columns.get(key)!] as uPlot.AlignedData));
  }

  /** Forgets every row and marker. */
  clear(): void {
    this.t.length = 0;
    for (const cols of this.columns.values()) for (const c of cols) c.length = 0;
    this.markers.length = 0;
    this.redraw();
  }

  /** Points each chart holds, by metric, as uPlot has them (for the page's state and tests). */
  points(): Record<Metric, number> {
    return Object.fromEntries(CHARTS.map(({ key }, i) => [key, this.plots[i]!.data[0].length])) as Record<Metric, number>;
  }

  /** The rows of `metric` (column-wise: t, lane A, lane B), for the page's state and tests. */
  series(metric: Metric): { t: number[]; a: (number | null)[]; b: (number | null)[] } {
    const [a, b] = this.columns.get(metric)!;
    return { t: [...this.t], a: [...a], b: [...b] };
  }

  /** Removes the charts from the page: the figures too, not only uPlot's plots (each start makes new ones). */
  destroy(): void {
    this.resize.disconnect();
    for (const u of this.plots) u.destroy();
    for (const box of this.boxes) box.remove();
  }
}
