/**
 * The embedded database's own thread. PGlite runs Postgres as WebAssembly, synchronously: on the main thread every
 * statement, every batch of audit rows and the 0.6 s opening of the data directory would hold the event loop, and
 * each hook call arriving meanwhile would wait (BENCHMARKS.md: 5–35 ms stalls, the p99 at a fixed rate). Here it
 * holds only this thread; `pglite-database.ts` speaks to it with messages (protocol in `pglite-protocol.ts`).
 */
import { setFlagsFromString } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import type { Reply, Request, SerializedError } from './pglite-protocol';
import { PGLITE_POSTGRESQL_CONF, v8FlagsFor } from './pglite-settings';
import type { PgliteWasmCompiler } from './pglite-settings';

if (!parentPort) throw new Error('pglite-worker.js runs as a worker thread (see pglite-database.ts).');
const port = parentPort;
const { dataDir, wasmCompiler } = workerData as { dataDir: string; wasmCompiler: PgliteWasmCompiler };

/** Open transactions by id: the main thread's transaction callback runs its statements through these. */
const transactions = new Map<number, { tx: Transaction; finish: (commit: boolean) => void }>();
/** How each open transaction ends: null when committed, the error otherwise. */
const outcomes = new Map<number, Promise<Error | null>>();

/**
 * What crosses the thread boundary of an error. PGlite's file system throws Emscripten errors that are plain
 * objects ({ errno, code } or an ExitStatus), whose String() is "[object Object]": describe those by their fields.
 */
function describe(err: unknown): string {
  const e = err as { message?: unknown; name?: unknown } | null;
  if (typeof e?.message === 'string' && e.message !== '') return e.message;
  if (err !== null && typeof err === 'object') {
    const fields = Object.entries(err as Record<string, unknown>)
      .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
      .map(([k, v]) => `${k}=${String(v)}`);
    return `${typeof e?.name === 'string' ? e.name : 'error'}${fields.length > 0 ? ` (${fields.join(', ')})` : ''}`;
  }
  return String(err);
}

function serialize(err: unknown): SerializedError {
  const e = err as { message?: unknown; code?: unknown; detail?: unknown } | null;
  return {
    message: describe(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.detail === 'string' ? { detail: e.detail } : {}),
  };
}

const reply = (message: Reply): void => port.postMessage(message);

async function main(): Promise<void> {
  let pglite: PGlite;
  try {
    // Before the module is compiled (in PGlite.create): V8 reads its WebAssembly compiler flags at compile time.
    for (const flag of v8FlagsFor(wasmCompiler)) setFlagsFromString(flag);
    pglite = await PGlite.create(dataDir, { postgresqlconf: [...PGLITE_POSTGRESQL_CONF] });
  } catch (err) {
    reply({ id: 0, error: serialize(err) });
    return;
  }
  reply({ id: 0, result: null });

  port.on('message', (req: Request) => {
    const target = (txId: number | undefined): PGlite | Transaction => {
      if (txId === undefined) return pglite;
      const open = transactions.get(txId);
      if (!open) throw new Error(`transaction ${txId} is not open`);
      return open.tx;
    };
    const run = async (): Promise<unknown> => {
      switch (req.op) {
        case 'query':
          return { rows: (await target(req.tx).query(req.sql, req.params)).rows };
        case 'exec':
          await target(req.tx).exec(req.sql);
          return null;
        case 'batch':
          await pglite.transaction(async (tx) => {
            for (const st of req.statements) await (st.params.length > 0 ? tx.query(st.sql, st.params) : tx.exec(st.sql));
          });
          return null;
        case 'begin': {
          // Resolves once PGlite has started the transaction; it stays open until 'end' names it. How it ends
          // (null when committed, the error otherwise) is kept for 'end' to report.
          await new Promise<void>((started, failed) => {
            const done = pglite.transaction((tx) => new Promise<void>((commit, rollback) => {
              transactions.set(req.tx, { tx, finish: (ok) => (ok ? commit() : rollback(new Error('rolled back'))) });
              started();
            }));
            outcomes.set(req.tx, done.then(() => null, (err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
            done.catch(failed); // only matters when the transaction never started
          });
          return null;
        }
        case 'end': {
          const open = transactions.get(req.tx);
          const outcome = outcomes.get(req.tx);
          if (!open || !outcome) throw new Error(`transaction ${req.tx} is not open`);
          transactions.delete(req.tx);
          outcomes.delete(req.tx);
          open.finish(req.commit);
          const err = await outcome;
          // A failed COMMIT is the caller's error; the rollback it asked for is not.
          if (req.commit && err) throw err;
          return null;
        }
        case 'close':
          await pglite.close();
          return null;
      }
    };
    run().then(
      (result) => {
        reply({ id: req.id, result });
        if (req.op === 'close') port.close();
      },
      (err: unknown) => reply({ id: req.id, error: serialize(err) }),
    );
  });
}

void main();
