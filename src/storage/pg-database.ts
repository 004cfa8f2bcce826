import { Pool } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import type { Logger } from 'pino';
import type { Database, QueryResult, Queryable } from './database';
import { describeError } from './database';

export interface PostgresOptions {
  /** Pool settings beyond the connection string (max connections, timeouts); they override the defaults below. */
  pool?: Omit<PoolConfig, 'connectionString'>;
  /** Names the pool in logs and in pg_stat_activity's application_name (e.g. "hook-path"). */
  lane?: string;
  logger?: Pick<Logger, 'warn'>;
}

/** Server-side bounds on every connection; each is a PostgreSQL setting sent at connect (PostgreSQL 15 §20.11.2). */
export interface SessionTimeouts {
  /** statement_timeout: no statement runs longer (SQLSTATE 57014 when it would). */
  statementTimeoutMs: number;
  /** lock_timeout: no statement waits longer for a lock (SQLSTATE 55P03), e.g. behind a LOCK TABLE. */
  lockTimeoutMs: number;
  /** idle_in_transaction_session_timeout: a transaction left open by a stuck client is ended, freeing its locks. */
  idleInTransactionTimeoutMs: number;
  /** How long a query may wait for a free connection or a new one (pg's connectionTimeoutMillis). */
  connectTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { statementTimeoutMs: 5_000, lockTimeoutMs: 1_000, idleInTransactionTimeoutMs: 10_000, connectTimeoutMs: 2_000 };

/**
 * pg pool settings that bound every wait: the server ends long statements, lock waits and idle transactions; the
 * client stops waiting for an answer a little after the server would have (query_timeout: a socket that went
 * silent — a cut without a reset — fails instead of hanging) and for a connection after `connectTimeoutMs`.
 */
export function boundedPool(t: SessionTimeouts, max: number): Omit<PoolConfig, 'connectionString'> {
  return {
    max,
    connectionTimeoutMillis: t.connectTimeoutMs,
    statement_timeout: t.statementTimeoutMs,
    lock_timeout: t.lockTimeoutMs,
    idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs,
    query_timeout: t.statementTimeoutMs + 1_000,
  };
}

function wrap(client: Pool | PoolClient): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const result = await client.query(sql, [...params]);
      return { rows: result.rows as T[] };
    },
    async exec(sql: string): Promise<void> {
      // Without parameters pg uses the simple protocol, which accepts several statements.
      await client.query(sql);
    },
  };
}

/**
 * Real PostgreSQL for replicas that share state. Bounded waits everywhere: a pool that cannot connect fails the
 * query within `connectionTimeoutMillis` instead of hanging a request, and the write queue retries later.
 */
export function openPostgres(connectionString: string, options: PostgresOptions = {}): Database {
  const lane = options.lane ?? 'general';
  const pool = new Pool({
    connectionString,
    ...boundedPool(DEFAULT_TIMEOUTS, 10),
    idleTimeoutMillis: 30_000,
    application_name: `payer-crd ${lane}`,
    ...options.pool,
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (err) => options.logger?.warn({ lane, err: describeError(err) }, 'idle PostgreSQL connection lost'));
  // A client checked out of the pool has no pool listener: pg-pool removes it on acquire. When its socket dies
  // mid-query (a failover, a proxy cut) the client emits 'error', which unhandled ends the process (issue 13,
  // case 2). The query in flight fails on its own; this listener only keeps the event from being fatal.
  pool.on('connect', (client) => {
    client.on('error', (err) => options.logger?.warn({ lane, err: describeError(err) }, 'PostgreSQL connection lost during use'));
  });
  const self = wrap(pool);
  let ending: Promise<void> | undefined;
  return {
    backend: 'postgres',
    ...self,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let result: T;
      try {
        await client.query('BEGIN');
        result = await fn(wrap(client));
        await client.query('COMMIT');
      } catch (err) {
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch (rollbackErr) {
          // The connection is broken: destroy it instead of returning it to the pool.
          client.release(rollbackErr instanceof Error ? rollbackErr : true);
        }
        throw err;
      }
      client.release();
      return result;
    },
    async ping(): Promise<void> {
      await pool.query('SELECT 1');
    },
    close(): Promise<void> {
      ending ??= pool.end();
      return ending;
    },
  };
}
