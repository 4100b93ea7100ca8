/**
 * The browser camera demo's controls used the way a hurried or hostile user uses them, in
 * Debian's headless Chromium (playwright-core), on the production build:
 *
 * 1. The frame panel's picture is the frame its caption (prediction, true class) is about.
 * 2. Reset counters and a batch size change mid-stream: "in flight" stays the frames really in
 *    flight; the frames the old batching held are still predicted (none lost); Stop keeps the
 *    final figures on screen.
 * 3. Starting again while the lanes start (impatient clicks) leaves one worker per lane, not more.
 * 4. Stop, or the sample stream, while the camera permission prompt is open: the camera is
 *    closed once granted, and the status says what runs.
 * 5. A refused camera says how to allow it.
 * 6. Hiding the page saves every lane's state at its current step (a reload or a closed tab ends
 *    the worker before a save can come back, so the save on hiding is the one that counts).
 * 7. Starting again (a strategy switch, the camera after the sample stream) leaves five charts,
 *    not five more each time, and an empty frame panel until the new lanes predict.
 * 8. Changing the corruption in camera mode puts no marker on the charts (it applies to the sample
 *    stream only); Reset counters after Stop zeroes the figures still shown, not only the charts.
 * 9. A strategy picked while another setting is invalid waits (the status says so) and is applied
 *    once the setting is fixed.
 * 10. A batch size changed while the camera permission prompt is open applies once the camera runs.
 *
 * Needs /usr/bin/chromium (`apt-get update && apt-get install -y chromium`); fails without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { sampleBinary } from '../../demos/browser-camera/serve.js';
import { CHROMIUM_MISSING, startDemoBrowser, type DemoBrowser } from '../helpers/demoBrowser.js';
import type { DemoState } from '../../demos/browser-camera/page.js';


/** Counts the page's Web Workers: created, terminated, alive. */
const COUNT_WORKERS = `(() => {
  const W = window.Worker;
  window.__workers = { created: 0, alive: new Set() };
  window.Worker = class extends W {
    constructor(...args) { super(...args); window.__workers.created++; window.__workers.alive.add(this); }
    terminate() { window.__workers.alive.delete(this); return super.terminate(); }
  };
})();`;

/** A camera permission prompt the user answers after 3 s (granted); the tracks it gave are kept in window.__tracks. */
const SLOW_PROMPT = `(() => {
  const get = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__tracks = [];
  navigator.mediaDevices.getUserMedia = async (c) => {
    await new Promise((r) => setTimeout(r, 3000));
    const s = await get(c);
    window.__tracks.push(...s.getTracks());
    return s;
  };
})();`;

/** The user refuses the camera. */
const REFUSED = `navigator.mediaDevices.getUserMedia = async () => { throw new DOMException('Permission denied', 'NotAllowedError'); };`;

const demoState = (page: Page): Promise<DemoState> => page.evaluate(() => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo);
const figures = (page: Page): Promise<string[][]> => page.$$eval('#metrics-body tr', (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')));
const figure = async (page: Page, name: string): Promise<string[]> => (await figures(page)).find((r) => r[0] === name)!.slice(1);
const aliveWorkers = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as { __workers: { alive: Set<unknown> } }).__workers.alive.size);
const liveTracks = (page: Page): Promise<number> =>
  page.evaluate(() => (window as unknown as { __tracks: MediaStreamTrack[] }).__tracks.filter((t) => t.readyState === 'live').length);

describe('browser camera demo controls in headless Chromium', () => {
  let demo: DemoBrowser | null = null;

  beforeAll(async () => {
    demo = await startDemoBrowser();
  });

  afterAll(async () => {
    await demo?.close();
  });

  /** A new page in a new browser context (empty IndexedDB), with `init` run before the page's scripts; records page errors. */
  async function openPage(query: Record<string, string>, init = ''): Promise<{ page: Page; pageErrors: string[] }> {
    if (demo === null) throw new Error(CHROMIUM_MISSING);
    const { server, browser } = demo;
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.addInitScript(COUNT_WORKERS + init);
    await page.goto(`${server.url}?${new URLSearchParams(query)}`);
    await page.waitForFunction(() => (globalThis as unknown as { __edgeTtaDemo?: DemoState }).__edgeTtaDemo?.ready === true);
    return { page, pageErrors };
  }

  const predicted = (page: Page, n: number): Promise<unknown> =>
    page.waitForFunction(
      (k) => {
        const s = (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo;
        return s.errors.length > 0 || (s.lanes.length > 0 && s.lanes.every((l) => l.predictions >= k));
      },
      n,
      { timeout: 60_000 },
    );

  it('the frame panel shows the frame its caption is about', async () => {
    const bin = sampleBinary(640);
    const n = bin.readUInt32LE(8);
    const { page, pageErrors } = await openPage({ mode: 'sample', strategy: 'bn-adapt', strategyB: 'off', corruption: 'none', batch: '16', fps: '30', autostart: '1' });
    await predicted(page, 32);
    const wrong: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { caption, grey } = await page.evaluate(() => {
        const d = (document.getElementById('clean') as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
        return { caption: document.getElementById('prediction-detail')!.textContent ?? '', grey: Array.from({ length: 784 }, (_, p) => d[4 * p]!) };
      });
      const id = Number(/frame #(\d+)/.exec(caption)?.[1]);
      const k = id % n;
      if (!grey.every((v, p) => v === bin[12 + n + k * 784 + p])) wrong.push(caption);
      await page.waitForTimeout(61);
    }
    expect(wrong).toEqual([]);
    expect((await demoState(page)).errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('reset counters and a batch change mid-stream: "in flight" stays true, no frame is lost; Stop keeps the figures', async () => {
    // Full batches only: a batch change leaves a partial batch in the old stream's hands.
    const { page, pageErrors } = await openPage({
      mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: 'fog', batch: '16', maxWait: 'inf', fps: '60', backpressure: 'buffer', autostart: '1',
    });
    await predicted(page, 128);
    await page.click('#btn-reset-counters');
    await page.waitForTimeout(1000);
    // A few batches are waiting or in a step (up to ~4 on a loaded machine), not also the 128+
    // frames predicted before the reset (what the count showed when the reset zeroed predictions only).
    for (const cell of await figure(page, 'in flight')) expect(Number(cell)).toBeLessThan(100);

    await page.fill('#batch', '24');
    await page.dispatchEvent('#batch', 'change');
    const sent = (await demoState(page)).framesSent;
    await page.waitForFunction((k) => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.framesSent >= k + 96, sent, { timeout: 60_000 });
    // Every frame sent before the change gets its prediction (the old batching's partial batch is flushed).
    await page.waitForFunction(
      (k) => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.lanes.every((l) => Array.from({ length: k }, (_, i) => l.labels[i]).every((x) => x !== undefined)),
      sent,
      { timeout: 30_000 },
    ).catch(() => undefined);
    const st = await demoState(page);
    for (const lane of st.lanes) {
      const lost = Array.from({ length: sent }, (_, i) => i).filter((i) => lane.labels[i] === undefined);
      expect(lost, `lane ${lane.lane}: frames sent before the batch change never predicted`).toEqual([]);
      expect(lane.dropped).toBe(0);
    }
    for (const cell of await figure(page, 'in flight')) expect(Number(cell)).toBeLessThan(100);

    // Stop: the final figures stay on screen.
    await page.click('#btn-stop');
    await page.waitForFunction(() => /Stopped/.test(document.getElementById('status')!.textContent ?? ''));
    await page.waitForTimeout(400);
    const [a, b] = await figure(page, 'accuracy, all frames');
    expect(a).toMatch(/^\d+\.\d%$/);
    expect(b).toMatch(/^\d+\.\d%$/);
    expect((await figure(page, 'saved (IndexedDB) at step'))[0]).toMatch(/^\d+$/);
    expect(await aliveWorkers(page)).toBe(0);
    expect((await demoState(page)).errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('hiding the page (a phone switching apps, a background tab) saves every lane at its current step', async () => {
    // One step of 16 per second: the periodic save (every 10 steps) is seconds away.
    const { page, pageErrors } = await openPage({ mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: 'fog', batch: '16', maxWait: 'inf', fps: '16', autostart: '1' });
    await page.waitForFunction(() => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.lanes.length === 2 && (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.lanes.every((l) => l.lastStepId !== null && l.lastStepId >= 2), undefined, { timeout: 60_000 });
    const before = await page.evaluate(() => {
      const lanes = (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.lanes.map((l) => ({ steps: l.lastStepId! + 1, saved: l.savedSteps }));
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
      return lanes;
    });
    expect(before).toHaveLength(2);
    for (const l of before) expect(l.saved).toBeNull();
    await page.waitForFunction(
      (b) => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.lanes.every((l, i) => l.savedSteps !== null && l.savedSteps >= b[i]!.steps),
      before,
      { timeout: 3000 },
    );
    const saved = (await demoState(page)).lanes.map((l) => l.savedSteps!);
    for (const n of saved) expect(n).toBeLessThan(10); // not the periodic save at step 10
    expect((await demoState(page)).errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('clicking "Sample stream" again while the lanes start leaves one worker per lane', async () => {
    const { page, pageErrors } = await openPage({ mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: 'fog', fps: '60' });
    // Three starts while the first one's workers load (the leak was a race: each extra start gives it a chance).
    for (const wait of [50, 300, 0]) {
      await page.click('#btn-sample');
      await page.waitForTimeout(wait);
    }
    await predicted(page, 48);
    await page.waitForTimeout(1500);
    expect(await aliveWorkers(page)).toBe(2);
    const st = await demoState(page);
    expect(st.errors).toEqual([]);
    expect(st.lanes.map((l) => l.strategy)).toEqual(['bn-adapt', 'source']);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('Stop, or the sample stream, while the camera permission prompt is open closes the camera once granted', async () => {
    for (const then of ['#btn-stop', '#btn-sample'] as const) {
      const { page, pageErrors } = await openPage({ mode: 'camera', strategy: 'bn-adapt', strategyB: 'source', fps: '30' }, SLOW_PROMPT);
      await page.click('#btn-camera');
      await page.waitForTimeout(1500); // the prompt is open (3 s)
      await page.click(then);
      await page.waitForTimeout(4500); // granted meanwhile
      const st = await demoState(page);
      expect(await liveTracks(page), `${then}: camera still on`).toBe(0);
      expect(await page.$eval('#video', (v) => (v as HTMLVideoElement).hidden)).toBe(true);
      expect(st.errors).toEqual([]);
      const status = (await page.textContent('#status')) ?? '';
      if (then === '#btn-stop') {
        expect(st.running).toBe(false);
        expect(status).toMatch(/^Stopped/);
        expect(await aliveWorkers(page)).toBe(0);
      } else {
        expect([st.running, st.mode]).toEqual([true, 'sample']);
        // The sample lanes may still be starting on a loaded machine: wait for them, not a fixed time.
        await page.waitForFunction(() => /^Running the sample stream/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
        expect(await aliveWorkers(page)).toBe(2);
      }
      expect(pageErrors).toEqual([]);
      await page.close();
    }
  }, 120_000);

  it('starting again (a strategy switch, then Camera) starts from a clean page: five charts, no frame or prediction of the previous run', async () => {
    const { page, pageErrors } = await openPage({ mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: 'fog', batch: '8', fps: '30', autostart: '1' }, SLOW_PROMPT);
    const charts = (): Promise<{ figures: number; plots: number }> =>
      page.evaluate(() => ({ figures: document.querySelectorAll('#charts figure').length, plots: document.querySelectorAll('#charts .uplot').length }));
    await predicted(page, 16);
    expect(await charts()).toEqual({ figures: 5, plots: 5 });
    // A strategy switch restarts both lanes; the old charts go, not only their plots.
    await page.selectOption('#strategyA', 'alpha-bn');
    await page.waitForFunction(() => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.lanes[0]?.strategy === 'alpha-bn', null, { timeout: 60_000 });
    await predicted(page, 16);
    expect(await charts()).toEqual({ figures: 5, plots: 5 });
    expect(await page.textContent('#prediction-detail')).toContain('true class');

    // Camera: while the permission prompt is open (3 s) the frame panel shows nothing of the
    // sample run (its picture, prediction and true class are not about the camera).
    await page.click('#btn-camera');
    await page.waitForTimeout(1500);
    const panel = await page.evaluate(() => ({
      prediction: document.getElementById('prediction')!.textContent,
      detail: document.getElementById('prediction-detail')!.textContent,
      laneB: document.getElementById('lane-b-prediction')!.textContent,
      bars: document.querySelectorAll('#probs .bar').length,
      lit: (['clean', 'frame'] as const).map((id) => (document.getElementById(id) as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data.some((v) => v !== 0)),
    }));
    expect(panel).toEqual({ prediction: '–', detail: '', laneB: '', bars: 0, lit: [false, false] });
    expect((await figure(page, 'frame shown'))[0]).toBe('–');
    expect(await charts()).toEqual({ figures: 5, plots: 5 });
    // Once the camera's frames are predicted: a prediction without a true class (camera frames have none).
    await page.waitForFunction(() => /^Running the camera/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    await predicted(page, 8);
    await page.waitForFunction(() => /frame #/.test(document.getElementById('prediction-detail')!.textContent ?? ''), null, { timeout: 10_000 });
    expect(await page.textContent('#prediction-detail')).not.toContain('true class');
    expect((await demoState(page)).errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('camera mode puts no corruption marker on the charts; after Stop, Reset counters zeroes the figures shown, not only the charts', async () => {
    const { page, pageErrors } = await openPage({ mode: 'camera', strategy: 'bn-adapt', strategyB: 'source', batch: '8', fps: '30', autostart: '1' });
    await predicted(page, 16);
    // The corruption applies to the sample stream only: changed in camera mode it changes nothing, so no marker may say it did.
    await page.selectOption('#corruption', 'contrast');
    await page.selectOption('#severity', '5');
    await page.waitForTimeout(400);
    expect((await demoState(page)).markers.filter((m) => m.kind === 'corruption').map((m) => m.label)).toEqual(['camera']);

    await page.click('#btn-stop');
    await page.waitForFunction(() => /^Stopped/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 30_000 });
    await page.waitForTimeout(400);
    for (const cell of await figure(page, 'predicted')) expect(Number(cell)).toBeGreaterThanOrEqual(16);
    await page.click('#btn-reset-counters');
    await page.waitForTimeout(400);
    for (const name of ['predicted', 'dropped', 'frame errors']) expect(await figure(page, name), name).toEqual(['0', '0']);
    expect(await figure(page, 'processed fps')).toEqual(['0', '0']);
    const st = await demoState(page);
    expect(st.lanes.map((l) => [l.predictions, l.steps])).toEqual([[0, 0], [0, 0]]);
    expect(Object.values(st.chartPoints)).toEqual([0, 0, 0, 0, 0]);
    expect(st.errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('a strategy picked while another setting is invalid is not lost: the status says it waits, and fixing the setting switches the lane', async () => {
    const { page, pageErrors } = await openPage({ mode: 'sample', strategy: 'bn-adapt', strategyB: 'source', corruption: 'fog', batch: '8', fps: '30', autostart: '1' });
    await predicted(page, 16);
    const status = async (): Promise<string> => (await page.textContent('#status')) ?? '';
    await page.fill('#fps', '500');
    await page.dispatchEvent('#fps', 'change');
    expect(await page.textContent('#settings-errors')).toContain('FPS');
    expect(await status()).toMatch(/^Not applied: fix the settings shown in red/);
    // Lane B picked meanwhile: not applied yet (the lanes keep the last good settings).
    await page.selectOption('#strategyB', 'alpha-bn');
    await page.waitForTimeout(1000);
    expect((await demoState(page)).lanes.map((l) => l.strategy)).toEqual(['bn-adapt', 'source']);
    expect(await status()).toMatch(/^Not applied/);
    // Fixed: what the controls show runs, lane B's strategy included.
    await page.fill('#fps', '30');
    await page.dispatchEvent('#fps', 'change');
    await page.waitForFunction(() => /^Running the sample stream: A = bn-adapt, B = alpha-bn/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    expect((await demoState(page)).lanes.map((l) => l.strategy)).toEqual(['bn-adapt', 'alpha-bn']);
    await predicted(page, 8);
    // A valid change that needs no restart (the batch) after an invalid one: the status says what runs again.
    await page.fill('#batch', '0');
    await page.dispatchEvent('#batch', 'change');
    expect(await status()).toMatch(/^Not applied/);
    await page.fill('#batch', '16');
    await page.dispatchEvent('#batch', 'change');
    expect(await status()).toMatch(/^Running the sample stream: A = bn-adapt, B = alpha-bn/);
    expect((await demoState(page)).errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('a batch size changed while the camera permission prompt is open applies once the camera runs', async () => {
    const { page, pageErrors } = await openPage({ mode: 'camera', strategy: 'bn-adapt', strategyB: 'off', batch: '16', maxWait: 'inf', fps: '30' }, SLOW_PROMPT);
    await page.click('#btn-camera');
    await page.waitForTimeout(1500); // the prompt is open (3 s)
    await page.fill('#batch', '4');
    await page.dispatchEvent('#batch', 'change');
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo;
        return s.errors.length > 0 || (/^Running the camera/.test(document.getElementById('status')!.textContent ?? '') && s.lanes[0]!.steps >= 3);
      },
      null,
      { timeout: 60_000 },
    );
    expect((await demoState(page)).errors).toEqual([]);
    // Full batches only (max wait inf): every step has the new batch size.
    const steps = await page.$$eval('#step-log li', (lis) => lis.map((li) => li.textContent ?? '').filter((t) => t.startsWith('step ')));
    expect(steps.length).toBeGreaterThanOrEqual(3);
    for (const line of steps) expect(line).toMatch(/^step \d+: 4 frames,/);
    expect((await demoState(page)).errors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('a refused camera says how to allow it, and the page stays usable', async () => {
    const { page, pageErrors } = await openPage({ mode: 'camera', strategy: 'bn-adapt', strategyB: 'off' }, REFUSED);
    await page.click('#btn-camera');
    await page.waitForFunction(() => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo.errors.length > 0, null, { timeout: 60_000 });
    const status = (await page.textContent('#status')) ?? '';
    expect(status).toContain('Camera access was refused (NotAllowedError: Permission denied): allow the camera for this site');
    expect(status).toContain('The sample stream works without a camera.');
    await page.waitForTimeout(500);
    expect(await aliveWorkers(page)).toBe(0);
    expect(await page.$eval('#btn-stop', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);
});
