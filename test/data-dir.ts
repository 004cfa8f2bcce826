/**
 * DATA_DIRs for services and stores under test, seeded from one pre-initialised embedded database per run instead
 * of an initdb per suite: the first start of PGlite in an empty directory takes seconds (more with both cores busy),
 * copying a ready one takes a fraction of that. test/global-setup.ts builds the template once (kept in the system's
 * temp directory between runs, keyed by the schema and the PGlite version) and names it in TEST_PGLITE_TEMPLATE.
 * Every directory made here is removed when the jest worker exits.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.once('exit', () => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The pre-initialised `pglite` directory of this run, when global setup made one. */
export function pgliteTemplate(): string | undefined {
  const template = process.env['TEST_PGLITE_TEMPLATE'];
  return template && existsSync(join(template, 'PG_VERSION')) ? template : undefined;
}

/** A new temp directory, removed when the worker exits. */
export function tempDataDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  made.push(dir);
  return dir;
}

/**
 * A DATA_DIR whose embedded database is already initialised and migrated (a copy of the run's template; an empty
 * directory when there is none, and PGlite initialises it as in production).
 */
export function seededDataDir(prefix: string): string {
  const dir = tempDataDir(prefix);
  const template = pgliteTemplate();
  if (template) cpSync(template, join(dir, 'pglite'), { recursive: true });
  return dir;
}
