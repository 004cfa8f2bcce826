import { randomBytes } from 'node:crypto';
import { DeferredDatabase } from './storage/deferred-database';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AppConfig } from './config';
import type { Metrics } from './observability/metrics';
import type { Report } from './admin/report-page';
import {
  SqlAssertionStore, SqlAuditSink, SqlFeedbackStore, SqlReplayStore, WriteBehindReplayStore, WriteQueue, openDatabase, reportData, startRetentionJob,
} from './storage';
import type { AuditSink, Database } from './storage';
import { FallbackReplayStore, MemoryReplayStore } from './auth/replay-store';
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
  /** Drains the write queue (nothing queued is lost on a graceful restart), then closes the database. */
  close: () => Promise<void>;
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

/** Opens PostgreSQL (DATABASE_URL) or the embedded PGlite in DATA_DIR, runs migrations and builds the stores. */
export function openPersistence(config: AppConfig, logger: Logger, metrics: Metrics, planOf?: (serviceId: string) => string | undefined): Persistence {
  // Opens in the background: the service listens meanwhile and /readyz says "starting" until it is open.
  const db = new DeferredDatabase(openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite'), logger }), config.databaseUrl ? 'postgres' : 'pglite');
  const queue = new WriteQueue(db, { logger });
  metrics.watchQueue('storage', queue);
  const assertions = new SqlAssertionStore({ db, queue, memberHashKey: memberHashKey(config, logger), ...(planOf ? { planOf: (a) => planOf(a.serviceId) } : {}) });
  const feedback = new SqlFeedbackStore({ db });
  const replay: ReplayStore = config.databaseUrl
    // Replicas share PostgreSQL: each claim is decided there, atomically, with this replica's memory as fallback.
    ? new FallbackReplayStore(new SqlReplayStore(db), new MemoryReplayStore(), (err) => {
      metrics.storageWriteFailures.inc({ what: 'replay' });
      logger.warn({ err: (err as Error).message }, 'jti replay store unavailable: this replica checks replays on its own until the database is back');
    })
    // The embedded database has exactly one process: its memory decides, the table keeps claims across restarts.
    : new WriteBehindReplayStore(db, queue, {
      onUnloaded: (err) => {
        metrics.storageWriteFailures.inc({ what: 'replay' });
        logger.warn(err ? { err: (err as Error).message } : {}, 'jti replay memory not yet loaded from storage: this claim was checked against this run only');
      },
    });
  const audit = new SqlAuditSink(queue);
  const stopRetention = startRetentionJob(db, config.auditRetentionDays, 6 * 60 * 60_000, { logger });
  db.opened.then(() => logger.info({ backend: db.backend, retentionDays: config.auditRetentionDays }, 'storage ready'), (err: unknown) => logger.error({ err }, 'storage could not be opened'));
  return {
    db, opened: db.opened, queue, assertions, feedback, replay, audit,
    report: (window) => reportData(db, window),
    readiness: async () => {
      if (db.state() !== 'ok') return { database: db.state() };
      try {
        await db.ping();
        return { database: 'ok' };
      } catch {
        return { database: 'unreachable' };
      }
    },
    close: async () => {
      await stopRetention();
      const { remaining } = await queue.close();
      if (remaining > 0) logger.error({ remaining }, 'write queue not fully drained before shutdown');
      await db.close();
    },
  };
}
