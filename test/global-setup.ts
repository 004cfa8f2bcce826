import { execSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Builds the service and the SMART app bundle once, before any test file runs: the tests that start real
 * processes (node dist/server.js), drive Chromium or call the validate CLI all use this one build, and no two
 * workers ever write dist/ at the same time.
 */
export default function globalSetup(): void {
  const root = resolve(__dirname, '..');
  try {
    execSync('npx tsc -p tsconfig.build.json && node scripts/build-app.mjs', { cwd: root, stdio: 'pipe', encoding: 'utf8', timeout: 180_000 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`Building the service before the tests failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}
