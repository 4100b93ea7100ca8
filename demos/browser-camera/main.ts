/**
 * Browser camera demo (page script): frames from the webcam or from a stream of real
 * Fashion-MNIST test images (corrupted in the page with `src/corruptions`) flow through
 * `adapt(workerAdapter, ...)`; the adapter runs in a Web Worker on the tfjs wasm backend.
 * A second worker runs the unadapted `source` model on the same frames for comparison.
 *
 * URL parameters preset the controls (the end-to-end test uses them):
 * `mode=sample|camera`, `strategy`, `corruption` (a name or `none`), `severity` 1-5, `batch`,
 * `fps`, `backpressure`, `maxWait` (ms, `inf` for full batches only), `frames` (sample mode:
 * stop after this many frames; default: loop forever), `compare=0|1`, `invert=0|1`,
 * `threads` (tfjs-wasm threads), `autostart=1`.
 * `window.__edgeTtaDemo` holds the live state (counts, per-frame labels, errors).
 */
import { Observable, Subscription, filter, share, take, timer } from 'rxjs';
import {
  adapt,
  listStrategies,
  summarizeMetrics,
  type BackpressurePolicy,
  type ImageDataLike,
  type LabeledFrame,
  type MetricsRecord,
  type StepMetrics,
  type StrategyName,
  type StreamRecord,
} from '../../src/index.js';
import { CORRUPTIONS, corrupt, isCorruptionName, type Severity } from '../../src/corruptions/index.js';
import { createWorkerAdapter, type WorkerAdapter } from '../../workers/index.js';

/** Fashion-MNIST class names (src/data/fashionMnist.ts is Node-only, so they are repeated here). */
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const RECENT = 128;

type Mode = 'sample' | 'camera';
type Lane = 'adapted' | 'source';

interface Settings {
  strategy: StrategyName;
  corruption: string;
  severity: Severity;
  batch: number;
  fps: number;
  backpressure: BackpressurePolicy;
  maxWaitMs: number;
  frames: number;
  compare: boolean;
  invert: boolean;
  threads: number | undefined;
}

/** Per-lane counters (the adapted strategy and the source comparison). */
export interface LaneState {
  strategy: string;
  predictions: number;
  correct: number;
  dropped: number;
  errors: number;
  /** Predicted class per frame id (sample mode), -1 until predicted. */
  labels: number[];
  /** 1/0 per labelled prediction, newest last (for the recent window). */
  hits: number[];
  /** Running accuracy after each labelled prediction, for the chart. */
  curve: number[];
  records: MetricsRecord[];
  done: boolean;
}

/** The live state, exposed as `window.__edgeTtaDemo` for tests and the console. */
export interface DemoState {
  mode: Mode | null;
  running: boolean;
  ready: boolean;
  backend: WorkerAdapter['backend'] | null;
  framesSent: number;
  trueLabels: number[];
  adapted: LaneState;
  source: LaneState | null;
  errors: string[];
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`The page has no #${id}.`);
  return el as T;
};

const params = new URLSearchParams(location.search);
const state: DemoState = { mode: null, running: false, ready: false, backend: null, framesSent: 0, trueLabels: [], adapted: newLane('-'), source: null, errors: [] };
(globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo = state;

function newLane(strategy: string): LaneState {
  return { strategy, predictions: 0, correct: 0, dropped: 0, errors: 0, labels: [], hits: [], curve: [], records: [], done: false };
}

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
window.addEventListener('unhandledrejection', (e) => reportError(e.reason));

// ---------------------------------------------------------------- controls

function fillControls(): void {
  const strategy = $<HTMLSelectElement>('strategy');
  for (const name of listStrategies()) strategy.add(new Option(name, name, name === 'bn-adapt', name === 'bn-adapt'));
  const corruption = $<HTMLSelectElement>('corruption');
  corruption.add(new Option('none (clean)', 'none'));
  for (const name of CORRUPTIONS) corruption.add(new Option(name.replace(/_/g, ' '), name, name === 'gaussian_noise', name === 'gaussian_noise'));
  const set = (id: string, key: string): void => {
    const v = params.get(key);
    if (v === null) return;
    const el = $<HTMLInputElement | HTMLSelectElement>(id);
    if (el instanceof HTMLInputElement && el.type === 'checkbox') el.checked = v === '1' || v === 'true';
    else el.value = v;
  };
  set('strategy', 'strategy');
  set('corruption', 'corruption');
  set('severity', 'severity');
  set('batch', 'batch');
  set('fps', 'fps');
  set('backpressure', 'backpressure');
  set('compare', 'compare');
  set('invert', 'invert');
}

function readSettings(): Settings {
  const strategy = $<HTMLSelectElement>('strategy').value as StrategyName;
  if (!listStrategies().includes(strategy)) throw new Error(`Unknown strategy '${strategy}'. Valid: ${listStrategies().join(', ')}.`);
  const num = (id: string, lo: number, hi: number): number => {
    const v = Number($<HTMLInputElement>(id).value);
    if (!Number.isFinite(v) || v < lo || v > hi) throw new Error(`${id} must be a number from ${lo} to ${hi}; got '${$<HTMLInputElement>(id).value}'.`);
    return v;
  };
  const maxWait = params.get('maxWait');
  const frames = params.get('frames');
  const threads = params.get('threads');
  return {
    strategy,
    corruption: $<HTMLSelectElement>('corruption').value,
    severity: Number($<HTMLSelectElement>('severity').value) as Severity,
    batch: Math.round(num('batch', 1, 128)),
    fps: num('fps', 1, 1000),
    backpressure: $<HTMLSelectElement>('backpressure').value as BackpressurePolicy,
    maxWaitMs: maxWait === null ? 100 : maxWait === 'inf' ? Infinity : Number(maxWait),
    frames: frames === null ? Infinity : Number(frames),
    compare: $<HTMLInputElement>('compare').checked,
    invert: $<HTMLInputElement>('invert').checked,
    threads: threads === null ? undefined : Number(threads),
  };
}

// ---------------------------------------------------------------- frames

/** The frame to draw, as grey bytes (drawn on the next animation frame): the latest predicted one. */
let pendingDraw: Uint8ClampedArray | null = null;
/** Grey pixels of recent frames by frame id, so the page shows the frame a prediction is about. */
const recentFrames = new Map<number, Uint8ClampedArray>();

function remember(id: number, grey: Uint8ClampedArray): void {
  recentFrames.set(id, grey);
  if (recentFrames.size > 1024) recentFrames.delete(recentFrames.keys().next().value!);
}
const frameCtx = $<HTMLCanvasElement>('frame').getContext('2d')!;
const frameImage = frameCtx.createImageData(SIDE, SIDE);

function drawLoop(): void {
  if (pendingDraw !== null) {
    for (let p = 0; p < PIXELS; p++) {
      const v = pendingDraw[p]!;
      frameImage.data[4 * p] = v;
      frameImage.data[4 * p + 1] = v;
      frameImage.data[4 * p + 2] = v;
      frameImage.data[4 * p + 3] = 255;
    }
    frameCtx.putImageData(frameImage, 0, 0);
    pendingDraw = null;
  }
  requestAnimationFrame(drawLoop);
}

/** The sample set from the server: `ETTASMP1`, uint32 n, n labels, n x 784 pixel bytes. */
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
    if (magic !== 'ETTASMP1') throw new Error(`/samples.bin is not an edge-tta sample file (magic '${magic}').`);
    const n = new DataView(buf.buffer).getUint32(8, true);
    return { n, labels: buf.subarray(12, 12 + n), images: buf.subarray(12 + n, 12 + n + n * PIXELS) };
  })();
  return samplesPromise;
}

/**
 * Sample mode: test image `i mod n` at frame i, scaled to [0, 1] and corrupted with the
 * currently selected corruption and severity (seed = frame index, so noise differs per frame
 * and a run is reproducible). Changing the corruption while running shifts the domain live.
 */
function sampleFrames(samples: Samples, settings: Settings): Observable<LabeledFrame> {
  return timer(0, 1000 / settings.fps).pipe(
    take(settings.frames),
    filter(() => state.running),
    (src) =>
      new Observable<LabeledFrame>((sub) =>
        src.subscribe({
          next: (i) => {
            const k = i % samples.n;
            let data = new Float32Array(PIXELS);
            for (let p = 0; p < PIXELS; p++) data[p] = samples.images[k * PIXELS + p]! / 255;
            const name = $<HTMLSelectElement>('corruption').value;
            if (isCorruptionName(name)) {
              const severity = Number($<HTMLSelectElement>('severity').value) as Severity;
              data = corrupt({ data, height: SIDE, width: SIDE, channels: 1 }, { name, severity, seed: i }).data;
            }
            const grey = new Uint8ClampedArray(PIXELS);
            for (let p = 0; p < PIXELS; p++) grey[p] = data[p]! * 255;
            remember(i, grey);
            const trueLabel = samples.labels[k]!;
            state.trueLabels[i] = trueLabel;
            state.framesSent++;
            sub.next({ frame: { data, shape: [SIDE, SIDE, 1] }, frameId: i, trueLabel });
          },
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        }),
      ),
  );
}

let cameraStream: MediaStream | null = null;

/**
 * Camera mode: the centre square of the video, scaled to 28x28, grey (luma), optionally
 * inverted, as an `ImageData` frame (`adapt` converts it to the model's one channel in [0, 1]).
 */
async function cameraFrames(settings: Settings): Promise<Observable<LabeledFrame>> {
  if (navigator.mediaDevices?.getUserMedia === undefined) throw new Error('This browser has no camera API (getUserMedia); use the sample stream.');
  cameraStream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 640 } }, audio: false });
  const video = $<HTMLVideoElement>('video');
  video.srcObject = cameraStream;
  video.hidden = false;
  await video.play();
  const canvas = document.createElement('canvas');
  canvas.width = SIDE;
  canvas.height = SIDE;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  return timer(0, 1000 / settings.fps).pipe(
    take(settings.frames),
    filter(() => state.running && video.videoWidth > 0),
    (src) =>
      new Observable<LabeledFrame>((sub) =>
        src.subscribe({
          next: (i) => {
            const side = Math.min(video.videoWidth, video.videoHeight);
            ctx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, SIDE, SIDE);
            const image = ctx.getImageData(0, 0, SIDE, SIDE);
            const invert = $<HTMLInputElement>('invert').checked;
            const grey = new Uint8ClampedArray(PIXELS);
            for (let p = 0; p < PIXELS; p++) {
              const d = image.data;
              const y = 0.2989 * d[4 * p]! + 0.587 * d[4 * p + 1]! + 0.114 * d[4 * p + 2]!;
              const v = invert ? 255 - y : y;
              grey[p] = v;
              d[4 * p] = d[4 * p + 1] = d[4 * p + 2] = v;
            }
            remember(i, grey);
            state.framesSent++;
            const frame: ImageDataLike = image;
            sub.next({ frame, frameId: i });
          },
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        }),
      ),
  );
}

// ---------------------------------------------------------------- adapters and records

let subscriptions = new Subscription();
let adapters: WorkerAdapter[] = [];

async function makeAdapter(strategy: StrategyName, settings: Settings): Promise<WorkerAdapter> {
  const worker = new Worker(new URL('/dist/worker.js', location.href), { type: 'module' });
  return createWorkerAdapter({
    model: new URL('/model/model.json', location.href).href,
    strategy,
    seed: 1,
    // The worker fetches the .wasm files itself: it needs absolute URLs.
    backend: { backend: 'wasm', wasmPaths: new URL('/wasm/', location.href).href, ...(settings.threads !== undefined ? { threads: settings.threads } : {}) },
    worker,
  });
}

function onRecord(lane: LaneState, r: StreamRecord, isAdapted: boolean): void {
  if (r.kind === 'dropped') {
    lane.dropped++;
    return;
  }
  if (r.kind === 'error') {
    lane.errors++;
    return;
  }
  lane.predictions++;
  const id = Number(r.frameId);
  lane.labels[id] = r.label;
  const truth = state.mode === 'sample' ? state.trueLabels[id] : undefined;
  if (truth !== undefined) {
    const hit = r.label === truth ? 1 : 0;
    lane.correct += hit;
    lane.hits.push(hit);
    if (lane.hits.length > RECENT) lane.hits.shift();
    lane.curve.push(lane.correct / lane.predictions);
  }
  if (isAdapted) {
    latestPrediction = { r, truth };
    pendingDraw = recentFrames.get(id) ?? pendingDraw;
  }
  else latestSource = { label: r.label, confidence: r.confidence };
}

let latestPrediction: { r: Extract<StreamRecord, { kind: 'prediction' }>; truth: number | undefined } | null = null;
let latestSource: { label: number; confidence: number } | null = null;

function runLane(adapter: WorkerAdapter, lane: LaneState, frames$: Observable<LabeledFrame>, settings: Settings, isAdapted: boolean): void {
  subscriptions.add(adapter.metrics$.subscribe((m) => lane.records.push(m)));
  subscriptions.add(
    frames$.pipe(adapt(adapter, { batchSize: settings.batch, maxWaitMs: settings.maxWaitMs, backpressure: settings.backpressure })).subscribe({
      next: (r) => onRecord(lane, r, isAdapted),
      error: (e) => reportError(e),
      complete: () => {
        lane.done = true;
        if (state.adapted.done && (state.source === null || state.source.done)) setStatus(`Done: ${state.framesSent} frames, '${state.adapted.strategy}' on ${adapter.backend.backend}.`);
      },
    }),
  );
}

async function start(mode: Mode): Promise<void> {
  await stop();
  const settings = readSettings();
  state.mode = mode;
  state.running = true;
  state.framesSent = 0;
  state.trueLabels = [];
  state.errors = [];
  state.adapted = newLane(settings.strategy);
  state.source = settings.compare && settings.strategy !== 'source' ? newLane('source') : null;
  latestPrediction = null;
  latestSource = null;
  recentFrames.clear();
  for (const m of ['sample', 'camera'] as const) {
    $(`btn-${m}`).setAttribute('aria-pressed', String(mode === m));
    $(`btn-${m}`).classList.toggle('primary', mode === m);
  }
  $<HTMLButtonElement>('btn-stop').disabled = false;
  $('adapted-name').textContent = $('metrics-adapted-name').textContent = settings.strategy;
  $('step-log').textContent = '';
  $('errors').textContent = '';
  setStatus(`Starting ${state.source ? '2 workers' : '1 worker'} (tfjs wasm)…`);
  try {
    const samples = mode === 'sample' ? await loadSamples() : null;
    const [adapted, source] = await Promise.all([
      makeAdapter(settings.strategy, settings),
      state.source ? makeAdapter('source', settings) : Promise.resolve(null),
    ]);
    adapters = source ? [adapted, source] : [adapted];
    state.backend = adapted.backend;
    if (!state.running) return void (await stop());
    const frames$ = (mode === 'sample' ? sampleFrames(samples!, settings) : await cameraFrames(settings)).pipe(share());
    runLane(adapted, state.adapted, frames$, settings, true);
    if (source && state.source) runLane(source, state.source, frames$, settings, false);
    const b = adapted.backend;
    setStatus(
      `Running ${mode === 'sample' ? 'the sample stream' : 'the camera'}: '${settings.strategy}' in a Web Worker on ${b.backend} ` +
        `(SIMD ${b.simd ? 'on' : 'off'}, ${b.threads} thread${b.threads === 1 ? '' : 's'}, edge kernels ${b.edgeKernels ? 'on' : 'off'}` +
        `${crossOriginIsolated ? ', cross-origin isolated' : ''}).`,
    );
  } catch (err) {
    reportError(err);
    await stop(false);
  }
}

async function stop(clearStatus = true): Promise<void> {
  state.running = false;
  subscriptions.unsubscribe();
  subscriptions = new Subscription();
  const old = adapters;
  adapters = [];
  await Promise.all(old.map((a) => a.terminate()));
  cameraStream?.getTracks().forEach((t) => t.stop());
  cameraStream = null;
  $<HTMLVideoElement>('video').hidden = true;
  $<HTMLButtonElement>('btn-stop').disabled = true;
  if (clearStatus && state.mode !== null) setStatus('Stopped.');
}

// ---------------------------------------------------------------- rendering

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);
const ms = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–');
const fix = (x: number | undefined, d = 3): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

function renderPrediction(): void {
  if (latestPrediction === null) return;
  const { r, truth } = latestPrediction;
  $('prediction').textContent = `${CLASS_NAMES[r.label]} · ${(100 * r.confidence).toFixed(0)}%`;
  $('prediction-detail').innerHTML =
    truth === undefined
      ? `frame ${r.frameId}, step ${r.stepId}, latency ${r.latencyMs.toFixed(0)} ms`
      : `true class: ${CLASS_NAMES[truth]} <span class="${truth === r.label ? 'ok">✓' : 'bad">✗'}</span> · frame ${r.frameId}`;
  $('source-prediction').textContent = latestSource ? `source model: ${CLASS_NAMES[latestSource.label]} · ${(100 * latestSource.confidence).toFixed(0)}%` : '';
  $('probs').innerHTML = Array.from(r.probs, (p, k) =>
    `<div class="bar"><span>${CLASS_NAMES[k]}</span><div><span style="width:${(100 * p).toFixed(1)}%"></span></div><span>${(100 * p).toFixed(0)}%</span></div>`,
  ).join('');
}

function renderAccuracy(): void {
  const lanes: [Lane, LaneState | null][] = [['adapted', state.adapted], ['source', state.source]];
  for (const [name, lane] of lanes) {
    const labelled = lane !== null && state.mode === 'sample' && lane.predictions > 0;
    $(`acc-${name}`).textContent = labelled ? pct(lane.correct / lane.predictions) : '–';
    $(`acc-${name}-recent`).textContent = labelled ? pct(lane.hits.reduce((a, b) => a + b, 0) / lane.hits.length) : '–';
    $(`n-${name}`).textContent = lane ? String(lane.predictions) : '–';
    $(`dropped-${name}`).textContent = lane ? String(lane.dropped) : '–';
  }
  const canvas = $<HTMLCanvasElement>('chart');
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#e4e7ec';
  ctx.fillStyle = '#98a2b3';
  ctx.font = '11px system-ui';
  for (const y of [0, 0.25, 0.5, 0.75, 1]) {
    const py = h - 4 - y * (h - 12);
    ctx.beginPath();
    ctx.moveTo(30, py);
    ctx.lineTo(w, py);
    ctx.stroke();
    ctx.fillText(`${y * 100}%`, 0, py + 4);
  }
  const n = Math.max(state.adapted.curve.length, state.source?.curve.length ?? 0, 2);
  const plot = (curve: number[], color: string): void => {
    if (curve.length < 2) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    curve.forEach((a, i) => {
      const x = 30 + ((w - 32) * i) / (n - 1);
      const y = h - 4 - a * (h - 12);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  plot(state.adapted.curve, '#2f6fde');
  if (state.source) plot(state.source.curve, '#c2410c');
}

let loggedSteps = 0;

function renderMetrics(): void {
  const summary = (lane: LaneState | null) => (lane === null ? null : summarizeMetrics(lane.records, { window: 20 }));
  const a = summary(state.adapted);
  const s = summary(state.source);
  const lastStep = (lane: LaneState | null): StepMetrics | undefined => {
    for (let i = (lane?.records.length ?? 0) - 1; i >= 0; i--) {
      const r = lane!.records[i]!;
      if (r.kind === 'step') return r;
    }
    return undefined;
  };
  const la = lastStep(state.adapted);
  const ls = lastStep(state.source);
  const steps = (lane: LaneState | null): number => lane?.records.filter((r) => r.kind === 'step').length ?? 0;
  const rows: [string, string, string][] = [
    ['steps', String(steps(state.adapted)), state.source ? String(steps(state.source)) : '–'],
    ['step time, last', la ? ms(la.stepMs) : '–', ls ? ms(ls.stepMs) : '–'],
    ['step time p50 / p95 (20)', a && a.steps ? `${a.p50StepMs.toFixed(1)} / ${a.p95StepMs.toFixed(1)}` : '–', s && s.steps ? `${s.p50StepMs.toFixed(1)} / ${s.p95StepMs.toFixed(1)}` : '–'],
    ['throughput (frames/s)', a && a.steps ? a.framesPerSecond.toFixed(0) : '–', s && s.steps ? s.framesPerSecond.toFixed(0) : '–'],
    ['mean entropy (nats)', fix(a?.steps ? a.meanEntropy : undefined), fix(s?.steps ? s.meanEntropy : undefined)],
    ['mean confidence', pct(a?.steps ? a.meanConfidence : undefined), pct(s?.steps ? s.meanConfidence : undefined)],
    ['running accuracy (metrics)', pct(la?.runningAccuracy), pct(ls?.runningAccuracy)],
    ['frames dropped', String(la?.framesDropped ?? state.adapted.dropped), ls ? String(ls.framesDropped) : '–'],
    ['bad frames', String(la?.frameErrors ?? 0), ls ? String(ls.frameErrors) : '–'],
    ['worker tensors', la ? String(la.memory.numTensors) : '–', ls ? String(ls.memory.numTensors) : '–'],
    ['worker memory', la ? `${(la.memory.numBytes / 1048576).toFixed(1)} MiB` : '–', ls ? `${(ls.memory.numBytes / 1048576).toFixed(1)} MiB` : '–'],
  ];
  for (const key of new Set([...Object.keys(la?.stats ?? {}), ...Object.keys(ls?.stats ?? {})])) {
    rows.push([`stats.${key}`, fix(la?.stats[key], 4), fix(ls?.stats[key], 4)]);
  }
  $('metrics-body').innerHTML = rows.map(([k, x, y]) => `<tr><td>${k}</td><td>${x}</td><td>${y}</td></tr>`).join('');
  $('metrics-body').dataset['steps'] = String(steps(state.adapted));

  // Newest step records of the adapted lane, one line each.
  const all = state.adapted.records.filter((r): r is StepMetrics => r.kind === 'step');
  if (all.length < loggedSteps) loggedSteps = 0;
  const log = $('step-log');
  for (const r of all.slice(loggedSteps)) {
    const li = document.createElement('li');
    const stats = Object.entries(r.stats).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ');
    li.textContent = `step ${r.stepId}: ${r.batchSize} frames, ${r.stepMs.toFixed(1)} ms, H ${r.meanEntropy.toFixed(3)}, conf ${(100 * r.meanConfidence).toFixed(0)}%` +
      `${r.accuracy !== undefined ? `, acc ${(100 * r.accuracy).toFixed(0)}%` : ''}${stats ? `, ${stats}` : ''}`;
    log.prepend(li);
  }
  while (log.childElementCount > 50) log.lastElementChild!.remove();
  loggedSteps = all.length;
}

function render(): void {
  try {
    renderPrediction();
    renderAccuracy();
    renderMetrics();
  } catch (err) {
    reportError(err);
  }
}

// ---------------------------------------------------------------- wiring

fillControls();
requestAnimationFrame(drawLoop);
setInterval(render, 250);
$('btn-sample').addEventListener('click', () => void start('sample'));
$('btn-camera').addEventListener('click', () => void start('camera'));
$('btn-stop').addEventListener('click', () => void stop());
$('strategy').addEventListener('change', () => {
  if (state.running && state.mode !== null) void start(state.mode);
});
state.ready = true;
setStatus('Ready: choose "Sample stream" (real test images, corrupted in the page) or "Camera".');
if (params.get('autostart') === '1') void start(params.get('mode') === 'camera' ? 'camera' : 'sample');
