/**
 * The browser camera demo says why frames fail, in Debian's headless Chromium (playwright-core),
 * on the production build: a camera source that gives bad images makes the SDK refuse frames, and
 * the page shows the SDK's messages (the last few distinct ones, with per-lane counts) as text,
 * next to the "frame errors" count. And, in Node, the log behind the panel: the last few
 * distinct messages, each cut to a maximum length, so a long run's memory stays bounded.
 *
 * A screenshot of the figures and the panel goes to test-artifacts/ (gitignored).
 * Needs /usr/bin/chromium (`apt-get update && apt-get install -y chromium`); fails without it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { prepareFrame } from '../../src/stream/frames.js';
import { FrameErrorLog } from '../../demos/browser-camera/frameErrors.js';
import { CHROMIUM_MISSING, startDemoBrowser, type DemoBrowser } from '../helpers/demoBrowser.js';
import type { DemoState } from '../../demos/browser-camera/page.js';

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts');

/** The markup in a message that must stay text: as HTML it would run `onerror`. */
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

/**
 * A bad camera source, at the one place the page reads camera pixels (getImageData of its 28x28
 * canvas), for frame k (0-based): k % 4 == 1 reads a 27x28 image (the wrong size); k % 4 == 3
 * reads an ImageData carrying a `frameId` key and a key that is markup, different per frame (the
 * SDK's message names the keys, so the markup reaches the page). The keys given are kept in
 * `window.__hostileKeys`.
 */
const BAD_CAMERA = `(() => {
  const get = CanvasRenderingContext2D.prototype.getImageData;
  let k = 0;
  window.__hostileKeys = [];
  CanvasRenderingContext2D.prototype.getImageData = function (...args) {
    if (args[2] !== 28 || args[3] !== 28) return get.apply(this, args);
    const i = k++;
    if (i % 4 === 1) return new ImageData(27, 28);
    const image = get.apply(this, args);
    if (i % 4 !== 3) return image;
    const key = ${JSON.stringify(HOSTILE)} + ' #' + i;
    window.__hostileKeys.push(key);
    return Object.assign(image, { frameId: i, [key]: 1 });
  };
})();`;

const demoState = (page: Page): Promise<DemoState> => page.evaluate(() => (globalThis as unknown as { __edgeTtaDemo: DemoState }).__edgeTtaDemo);

/** The SDK's message for a frame, computed in Node (the page must show the same). */
function sdkMessage(frame: unknown): string {
  try {
    prepareFrame(frame as never, [28, 28, 1]);
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
  throw new Error('the SDK accepted the frame');
}

describe('browser demo frame error log', () => {
  it('keeps the last distinct messages, newest first, with per-lane counts; a repeat moves to the front', () => {
    const log = new FrameErrorLog(3);
    log.add(0, 'InvalidInputError', 'size', 0);
    log.add(1, 'InvalidInputError', 'size', 0);
    log.add(0, 'InvalidInputError', 'nan', 1);
    log.add(0, 'WorkerFaultError', 'size', 2); // same message, another error: another entry
    log.add(0, 'InvalidInputError', 'size', 3);
    expect(log.entries()).toEqual([
      { name: 'InvalidInputError', message: 'size', counts: [2, 1], lastFrameId: 3 },
      { name: 'WorkerFaultError', message: 'size', counts: [1, 0], lastFrameId: 2 },
      { name: 'InvalidInputError', message: 'nan', counts: [1, 0], lastFrameId: 1 },
    ]);
    // A fourth distinct message pushes out the least recently seen ('nan'), with its count.
    log.add(1, 'InvalidInputError', 'label', 4);
    expect(log.entries().map((e) => e.message)).toEqual(['label', 'size', 'size']);
    log.add(0, 'InvalidInputError', 'nan', 5);
    expect(log.entries()[0]).toEqual({ name: 'InvalidInputError', message: 'nan', counts: [1, 0], lastFrameId: 5 });
    log.clear();
    expect(log.entries()).toEqual([]);
  });

  it('bounds a long run: 10,000 distinct long messages keep 5 entries of at most 400 characters and an ellipsis', () => {
    const log = new FrameErrorLog();
    for (let i = 0; i < 10_000; i++) log.add(0, 'InvalidInputError', `${i} ${'x'.repeat(5000)}`, i);
    expect(log.entries()).toHaveLength(5);
    expect(log.entries().map((e) => e.lastFrameId)).toEqual([9999, 9998, 9997, 9996, 9995]);
    for (const e of log.entries()) expect(e.message).toHaveLength(401);
    expect(log.entries()[0]!.message).toBe(`9999 ${'x'.repeat(395)}…`);
    // Two long messages that differ only after the cut count as one.
    const cut = new FrameErrorLog(5, 10);
    cut.add(0, 'E', 'abcdefghij-1', 0);
    cut.add(0, 'E', 'abcdefghij-2', 1);
    expect(cut.entries()).toEqual([{ name: 'E', message: 'abcdefghij…', counts: [2, 0], lastFrameId: 1 }]);
  });
});

describe('browser camera demo frame errors in headless Chromium', () => {
  let demo: DemoBrowser | null = null;

  beforeAll(async () => {
    demo = await startDemoBrowser();
  });

  afterAll(async () => {
    await demo?.close();
  });

  it('a bad camera source: the panel shows the SDK\'s messages as text, with per-lane counts, the last 5 distinct ones', async () => {
    if (demo === null) throw new Error(CHROMIUM_MISSING);
    const frames = 48;
    const page = await (await demo.browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.addInitScript(BAD_CAMERA);
    const query = { mode: 'camera', strategy: 'bn-adapt', strategyB: 'source', batch: '8', fps: '30', backpressure: 'buffer', maxWait: 'inf', frames: String(frames), autostart: '1' };
    await page.goto(`${demo.server.url}?${new URLSearchParams(query)}`);
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { __edgeTtaDemo?: DemoState }).__edgeTtaDemo;
        return s !== undefined && ((s.lanes.length === 2 && s.lanes.every((l) => l.done)) || s.errors.length > 0);
      },
      null,
      { timeout: 60_000 },
    );
    await page.waitForTimeout(400); // a render tick

    // The stream went on: 12 wrong-size and 12 markup frames refused per lane, the rest predicted.
    const st = await demoState(page);
    expect(st.errors).toEqual([]);
    expect(st.framesSent).toBe(frames);
    for (const lane of st.lanes) expect([lane.errors, lane.predictions]).toEqual([24, 24]);
    const row = await page.$$eval('#metrics-body tr', (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')).find((r) => r[0] === 'frame errors'));
    expect(row).toEqual(['frame errors', '24', '24']);

    // The panel: newest first, 5 distinct messages kept of the 13 seen. The wrong size recurs every
    // 4 frames, so it stays, with its full count; the markup messages are each new.
    const items = await page.$$eval('#frame-errors li', (lis) => lis.map((li) => ({ count: li.querySelector('.count')!.textContent, message: li.querySelector('.message')!.textContent })));
    const keys = await page.evaluate(() => (window as unknown as { __hostileKeys: string[] }).__hostileKeys);
    expect(keys).toHaveLength(12);
    expect(items).toHaveLength(5);
    const size = sdkMessage({ data: new Uint8ClampedArray(27 * 28 * 4), width: 27, height: 28 });
    expect(size).toMatch(/^InvalidInputError: The image is 27x28; the model expects/);
    expect(items[1]).toEqual({ count: 'A 12 · B 12', message: size });
    // The newest markup keys, in order, each shown literally in the SDK's message.
    const shown = [items[0]!, ...items.slice(2)];
    expect(shown.map((x) => keys.findIndex((key) => x.message!.includes(`, ${key});`)))).toEqual([11, 10, 9, 8]);
    for (const x of shown) expect(x.message).toMatch(/^InvalidInputError: The frame has a frameId key \(got an ImageData with keys .*frameId, <img src=x onerror="window.__pwned=1"> #\d+\); a labelled frame wraps the frame/);
    expect(await page.$$('#frame-errors img')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.isVisible('#frame-errors')).toBe(true);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('#metrics-panel').screenshot({ path: path.join(ARTIFACTS, 'browser-demo-frame-errors.png') });

    // Reset counters zeroes the count and empties the panel with it.
    await page.click('#btn-reset-counters');
    await page.waitForTimeout(400);
    expect(await page.$$('#frame-errors li')).toHaveLength(0);
    expect(await page.isVisible('#frame-errors')).toBe(false);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);
});
