import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BROWSER_PATH, SKIP_NOTICE, browserRequired } from './browser';

/** What dist/ is built from: a change in any of these means a rebuild. */
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build-app.mjs', 'package-lock.json'];
/**
 * The build's stamp: the hash of its inputs when this setup last built dist/, and the time dist/server.js was
 * written then (a build by `npm run build` from other sources since, e.g. on another branch, changes it).
 */
const STAMP = 'dist/.test-build-stamp';
/** Files the tests run: if one is missing, dist/ is rebuilt whatever the stamp says. */
const OUTPUTS = ['dist/server.js', 'dist/public/smart/app.js', 'dist/public/smart/launch.js'];

function files(path: string): string[] {
  if (!existsSync(path)) return [];
  const entries = readdirSync(path, { withFileTypes: true, recursive: true });
  // `parentPath` from Node 20.12; `path` before it.
  return entries.filter((e) => e.isFile()).map((e) => join((e as { parentPath?: string }).parentPath ?? e.path, e.name)).sort();
}

/** A hash of every input file's path and content (a few hundred small files: tens of milliseconds). */
export function inputsHash(root: string): string {
  const hash = createHash('sha256');
  for (const input of INPUTS) {
    const full = join(root, input);
    const list = existsSync(full) && !full.endsWith('.json') && !full.endsWith('.mjs') ? files(full) : existsSync(full) ? [full] : [];
    for (const f of list) hash.update(f.slice(root.length)).update('\0').update(readFileSync(f)).update('\0');
  }
  return hash.digest('hex');
}

/**
 * Builds the service and the SMART app bundle once, before any test file runs: the tests that start real
 * processes (node dist/server.js), drive Chromium or call the validate CLI all use this one build, and no two
 * workers ever write dist/ at the same time. When nothing dist/ is built from changed since the last build, the
 * build is skipped (a rerun of the tests starts in a second, not after a full compile).
 */
export default function globalSetup(): void {
  const root = resolve(__dirname, '..');
  // One visible line when the browser tests will be skipped (test/browser.ts), not one per test.
  if (!BROWSER_PATH && !browserRequired()) process.stdout.write(`\n${SKIP_NOTICE}\n`);
  const hash = inputsHash(root);
  const stamp = join(root, STAMP);
  const written = (): string => String(statSync(join(root, OUTPUTS[0] ?? '')).mtimeMs);
  const built = OUTPUTS.every((o) => existsSync(join(root, o))) && existsSync(stamp) && readFileSync(stamp, 'utf8') === `${hash} ${written()}`;
  if (!built) build(root, stamp, hash, written);
  const template = pgliteTemplate(root);
  if (template) process.env['TEST_PGLITE_TEMPLATE'] = template;
}

function build(root: string, stamp: string, hash: string, written: () => string): void {
  try {
    execSync('npx tsc -p tsconfig.build.json && node scripts/build-app.mjs', { cwd: root, stdio: 'pipe', encoding: 'utf8', timeout: 180_000 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`Building the service before the tests failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
  writeFileSync(stamp, `${hash} ${written()}`);
}

/**
 * The run's pre-initialised embedded database (test/data-dir.ts): PGlite's data directory after initdb and every
 * migration, made once by the built service in a child process and kept in the temp directory between runs. Its
 * name carries a hash of the migrations and the PGlite version, so a schema change makes a new one; it is made
 * under a temporary name and renamed into place, so parallel runs never see half a template.
 */
function pgliteTemplate(root: string): string | undefined {
  const hash = createHash('sha256')
    .update(readFileSync(join(root, 'dist/storage/migrations.js')))
    .update(readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json')))
    .digest('hex').slice(0, 16);
  const template = join(tmpdir(), `payer-crd-pglite-template-${hash}`);
  if (existsSync(join(template, 'pglite', 'PG_VERSION'))) return join(template, 'pglite');
  const staging = mkdtempSync(join(tmpdir(), 'payer-crd-pglite-staging-'));
  try {
    const script = "require('./dist/storage/open-database.js').openDatabase({ dataDir: process.argv[1] }).then((db) => db.close()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); })";
    execSync(`node -e "${script}" ${JSON.stringify(join(staging, 'pglite'))}`, { cwd: root, stdio: 'pipe', timeout: 120_000 });
    rmSync(join(staging, 'pglite.lock'), { force: true });
    renameSync(staging, template);
  } catch {
    // Another run made it first (the rename failed), or it could not be made: tests then initialise their own.
    rmSync(staging, { recursive: true, force: true });
  }
  return existsSync(join(template, 'pglite', 'PG_VERSION')) ? join(template, 'pglite') : undefined;
}
