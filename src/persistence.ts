import { randomBytes } from 'node:crypto';
import { DeferredDatabase } from './storage/deferred-database';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AppConfig, StorageSettings } from './config';
import { loadStorageSettings } from './config';
import type { Metrics } from './observability/metrics';
import type { Report } from './admin/report-page';
import {
  EmbeddedReplayStore, SqlAssertionStore, SqlAuditSink, SqlFeedbackStore, SqlReplayStore, WriteQueue, openStorage, reportData, startRetentionJob,
} from './storage';
import type { AuditSink, Database, StorageDatabases } from './storage';
import type { ReplayStore } from './auth/replay-store';

/** Everything the service keeps, on one database: what createApp needs, plus readiness and an orderly close. */
export interface Persistence {
  db: DeferredDatabase;
  /** Resolves when the database is open and migrated; rejects when it cannot be (the service then exits). */
  opened: Promise<Database>;
  queue: WriteQueue;
  assertions: SqlAssertionStore;
  feedback: SqlFeedbackStore;
  replay: ReplayStore;
  audit: AuditSink;
  report: (window: { from: Date; to: Date }) => Promise<Report>;
  readiness: () => Promise<Record<string, string>>;
  /**
   * Drains the write queue for at most SHUTDOWN_DRAIN_MS, then closes the database. Resolves with the rows left
   * unwritten, per table (empty on a clean drain); none of them was acknowledged to a client.
   */
  close: () => Promise<Record<string, number>>;
}

/**
 * The member-hash key: MEMBER_HASH_KEY, or one generated once and kept in DATA_DIR. Replicas must share it (set
 * MEMBER_HASH_KEY in a deployment), or the same member hashes differently on each.
 */
function memberHashKey(config: AppConfig, logger: Logger): string {
  if (config.memberHashKey) return config.memberHashKey;
  const file = join(config.dataDir, 'member-hash.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
    if (config.databaseUrl) logger.warn('MEMBER_HASH_KEY is not set: generated one in DATA_DIR; replicas sharing a database must share one key');
  }
  return readFileSync(file, 'utf8').trim();
}

function open(config: AppConfig, settings: StorageSettings, logger: Logger): Promise<StorageDatabases> {
  return openStorage({
    databaseUrl: config.databaseUrl,
    dataDir: join(config.dataDir, 'pglite'),
    pgliteWasmCompiler: settings.pgliteWasmCompiler,
    logger,
    timeouts: {
      statementTimeoutMs: settings.statementTimeoutMs,
      lockTimeoutMs: settings.lockTimeoutMs,
      idleInTransactionTimeoutMs: settings.idleInTransactionTimeoutMs,
      connectTimeoutMs: settings.connectTimeoutMs,
    },
    poolMax: settings.poolMax,
    hookPoolMax: settings.hookPoolMax,
  });
}

/**
 * Opens PostgreSQL (DATABASE_URL) or the embedded PGlite in DATA_DIR, runs migrations and builds the stores.
 *
 * Durable before acknowledged (issue 13): coverage assertions, the audit row of a call that carries them and (with
 * authentication) each jti claim are committed before the call is answered — group-committed through one write
 * queue on the hook path's own connections. When that cannot happen within STORAGE_COMMIT_WAIT_MS the call is
 * answered 503 with Retry-After and nothing of it is kept; no id that may vanish is ever handed out.
 */
export function openPersistence(config: AppConfig, logger: Logger, metrics: Metrics, planOf?: (serviceId: string) => string | undefined): Persistence {
  const settings = config.storage ?? loadStorageSettings({});
  const backend = config.databaseUrl ? 'postgres' : 'pglite';
  // Opens in the background: the service listens meanwhile and /readyz says "starting" until it is open.
  const opening = open(config, settings, logger);
  const db = new DeferredDatabase(opening.then((d) => d.general), backend);
  const hookPath = new DeferredDatabase(opening.then((d) => d.hookPath), backend);
  const queue = new WriteQueue(hookPath, {
    commitWindowMs: settings.commitWindowMs,
    // PGlite has one connection: its transactions run one at a time anyway. On PostgreSQL a second transaction may
    // start while the first waits for its WAL flush; the hook pool keeps connections for jti claims beside them.
    maxInFlight: backend === 'postgres' ? Math.max(1, Math.min(2, settings.hookPoolMax - 2)) : 1,
    commitWaitMs: settings.commitWaitMs,
    maxItems: settings.queueMaxRows,
    maxRowsPerCall: settings.maxRowsPerCall,
    ready: hookPath.opened,
    logger,
  });
  metrics.watchQueue('storage', queue);
  const assertions = new SqlAssertionStore({ db, queue, memberHashKey: memberHashKey(config, logger), ...(planOf ? { planOf: (a) => planOf(a.serviceId) } : {}) });
  const feedback = new SqlFeedbackStore({ db });
  const replay: ReplayStore = config.databaseUrl
    // Replicas share PostgreSQL: each claim is decided there, atomically, and committed before the answer.
    ? new SqlReplayStore(hookPath)
    // The embedded database has exactly one process: its memory decides, each claim commits before the answer.
    : new EmbeddedReplayStore(db, queue, {
      onLoaded: (result) => {
        if ('err' in result) {
          // A database that never opened is reported once, below, and stops the service.
          if (db.state() === 'ok') logger.error({ err: (result.err as Error).message }, 'jti replay memory could not be loaded: authenticated calls are refused (503) until the service restarts');
        } else logger.info({ count: result.count }, 'jti replay memory loaded');
      },
    });
  const audit = new SqlAuditSink(queue);
  const stopRetention = startRetentionJob(db, config.auditRetentionDays, 6 * 60 * 60_000, { logger });
  db.opened.then(() => logger.info({ backend: db.backend, retentionDays: config.auditRetentionDays }, 'storage ready'), (err: unknown) => logger.error({ err: (err as Error).message }, 'storage could not be opened'));
  let closing: Promise<Record<string, number>> | undefined;
  return {
    db,
    // Open means able to serve: on the embedded database, earlier runs' jti claims are in memory (or failed to load).
    opened: replay instanceof EmbeddedReplayStore ? db.opened.then(async (opened) => { await replay.settled; return opened; }) : db.opened,
    queue, assertions, feedback, replay, audit,
    report: (window) => reportData(db, window),
    readiness: async () => {
      if (db.state() !== 'ok') return { database: db.state() };
      // Until the jti claims of earlier runs are loaded every authenticated call is a 503: not ready for traffic.
      const jti = replay instanceof EmbeddedReplayStore && !replay.loaded ? { jtiReplay: 'loading' } : {};
      try {
        await db.ping();
        return { database: 'ok', ...jti };
      } catch {
        return { database: 'unreachable' };
      }
    },
    close: () => {
      closing ??= (async () => {
        await stopRetention();
        const { remaining, byTable } = await queue.close(settings.shutdownDrainMs);
        // Rows are acknowledged only once committed, so what is left here was never promised to anyone: the
        // decisions of calls that were answered 503 (or are being refused now) and the audit rows of plain calls.
        if (remaining > 0) logger.error({ remaining, unwritten: byTable, drainMs: settings.shutdownDrainMs, acknowledged: 0 }, 'shutdown: rows not written before the drain deadline (none of them was acknowledged to a client)');
        else logger.info({ drainMs: settings.shutdownDrainMs }, 'shutdown: write queue drained');
        await Promise.all([db.close(), hookPath.close()]);
        return byTable;
      })();
      return closing;
    },
  };
}
