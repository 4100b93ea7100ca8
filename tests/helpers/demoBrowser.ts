/**
 * The browser demo tests' set-up: the demo built into a folder of its own and served on a free
 * port (the test files run in parallel, and a build empties its folder first), and Debian's
 * headless Chromium with its fake camera and no permission prompt.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startDemoServer, type DemoServer } from '../../demos/browser-camera/serve.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Without Chromium each test fails (not skips) with this message. */
export const CHROMIUM_MISSING = `${CHROMIUM} is missing: the browser demo test needs Debian's Chromium. Install it with \`apt-get update && apt-get install -y chromium\`.`;

/** A served demo build and a browser to open it in. */
export interface DemoBrowser {
  server: DemoServer;
  browser: Browser;
  /** Closes the browser and the server and removes the build folder. */
  close(): Promise<void>;
}

/** Starts the demo server and Chromium; null when Chromium is missing. */
export async function startDemoBrowser(): Promise<DemoBrowser | null> {
  if (!fs.existsSync(CHROMIUM)) return null;
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tta-demo-'));
  const server = await startDemoServer({ port: 0, outDir });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Camera mode: Chromium's synthetic camera (a moving test pattern), no permission prompt.
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    ],
  });
  return {
    server,
    browser,
    close: async () => {
      await browser.close();
      await server.close();
      fs.rmSync(outDir, { recursive: true, force: true });
    },
  };
}
