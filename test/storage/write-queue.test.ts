import './native-pglite';
import type { Database, QueryResult, Queryable } from '../../src/storage/database';
import { WriteQueue } from '../../src/storage/write-queue';
import type { TableWriter } from '../../src/storage/write-queue';
import { SqlAuditSink } from '../../src/storage/audit';
import { asOneStatement, isPermanentError } from '../../src/storage/database';
import { openPostgres } from '../../src/storage/pg-database';
import type { AuditRecord } from '../../src/storage/audit';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll, waitFor } from './backends';
import type { TestBackend } from './backends';

/**
 * A database with real transaction semantics and a switch: while `down`, every transaction fails (at BEGIN, or —
 * with `failAtCommit` — after the statements ran, which must then be rolled back). Committed rows land in `tables`.
 */
class FakeDatabase implements Pick<Database, 'transaction'> {
  readonly tables = new Map<string, unknown[]>();
  down = false;
  failAtCommit = false;
  transactions = 0;
  /** Rows that make a statement fail as a constraint violation would. */
  poison = new Set<unknown>();

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.transactions++;
    await Promise.resolve();
    if (this.down && !this.failAtCommit) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const staged: Array<[string, unknown[]]> = [];
    const tx: Queryable = {
      query: <R>(table: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
        if (params.some((p) => this.poison.has(p))) return Promise.reject(Object.assign(new Error('new row violates check constraint'), { code: '23514' }));
        staged.push([table, [...params]]);
        return Promise.resolve({ rows: [] });
      },
      exec: () => Promise.resolve(),
    };
    const result = await fn(tx);
    if (this.down) throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    for (const [table, rows] of staged) this.tables.set(table, [...(this.tables.get(table) ?? []), ...rows]);
    return result;
  }

  rows(table: string): unknown[] {
    return this.tables.get(table) ?? [];
  }
}

/** Writes each batch as one "statement" on the fake: the table name and the rows. */
const writer = (table: string): TableWriter<number> => ({ table, write: async (tx, rows) => void (await tx.query(table, rows)) });

const fast = { commitWindowMs: 1, retryBaseMs: 1, retryMaxMs: 5 };
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('WriteQueue (fake database)', () => {
  it('writes queued rows in batches, in order per table', async () => {
    const db = new FakeDatabase();
    const q = new WriteQueue(db, { ...fast, batchSize: 7 });
    const a = writer('a');
    const b = writer('b');
    for (const n of range(0, 20)) q.enqueue(n % 3 === 0 ? b : a, n);
    await q.flush();
    expect(db.rows('a')).toEqual(range(0, 20).filter((n) => n % 3 !== 0));
    expect(db.rows('b')).toEqual(range(0, 20).filter((n) => n % 3 === 0));
    expect(q.stats()).toEqual({ depth: 0, written: 20, failedAttempts: 0, dropped: 0, refused: 0, abandoned: 0, discarded: 0 });
    expect(db.transactions).toBeLessThan(20); // batched, not one transaction per row
  });

  it('flushes as soon as batchSize items are queued, without waiting for the interval', async () => {
    const db = new FakeDatabase();
    const q = new WriteQueue(db, { commitWindowMs: 3_600_000, batchSize: 5 });
    for (const n of range(0, 5)) q.enqueue(writer('a'), n);
    await waitFor(() => q.written === 5, 'a full batch to be written');
    expect(db.rows('a')).toEqual(range(0, 5));
  });

  it('flushes a partial batch when the interval passes', async () => {
    const db = new FakeDatabase();
    const q = new WriteQueue(db, { commitWindowMs: 1, batchSize: 1000 });
    q.enqueue(writer('a'), 1);
    await waitFor(() => q.written === 1, 'the interval flush');
    expect(db.rows('a')).toEqual([1]);
  });

  it.each([['fails to connect', false], ['fails at commit', true]])('retries through an outage that %s: rows land after recovery, exactly once, in order', async (_label, atCommit) => {
    const db = new FakeDatabase();
    db.down = true;
    db.failAtCommit = atCommit;
    const q = new WriteQueue(db, { ...fast, batchSize: 4 });
    const a = writer('a');
    const b = writer('b');
    for (const n of range(0, 10)) q.enqueue(n % 2 ? a : b, n);
    await waitFor(() => q.failedAttempts >= 3, 'several failed attempts');
    for (const n of range(10, 5)) q.enqueue(n % 2 ? a : b, n); // more arrive during the outage
    expect(db.rows('a')).toEqual([]);
    expect(q.depth).toBe(15);
    db.down = false;
    await q.flush();
    expect(db.rows('a')).toEqual(range(0, 15).filter((n) => n % 2));
    expect(db.rows('b')).toEqual(range(0, 15).filter((n) => !(n % 2)));
    expect(q.written).toBe(15);
    expect(q.depth).toBe(0);
    expect(q.dropped).toBe(0);
  });

  it('is bounded: write-behind rows fill at most their share (half) of the queue; beyond it they are refused and counted', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const q = new WriteQueue(db, { ...fast, maxItems: 6 });
    const results = range(0, 5).map((n) => q.enqueue(writer('a'), n));
    expect(results).toEqual([true, true, true, false, false]);
    expect(q.depth).toBe(3);
    expect(q.dropped).toBe(2);
    db.down = false;
    await q.flush();
    expect(db.rows('a')).toEqual([0, 1, 2]);
  });

  it('close drains the queue through an outage that ends before the deadline', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const q = new WriteQueue(db, { ...fast, retryMaxMs: 2 });
    for (const n of range(0, 6)) q.enqueue(writer('a'), n);
    await waitFor(() => q.failedAttempts >= 2, 'failed attempts');
    const closing = q.close(60_000);
    await waitFor(() => q.failedAttempts >= 4, 'retries during close');
    db.down = false;
    await expect(closing).resolves.toEqual({ remaining: 0, byTable: {} });
    expect(db.rows('a')).toEqual(range(0, 6));
    expect(q.enqueue(writer('a'), 99)).toBe(false); // closed: refused and counted
    expect(q.dropped).toBe(1);
  });

  it('close gives up at the deadline and reports what was not written', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const q = new WriteQueue(db, fast);
    for (const n of range(0, 3)) q.enqueue(writer('a'), n);
    await expect(q.close(20)).resolves.toEqual({ remaining: 3, byTable: { a: 3 } });
    expect(db.rows('a')).toEqual([]);
  });

  it('discards only the row the database rejects as invalid, and keeps order for the rest', async () => {
    const db = new FakeDatabase();
    db.poison.add(3);
    const discarded: number[] = [];
    const w: TableWriter<number> = { ...writer('a'), afterDiscard: (n) => discarded.push(n) };
    const q = new WriteQueue(db, { ...fast, batchSize: 10 });
    for (const n of range(0, 8)) q.enqueue(w, n);
    await q.flush();
    expect(db.rows('a')).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(discarded).toEqual([3]);
    expect(q.stats()).toMatchObject({ written: 7, discarded: 1, failedAttempts: 0, depth: 0 });
  });

  it('calls afterCommit with each committed batch', async () => {
    const db = new FakeDatabase();
    const committed: number[] = [];
    const q = new WriteQueue(db, fast);
    const w: TableWriter<number> = { ...writer('a'), afterCommit: (rows) => committed.push(...rows) };
    db.down = true;
    q.enqueue(w, 1);
    await waitFor(() => q.failedAttempts >= 1, 'a failure');
    expect(committed).toEqual([]);
    db.down = false;
    await q.flush();
    expect(committed).toEqual([1]);
  });
});

/** A real database that refuses transactions while `down` (a simulated outage between service and database). */
function flaky(db: Database): Database & { down: boolean } {
  const wrapped = Object.create(db) as Database & { down: boolean };
  wrapped.down = false;
  const outage = (): Promise<never> => Promise.reject(Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' }));
  wrapped.transaction = <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => (wrapped.down ? outage() : db.transaction(fn));
  // The embedded backend's one-message batch (the queue's path when the backend has it) fails the same way.
  if (db.writeBatch) wrapped.writeBatch = (statements) => (wrapped.down ? outage() : db.writeBatch!(statements));
  return wrapped;
}

const audit = (n: number): AuditRecord => ({
  at: new Date(Date.UTC(2026, 10, 23, 12, 0, n)).toISOString(), serviceId: 'svc', hook: 'order-sign', hookInstance: `hi-${n}`,
  status: 200, latencyMs: 12.5, cardsByType: { 'coverage-information': 1 }, decisionIds: [`d-${n}`],
});

describe.each(BACKENDS)('WriteQueue on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'queue');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  beforeEach(() => truncateAll(db));
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('audit rows queued during an outage land once, in order, and close drains them', async () => {
    const f = flaky(db);
    const q = new WriteQueue(f, { ...fast, batchSize: 3 });
    const sink = new SqlAuditSink(q);
    f.down = true;
    for (const n of range(0, 10)) sink.record(audit(n));
    await waitFor(() => q.failedAttempts >= 2, 'failed attempts');
    f.down = false;
    await expect(q.close(30_000)).resolves.toEqual({ remaining: 0, byTable: {} });
    const { rows } = await db.query<{ id: number; hook_instance: string; decision_ids: string[]; cards_by_type: unknown; latency_ms: number }>(
      'SELECT id::int AS id, hook_instance, decision_ids, cards_by_type, latency_ms FROM invocation_audit ORDER BY id');
    expect(rows.map((r) => r.hook_instance)).toEqual(range(0, 10).map((n) => `hi-${n}`));
    expect(rows[0]).toMatchObject({ decision_ids: ['d-0'], cards_by_type: { 'coverage-information': 1 }, latency_ms: 12.5 });
  });

  it('the merged statement (asOneStatement) stores every part\'s rows, and a failing part stores none of them', async () => {
    const ok = asOneStatement([
      { sql: `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ($1, $2, $3::timestamptz)`, params: ['iss', 'j1', '2030-01-01T00:00:00Z'] },
      { sql: `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ($1, $2, $3::timestamptz)`, params: ['iss', 'j2', '2030-01-01T00:00:00Z'] },
    ])!;
    await db.query(ok.sql, ok.params);
    const bad = asOneStatement([
      { sql: `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ($1, $2, $3::timestamptz)`, params: ['iss', 'j3', '2030-01-01T00:00:00Z'] },
      { sql: `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ($1, $2, $3::timestamptz)`, params: ['iss', null, '2030-01-01T00:00:00Z'] },
    ])!;
    await expect(db.query(bad.sql, bad.params)).rejects.toMatchObject({ code: '23502' });
    const { rows } = await db.query<{ jti: string }>('SELECT jti FROM jti_replay ORDER BY jti');
    expect(rows).toEqual([{ jti: 'j1' }, { jti: 'j2' }]);
  });

  it('audit and assertion rows go in as one jsonb parameter each: any number of rows, arrays and jsonb kept, and text PostgreSQL cannot hold (NUL, unpaired surrogates) stored as U+FFFD rather than failing the row', async () => {
    const q = new WriteQueue(db, { ...fast, batchSize: 5_000 });
    const sink = new SqlAuditSink(q);
    const hostile = { ...audit(0), hookInstance: 'a\u0000b\uD800c\uDC00d😀\\u0000e\\\u0000', decisionIds: ['x\u0000', 'y'], cardsByType: { 'k\uD800': 2 } };
    const others = range(1, 1_200);
    await Promise.all([sink.recordDurably(hostile), ...others.map((n) => sink.recordDurably(audit(n)))]);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM invocation_audit');
    expect(rows[0]?.n).toBe(1 + others.length);
    expect(others.length).toBeGreaterThan(1_000);
    const stored = await db.query<{ hook_instance: string; decision_ids: string[]; cards_by_type: unknown; status: number; latency_ms: number }>(
      'SELECT hook_instance, decision_ids, cards_by_type, status, latency_ms FROM invocation_audit WHERE decision_ids[2] = $1::text', ['y']);
    expect(stored.rows).toEqual([{ hook_instance: 'a\uFFFDb\uFFFDc\uFFFDd😀\\u0000e\\\uFFFD', decision_ids: ['x\uFFFD', 'y'], cards_by_type: { 'k\uFFFD': 2 }, status: 200, latency_ms: 12.5 }]);
    expect(q.stats()).toMatchObject({ depth: 0, discarded: 0 });
    await q.close(1_000);
  });

  it('a batch is one transaction: a row the database rejects rolls back its batch, then only that row is discarded', async () => {
    // Two tables in one batch, the second statement failing (hook_instance NOT NULL): nothing of the first attempt
    // may remain, and the retry one row at a time keeps every good row exactly once.
    const bad = { ...audit(2), hookInstance: null as unknown as string };
    const q = new WriteQueue(db, { ...fast, batchSize: 10, commitWindowMs: 50 });
    const sink = new SqlAuditSink(q);
    const calls = [sink.recordDurably(audit(1)), sink.recordDurably(bad), sink.recordDurably(audit(3))];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const { rows } = await db.query<{ hook_instance: string }>('SELECT hook_instance FROM invocation_audit ORDER BY id');
    expect(rows.map((r) => r.hook_instance).sort()).toEqual(['hi-1', 'hi-3']);
    expect(q.stats()).toMatchObject({ depth: 0, discarded: 1 });
    await q.close(1_000);
  });
});

describe('WriteQueue on an unreachable PostgreSQL', () => {
  it('treats refused connections as an outage: retries, counts, and reports what close could not write', async () => {
    // Port 1 on loopback refuses at once: a database that is down, not a slow one.
    const db = openPostgres('postgres://postgres@127.0.0.1:1/none', { pool: { connectionTimeoutMillis: 1_000 } });
    try {
      await expect(db.ping()).rejects.toThrow();
      const q = new WriteQueue(db, fast);
      new SqlAuditSink(q).record(audit(1));
      await waitFor(() => q.failedAttempts >= 2, 'failed attempts');
      expect(q.stats()).toMatchObject({ depth: 1, written: 0, discarded: 0 });
      await expect(q.close(20)).resolves.toEqual({ remaining: 1, byTable: { invocation_audit: 1 } });
    } finally {
      await db.close();
    }
  });

  it('classifies errors: constraint and data errors are permanent, outages are not', () => {
    expect(isPermanentError({ code: '23505' })).toBe(true);
    expect(isPermanentError({ code: '22P02' })).toBe(true);
    expect(isPermanentError({ code: '57P01' })).toBe(false);
    expect(isPermanentError({ code: '42501' })).toBe(false); // permissions: fixable, no row to blame
    expect(isPermanentError({ code: '40001' })).toBe(false);
    expect(isPermanentError({ code: 'ECONNREFUSED' })).toBe(false);
    expect(isPermanentError(new Error('timeout'))).toBe(false);
  });
});

/**
 * A real database whose transactions wait at a gate the test opens: the state "a commit is under way" held still,
 * without timing. `started` counts transactions that reached the gate.
 */
function gated(db: Database): Database & { open: () => void; started: number } {
  let release: () => void = () => undefined;
  let gate = new Promise<void>((r) => (release = r));
  const wrapped = Object.create(db) as Database & { open: () => void; started: number };
  wrapped.started = 0;
  wrapped.open = () => {
    release();
    gate = Promise.resolve();
  };
  wrapped.transaction = async <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => {
    wrapped.started++;
    await gate;
    return db.transaction(fn);
  };
  if (db.writeBatch) {
    wrapped.writeBatch = async (statements) => {
      wrapped.started++;
      await gate;
      return db.writeBatch!(statements);
    };
  }
  return wrapped;
}

const IDS: TableWriter<string> = {
  table: 'coverage_assertions',
  write: async (tx, rows) => {
    for (const id of rows) {
      await tx.query(`INSERT INTO coverage_assertions (assertion_id, decided_at, policy, service_id, hook_instance, order_reference, covered)
        VALUES ($1::text, now(), 'p', 's', 'h', 'o', 'covered')`, [id]);
    }
  },
};

describe.each(BACKENDS)('WriteQueue group commit on %s (durable before acknowledged)', (backendName) => {
  let backend: TestBackend;
  let db: Database;
  const stored = async (): Promise<string[]> => (await db.query<{ assertion_id: string }>('SELECT assertion_id FROM coverage_assertions ORDER BY assertion_id')).rows.map((r) => r.assertion_id);

  beforeAll(async () => {
    backend = await testBackend(backendName, 'group');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  beforeEach(() => truncateAll(db));
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('submit resolves only after the commit: nothing is acknowledged while the transaction waits, everything is stored once it resolves', async () => {
    const g = gated(db);
    const q = new WriteQueue(g, { commitWaitMs: 60_000 });
    let acknowledged = false;
    const saving = q.submit(IDS, ['a-1', 'a-2']).then(() => (acknowledged = true));
    await waitFor(() => g.started === 1, 'the transaction to start');
    expect(acknowledged).toBe(false);
    expect(await stored()).toEqual([]);
    g.open();
    await saving;
    expect(await stored()).toEqual(['a-1', 'a-2']);
    await q.close();
  });

  it('groups the rows of concurrent calls into one transaction (group commit), each call settled by that commit', async () => {
    const g = gated(db);
    const q = new WriteQueue(g, { commitWaitMs: 60_000 });
    const first = q.submit(IDS, ['g-00']);
    await waitFor(() => g.started === 1, 'the first transaction to start');
    // Twenty calls arrive while the first commit is under way: they ride in the next transaction together.
    const rest = Array.from({ length: 20 }, (_, i) => q.submit(IDS, [`g-${String(i + 1).padStart(2, '0')}`]));
    g.open();
    await Promise.all([first, ...rest]);
    expect(g.started).toBe(2);
    expect(await stored()).toHaveLength(21);
    await q.close();
  });

  it('with maxInFlight 2, a call arriving while one commit is under way starts the next transaction at once', async () => {
    const g = gated(db);
    const q = new WriteQueue(g, { commitWaitMs: 60_000, maxInFlight: 2 });
    const first = q.submit(IDS, ['p-1']);
    await waitFor(() => g.started === 1, 'the first transaction to start');
    const second = q.submit(IDS, ['p-2']);
    await waitFor(() => g.started === 2, 'a second transaction beside the first');
    const third = q.submit(IDS, ['p-3']); // both slots busy: waits for one to finish
    g.open();
    await Promise.all([first, second, third]);
    expect(await stored()).toEqual(['p-1', 'p-2', 'p-3']);
    expect(g.started).toBe(3);
    await q.close();
  });

  it('a call whose commit does not come in time is refused and its rows withdrawn: no row of it is written later', async () => {
    const opening = new Promise<void>(() => undefined); // the database is still opening, for ever
    const q = new WriteQueue(db, { commitWaitMs: 20, ready: opening });
    await expect(q.submit(IDS, ['late-1'])).rejects.toMatchObject({ name: 'StorageUnavailableError', reason: 'commit-timeout' });
    expect(q.stats()).toMatchObject({ depth: 0, abandoned: 1 });
    await q.close(0);
    expect(await stored()).toEqual([]);
  });

  it('backpressure: a full queue refuses new calls whole and never drops rows it accepted', async () => {
    const g = gated(db);
    const q = new WriteQueue(g, { maxItems: 10, commitWaitMs: 60_000 });
    const accepted = [q.submit(IDS, ['k-1', 'k-2', 'k-3', 'k-4', 'k-5', 'k-6']), q.submit(IDS, ['k-7', 'k-8', 'k-9', 'k-10'])];
    await expect(q.submit(IDS, ['x-1'])).rejects.toMatchObject({ name: 'StorageUnavailableError', reason: 'queue-full' });
    // Best-effort rows (audit of calls without decisions) are refused too, and never displace accepted ones.
    expect(q.enqueue(IDS, 'x-2')).toBe(false);
    expect(q.stats()).toMatchObject({ depth: 10, refused: 1, dropped: 1 });
    g.open();
    await Promise.all(accepted);
    expect((await stored()).sort()).toEqual(['k-1', 'k-10', 'k-2', 'k-3', 'k-4', 'k-5', 'k-6', 'k-7', 'k-8', 'k-9']);
    await q.close();
  });

  it('a call larger than one call may store is refused before anything is queued', async () => {
    const q = new WriteQueue(db, { maxRowsPerCall: 3 });
    await expect(q.submit(IDS, ['t-1', 't-2', 't-3', 't-4'])).rejects.toMatchObject({ name: 'StorageTooLargeError', rows: 4, limit: 3 });
    expect(q.stats()).toMatchObject({ depth: 0 });
    await q.close();
  });

  it('during an outage, rows of calls that were refused are not retried; the caller that is still waiting gets its commit when the database is back', async () => {
    const f = flaky(db);
    f.down = true;
    const q = new WriteQueue(f, { commitWaitMs: 60_000, retryBaseMs: 1, retryMaxMs: 5 });
    const waiting = q.submit(IDS, ['o-kept']);
    await waitFor(() => q.failedAttempts >= 1, 'a failed attempt');
    const short = new WriteQueue(f, { commitWaitMs: 10, retryBaseMs: 1, retryMaxMs: 5 });
    await expect(short.submit(IDS, ['o-refused'])).rejects.toMatchObject({ reason: 'commit-timeout' });
    f.down = false;
    await waiting;
    await short.flush();
    expect(await stored()).toEqual(['o-kept']);
    await Promise.all([q.close(), short.close()]);
  });

  it('close refuses callers still waiting when the drain deadline passes, and reports what was not written per table', async () => {
    const f = flaky(db);
    f.down = true;
    const q = new WriteQueue(f, { commitWaitMs: 60_000, retryBaseMs: 1, retryMaxMs: 5 });
    const waiting = q.submit(IDS, ['s-1', 's-2']);
    new SqlAuditSink(q).record(audit(1));
    await waitFor(() => q.failedAttempts >= 1, 'a failed attempt');
    await expect(q.close(20)).resolves.toEqual({ remaining: 3, byTable: { coverage_assertions: 2, invocation_audit: 1 } });
    await expect(waiting).rejects.toMatchObject({ reason: 'closing' });
    await expect(q.submit(IDS, ['s-3'])).rejects.toMatchObject({ reason: 'closing' });
  });
});

describe('asOneStatement: a write batch as one atomic statement', () => {
  it('merges INSERTs into one data-modifying WITH, renumbering the parameters of each part', () => {
    expect(asOneStatement([
      { sql: 'INSERT INTO a (x, y) VALUES ($1::text, $2::int), ($3::text, $4::int)', params: ['p', 1, 'q', 2] },
      { sql: 'INSERT INTO b (z) VALUES ($1::text) ON CONFLICT (z) DO NOTHING', params: ['r'] },
      { sql: 'INSERT INTO c (w) VALUES ($1), ($2)', params: [10, 11] },
    ])).toEqual({
      sql: 'WITH w0 AS (INSERT INTO a (x, y) VALUES ($1::text, $2::int), ($3::text, $4::int)), w1 AS (INSERT INTO b (z) VALUES ($5::text) ON CONFLICT (z) DO NOTHING) INSERT INTO c (w) VALUES ($6), ($7)',
      params: ['p', 1, 'q', 2, 'r', 10, 11],
    });
  });

  it('keeps a single statement as it is, and refuses what it cannot merge (not INSERT, several statements in one, over 65,535 parameters)', () => {
    const one = { sql: 'INSERT INTO a VALUES ($1)', params: [1] };
    expect(asOneStatement([one])).toBe(one);
    expect(asOneStatement([])).toBeUndefined();
    expect(asOneStatement([one, { sql: 'UPDATE a SET x = $1', params: [2] }])).toBeUndefined();
    expect(asOneStatement([one, { sql: 'INSERT INTO a VALUES ($1); DELETE FROM a', params: [2] }])).toBeUndefined();
    expect(asOneStatement([{ sql: 'INSERT INTO a VALUES ($1)', params: new Array(40_000).fill(0) }, { sql: 'INSERT INTO b VALUES ($1)', params: new Array(30_000).fill(0) }])).toBeUndefined();
  });

});
