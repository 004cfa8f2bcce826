/**
 * Real Chromium for end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core (browser downloads do not
 * work here), and a place for screenshots (test-artifacts/, git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS_DIR = resolve(__dirname, '..', 'test-artifacts');

/** Headless Chromium with a fresh temporary profile and no background traffic. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** `<repo>/test-artifacts/<name>`, creating the directory. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return resolve(ARTIFACTS_DIR, name);
}
