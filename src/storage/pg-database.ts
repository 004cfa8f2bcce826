import { Pool } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import type { Logger } from 'pino';
import type { Database, QueryResult, Queryable } from './database';
import { describeError } from './database';

export interface PostgresOptions {
  /** Pool settings beyond the connection string (max connections, timeouts). */
  pool?: Omit<PoolConfig, 'connectionString'>;
  logger?: Pick<Logger, 'warn'>;
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
  const pool = new Pool({
    connectionString,
    max: 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'payer-crd',
    ...options.pool,
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (err) => options.logger?.warn({ err: describeError(err) }, 'idle PostgreSQL connection lost'));
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
