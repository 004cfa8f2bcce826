import type { Logger } from 'pino';
import type { Database, Queryable } from './database';
import { describeError } from './database';

/** Rows deleted by one purge, per table. */
export interface PurgeCounts {
  audit: number;
  feedback: number;
  assertions: number;
  replay: number;
}

/** Another lock name: one replica purges at a time; the others skip that round instead of queueing up. */
export const RETENTION_LOCK_KEY = 7_245_190_352;

async function deleteCount(tx: Queryable, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(`WITH gone AS (${sql} RETURNING 1) SELECT count(*)::int AS n FROM gone`, params);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Deletes audit rows, feedback and coverage assertions older than `days` (by when they happened or were received)
 * and jti rows whose tokens have expired. Returns undefined when another replica is purging right now.
 */
export async function purgeOlderThan(db: Pick<Database, 'transaction'>, days: number, now: Date = new Date()): Promise<PurgeCounts | undefined> {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`Retention must be a positive number of days, not ${days}.`);
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [RETENTION_LOCK_KEY]);
    if (rows[0]?.locked !== true) return undefined;
    return {
      audit: await deleteCount(tx, 'DELETE FROM invocation_audit WHERE at < $1::timestamptz', [cutoff]),
      feedback: await deleteCount(tx, 'DELETE FROM feedback WHERE received_at < $1::timestamptz', [cutoff]),
      assertions: await deleteCount(tx, 'DELETE FROM coverage_assertions WHERE decided_at < $1::timestamptz', [cutoff]),
      replay: await deleteCount(tx, 'DELETE FROM jti_replay WHERE expires_at < $1::timestamptz', [now.toISOString()]),
    };
  });
}

export interface RetentionJobOptions {
  logger?: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
  /** Called after each purge that ran (tests, metrics). */
  onPurged?: (counts: PurgeCounts) => void;
}

/**
 * Purges once now and then every `intervalMs`. The timer is unref'd (it never keeps the process alive) and a
 * purge still running when the next one is due is not doubled. The returned stop function cancels the timer and
 * resolves when a purge in progress has finished, so the database can be closed after it.
 */
export function startRetentionJob(db: Pick<Database, 'transaction'>, days: number, intervalMs: number, options: RetentionJobOptions = {}): () => Promise<void> {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`Retention must be a positive number of days, not ${days}.`);
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = (): void => {
    if (running || stopped) return;
    running = purgeOlderThan(db, days, options.now?.() ?? new Date())
      .then((counts) => {
        if (!counts) return;
        options.logger?.info({ retentionDays: days, deleted: counts }, 'retention purge');
        options.onPurged?.(counts);
      })
      .catch((err: unknown) => options.logger?.warn({ err: describeError(err) }, 'retention purge failed; will try again next interval'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(run, intervalMs).unref();
  run();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
