/**
 * End-to-end test of the browser camera demo in Debian's headless Chromium (playwright-core),
 * on the production build (minified, from the packaged SDK in dist/). Three pages:
 *
 * 1. Desktop (1400 px): 320 real Fashion-MNIST test images, corrupted in the page (gaussian
 *    noise, severity 5), stream through `adapt(workerAdapter)` into lane A (bn-adapt) and lane B
 *    (source), each a Web Worker on tfjs wasm. The oracle is a second implementation: the same
 *    frames and batches through an in-thread `createAdapter` in Node; the page's per-frame
 *    predictions must agree with it, bn-adapt must beat source. The charts must hold points of
 *    both lanes; both adapters' state is saved to IndexedDB, and after a reload the page
 *    resumes from it: the next step id is the saved step count.
 * 2. Phone (390 px): no horizontal scroll; clean frames, then contrast 5 mid-run: the charts
 *    get a marker and the source lane's accuracy over the last 100 frames falls; input fps,
 *    processed fps and latency are live; an invalid batch size is shown, not thrown; reset
 *    counters empties the charts.
 * 3. Camera mode on Chromium's fake camera.
 * Screenshots go to test-artifacts/ (gitignored; CI keeps them as artifacts).
 * Needs /usr/bin/chromium (`apt-get update && apt-get install -y chromium`); fails without it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createAdapter, initBackend } from '../../src/index.js';
import { corrupt } from '../../src/corruptions/index.js';
import { loadSourceModel } from '../../demos/bench/loadModel.js';
import { sampleBinary } from '../../demos/browser-camera/serve.js';
import { CHROMIUM_MISSING, startDemoBrowser, type DemoBrowser } from '../helpers/demoBrowser.js';
import type { DemoState } from '../../demos/browser-camera/page.js';
import type { LiveCharts } from '../../demos/browser-camera/charts.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const FRAMES = 320;
const BATCH = 16;
const CORRUPTION = 'gaussian_noise';
const SEVERITY = 5;

/** The page's stream, recomputed in Node: the first FRAMES samples, corrupted with seed = frame index, in batches of BATCH. */
async function nodeOracle(strategy: 'bn-adapt' | 'source'): Promise<{ labels: number[]; truth: number[] }> {
  const bin = sampleBinary(640);
  const n = bin.readUInt32LE(8);
  // The page's options (demos/browser-camera/page.ts: class-correlation detector off).
  const adapter = await createAdapter(await loadSourceModel(), { strategy, seed: 1, guard: { classGate: 0 } } as never);
  const labels: number[] = [];
  const truth: number[] = [];
  try {
    for (let s = 0; s < FRAMES; s += BATCH) {
      const data = new Float32Array(BATCH * 784);
      for (let k = 0; k < BATCH; k++) {
        const i = s + k;
        const img = new Float32Array(784);
        for (let p = 0; p < 784; p++) img[p] = bin[12 + n + (i % n) * 784 + p]! / 255;
        data.set(corrupt({ data: img, height: 28, width: 28, channels: 1 }, { name: CORRUPTION, severity: SEVERITY, seed: i }).data, k * 784);
        truth.push(bin[12 + (i % n)]!);
      }
      const out = await adapter.step({ data, shape: [BATCH, 28, 28, 1] });
      labels.push(...out.labels);
    }
  } finally {
    adapter.dispose();
  }
  return { labels, truth };
}

const accuracy = (pred: readonly number[], truth: readonly number[]): number => pred.filter((p, i) => p === truth[i]).length / truth.length;
const agreement = (a: readonly number[], b: readonly number[]): number => a.filter((x, i) => x === b[i]).length / a.length;
const demoState = (page: Page): Promise<DemoState> => page.evaluate(() => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo);
/** Page width the document needs (more than the viewport means a horizontal scroll bar). */
const scrollWidth = (page: Page): Promise<number> => page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));

describe('browser camera demo in headless Chromium', () => {
  let demo: DemoBrowser | null = null;


  beforeAll(async () => {
    demo = await startDemoBrowser();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await demo?.close();
  });

  /** A new page (a new browser context: its own IndexedDB) that records page errors and console errors. */
  async function openPage(query: Record<string, string>, width = 1400): Promise<{ page: Page; pageErrors: string[]; consoleErrors: string[] }> {
    if (demo === null) throw new Error(CHROMIUM_MISSING);
    const { server, browser } = demo;
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const pageErrors: string[] = [];
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(`${server.url}?${new URLSearchParams(query)}`);
    return { page, pageErrors, consoleErrors };
  }

  /** Waits until every lane of the page's stream completed and saved its state (or the page reported an error); returns the state. */
  async function finished(page: Page): Promise<DemoState> {
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { __edgeTtaDemo?: DemoState }).__edgeTtaDemo;
        return s !== undefined && ((s.lanes.length > 0 && s.lanes.every((l) => l.done)) || s.errors.length > 0);
      },
      null,
      { timeout: 40_000 },
    );
    return demoState(page);
  }

  it('desktop: lane A bn-adapt vs lane B source on corrupted test images: predictions match Node, charts get points, a reload resumes from IndexedDB', async () => {
    // Full batches in frame order ('buffer', no max wait), so the Node oracle sees the same batches.
    const { page, pageErrors, consoleErrors } = await openPage({
      mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: CORRUPTION, severity: String(SEVERITY), batch: String(BATCH),
      fps: '200', backpressure: 'buffer', maxWait: 'inf', frames: String(FRAMES), autostart: '1',
    });

    // The oracle runs while the page streams.
    await initBackend({ backend: 'wasm' });
    const oracleA = await nodeOracle('bn-adapt');
    const oracleB = await nodeOracle('source');

    const st = await finished(page);
    expect(st.errors).toEqual([]);
    // Not cross-origin isolated: tfjs-wasm's single-threaded build, so no pthread workers.
    expect(st.crossOriginIsolated).toBe(false);
    expect(st.backend).toMatchObject({ backend: 'wasm', edgeKernels: true, threads: 1 });

    // Every frame predicted by both workers, with the true labels the server sent.
    expect(st.framesSent).toBe(FRAMES);
    expect(st.trueLabels).toEqual(oracleA.truth);
    const [a, b] = st.lanes;
    expect([a!.strategy, b!.strategy]).toEqual(['bn-adapt', 'source']);
    for (const lane of [a!, b!]) {
      expect(lane.predictions).toBe(FRAMES);
      expect(lane.dropped).toBe(0);
      expect(lane.errors).toBe(0);
      expect([lane.firstStepId, lane.lastStepId, lane.restoredSteps]).toEqual([0, FRAMES / BATCH - 1, null]);
      expect(lane.savedSteps).toBe(FRAMES / BATCH);
    }

    // Same predictions as the in-thread adapter in Node (the wasm kernels may round differently: allow 2% flips).
    expect(agreement(a!.labels, oracleA.labels)).toBeGreaterThanOrEqual(0.98);
    expect(agreement(b!.labels, oracleB.labels)).toBeGreaterThanOrEqual(0.98);
    const accA = accuracy(a!.labels, st.trueLabels);
    const accB = accuracy(b!.labels, st.trueLabels);
    expect(a!.correct / a!.predictions).toBeCloseTo(accA, 10);
    expect(accA).toBeGreaterThan(0.5); // chance is 0.1
    expect(accA).toBeGreaterThan(accB); // Node: ~86% vs ~76% with the shipped model

    // The page shows it: the figures table, the charts (uPlot's own data), the step log.
    await page.waitForTimeout(400); // one render tick (every 250 ms) after the last record
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
    const cells = await page.$$eval('#metrics-body tr', (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')));
    expect(cells).toContainEqual(['accuracy, all frames', pct(accA), pct(accB)]);
    expect(cells).toContainEqual(['adapter steps', String(FRAMES / BATCH), String(FRAMES / BATCH)]);
    // The source lane says it never adapts (its steps report mode 'adapt', a no-op update), and puts no shift or update markers on the charts.
    expect(cells).toContainEqual(['last step', 'adapt', 'none (source model)']);
    expect((await demoState(page)).markers.filter((m) => m.label.startsWith('B:') && (m.kind === 'shift' || m.kind === 'update'))).toEqual([]);
    expect(await page.getAttribute('#metrics-body', 'data-steps')).toBe(String(FRAMES / BATCH));
    const points = (await demoState(page)).chartPoints;
    expect(Object.keys(points).sort()).toEqual(['accuracy', 'confidence', 'entropy', 'shiftDistance', 'stepMs']);
    for (const n of Object.values(points)) expect(n).toBeGreaterThanOrEqual(3);
    const entropy = await page.evaluate(() => (globalThis as unknown as { __edgeTtaCharts: LiveCharts }).__edgeTtaCharts.series('entropy'));
    for (const lane of [entropy.a, entropy.b]) expect(lane.filter((v) => v !== null && v > 0 && v < Math.log(10)).length).toBeGreaterThanOrEqual(2);
    const log = await page.$$eval('#step-log li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(log[0]).toMatch(new RegExp(`^step ${FRAMES / BATCH - 1}: ${BATCH} frames, [\\d.]+ ms`));
    expect(await page.textContent('#prediction')).toMatch(/ · \d+%$/);
    expect(await scrollWidth(page)).toBeLessThanOrEqual(1400);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-demo-desktop.png'), fullPage: true });

    // Reload (the same page, a shorter run of 2 batches): both adapters are restored from
    // IndexedDB, so the step ids continue from the saved step count.
    await page.goto(page.url().replace(`frames=${FRAMES}`, `frames=${2 * BATCH}`));
    const again = await finished(page);
    expect(again.errors).toEqual([]);
    expect(again.lanes).toHaveLength(2);
    for (const lane of again.lanes) {
      expect(lane.restoredSteps).toBe(FRAMES / BATCH);
      expect([lane.firstStepId, lane.lastStepId, lane.savedSteps]).toEqual([FRAMES / BATCH, FRAMES / BATCH + 1, FRAMES / BATCH + 2]);
    }
    expect(await page.textContent('#status')).toMatch(/Done/);
    await page.waitForTimeout(400);
    const cells2 = await page.$$eval('#metrics-body tr', (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')));
    expect(cells2).toContainEqual(['adapter steps', String(FRAMES / BATCH + 2), String(FRAMES / BATCH + 2)]);
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  }, 180_000);

  it('390 px phone: no horizontal scroll; a corruption change mid-run shows in the charts; live rates; invalid settings shown, not thrown', async () => {
    const { page, pageErrors, consoleErrors } = await openPage(
      { mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: 'none', batch: '16', fps: '100', backpressure: 'buffer', maxWait: '100', frames: '480', autostart: '1' },
      390,
    );
    // Clean frames first; once 200 are predicted by both lanes, contrast 5.
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { __edgeTtaDemo?: DemoState }).__edgeTtaDemo; // set once the page code loaded
        return s !== undefined && s.lanes.length === 2 && s.lanes.every((l) => l.predictions >= 200);
      },
      null,
      { timeout: 40_000 },
    );
    const live = await demoState(page);
    expect(live.running).toBe(true);
    expect(live.rates.inputFps).toBeGreaterThan(0);
    expect(live.rates.processedFps.every((x) => x > 0)).toBe(true);
    expect(live.rates.latencyMs.every((x) => x > 0 && x < 10_000)).toBe(true);
    await page.selectOption('#severity', '5');
    await page.selectOption('#corruption', 'contrast');
    const st = await finished(page);
    expect(st.errors).toEqual([]);
    await page.waitForTimeout(400);

    // The charts mark the change, and lane B's (source) accuracy over the last 100 frames falls after it.
    const marker = (await demoState(page)).markers.find((m) => m.kind === 'corruption' && m.label === 'contrast 5');
    expect(marker).toBeDefined();
    const acc = await page.evaluate(() => (globalThis as unknown as { __edgeTtaCharts: LiveCharts }).__edgeTtaCharts.series('accuracy'));
    const before = acc.b.filter((v, i) => v !== null && acc.t[i]! < marker!.t) as number[];
    const after = acc.b.slice(-3).filter((v) => v !== null) as number[];
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(after.length).toBeGreaterThanOrEqual(1);
    const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
    expect(mean(before)).toBeGreaterThan(70); // percent, clean frames
    expect(mean(before) - mean(after)).toBeGreaterThan(30);
    // Lane A's guard sees it: its shift detector's distance to the source rises after the change;
    // lane B (source, no guard) has no detector and no distance.
    const shift = await page.evaluate(() => (globalThis as unknown as { __edgeTtaCharts: LiveCharts }).__edgeTtaCharts.series('shiftDistance'));
    const distBefore = shift.a.filter((v, i) => v !== null && shift.t[i]! < marker!.t) as number[];
    const distAfter = shift.a.slice(-3).filter((v) => v !== null) as number[];
    expect(distBefore.length).toBeGreaterThanOrEqual(2);
    expect(distAfter.length).toBeGreaterThanOrEqual(1);
    expect(mean(distAfter)).toBeGreaterThan(2 * mean(distBefore));
    expect(shift.b.every((v) => v === null)).toBe(true);

    // Phone layout: nothing wider than the screen.
    expect(await scrollWidth(page)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-demo-390px.png'), fullPage: true });

    // An invalid batch size is shown next to the controls and marks the field; nothing is thrown.
    await page.fill('#batch', '0');
    await page.dispatchEvent('#batch', 'change');
    expect(await page.textContent('#settings-errors')).toContain("Batch size must be a whole number from 1 to 128; got '0'.");
    expect(await page.getAttribute('#batch', 'aria-invalid')).toBe('true');
    await page.click('#btn-sample');
    await page.waitForTimeout(100);
    expect(await page.textContent('#status')).toContain('fix the settings');

    // Reset counters empties the charts.
    await page.fill('#batch', '16');
    await page.dispatchEvent('#batch', 'change');
    expect(await page.textContent('#settings-errors')).toBe('');
    await page.click('#btn-reset-counters');
    await page.waitForTimeout(300);
    const end = await demoState(page);
    expect(Object.values(end.chartPoints)).toEqual([0, 0, 0, 0, 0]);
    expect(end.errors).toEqual([]); // includes window 'error' events (e.g. a ResizeObserver loop)
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('camera mode: frames from getUserMedia (Chromium\'s fake camera), centre-cropped to 28x28 grey and inverted, are predicted', async () => {
    const frames = 64;
    const { page, pageErrors, consoleErrors } = await openPage({
      mode: 'camera', strategy: 'bn-adapt', strategyB: 'source', batch: '16', fps: '60', backpressure: 'buffer', maxWait: 'inf', frames: String(frames), invert: '1', autostart: '1',
    });
    const st = await finished(page);
    expect(st.errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(st.framesSent).toBe(frames);
    expect(st.lanes).toHaveLength(2);
    for (const lane of st.lanes) {
      expect(lane.predictions).toBe(frames);
      expect(lane.labels.every((l) => Number.isInteger(l) && l >= 0 && l < 10)).toBe(true);
    }
    // No labels in camera mode: no accuracy; the figures panel still counts every step.
    await page.waitForTimeout(400);
    const cells = await page.$$eval('#metrics-body tr', (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')));
    expect(cells).toContainEqual(['accuracy, all frames', '–', '–']);
    expect(await page.getAttribute('#metrics-body', 'data-steps')).toBe(String(frames / 16));
    // The model input drawn on the page is the inverted grey crop: the fake camera's frame is
    // mostly dark green (luma ~75), so the inverted input is mostly light (> 128) and the clean view dark.
    const meanGrey = (id: string): Promise<number> =>
      page.$eval(`#${id}`, (c) => {
        const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
        let sum = 0;
        for (let p = 0; p < 784; p++) sum += d[4 * p]!;
        return sum / 784;
      });
    expect(await meanGrey('frame')).toBeGreaterThan(128);
    expect(await meanGrey('clean')).toBeLessThan(128);
    await page.close();
  }, 120_000);
});
