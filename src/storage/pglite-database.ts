import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import type { Database, QueryResult, Queryable } from './database';

/**
 * Data directories open in this process. PGlite is single-process Postgres: two instances on one directory
 * corrupt it, so a second open here is refused rather than allowed to race.
 */
const openDirs = new Set<string>();

function wrap(target: PGlite | Transaction): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const result = await target.query<T>(sql, [...params]);
      return { rows: result.rows };
    },
    async exec(sql: string): Promise<void> {
      await target.exec(sql);
    },
  };
}

/**
 * The embedded default: PostgreSQL compiled to WebAssembly, persisted in `dataDir`. The first start runs initdb
 * (seconds); later starts only open the files. It must be closed on shutdown: until then it holds the event loop
 * and unflushed pages.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  const dir = resolve(dataDir);
  if (openDirs.has(dir)) throw new Error(`The PGlite data directory ${dir} is already open in this process.`);
  mkdirSync(dir, { recursive: true });
  openDirs.add(dir);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dir);
  } catch (err) {
    openDirs.delete(dir);
    throw err;
  }
  const self = wrap(pglite);
  let closing: Promise<void> | undefined;
  return {
    backend: 'pglite',
    ...self,
    // PGlite serializes transactions and queries on its one connection, so no other statement interleaves.
    transaction: <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => pglite.transaction((tx) => fn(wrap(tx))),
    async ping(): Promise<void> {
      await pglite.query('SELECT 1');
    },
    close(): Promise<void> {
      closing ??= pglite.close().finally(() => openDirs.delete(dir));
      return closing;
    },
  };
}
