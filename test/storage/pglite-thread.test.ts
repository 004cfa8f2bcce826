/**
 * The embedded database runs on its own thread (src/storage/pglite-worker.ts). What that must keep: statements,
 * transactions and errors behave as on the main thread; a long statement does not hold the event loop that
 * answers EHRs; a dead thread fails the calls in flight instead of leaving them hanging.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../../src/storage/database';
import { isPermanentError, sqlState } from '../../src/storage/database';
import { WorkerChannel, databaseOver, openPglite } from '../../src/storage/pglite-database';
import { OPEN_TIMEOUT_MS } from './backends';

let dir: string;
let db: Database;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pglite-thread-'));
  db = await openPglite(dir);
  await db.exec('CREATE TABLE t (k text PRIMARY KEY, at timestamptz)');
}, OPEN_TIMEOUT_MS);

afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

it('returns rows with their types: timestamps as Dates, numbers, nulls', async () => {
  await db.query('INSERT INTO t VALUES ($1, $2::timestamptz)', ['a', '2026-11-24T10:00:00.000Z']);
  const { rows } = await db.query<{ k: string; at: Date; n: number; z: null }>('SELECT k, at, 42::int AS n, NULL AS z FROM t WHERE k = $1', ['a']);
  expect(rows).toEqual([{ k: 'a', at: new Date('2026-11-24T10:00:00.000Z'), n: 42, z: null }]);
});

it('opens with the service\'s memory settings (16 MB of shared buffers, not PostgreSQL\'s 128 MB)', async () => {
  const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
  expect(rows).toEqual([{ shared_buffers: '16MB' }]);
});

it('carries the SQLSTATE of a failed statement across the thread boundary', async () => {
  const err: unknown = await db.query('INSERT INTO t VALUES ($1, now())', ['a']).catch((e: unknown) => e);
  expect(sqlState(err)).toBe('23505');
  expect(isPermanentError(err)).toBe(true);
  expect((err as Error).message).toMatch(/duplicate key/);
});

it('commits a transaction that resolves and rolls back one that throws', async () => {
  await db.transaction(async (tx) => {
    await tx.query('INSERT INTO t VALUES ($1, now())', ['committed']);
  });
  await expect(db.transaction(async (tx) => {
    await tx.query('INSERT INTO t VALUES ($1, now())', ['rolled-back']);
    throw new Error('changed my mind');
  })).rejects.toThrow('changed my mind');
  const { rows } = await db.query<{ k: string }>("SELECT k FROM t WHERE k IN ('committed', 'rolled-back') ORDER BY k");
  expect(rows).toEqual([{ k: 'committed' }]);
});

it('a failed statement inside a transaction fails the transaction, and the database keeps serving', async () => {
  const err: unknown = await db.transaction(async (tx) => {
    await tx.query('INSERT INTO t VALUES ($1, now())', ['in-failed-tx']);
    await tx.query('INSERT INTO t VALUES ($1, now())', ['a']);
  }).catch((e: unknown) => e);
  expect(sqlState(err)).toBe('23505');
  const { rows } = await db.query("SELECT k FROM t WHERE k = 'in-failed-tx'");
  expect(rows).toEqual([]);
  await db.ping();
});

it('statements from outside a transaction wait for it, as on one connection', async () => {
  const order: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const tx = db.transaction(async (t) => {
    await t.query('INSERT INTO t VALUES ($1, now())', ['inside']);
    order.push('inside');
    await held;
  });
  await new Promise((r) => setTimeout(r, 20));
  const outside = db.query("SELECT count(*)::int AS n FROM t WHERE k = 'inside'").then(({ rows }) => {
    order.push('outside');
    return rows;
  });
  await new Promise((r) => setTimeout(r, 50));
  release();
  await tx;
  expect(await outside).toEqual([{ n: 1 }]);
  expect(order).toEqual(['inside', 'outside']);
});

it('a long statement leaves the event loop free', async () => {
  // Counts timer ticks while the database is busy. On the main thread (PGlite's default) WebAssembly runs
  // synchronously and no tick fires until the statement ends; on its own thread the ticks keep coming.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const started = Date.now();
  await db.query('SELECT count(*) FROM generate_series(1, 3000000) AS s(i) WHERE i % 7 = 0');
  const busyMs = Date.now() - started;
  clearInterval(timer);
  expect(busyMs).toBeGreaterThan(50); // the statement really was long enough to tell the two apart
  expect(ticks).toBeGreaterThan(busyMs / 10);
});

it('an orderly close is not reported as the thread dying', async () => {
  const other = mkdtempSync(join(tmpdir(), 'pglite-close-'));
  const deaths: Error[] = [];
  try {
    const closed = await openPglite(other, { onDeath: (err) => deaths.push(err) });
    await closed.close();
    expect(deaths).toEqual([]);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
}, OPEN_TIMEOUT_MS);

it('refuses a second open of the same directory, and reopens it after close', async () => {
  await expect(openPglite(dir)).rejects.toThrow(/already open in this process/);
  await db.close();
  await db.close(); // safe twice
  db = await openPglite(dir);
  const { rows } = await db.query("SELECT k FROM t WHERE k = 'committed'");
  expect(rows).toEqual([{ k: 'committed' }]);
}, OPEN_TIMEOUT_MS);

it('a database thread that dies fails the calls in flight and later ones, instead of hanging', async () => {
  // A stand-in thread that opens, then dies on its first statement, as a crashed WebAssembly instance would.
  const channel = new WorkerChannel(new Worker(`
    const { parentPort } = require('node:worker_threads');
    parentPort.postMessage({ id: 0, result: null });
    parentPort.on('message', () => process.exit(3));`, { eval: true }));
  await channel.opened;
  await expect(channel.send({ op: 'query', sql: 'SELECT 1', params: [] })).rejects.toThrow('the PGlite thread exited (code 3)');
  await expect(channel.send({ op: 'exec', sql: 'SELECT 1' })).rejects.toThrow('the PGlite thread exited (code 3)');
  expect(channel.dead).toBe(true);
});

it('closing a database whose thread died resolves (nothing is left to flush) and releases its directory', async () => {
  const deaths: Error[] = [];
  const channel = new WorkerChannel(new Worker(`
    const { parentPort } = require('node:worker_threads');
    parentPort.postMessage({ id: 0, result: null });
    parentPort.on('message', () => process.exit(3));`, { eval: true }), (err) => deaths.push(err));
  await channel.opened;
  let released = 0;
  const db = databaseOver(channel, () => released++);
  await expect(db.query('SELECT 1')).rejects.toThrow('the PGlite thread exited (code 3)');
  await expect(db.transaction(() => Promise.resolve('never'))).rejects.toThrow('the PGlite thread exited (code 3)');
  await expect(db.ping()).rejects.toThrow('the PGlite thread exited (code 3)');
  await db.close();
  await db.close();
  expect(released).toBe(1);
  expect(deaths.map((e) => e.message)).toEqual(['the PGlite thread exited (code 3)']); // reported once

});

it('an open that fails rejects and leaves the directory free to open again', async () => {
  const file = join(dir, 'not-a-directory');
  writeFileSync(file, 'x');
  await expect(openPglite(join(file, 'pglite'))).rejects.toThrow();
  // The failed open did not leave the path marked as open.
  await expect(openPglite(join(file, 'pglite'))).rejects.not.toThrow(/already open/);
});
