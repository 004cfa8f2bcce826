import type { Logger } from 'pino';
import type { Database } from './database';
import { describeError } from './database';
import { runMigrations } from './migrate';
import { openPglite } from './pglite-database';
import { openPostgres } from './pg-database';
import type { PostgresOptions } from './pg-database';

export interface OpenDatabaseOptions {
  /** A PostgreSQL connection string; when set, PostgreSQL is used and `dataDir` is ignored. */
  databaseUrl?: string | undefined;
  /** PGlite's data directory (e.g. ./data/pglite) when no `databaseUrl` is given. */
  dataDir: string;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  pool?: PostgresOptions['pool'];
}

/**
 * Opens the configured backend and migrates it before anything reads or writes. On a migration failure the
 * connection is closed again (an open PGlite would otherwise keep the process alive) and the error is thrown.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const started = Date.now();
  const db = options.databaseUrl
    ? openPostgres(options.databaseUrl, { ...(options.pool ? { pool: options.pool } : {}), ...(options.logger ? { logger: options.logger } : {}) })
    // The embedded database's thread dying leaves the service without storage: say so loudly (readiness turns 503
    // and queued writes wait; a restart reopens the data directory).
    : await openPglite(options.dataDir, { onDeath: (err) => options.logger?.error({ err: describeError(err) }, 'the embedded database thread died: storage is unavailable until the service restarts') });
  try {
    const { applied, current } = await runMigrations(db);
    // The connection string carries credentials: log the backend, never the URL.
    options.logger?.info({ backend: db.backend, applied, schemaVersion: current, ms: Date.now() - started }, 'database ready');
    return db;
  } catch (err) {
    options.logger?.warn({ backend: db.backend, err: describeError(err) }, 'database migration failed');
    await db.close().catch(() => undefined);
    throw err;
  }
}
