import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Database, QueryResult, Queryable, Statement } from './database';
import { asOneStatement } from './database';
import { lockDataDir } from './data-dir-lock';
import type { Reply, Request, SerializedError } from './pglite-protocol';
import type { PgliteWasmCompiler } from './pglite-settings';

/**
 * Data directories open in this process. PGlite is single-process Postgres: two instances on one directory
 * corrupt it, so a second open here is refused rather than allowed to race.
 */
const openDirs = new Set<string>();

/** A request without its id (the id is assigned when it is sent). */
type Body = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

/** An error from the database thread, with its SQLSTATE on `code` as both drivers put it (see `sqlState`). */
class PgliteError extends Error {
  readonly code?: string;
  readonly detail?: string;
  constructor(e: SerializedError) {
    super(e.message);
    this.name = 'PgliteError';
    if (e.code !== undefined) this.code = e.code;
    if (e.detail !== undefined) this.detail = e.detail;
  }
}

/**
 * The compiled worker script. Under ts-jest this module runs from src/, where there is no .js to start a thread
 * from; the build's copy is used then (jest's global setup builds dist/ first).
 */
function workerScript(): string {
  const beside = join(__dirname, 'pglite-worker.js');
  if (existsSync(beside)) return beside;
  const built = resolve(__dirname, '../../dist/storage/pglite-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`PGlite's worker script is missing (${beside}); run npm run build.`);
}

/** The main thread's end of the worker: numbered requests, each settled by the reply with its id. */
export class WorkerChannel {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  /** Set when the service asked the thread to close: its exit is then expected, not a death. */
  closing = false;
  readonly opened: Promise<void>;

  constructor(readonly worker: Worker, private readonly onDeath?: (err: Error) => void) {
    this.opened = new Promise<void>((resolveOpen, rejectOpen) => this.waiting.set(0, { resolve: () => resolveOpen(), reject: rejectOpen }));
    worker.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (reply.error) waiter.reject(new PgliteError(reply.error));
      else waiter.resolve(reply.result);
    });
    // A thread that dies takes every statement in flight with it: they fail, and so does everything after.
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the PGlite thread exited (code ${code})`)));
  }

  private fail(err: Error): void {
    if (this.failure === undefined && !this.closing) this.onDeath?.(err);
    this.failure ??= err;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }

  /** True once the thread has died: every call fails from then on. */
  get dead(): boolean {
    return this.failure !== undefined;
  }

  /** An id for a transaction, from the same counter as requests: unique for the thread's life. */
  nextTxId(): number {
    return this.nextId++;
  }

  send(body: Body): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      this.waiting.set(id, { resolve: resolvePromise, reject });
      this.worker.postMessage({ ...body, id });
    });
  }
}

function queryable(channel: WorkerChannel, tx?: number): Queryable {
  const scope = tx === undefined ? {} : { tx };
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      return (await channel.send({ op: 'query', sql, params: [...params], ...scope })) as QueryResult<T>;
    },
    async exec(sql: string): Promise<void> {
      await channel.send({ op: 'exec', sql, ...scope });
    },
  };
}

/**
 * The embedded default: PostgreSQL compiled to WebAssembly, persisted in `dataDir`, run on its own thread
 * (`pglite-worker.ts`) so its synchronous work never holds the event loop that answers EHRs. The first start runs
 * initdb (seconds); later starts only open the files. It must be closed on shutdown: until then the thread keeps
 * the process alive and holds unflushed pages.
 */
export async function openPglite(dataDir: string, options: { onDeath?: (err: Error) => void; wasmCompiler?: PgliteWasmCompiler } = {}): Promise<Database> {
  const dir = resolve(dataDir);
  if (openDirs.has(dir)) throw new Error(`The PGlite data directory ${dir} is already open in this process.`);
  prepareDir(dir);
  // Beside the directory, not in it: initdb wants the directory to itself.
  const lock = lockDataDir(dir, join(dirname(dir), `${basename(dir)}.lock`));
  openDirs.add(dir);
  const release = (): void => {
    openDirs.delete(dir);
    lock.release();
  };
  let channel: WorkerChannel;
  try {
    channel = new WorkerChannel(new Worker(workerScript(), { workerData: { dataDir: dir, wasmCompiler: options.wasmCompiler ?? 'baseline' } }), options.onDeath);
    await channel.opened.catch(async (err: unknown) => {
      await channel.worker.terminate();
      throw new Error(`The embedded database in ${dir} could not be opened: ${(err as Error).message}`, { cause: err });
    });
  } catch (err) {
    release();
    throw err;
  }
  return databaseOver(channel, release);
}

/**
 * Creates the directory and checks that this process may write it, so a wrong DATA_DIR fails at once with the path
 * and the cause (issue 13, case 15) instead of deep inside PGlite's WebAssembly file system.
 */
function prepareDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new Error(`The embedded database directory ${dir} cannot be used: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The Database interface over a started, opened PGlite thread. `release` runs once the thread is gone (closed or
 * dead), to free what the opener holds (the data directory's entry in `openDirs`).
 */
export function databaseOver(channel: WorkerChannel, release: () => void): Database {
  let closing: Promise<void> | undefined;
  const outside = queryable(channel);
  return {
    backend: 'pglite',
    ...outside,
    // PGlite serializes transactions and queries on its one connection, so no other statement interleaves.
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const tx = channel.nextTxId();
      await channel.send({ op: 'begin', tx });
      let result: T;
      try {
        result = await fn(queryable(channel, tx));
      } catch (err) {
        await channel.send({ op: 'end', tx, commit: false }).catch(() => undefined);
        throw err;
      }
      await channel.send({ op: 'end', tx, commit: true });
      return result;
    },
    async writeBatch(statements: readonly Statement[]): Promise<void> {
      if (statements.length === 0) return;
      // One statement is atomic on its own (autocommit): no BEGIN/COMMIT, each of which PGlite runs as a statement.
      const one = asOneStatement(statements);
      if (one) await channel.send({ op: 'query', sql: one.sql, params: [...one.params] });
      else await channel.send({ op: 'batch', statements: statements.map((st) => ({ sql: st.sql, params: [...st.params] })) });
    },
    async ping(): Promise<void> {
      await outside.query('SELECT 1');
    },
    close(): Promise<void> {
      // A thread that already died has nothing left to flush: closing it is done, not an error at shutdown.
      channel.closing = true;
      closing ??= (channel.dead ? Promise.resolve() : channel.send({ op: 'close' }).then(() => undefined))
        .finally(() => channel.worker.terminate())
        .finally(release);
      return closing;
    },
  };
}
