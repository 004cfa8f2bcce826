/**
 * Each storage suite runs on every backend available: PGlite in a fresh temp directory always, and PostgreSQL
 * when TEST_DATABASE_URL is set. On PostgreSQL each suite gets its own schema (search_path in the connection
 * string), so parallel jest workers never see each other's rows.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { pgliteTemplate } from '../data-dir';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { Database } from '../../src/storage/database';
import { openDatabase } from '../../src/storage/open-database';

export type BackendName = 'pglite' | 'postgres';

export const BACKENDS: BackendName[] = process.env['TEST_DATABASE_URL'] ? ['pglite', 'postgres'] : ['pglite'];

/** PGlite's first start runs initdb (seconds); hooks that open a database get this long. */
export const OPEN_TIMEOUT_MS = 60_000;

export interface TestBackend {
  name: BackendName;
  /** The connection string (postgres) or undefined (pglite). */
  databaseUrl: string | undefined;
  /** PGlite's data directory (unused on postgres). */
  dataDir: string;
  /** Opens (and migrates) the database; may be called again after close() to simulate a restart. */
  open(): Promise<Database>;
  /** Drops the schema or removes the directory. */
  cleanup(): Promise<void>;
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: process.env['TEST_DATABASE_URL'] });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh place to put the schema: a temp directory or a new PostgreSQL schema. PGlite's directory is a copy of the
 * run's initialised and migrated template (test/data-dir.ts) unless `empty` asks for a bare one (the migration tests).
 */
export async function testBackend(name: BackendName, label: string, options: { empty?: boolean } = {}): Promise<TestBackend> {
  const dataDir = mkdtempSync(join(tmpdir(), `storage-${label}-`));
  const template = pgliteTemplate();
  if (name === 'pglite' && template && !options.empty) cpSync(template, join(dataDir, 'pglite'), { recursive: true });
  if (name === 'pglite') {
    return {
      name, databaseUrl: undefined, dataDir,
      open: () => openDatabase({ dataDir: join(dataDir, 'pglite') }),
      cleanup: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const schema = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE SCHEMA ${schema}`));
  const url = new URL(process.env['TEST_DATABASE_URL'] ?? '');
  url.searchParams.set('options', `-c search_path=${schema}`);
  const databaseUrl = url.toString();
  return {
    name, databaseUrl, dataDir,
    open: () => openDatabase({ databaseUrl, dataDir }),
    cleanup: async () => {
      await admin((c) => c.query(`DROP SCHEMA ${schema} CASCADE`));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits (without asserting on time) until `condition` holds; fails the test if it never does. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const give = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > give) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Empties the service's tables between tests (schema_migrations stays). */
export async function truncateAll(db: Database): Promise<void> {
  await db.exec('TRUNCATE coverage_assertions, invocation_audit, feedback, jti_replay RESTART IDENTITY');
}
