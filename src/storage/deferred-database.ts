import type { Database, Queryable, QueryResult, Statement } from './database';
import { asOneStatement } from './database';

/**
 * A Database whose opening is still under way: every call waits for it. The service listens (and answers
 * discovery and hooks, whose writes are queued) while PGlite's WebAssembly starts or PostgreSQL migrates;
 * readiness stays "starting" until `opened` settles. Cold start is then the service's own start, not the database's.
 */
export class DeferredDatabase implements Database {
  private db: Database | undefined;
  private failure: unknown;
  readonly opened: Promise<Database>;

  constructor(opening: Promise<Database>, readonly backend: Database['backend']) {
    this.opened = opening.then((db) => {
      this.db = db;
      return db;
    }, (err: unknown) => {
      this.failure = err;
      throw err;
    });
    // Callers see the failure through `opened` or their own calls; this keeps it from being "unhandled".
    this.opened.catch(() => undefined);
  }

  /** 'ok' when open, 'starting' while opening, else why it failed. */
  state(): string {
    if (this.db) return 'ok';
    return this.failure === undefined ? 'starting' : `failed: ${(this.failure as Error).message}`;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return (this.db ?? (await this.opened)).query<T>(sql, params);
  }

  async exec(sql: string): Promise<void> {
    return (this.db ?? (await this.opened)).exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return (this.db ?? (await this.opened)).transaction(fn);
  }

  async writeBatch(statements: readonly Statement[]): Promise<void> {
    const db = this.db ?? (await this.opened);
    if (db.writeBatch) return db.writeBatch(statements);
    // PostgreSQL: one merged statement is one round trip, atomic under autocommit; else a transaction.
    const one = asOneStatement(statements);
    if (one) {
      await db.query(one.sql, one.params);
      return;
    }
    await db.transaction(async (tx) => {
      for (const st of statements) await tx.query(st.sql, st.params);
    });
  }

  async ping(): Promise<void> {
    if (!this.db) throw new Error(this.state());
    return this.db.ping();
  }

  async close(): Promise<void> {
    try {
      await (await this.opened).close();
    } catch {
      // It never opened: nothing to close.
    }
  }
}
