import type { Logger } from 'pino';
import type { Database } from './database';
import { describeError } from './database';
import { runMigrations } from './migrate';
import { openPglite } from './pglite-database';
import type { PgliteWasmCompiler } from './pglite-settings';
import { openPostgres } from './pg-database';
import { DEFAULT_TIMEOUTS, boundedPool } from './pg-database';
import type { PostgresOptions, SessionTimeouts } from './pg-database';

export interface OpenDatabaseOptions {
  /** A PostgreSQL connection string; when set, PostgreSQL is used and `dataDir` is ignored. */
  databaseUrl?: string | undefined;
  /** PGlite's data directory (e.g. ./data/pglite) when no `databaseUrl` is given. */
  dataDir: string;
  /** PGLITE_WASM_COMPILER: V8's compiler for the embedded database (pglite-settings.ts; default baseline). */
  pgliteWasmCompiler?: PgliteWasmCompiler;
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
    : await openPglite(options.dataDir, { ...(options.pgliteWasmCompiler ? { wasmCompiler: options.pgliteWasmCompiler } : {}), onDeath: (err) => options.logger?.error({ err: describeError(err) }, 'the embedded database thread died: storage is unavailable until the service restarts') });
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

export interface OpenStorageOptions extends Omit<OpenDatabaseOptions, 'pool'> {
  /** Server-side and connection timeouts for every PostgreSQL connection (defaults in pg-database.ts). */
  timeouts?: SessionTimeouts;
  /** Connections for feedback, admin, reports, retention and readiness (default 6). */
  poolMax?: number;
  /** Connections reserved for the hook path: the group-commit transactions and the jti claims (default 4). */
  hookPoolMax?: number;
}

/** The service's two ways into one database. */
export interface StorageDatabases {
  /** Feedback, admin reads, reports, retention, readiness. */
  general: Database;
  /** The hook path only (group commits, jti claims): its own pool, so slow or blocked reads elsewhere never starve it. */
  hookPath: Database;
}

/**
 * Opens the database for the service. On PostgreSQL that is two pools on the same database, each connection bounded
 * by statement, lock and idle-in-transaction timeouts: a locked `feedback` table then costs feedback calls a 503
 * after `lockTimeoutMs`, and never the connections that coverage decisions are committed on (issue 13, case 4).
 * PGlite has one connection by nature; both names are the same database.
 */
export async function openStorage(options: OpenStorageOptions): Promise<StorageDatabases> {
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const general = await openDatabase({ ...options, pool: boundedPool(timeouts, options.poolMax ?? 6) });
  if (!options.databaseUrl) return { general, hookPath: general };
  const hookPath = openPostgres(options.databaseUrl, {
    lane: 'hook-path',
    pool: boundedPool(timeouts, options.hookPoolMax ?? 4),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { general, hookPath };
}
