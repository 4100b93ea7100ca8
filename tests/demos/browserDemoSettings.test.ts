/**
 * The browser demo's settings check and live meters, in Node (the page uses the same modules):
 * every bad field gives a message naming the field, the value and the valid range, nothing is
 * thrown; the meters against hand-computed values.
 */
import { describe, expect, it } from 'vitest';
import { parseSettings, type RawSettings } from '../../demos/browser-camera/settings.js';
import { FrameLabels, RateMeter, RecentValues, WindowAccuracy } from '../../demos/browser-camera/meters.js';
import { cameraErrorMessage } from '../../demos/browser-camera/cameraErrors.js';

const STRATEGIES = ['source', 'bn-adapt', 'tent'];
const CORRUPTIONS = ['fog', 'contrast'];
const GOOD: RawSettings = {
  strategyA: 'tent', strategyB: 'off', corruption: 'fog', severity: '3', batch: '16', maxWait: '100',
  fps: '60', backpressure: 'drop-oldest', frames: '', invert: '1', resume: '0',
};

describe('browser demo settings', () => {
  it('parses good settings: lane B off, empty max wait and frames mean no limit', () => {
    expect(parseSettings(GOOD, STRATEGIES, CORRUPTIONS)).toEqual({
      ok: true,
      settings: {
        strategies: ['tent', null], corruption: 'fog', severity: 3, batch: 16, maxWaitMs: 100, fps: 60,
        backpressure: 'drop-oldest', frames: Infinity, invert: true, resume: false,
      },
    });
    const p = parseSettings({ ...GOOD, strategyB: 'source', maxWait: '', frames: '320', corruption: 'none' }, STRATEGIES, CORRUPTIONS);
    expect(p.ok && [p.settings.strategies, p.settings.maxWaitMs, p.settings.frames, p.settings.corruption]).toEqual([['tent', 'source'], Infinity, 320, 'none']);
  });

  it('reports every bad field with its value and range, without throwing', () => {
    const p = parseSettings(
      { ...GOOD, strategyA: 'off', strategyB: 'nope', corruption: 'rain', severity: '6', batch: '0', maxWait: '-5', fps: 'abc', backpressure: 'queue', frames: '1.5' },
      STRATEGIES,
      CORRUPTIONS,
    );
    expect(p.ok).toBe(false);
    if (p.ok) return;
    expect(p.errors).toEqual({
      strategyA: "Unknown strategy 'off'. Valid: source, bn-adapt, tent.",
      strategyB: "Unknown strategy 'nope'. Valid: source, bn-adapt, tent, off.",
      corruption: "Unknown corruption 'rain'. Valid: none, fog, contrast.",
      severity: "Severity must be a whole number from 1 to 5; got '6'.",
      batch: "Batch size must be a whole number from 1 to 128; got '0'.",
      maxWait: "Max wait (ms) must be a number from 0 to 10000 (or empty for no limit); got '-5'.",
      fps: "FPS must be a number from 1 to 240; got 'abc'.",
      backpressure: "Backpressure must be one of drop-oldest, latest, buffer; got 'queue'.",
      frames: "Frames must be a whole number from 1 to 1000000 (or empty for no limit); got '1.5'.",
    });
    // Boundaries are valid; a blank batch is not.
    expect(parseSettings({ ...GOOD, batch: '128', fps: '240', maxWait: '0' }, STRATEGIES, CORRUPTIONS).ok).toBe(true);
    expect(parseSettings({ ...GOOD, batch: ' ' }, STRATEGIES, CORRUPTIONS)).toMatchObject({ ok: false, errors: { batch: expect.stringContaining("got ' '") } });
  });
});

describe('browser demo meters', () => {
  it('RateMeter counts events in the last window', () => {
    const m = new RateMeter(2000);
    m.add(0, 10);
    m.add(1000, 6);
    expect(m.perSecond(1500)).toBe(8); // 16 events in 2 s
    expect(m.perSecond(2500)).toBe(3); // the first 10 left the window (t <= 500)
    expect(m.perSecond(3000)).toBe(0);
  });

  it('RecentValues gives the median of the window', () => {
    const r = new RecentValues(1000);
    expect(r.median(0)).toBeNaN();
    for (const [t, v] of [[0, 50], [100, 10], [200, 30], [300, 20]] as const) r.add(t, v);
    expect(r.median(300)).toBe(25); // 10, 20, 30, 50
    expect(r.median(1050)).toBe(20); // 50 left: 10, 20, 30
  });

  it('WindowAccuracy is hits over the last N predictions', () => {
    const w = new WindowAccuracy(4);
    expect(w.value).toBeNaN();
    for (const hit of [true, true, false, true, false, false]) w.add(hit);
    expect([w.value, w.count]).toEqual([1 / 4, 4]); // the last four: false, true, false, false
  });

  it('FrameLabels keeps the first N labels as a list and the newest ones for look-ups, in bounded memory', () => {
    const f = new FrameLabels(3, 4);
    for (let id = 0; id < 10; id++) f.set(id, id % 10);
    expect(f.list).toEqual([0, 1, 2]); // only the first 3 frames
    expect([6, 7, 8, 9].map((id) => f.get(id))).toEqual([6, 7, 8, 9]); // the ring of the newest 4
    expect(f.get(5)).toBeUndefined(); // older than the ring: not another frame's label
    expect(f.get(10)).toBeUndefined(); // not sent yet
  });
});

describe('browser demo camera errors', () => {
  const secure = { secure: true, hasApi: true, origin: 'http://localhost:8080' };
  const error = (name: string, message: string): DOMException => new DOMException(message, name);

  it('a page on plain http from another machine is told to open localhost or https, not that the browser lacks a camera API', () => {
    const m = cameraErrorMessage(null, { secure: false, hasApi: false, origin: 'http://192.168.1.20:8080' });
    expect(m).toContain('served over plain http from http://192.168.1.20:8080');
    expect(m).toContain('Open it as http://localhost:8080/');
    expect(m).not.toContain('This browser has no camera API');
  });

  it("says what to do for the browser's own errors, and keeps their name and message", () => {
    expect(cameraErrorMessage(error('NotAllowedError', 'Permission denied'), secure)).toMatch(/^Camera access was refused \(NotAllowedError: Permission denied\): allow the camera for this site/);
    expect(cameraErrorMessage(error('NotFoundError', 'Requested device not found'), secure)).toMatch(/^No camera was found \(NotFoundError: Requested device not found\)/);
    expect(cameraErrorMessage(error('NotReadableError', 'Could not start video source'), secure)).toContain('another application or tab may be using it');
    expect(cameraErrorMessage(new Error('odd'), secure)).toBe('The camera could not be opened (Error: odd). The sample stream works without a camera.');
    expect(cameraErrorMessage(null, { ...secure, hasApi: false })).toContain('This browser has no camera API');
  });
});
