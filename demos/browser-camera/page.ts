/**
 * Browser camera demo (page code, loaded by `main.ts` once it started the workers). Frames from the webcam or from a stream of real
 * Fashion-MNIST test images (corrupted in the page with edge-tta's corruptions) flow through
 * `adapt(workerAdapter, ...)` into two lanes, each a Web Worker adapter on the tfjs wasm
 * backend with its own strategy. The page only draws: tfjs runs in the workers.
 *
 * URL parameters preset the controls (the end-to-end test uses them):
 * `mode=sample|camera`, `strategy` (lane A), `strategyB` (a strategy or `off`), `corruption`
 * (a name or `none`), `severity` 1-5, `batch`, `maxWait` (ms; empty or `inf`: full batches
 * only), `fps`, `backpressure`, `frames` (stop after this many frames; default: until Stop),
 * `invert=0|1`, `resume=0|1` (restore the state saved in IndexedDB), `autostart=1`.
 * `window.__edgeTtaDemo` holds the live state (counts, per-frame labels, chart points, errors, the frame errors' messages);
 * `window.__edgeTtaCharts` the charts.
 */
import { Observable, Subject, Subscription, share, takeUntil, timer } from 'rxjs';
import {
  adapt,
  CORRUPTIONS,
  corrupt,
  isCorruptionName,
  summarizeMetrics,
  type BuiltinStrategyName,
  type LabeledFrame,
  type MetricsRecord,
  type Severity,
  type StepMetrics,
  type StreamRecord,
} from 'edge-tta';
import { createWorkerAdapter, type WorkerAdapter } from 'edge-tta/workers';
import type { DemoAssets } from './build.js';
import { endUnusedWorkers, takeWorker } from './workerPool.js';
import { LiveCharts, type Marker } from './charts.js';
import { FrameLabels, RateMeter, RecentValues, WindowAccuracy } from './meters.js';
import { cameraErrorMessage } from './cameraErrors.js';
import { FrameErrorLog, type FrameErrorEntry } from './frameErrors.js';
import { clearStates, loadState, saveState, stateKey } from './persist.js';
import { parseSettings, type RawSettings, type Settings } from './settings.js';

/** The hashed URLs of the worker bundle and the .wasm files, written in by the build. */
declare const __DEMO_ASSETS__: DemoAssets;

/** Fashion-MNIST class names (the SDK's data loader is Node-only, so they are repeated here). */
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
/**
 * The strategies of the lane selectors. Written out instead of `listStrategies()`: the registry
 * would pull every strategy's code into the page, which only draws (the workers have their own).
 * The type check below fails when the SDK gains a built-in strategy missing here.
 */
const STRATEGIES = ['source', 'bn-adapt', 'alpha-bn', 'tent', 'lame', 'cotta', 'vida', 'roid'] as const satisfies readonly BuiltinStrategyName[];
type Unlisted = Exclude<BuiltinStrategyName, (typeof STRATEGIES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;
const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** Frames in the "last N frames" accuracy. */
const RECENT = 100;
/** A lane saves its adapter's state to IndexedDB every this many steps (and when the stream ends or stops). */
const SAVE_EVERY = 10;
/** Per-frame labels kept in `window.__edgeTtaDemo` (`trueLabels`, each lane's `labels`): the first this many frames, so a long run's memory stays bounded. */
const LABELS_KEPT = 10_000;
/** Distinct frame error messages the page shows (the most recently seen). */
const FRAME_ERRORS_KEPT = 5;
/** Events kept per lane in `window.__edgeTtaDemo` (the newest). */
const EVENTS_KEPT = 100;
const LANES = ['A', 'B'] as const;
type LaneKey = (typeof LANES)[number];
type Mode = 'sample' | 'camera';

/** One lane's counters (exposed in `window.__edgeTtaDemo`). */
export interface LaneState {
  lane: LaneKey;
  strategy: string;
  predictions: number;
  correct: number;
  dropped: number;
  errors: number;
  /** Predicted class per frame id, for the first 10,000 frames. */
  labels: number[];
  /** Step records received since the start. */
  steps: number;
  /** The first and the latest step id seen since the start (ids continue from a restored state). */
  firstStepId: number | null;
  lastStepId: number | null;
  /** The step count of the state restored from IndexedDB at the start, or null. */
  restoredSteps: number | null;
  /** The step count of the last state saved to IndexedDB, or null. */
  savedSteps: number | null;
  /** guard / shift / non-finite / update-mode events, as text (the newest 100). */
  events: string[];
  done: boolean;
}

/** The live state, exposed as `window.__edgeTtaDemo` for tests and the console. */
export interface DemoState {
  mode: Mode | null;
  running: boolean;
  ready: boolean;
  backend: WorkerAdapter['backend'] | null;
  crossOriginIsolated: boolean;
  framesSent: number;
  /** True class per frame id (sample mode), for the first 10,000 frames. */
  trueLabels: number[];
  lanes: LaneState[];
  /** Messages of the settings that are invalid now, by control id (empty when all are valid). */
  settingsErrors: Record<string, string>;
  /** Points each chart holds (uPlot's own data), and the markers drawn. */
  chartPoints: Record<string, number>;
  markers: Marker[];
  /** Live rates: input frames per second, and per lane processed fps and median latency (ms). */
  rates: { inputFps: number; processedFps: number[]; latencyMs: number[] };
  /** `performance.now()` (ms since navigation start) of the page's first prediction, or null. */
  firstPredictionMs: number | null;
  /** Cold-start milestones, ms since navigation start: this script runs, the workers are ready, the first frame is sent. */
  timings: { scriptStart: number; workersReady: number | null; firstFrame: number | null };
  /** Why frames were refused: the last 5 distinct messages, newest first, with per-lane counts (zeroed with the counters). */
  frameErrors: FrameErrorEntry[];
  errors: string[];
}

/** A lane while it runs: its adapter, meters, and what the next chart row gets. */
interface Lane {
  state: LaneState;
  adapter: WorkerAdapter;
  processed: RateMeter;
  latency: RecentValues;
  recent: WindowAccuracy;
  /** Step records since the last chart row. */
  tick: StepMetrics[];
  /** The newest records (for p50 step time). */
  records: MetricsRecord[];
  lastUpdate: string | null;
  stepsSinceSave: number;
  saving: Promise<void>;
  latest: Extract<StreamRecord, { kind: 'prediction' }> | null;
  /** Frames with a record (predicted, dropped or rejected) since the lane started; not zeroed by Reset counters (for "in flight"). */
  resolved: number;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`The page has no #${id}.`);
  return el as T;
};

const params = new URLSearchParams(location.search);
const state: DemoState = {
  mode: null, running: false, ready: false, backend: null, crossOriginIsolated, framesSent: 0, trueLabels: [], lanes: [],
  settingsErrors: {}, chartPoints: {}, markers: [], rates: { inputFps: 0, processedFps: [], latencyMs: [] }, firstPredictionMs: null, timings: { scriptStart: performance.now(), workersReady: null, firstFrame: null }, frameErrors: [], errors: [],
};
(globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo = state;

let lanes: Lane[] = [];
/** The lanes the page shows: the running ones, or after Stop the last ones (their final figures stay on screen). */
let shown: Lane[] = [];
/** True labels of the sample frames sent, by frame id (bounded memory). */
let truth = new FrameLabels(LABELS_KEPT);
let charts: LiveCharts | null = null;
let settings: Settings | null = null;
let t0 = performance.now();
const inputRate = new RateMeter();
/** The refused frames' messages of both lanes (the lanes' states count them). */
const frameErrors = new FrameErrorLog(FRAME_ERRORS_KEPT);
const seconds = (now = performance.now()): number => (now - t0) / 1000;

function setStatus(text: string, error = false): void {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

function reportError(err: unknown): void {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  state.errors.push(message);
  $('errors').textContent = state.errors.slice(-5).join('\n');
  setStatus(message, true);
}
window.addEventListener('error', (e) => reportError(e.error ?? e.message));
window.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  reportError(e.reason);
});

// ---------------------------------------------------------------- controls and settings

const CONTROLS = ['strategyA', 'strategyB', 'corruption', 'severity', 'batch', 'maxWait', 'fps', 'backpressure', 'invert', 'resume'] as const;

function fillControls(): void {
  const names = STRATEGIES;
  for (const name of names) $<HTMLSelectElement>('strategyA').add(new Option(name, name, name === 'bn-adapt', name === 'bn-adapt'));
  $<HTMLSelectElement>('strategyB').add(new Option('off', 'off'));
  for (const name of names) $<HTMLSelectElement>('strategyB').add(new Option(name, name, name === 'source', name === 'source'));
  const corruption = $<HTMLSelectElement>('corruption');
  corruption.add(new Option('none (clean)', 'none'));
  for (const name of CORRUPTIONS) corruption.add(new Option(name.replace(/_/g, ' '), name, name === 'gaussian_noise', name === 'gaussian_noise'));
  const preset: Record<string, string> = { strategy: 'strategyA', strategyB: 'strategyB', corruption: 'corruption', severity: 'severity', batch: 'batch', maxWait: 'maxWait', fps: 'fps', backpressure: 'backpressure', invert: 'invert', resume: 'resume' };
  for (const [key, id] of Object.entries(preset)) {
    const v = params.get(key);
    if (v === null) continue;
    const el = $<HTMLInputElement | HTMLSelectElement>(id);
    if (el instanceof HTMLInputElement && el.type === 'checkbox') el.checked = v === '1' || v === 'true';
    else if (el instanceof HTMLSelectElement && ![...el.options].some((o) => o.value === v)) el.add(new Option(`${v} (invalid)`, v, true, true));
    else el.value = key === 'maxWait' && v === 'inf' ? '' : v;
  }
}

function rawSettings(): RawSettings {
  const value = (id: string): string => {
    const el = $<HTMLInputElement | HTMLSelectElement>(id);
    return el instanceof HTMLInputElement && el.type === 'checkbox' ? (el.checked ? '1' : '0') : el.value;
  };
  const raw = Object.fromEntries(CONTROLS.map((id) => [id, value(id)])) as Omit<RawSettings, 'frames'>;
  return { ...raw, frames: params.get('frames') ?? '' };
}

/** Reads and checks the controls; shows what is invalid. Returns null when something is. */
function readSettings(): Settings | null {
  const parsed = parseSettings(rawSettings(), STRATEGIES, CORRUPTIONS);
  const errors = parsed.ok ? {} : parsed.errors;
  state.settingsErrors = errors as Record<string, string>;
  for (const id of CONTROLS) $(id).setAttribute('aria-invalid', String(id in errors));
  $('settings-errors').textContent = Object.values(errors).join('\n');
  return parsed.ok ? parsed.settings : null;
}

// ---------------------------------------------------------------- frames

/** Clean and model-input grey pixels of recent frames by id, so the page shows the frame a prediction is about. */
const recentFrames = new Map<number, { clean: Uint8ClampedArray; input: Uint8ClampedArray }>();
let shownFrame = -1;
/** The lane predictions the frame panel shows now. */
let drawn: [unknown, unknown] = [null, null];

function remember(id: number, clean: Uint8ClampedArray, input: Uint8ClampedArray): void {
  recentFrames.set(id, { clean, input });
  if (recentFrames.size > 1024) recentFrames.delete(recentFrames.keys().next().value!);
}

function drawGrey(canvasId: string, grey: Uint8ClampedArray): void {
  const ctx = $<HTMLCanvasElement>(canvasId).getContext('2d')!;
  const image = ctx.createImageData(SIDE, SIDE);
  for (let p = 0; p < PIXELS; p++) {
    image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = grey[p]!;
    image.data[4 * p + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

/**
 * Each animation frame: when a lane has a newer prediction, the frame panel shows lane A's
 * frame and, in the same frame, its prediction (and lane B's), so the picture and the caption
 * are always about the same frame.
 */
function drawLoop(): void {
  try {
    const a = shown[0]?.latest ?? null;
    const b = shown[1]?.latest ?? null;
    if (a !== drawn[0] || b !== drawn[1]) {
      const frame = a === null ? undefined : recentFrames.get(Number(a.frameId));
      if (a !== null && frame !== undefined) {
        drawGrey('clean', frame.clean);
        drawGrey('frame', frame.input);
        shownFrame = Number(a.frameId);
      }
      if (a === null || frame !== undefined) {
        renderPrediction();
        drawn = [a, b];
      }
    }
  } catch (err) {
    reportError(err);
  }
  requestAnimationFrame(drawLoop);
}

/** Empties the frame panel at a start: the last run's frame and predictions are not about the new lanes (nor, after a switch to the camera, about the camera). */
function clearFramePanel(): void {
  for (const id of ['clean', 'frame']) {
    const canvas = $<HTMLCanvasElement>(id);
    canvas.getContext('2d')!.clearRect(0, 0, canvas.width, canvas.height);
  }
  $('prediction').textContent = '–';
  $('prediction-detail').textContent = '';
  $('lane-b-prediction').textContent = '';
  $('probs').textContent = '';
  shownFrame = -1;
  drawn = [null, null];
}

/** The sample set from the server: `ETTASMP1`, uint32 n, n labels, n x 784 pixel bytes (checked). */
interface Samples {
  n: number;
  labels: Uint8Array;
  images: Uint8Array;
}
let samplesPromise: Promise<Samples> | null = null;

function loadSamples(): Promise<Samples> {
  samplesPromise ??= (async () => {
    const res = await fetch('/samples.bin');
    if (!res.ok) throw new Error(`GET /samples.bin failed (${res.status}); start the page with \`npm run demo:browser\`.`);
    const buf = new Uint8Array(await res.arrayBuffer());
    const magic = String.fromCharCode(...buf.subarray(0, 8));
    if (buf.length < 12 || magic !== 'ETTASMP1') throw new Error(`/samples.bin is not an edge-tta sample file (magic '${magic}').`);
    const n = new DataView(buf.buffer).getUint32(8, true);
    if (n === 0 || buf.length !== 12 + n * (1 + PIXELS)) throw new Error(`/samples.bin: ${buf.length} bytes do not hold ${n} labelled 28x28 images.`);
    return { n, labels: buf.subarray(12, 12 + n), images: buf.subarray(12 + n) };
  })();
  return samplesPromise;
}

/** Frame ids at `fps`, continuing from the frames already sent, until `frames` in total. */
function frameTicks(s: Settings): Observable<number> {
  return new Observable<number>((sub) =>
    timer(0, 1000 / s.fps).subscribe(() => {
      if (state.framesSent >= s.frames) return sub.complete();
      sub.next(state.framesSent);
    }),
  );
}

/**
 * Sample mode: test image `i mod n` at frame i, scaled to [0, 1] and corrupted with the
 * corruption and severity selected now (seed = frame index, so noise differs per frame and a
 * run is reproducible). Changing the corruption while running shifts the domain live.
 */
function sampleFrames(samples: Samples, s: Settings): Observable<LabeledFrame> {
  return new Observable<LabeledFrame>((sub) =>
    frameTicks(s).subscribe({
      next: (i) => {
        const k = i % samples.n;
        const clean = new Uint8ClampedArray(samples.images.subarray(k * PIXELS, (k + 1) * PIXELS));
        let data = Float32Array.from(clean, (v) => v / 255);
        const name = $<HTMLSelectElement>('corruption').value;
        if (isCorruptionName(name)) {
          const severity = Number($<HTMLSelectElement>('severity').value) as Severity;
          data = corrupt({ data, height: SIDE, width: SIDE, channels: 1 }, { name, severity, seed: i }).data;
        }
        remember(i, clean, Uint8ClampedArray.from(data, (v) => v * 255));
        const trueLabel = samples.labels[k]!;
        truth.set(i, trueLabel);
        state.timings.firstFrame ??= performance.now();
        state.framesSent++;
        inputRate.add(performance.now());
        sub.next({ frame: { data, shape: [SIDE, SIDE, 1] }, frameId: i, trueLabel });
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    }),
  );
}

let cameraStream: MediaStream | null = null;

/**
 * Opens the camera (the browser may ask the user first, for as long as they take). Returns null,
 * with the camera closed again, when `cancelled()` turned true meanwhile (Stop, or another start).
 */
async function openCamera(cancelled: () => boolean): Promise<HTMLVideoElement | null> {
  const where = { secure: isSecureContext, hasApi: navigator.mediaDevices?.getUserMedia !== undefined, origin: location.origin };
  if (!where.secure || !where.hasApi) throw new Error(cameraErrorMessage(null, where));
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 640 } }, audio: false });
  } catch (err) {
    if (cancelled()) return null;
    throw new Error(cameraErrorMessage(err, where));
  }
  if (cancelled()) {
    stream.getTracks().forEach((t) => t.stop());
    return null;
  }
  cameraStream = stream; // from here stop() closes it
  const video = $<HTMLVideoElement>('video');
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  return cancelled() ? null : video;
}

/**
 * Camera mode: the centre square of the video, scaled to 28x28, grey (luma; the "clean" view),
 * optionally inverted (the model input), as an `ImageData` frame (`adapt` converts it to the
 * model's one channel in [0, 1]).
 */
function cameraFrames(video: HTMLVideoElement, s: Settings): Observable<LabeledFrame> {
  const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true })!;
  ctx.canvas.width = ctx.canvas.height = SIDE;
  ctx.imageSmoothingQuality = 'high';
  return new Observable<LabeledFrame>((sub) =>
    frameTicks(s).subscribe({
      next: (i) => {
        if (video.videoWidth === 0) return;
        const side = Math.min(video.videoWidth, video.videoHeight);
        ctx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, SIDE, SIDE);
        const image = ctx.getImageData(0, 0, SIDE, SIDE);
        const invert = $<HTMLInputElement>('invert').checked;
        const clean = new Uint8ClampedArray(PIXELS);
        const input = new Uint8ClampedArray(PIXELS);
        const d = image.data;
        for (let p = 0; p < PIXELS; p++) {
          const y = 0.2989 * d[4 * p]! + 0.587 * d[4 * p + 1]! + 0.114 * d[4 * p + 2]!;
          clean[p] = y;
          input[p] = invert ? 255 - y : y;
          d[4 * p] = d[4 * p + 1] = d[4 * p + 2] = input[p]!;
        }
        remember(i, clean, input);
        state.framesSent++;
        inputRate.add(performance.now());
        sub.next({ frame: image, frameId: i });
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    }),
  );
}

// ---------------------------------------------------------------- lanes

let metricSubs = new Subscription();
let streamSubs = new Subscription();
let video: HTMLVideoElement | null = null;
let samples: Samples | null = null;

function newLaneState(lane: LaneKey, strategy: string): LaneState {
  return { lane, strategy, predictions: 0, correct: 0, dropped: 0, errors: 0, labels: [], steps: 0, firstStepId: null, lastStepId: null, restoredSteps: null, savedSteps: null, events: [], done: false };
}

function makeAdapter(strategy: Settings['strategies'][0], mode: 'sample' | 'camera'): Promise<WorkerAdapter> {
  const absolute = (url: string): string => new URL(url, location.href).href;
  return createWorkerAdapter({
    model: absolute('/model/model.json'),
    strategy,
    seed: 1,
    // The sample stream is i.i.d. test images, a few hundred frames at a time: the guard's
    // class-correlation detector would answer its first ~580 frames with the source model while it
    // gathers evidence (docs/safe-adaptation.md), so it is off there. A camera holds one object for
    // seconds (a class-correlated stream, where batch statistics do their worst): the default guard.
    ...(mode === 'sample' ? { guard: { classGate: 0 } } : {}),
    // The worker fetches the .wasm files itself: absolute URLs. The page is not cross-origin
    // isolated, so tfjs-wasm takes its single-threaded SIMD build: no pthread workers.
    backend: { backend: 'wasm', wasmPaths: Object.fromEntries(Object.entries(__DEMO_ASSETS__.wasm).map(([k, v]) => [k, absolute(v)])) },
    worker: takeWorker(),
  });
}

function addMarker(marker: Marker): void {
  charts?.mark(marker);
}

/** Saves the lane's adapter state to IndexedDB (one save at a time per lane). */
function save(lane: Lane): Promise<void> {
  lane.stepsSinceSave = 0;
  lane.saving = lane.saving.then(async () => {
    const steps = lane.state.lastStepId === null ? null : lane.state.lastStepId + 1;
    if (steps === null) return;
    try {
      const bytes = await lane.adapter.snapshot();
      await saveState(stateKey(lane.state.lane, lane.state.strategy), { bytes, steps, savedAt: Date.now() });
      lane.state.savedSteps = steps;
    } catch (err) {
      if (lanes.includes(lane)) reportError(err); // a terminated lane's last save may fail: not an error
    }
  });
  return lane.saving;
}

function onMetrics(lane: Lane, r: MetricsRecord): void {
  const t = seconds();
  const who = `${lane.state.lane}`;
  const event = (kind: Marker['kind'], label: string): void => {
    // A source lane never adapts: its shift detector's "→ adapting" and its step modes would say otherwise.
    if (lane.state.strategy === 'source' && (kind === 'shift' || kind === 'update')) return;
    addMarker({ t, kind, label: `${who}: ${label}` });
    lane.state.events.push(`step ${'stepId' in r ? r.stepId : '?'}: ${label}`);
    if (lane.state.events.length > EVENTS_KEPT) lane.state.events.shift();
    if (lane.state.lane === 'A') logLine(`${who} ${label}`);
  };
  lane.records.push(r);
  if (lane.records.length > 60) lane.records.shift();
  switch (r.kind) {
    case 'step': {
      lane.tick.push(r);
      lane.state.steps++;
      lane.state.firstStepId ??= r.stepId;
      lane.state.lastStepId = r.stepId;
      const update = r.update.mode + (r.update.reason ? ` (${r.update.reason})` : '');
      if (lane.lastUpdate !== null && update !== lane.lastUpdate) event('update', update);
      lane.lastUpdate = update;
      if (lane.state.lane === 'A') {
        const stats = Object.entries(r.stats).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ');
        logLine(
          `step ${r.stepId}: ${r.batchSize} frames, ${r.stepMs.toFixed(1)} ms, H ${r.meanEntropy.toFixed(3)}, conf ${(100 * r.meanConfidence).toFixed(0)}%` +
            `${r.accuracy !== undefined ? `, acc ${(100 * r.accuracy).toFixed(0)}%` : ''}, ${update}${stats ? `, ${stats}` : ''}`,
        );
      }
      if (++lane.stepsSinceSave >= SAVE_EVERY) void save(lane);
      break;
    }
    case 'guard':
      event('guard', `guard ${r.signal} ${r.value.toFixed(3)} → ${r.action}`);
      break;
    case 'shift':
      event('shift', `shift ${r.from} → ${r.to}`);
      break;
    case 'nonfinite':
      event('nonfinite', `non-finite ${r.where.join(', ')} → ${r.action}`);
      break;
    case 'worker-restart':
      event('guard', `worker restarted (${r.reason})`);
      break;
    default:
      break;
  }
}

function onRecord(lane: Lane, r: StreamRecord): void {
  lane.resolved++;
  if (r.kind === 'dropped') {
    lane.state.dropped++;
    return;
  }
  if (r.kind === 'error') {
    lane.state.errors++;
    frameErrors.add(lane.state.lane === 'A' ? 0 : 1, r.name, r.message, r.frameId);
    return;
  }
  const now = performance.now();
  state.firstPredictionMs ??= now;
  lane.state.predictions++;
  lane.processed.add(now);
  lane.latency.add(now, r.latencyMs);
  const id = Number(r.frameId);
  if (id < LABELS_KEPT) lane.state.labels[id] = r.label;
  const trueLabel = state.mode === 'sample' ? truth.get(id) : undefined;
  if (trueLabel !== undefined) {
    lane.state.correct += r.label === trueLabel ? 1 : 0;
    lane.recent.add(r.label === trueLabel);
  }
  lane.latest = r;
}

/** Ends the current frame stream's source (set by startStream). */
let endFrames: (() => void) | null = null;
/** Counts the frame streams started; only the newest one's end is the lanes' end. */
let streamGeneration = 0;

/**
 * (Re)subscribes every lane to a new frame stream with the current settings; adapters stay.
 * The previous stream is not cut off: its source completes, so `adapt` still runs the frames it
 * holds (a last, smaller batch) and delivers the step in flight. Every frame sent gets its
 * record; the adapter's calls are queued, so those steps run before the new stream's.
 */
function startStream(s: Settings): void {
  endFrames?.();
  const generation = ++streamGeneration;
  const end$ = new Subject<void>();
  endFrames = () => {
    end$.next();
    end$.complete();
  };
  const frames$ = (state.mode === 'camera' ? cameraFrames(video!, s) : sampleFrames(samples!, s)).pipe(takeUntil(end$), share());
  for (const lane of lanes) {
    lane.state.done = false;
    streamSubs.add(
      frames$.pipe(adapt(lane.adapter, { batchSize: s.batch, maxWaitMs: s.maxWaitMs, backpressure: s.backpressure })).subscribe({
        next: (r) => onRecord(lane, r),
        error: (e) => reportError(e),
        complete: () => {
          if (generation === streamGeneration) void onLaneDone(lane);
        },
      }),
    );
  }
}

async function onLaneDone(lane: Lane): Promise<void> {
  await save(lane);
  lane.state.done = true;
  if (lanes.every((l) => l.state.done)) {
    state.running = false;
    $<HTMLButtonElement>('btn-stop').disabled = true;
    setStatus(`Done: ${state.framesSent} frames; the adapters' state is saved in this browser (IndexedDB).`);
  }
}

/** The status line of the lanes running now ('' until they run), shown again once a "Not applied" is over. */
let runningStatus = '';

/** Counts starts and stops: a start still starting when another start or a stop comes gives up (its workers and camera closed). */
let startGeneration = 0;

async function start(mode: Mode): Promise<void> {
  // Checked before stopping: with invalid settings a running stream keeps running.
  const s = readSettings();
  if (s === null) {
    setStatus('Not started: fix the settings shown in red.', true);
    return;
  }
  await stop(false);
  runningStatus = '';
  const generation = ++startGeneration;
  const cancelled = (): boolean => generation !== startGeneration;
  settings = s;
  state.mode = mode;
  state.running = true;
  state.framesSent = 0;
  truth = new FrameLabels(LABELS_KEPT);
  state.trueLabels = truth.list;
  state.errors = [];
  recentFrames.clear();
  $('errors').textContent = '';
  $('step-log').textContent = '';
  for (const m of ['sample', 'camera'] as const) $(`btn-${m}`).classList.toggle('primary', mode === m);
  $<HTMLButtonElement>('btn-stop').disabled = false;
  const names: [string, string | null] = [s.strategies[0], s.strategies[1]];
  $('name-a').textContent = `A: ${names[0]}`;
  $('name-b').textContent = names[1] === null ? 'B: off' : `B: ${names[1]}`;
  charts?.destroy();
  charts = new LiveCharts($('charts'), names);
  (globalThis as unknown as { __edgeTtaCharts: LiveCharts }).__edgeTtaCharts = charts;
  shown = [];
  clearFramePanel();
  resetCounters();
  const active = s.strategies.flatMap((name, i) => (name === null ? [] : [{ key: LANES[i]!, name }]));
  setStatus(`Starting ${active.length} Web Worker${active.length > 1 ? 's' : ''} (tfjs wasm)…`);
  try {
    // The sample file downloads while the workers start. Settled one by one, so that when one
    // worker fails (or the start was cancelled meanwhile) the others are terminated, not leaked.
    const [loaded, ...made] = await Promise.allSettled([mode === 'sample' ? loadSamples() : null, ...active.map(({ name }) => makeAdapter(name, mode))]);
    const adapters = made.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = [loaded, ...made].find((r) => r.status === 'rejected');
    if (cancelled() || failed !== undefined) {
      await Promise.all(adapters.map((a) => a.terminate()));
      if (cancelled()) return;
      throw failed!.reason;
    }
    samples = (loaded as PromiseFulfilledResult<Samples | null>).value ?? samples;
    endUnusedWorkers();
    state.timings.workersReady ??= performance.now();
    // From here stop() ends these lanes (their workers and, once open, the camera).
    lanes = active.map(({ key, name }, i) => ({
      state: newLaneState(key, name), adapter: adapters[i]!, processed: new RateMeter(), latency: new RecentValues(), recent: new WindowAccuracy(RECENT),
      tick: [], records: [], lastUpdate: null, stepsSinceSave: 0, saving: Promise.resolve(), latest: null, resolved: 0,
    }));
    shown = lanes;
    state.lanes = lanes.map((l) => l.state);
    state.backend = adapters[0]!.backend;
    if (s.resume) await restoreLanes();
    if (cancelled()) return;
    for (const lane of lanes) metricSubs.add(lane.adapter.metrics$.subscribe((r) => onMetrics(lane, r)));
    if (mode === 'camera') {
      setStatus('Waiting for the camera (the browser may ask for permission)…');
      video = await openCamera(cancelled);
      if (video === null || cancelled()) return;
    }
    resetCounters(); // t = 0 now, with a marker of the starting corruption
    startStream(settings ?? s); // the settings now: a batching change while starting applies
    const b = adapters[0]!.backend;
    const restored = lanes.filter((l) => l.state.restoredSteps !== null).map((l) => `lane ${l.state.lane} resumed at step ${l.state.restoredSteps}`);
    runningStatus =
      `Running ${mode === 'sample' ? 'the sample stream' : 'the camera'}: ${lanes.map((l) => `${l.state.lane} = ${l.state.strategy}`).join(', ')}, ` +
      `each in a Web Worker on ${b.backend} (SIMD ${b.simd ? 'on' : 'off'}, ${b.threads} thread${b.threads === 1 ? '' : 's'}, edge kernels ${b.edgeKernels ? 'on' : 'off'}).` +
      (restored.length > 0 ? ` From IndexedDB: ${restored.join(', ')}.` : '');
    setStatus(runningStatus);
  } catch (err) {
    if (cancelled()) return; // e.g. a restore cut short by Stop: not an error
    reportError(err);
    await stop(false);
  }
}

/** Restores each lane's adapter from the state saved in IndexedDB for its lane and strategy. */
async function restoreLanes(): Promise<void> {
  for (const lane of lanes) {
    try {
      const saved = await loadState(stateKey(lane.state.lane, lane.state.strategy));
      if (saved === null) continue;
      await lane.adapter.restore(saved.bytes);
      lane.state.restoredSteps = saved.steps;
    } catch (err) {
      // Stopped meanwhile (the worker ended): not an error. Otherwise the lane keeps the source model.
      if (!lanes.includes(lane)) return;
      const e = err as { name?: unknown; message?: unknown } | null;
      reportError(
        new Error(
          `lane ${lane.state.lane} (${lane.state.strategy}): the state saved in this browser could not be restored, so the lane starts from the source model ` +
            `(${typeof e?.name === 'string' ? e.name : 'Error'}: ${typeof e?.message === 'string' ? e.message : String(err)}).`,
        ),
      );
    }
  }
}

async function stop(showStatus = true): Promise<void> {
  startGeneration++; // a start still starting gives up
  endFrames = null;
  const wasRunning = state.running;
  state.running = false;
  streamSubs.unsubscribe();
  streamSubs = new Subscription();
  const old = lanes;
  // The adapters' state is saved before their workers end (a stopped page resumes from there).
  if (wasRunning) await Promise.all(old.map((l) => save(l)));
  lanes = [];
  metricSubs.unsubscribe();
  metricSubs = new Subscription();
  await Promise.all(old.map((l) => l.saving.then(() => l.adapter.terminate())));
  cameraStream?.getTracks().forEach((t) => t.stop());
  cameraStream = null;
  video = null;
  $<HTMLVideoElement>('video').hidden = true;
  $<HTMLButtonElement>('btn-stop').disabled = true;
  if (showStatus && state.mode !== null) setStatus('Stopped; the adapters\' state is saved in this browser (IndexedDB).');
}

function corruptionLabel(): string {
  const c = $<HTMLSelectElement>('corruption').value;
  return c === 'none' ? 'clean' : `${c.replace(/_/g, ' ')} ${$<HTMLSelectElement>('severity').value}`;
}

function resetCounters(): void {
  t0 = performance.now();
  // The lanes shown: after Stop the last lanes' figures stay on screen, and are what the user zeroes.
  for (const lane of shown) {
    Object.assign(lane.state, { predictions: 0, correct: 0, dropped: 0, errors: 0, steps: 0, events: [] });
    lane.processed = new RateMeter();
    lane.latency = new RecentValues();
    lane.recent = new WindowAccuracy(RECENT);
    lane.tick = [];
    lane.records = [];
  }
  frameErrors.clear();
  charts?.clear();
  if (state.running && charts !== null) {
    // An empty row at t = 0, so the time axis starts at the start and shows its marker.
    charts.push({ t: 0, accuracy: [null, null], entropy: [null, null], confidence: [null, null], stepMs: [null, null], shiftDistance: [null, null] });
    addMarker({ t: 0, kind: 'corruption', label: state.mode === 'camera' ? 'camera' : corruptionLabel() });
  }
}

async function resetAdapters(): Promise<void> {
  // Reset first, then let the saves already asked for finish, then delete: a save asked for before
  // the reset (its snapshot queued ahead of it in the worker) must not write the old state back
  // after the delete. Saves asked for after the reset snapshot the source state.
  await Promise.all(lanes.map((l) => l.adapter.reset()));
  await Promise.all(lanes.map((l) => l.saving));
  await clearStates();
  for (const lane of lanes) {
    lane.state.savedSteps = null;
    lane.state.restoredSteps = null;
  }
  addMarker({ t: seconds(), kind: 'update', label: 'adapters reset' });
  logLine('adapters reset to the source model; saved state deleted');
}

// ---------------------------------------------------------------- rendering

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);
const fix = (x: number | undefined, d = 3): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

function logLine(text: string): void {
  const log = $('step-log');
  const li = document.createElement('li');
  li.textContent = text;
  log.prepend(li);
  while (log.childElementCount > 60) log.lastElementChild!.remove();
}

function renderPrediction(): void {
  const a = shown[0]?.latest;
  if (a == null) return;
  const trueLabel = state.mode === 'sample' ? truth.get(Number(a.frameId)) : undefined;
  $('prediction').textContent = `${CLASS_NAMES[a.label]} · ${(100 * a.confidence).toFixed(0)}%`;
  $('prediction-detail').innerHTML =
    `lane A, frame #${a.frameId}` +
    (trueLabel === undefined ? '' : ` · true class: ${CLASS_NAMES[trueLabel]} <span class="${trueLabel === a.label ? 'ok">✓' : 'bad">✗'}</span>`);
  const b = shown[1]?.latest;
  $('lane-b-prediction').textContent = b ? `lane B (${shown[1]!.state.strategy}), frame #${b.frameId}: ${CLASS_NAMES[b.label]} · ${(100 * b.confidence).toFixed(0)}%` : '';
  $('probs').innerHTML = Array.from(
    a.probs,
    (p, k) => `<div class="bar"><span>${CLASS_NAMES[k]}</span><div><span style="width:${(100 * p).toFixed(1)}%"></span></div><span>${(100 * p).toFixed(0)}%</span></div>`,
  ).join('');
}

function renderFigures(now: number): void {
  // After Stop the last lanes' figures stay (`shown`); rates fall to 0 and "in flight" is '–' (a stop drops the frames in flight).
  const byLane = (f: (l: Lane) => string): [string, string] => [shown[0] ? f(shown[0]) : '–', shown[1] ? f(shown[1]) : '–'];
  const lastStep = (l: Lane): StepMetrics | undefined => {
    for (let i = l.records.length - 1; i >= 0; i--) if (l.records[i]!.kind === 'step') return l.records[i] as StepMetrics;
    return undefined;
  };
  const summary = (l: Lane) => summarizeMetrics(l.records, { window: 20 });
  const labelled = state.mode === 'sample';
  const rows: [string, string, string][] = [
    ['input fps (frames sent)', `${inputRate.perSecond(now).toFixed(0)} (${state.framesSent})`, ''],
    ['frame shown', shownFrame < 0 ? '–' : `#${shownFrame}`, ''],
    ['accuracy, all frames', ...byLane((l) => (labelled && l.state.predictions > 0 ? pct(l.state.correct / l.state.predictions) : '–'))],
    [`accuracy, last ${RECENT}`, ...byLane((l) => (labelled ? pct(l.recent.value) : '–'))],
    ['processed fps', ...byLane((l) => l.processed.perSecond(now).toFixed(0))],
    ['latency (median, 2 s)', ...byLane((l) => (Number.isFinite(l.latency.median(now)) ? `${l.latency.median(now).toFixed(0)} ms` : '–'))],
    ['predicted', ...byLane((l) => String(l.state.predictions))],
    ['in flight', ...byLane((l) => (lanes.includes(l) ? String(state.framesSent - l.resolved) : '–'))],
    ['dropped', ...byLane((l) => String(l.state.dropped))],
    ['frame errors', ...byLane((l) => String(l.state.errors))],
    ['adapter steps', ...byLane((l) => (l.state.lastStepId === null ? String(l.state.restoredSteps ?? 0) : String(l.state.lastStepId + 1)))],
    ['step time p50 (20)', ...byLane((l) => (summary(l).steps ? `${summary(l).p50StepMs.toFixed(1)} ms` : '–'))],
    ['mean entropy', ...byLane((l) => fix(lastStep(l)?.meanEntropy))],
    ['mean confidence', ...byLane((l) => pct(lastStep(l)?.meanConfidence))],
    // The source strategy's steps report 'adapt' (its update is a no-op): say what it does.
    ['last step', ...byLane((l) => (l.state.strategy === 'source' ? 'none (source model)' : (l.lastUpdate ?? '–')))],
    ['worker tensors', ...byLane((l) => (lastStep(l) ? String(lastStep(l)!.memory.numTensors) : '–'))],
    ['saved (IndexedDB) at step', ...byLane((l) => (l.state.savedSteps === null ? '–' : String(l.state.savedSteps)))],
  ];
  $('metrics-body').innerHTML = rows
    .map(([k, x, y]) => (y === '' ? `<tr><td>${k}</td><td colspan="2">${x}</td></tr>` : `<tr><td>${k}</td><td>${x}</td><td>${y}</td></tr>`))
    .join('');
  $('metrics-body').dataset['steps'] = String(shown[0]?.state.steps ?? 0);
  state.rates = {
    inputFps: inputRate.perSecond(now),
    processedFps: shown.map((l) => l.processed.perSecond(now)),
    latencyMs: shown.map((l) => l.latency.median(now)),
  };
}

/** Version of the frame error log drawn last. */
let frameErrorsDrawn = -1;

/** The frame errors panel under the figures, redrawn when the log changed. */
function renderFrameErrors(): void {
  if (frameErrors.version === frameErrorsDrawn) return;
  frameErrorsDrawn = frameErrors.version;
  const entries = frameErrors.entries();
  state.frameErrors = entries.map((e) => ({ ...e, counts: [...e.counts] }));
  // A message can quote user data (an object's keys, a value): text nodes only, never innerHTML.
  const items = entries.map((e) => {
    const li = document.createElement('li');
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = shown.map((l) => `${l.state.lane} ${e.counts[l.state.lane === 'A' ? 0 : 1]}`).join(' · ');
    const message = document.createElement('span');
    message.className = 'message';
    message.textContent = `${e.name}: ${e.message}`;
    li.append(count, ' ', message);
    return li;
  });
  $('frame-errors-list').replaceChildren(...items);
  $('frame-errors').hidden = entries.length === 0;
}

/** One chart row per tick while running: the lanes' figures since the last tick. */
function pushChartRow(now: number): void {
  if (charts === null || !state.running || lanes.length === 0) return;
  const pick = <T>(f: (l: Lane) => T | null): [T | null, T | null] => [lanes[0] ? f(lanes[0]) : null, lanes[1] ? f(lanes[1]) : null];
  charts.push({
    t: seconds(now),
    accuracy: pick((l) => (state.mode === 'sample' && l.recent.count > 0 ? l.recent.value : null)),
    entropy: pick((l) => mean(l.tick.map((r) => r.meanEntropy))),
    confidence: pick((l) => mean(l.tick.map((r) => r.meanConfidence))),
    stepMs: pick((l) => mean(l.tick.map((r) => r.stepMs))),
    // The last step's (a lane without a shift detector, e.g. source, has none).
    shiftDistance: pick((l) => l.tick.map((r) => r.update.shiftDistance).filter((d) => d !== undefined).pop() ?? null),
  });
  for (const l of lanes) l.tick = [];
  charts.redraw();
}

function render(): void {
  try {
    const now = performance.now();
    pushChartRow(now);
    renderFigures(now);
    renderFrameErrors();
    state.chartPoints = charts?.points() ?? {};
    state.markers = charts ? [...charts.markers] : [];
  } catch (err) {
    reportError(err);
  }
}

// ---------------------------------------------------------------- wiring

fillControls();
readSettings();
requestAnimationFrame(drawLoop);
setInterval(render, 250);
$('btn-sample').addEventListener('click', () => void start('sample'));
$('btn-camera').addEventListener('click', () => void start('camera'));
$('btn-stop').addEventListener('click', () => void stop());
$('btn-reset-adapters').addEventListener('click', () => void resetAdapters().catch(reportError));
$('btn-reset-counters').addEventListener('click', () => resetCounters());
for (const id of CONTROLS) {
  $(id).addEventListener('change', () => {
    const s = readSettings();
    if (!state.running || state.mode === null) return;
    if (s === null) {
      // Nothing is applied until every setting is valid again; then all of them are.
      setStatus('Not applied: fix the settings shown in red; the lanes run on with the last good settings.', true);
      return;
    }
    // A strategy change restarts the lanes, also one picked while another setting was invalid.
    if (s.strategies[0] !== settings?.strategies[0] || s.strategies[1] !== settings?.strategies[1]) return void start(state.mode);
    if (runningStatus !== '') setStatus(runningStatus);
    // Read live by the sample stream: the domain shifts on the next frame. The camera's frames
    // are not corrupted, so there a change shifts nothing and gets no marker.
    if ((id === 'corruption' || id === 'severity') && state.mode === 'sample') addMarker({ t: seconds(), kind: 'corruption', label: corruptionLabel() });
    // Batching and rate: compared with what runs, not by the control changed, so those changed while
    // another setting was invalid apply too.
    const old = settings;
    settings = s;
    // No stream yet (the lanes or the camera are still starting): start() begins it with these settings.
    if (endFrames === null) return;
    if (old === null || s.batch !== old.batch || s.maxWaitMs !== old.maxWaitMs || s.fps !== old.fps || s.backpressure !== old.backpressure) startStream(s);
  });
}
// A save needs a round trip to the worker, which a reload or a closed tab ends first, so the save
// that counts is the one when the page is hidden while it is still alive (a phone switching apps,
// a tab put in the background); pagehide asks once more, in case the page gets that far.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') for (const lane of lanes) void save(lane);
});
window.addEventListener('pagehide', () => {
  for (const lane of lanes) void save(lane);
});
state.ready = true;
setStatus('Ready: choose "Sample stream" (real test images, corrupted in the page) or "Camera".');
if (params.get('autostart') === '1') void start(params.get('mode') === 'camera' ? 'camera' : 'sample');
