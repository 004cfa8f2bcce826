/**
 * The small database surface the service needs, implemented twice: embedded PGlite (one process, a data
 * directory) and PostgreSQL through a `pg` pool (several replicas). Every module above this speaks only SQL that
 * runs unchanged on both.
 */

export interface QueryResult<T> {
  rows: T[];
}

/** What a statement runs on: the database itself or an open transaction. */
export interface Queryable {
  /** One statement with `$1 …` parameters. Pass jsonb values as JSON strings: `pg` turns JS arrays into SQL arrays. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** One parameterised statement of a write batch. */
export interface Statement {
  sql: string;
  params: readonly unknown[];
}

export interface Database extends Queryable {
  readonly backend: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs write-only statements in one transaction, in order: committed when it resolves. PGlite takes the whole
   * batch in one message to its thread instead of one per statement (issue 15: `postMessage` was 13.8 % of the
   * hook path's CPU). Optional: without it the write queue uses `transaction`.
   */
  writeBatch?(statements: readonly Statement[]): Promise<void>;
  /** Resolves when the database answers a trivial query; rejects otherwise (readiness checks). */
  ping(): Promise<void>;
  /** Releases connections (pg) or flushes and closes the data directory (PGlite). Safe to call twice. */
  close(): Promise<void>;
}

/** The SQLSTATE of a database error, when there is one (both drivers put it on `code`). */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether retrying the same row can never succeed: data exceptions (22) and constraint violations (23) are about
 * the row. Everything else is waited out — refused connections, shutdowns, timeouts, serialization failures, and
 * also schema or permission errors (42): those are the operator's to fix, and no row is to blame for them.
 */
export function isPermanentError(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && /^(22|23)/.test(code);
}

/** A short, payload-free description of an error for logs: the SQLSTATE or errno and the driver's message. */
export function describeError(err: unknown): { code?: string; message: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? { code, message: message.slice(0, 300) } : { message: message.slice(0, 300) };
}

/**
 * Timestamps come back as Date from both drivers; the service's types carry ISO 8601 strings. The Date is
 * recognised by its tag, not `instanceof`, which fails for a Date made in another realm (a VM context).
 */
export function toIso(value: unknown): string {
  if (Object.prototype.toString.call(value) === '[object Date]') return (value as Date).toISOString();
  return new Date(String(value)).toISOString();
}

/**
 * A Queryable that only records what is written through it, for `Database.writeBatch`: the table writers run
 * against it unchanged. Reads are refused: a writer that needed a result could not be batched.
 */
export function recordingQueryable(into: Statement[]): Queryable {
  return {
    query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      if (/^\s*(SELECT|WITH)\b/i.test(sql)) return Promise.reject(new Error('a write batch cannot read'));
      into.push({ sql, params: [...params] });
      return Promise.resolve({ rows: [] });
    },
    exec(sql: string): Promise<void> {
      into.push({ sql, params: [] });
      return Promise.resolve();
    },
  };
}

/** PostgreSQL's limit on the parameters of one statement (the extended protocol counts them in 16 bits). */
const MAX_PARAMETERS = 65_535;

/**
 * A write batch as **one** statement, when it can be: its INSERTs become the parts of one data-modifying `WITH`,
 * parameters renumbered. One statement needs no BEGIN/COMMIT: autocommit makes it atomic, all or nothing, as the
 * transaction was. Why: each statement costs the embedded PostgreSQL ~0.5–0.9 ms of its own (BENCHMARKS.md,
 * round two), so a group commit of BEGIN, two INSERTs and COMMIT becomes one; on PostgreSQL it saves three round
 * trips. Undefined when the batch cannot be merged (not only INSERTs, or too many parameters): run it in a
 * transaction then. The writers' SQL uses `$n` only as placeholders (sql-values.ts), never inside literals.
 */
export function asOneStatement(statements: readonly Statement[]): Statement | undefined {
  if (statements.length === 1) return statements[0];
  if (statements.length === 0) return undefined;
  let total = 0;
  for (const st of statements) {
    if (!/^\s*INSERT\s/i.test(st.sql) || st.sql.includes(';')) return undefined;
    total += st.params.length;
  }
  if (total > MAX_PARAMETERS) return undefined;
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const st of statements) {
    const offset = params.length;
    parts.push(offset === 0 ? st.sql : st.sql.replace(/\$(\d+)/g, (_m, n: string) => `$${Number(n) + offset}`));
    params.push(...st.params);
  }
  const last = parts.pop() ?? '';
  return { sql: `WITH ${parts.map((sql, i) => `w${i} AS (${sql})`).join(', ')} ${last}`, params };
}
