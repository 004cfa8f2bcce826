/**
 * Real Chromium for end-to-end tests, driven by playwright-core (browser downloads do not work everywhere, so a
 * browser already on the machine is used), and a place for screenshots (test-artifacts/, git-ignored).
 *
 * Which browser: CHROME_PATH when set, else the usual install locations on Linux, macOS and Windows. Without one
 * the browser tests are skipped with a line saying how to run them, so `npm test` passes on a newcomer's machine;
 * with CI set (.ci/run sets it) a missing browser fails the run instead, so CI always runs them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const ARTIFACTS_DIR = resolve(__dirname, '..', 'test-artifacts');

/** Where Chromium or Chrome usually is, per platform. */
const CANDIDATES: Readonly<Record<string, string[]>> = {
  linux: ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium'],
  darwin: ['/Applications/Google Chrome.app/Contents/MacOS/Google Chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium'],
  win32: ['C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe', 'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe'],
};

/** The browser the tests drive: CHROME_PATH if it exists, else the first usual location that does; undefined when none. */
export function findBrowser(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform, exists: (p: string) => boolean = existsSync): string | undefined {
  const configured = env['CHROME_PATH'];
  if (configured) return exists(configured) ? configured : undefined;
  return (CANDIDATES[platform] ?? []).find(exists);
}

/** Whether a missing browser is a failure (CI) rather than a skip (a developer's machine). */
export const browserRequired = (env: NodeJS.ProcessEnv = process.env): boolean => env['CI'] === 'true' || env['CI'] === '1';

export const BROWSER_PATH = findBrowser();

/** The one line a run prints when it skips the browser tests. */
export const SKIP_NOTICE = 'Browser tests SKIPPED: no Chromium or Chrome found. Install chromium, or set CHROME_PATH=/path/to/chrome, to run them (CI fails instead of skipping).';

/**
 * `describe` for tests that need the browser: runs them when one is found; otherwise skips them (the title says
 * why) or, in CI, fails with the reason.
 */
export function describeWithBrowser(title: string, fn: () => void): void {
  if (BROWSER_PATH) {
    describe(title, fn);
  } else if (browserRequired()) {
    describe(title, () => {
      it('needs a browser', () => {
        throw new Error(`No browser for the browser tests: ${process.env['CHROME_PATH'] ? `CHROME_PATH=${process.env['CHROME_PATH']} does not exist` : 'none at the usual locations'}. Install chromium or set CHROME_PATH.`);
      });
    });
  } else {
    describe.skip(`${title} (SKIPPED: no Chromium or Chrome found; set CHROME_PATH to run)`, fn);
  }
}

/** Headless Chromium with a fresh temporary profile and no background traffic. */
export function launchBrowser(): Promise<Browser> {
  if (!BROWSER_PATH) throw new Error(SKIP_NOTICE);
  return chromium.launch({
    executablePath: BROWSER_PATH,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** `<repo>/test-artifacts/<name>`, creating the directory. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return resolve(ARTIFACTS_DIR, name);
}
