/**
 * Messages between the service and its PGlite thread (`pglite-worker.ts`). Each request carries an id; the reply
 * with that id carries the result or the error. Id 0 is the worker's own "opened" (or "could not open") message.
 * 'batch' runs write statements in one transaction of their own, all in one message (the write queue's path).
 * Statements name the transaction they belong to (`tx`: an id the service chose when it sent 'begin'), or none.
 */
export type Request =
  | { id: number; op: 'query'; sql: string; params: unknown[]; tx?: number }
  | { id: number; op: 'exec'; sql: string; tx?: number }
  | { id: number; op: 'batch'; statements: Array<{ sql: string; params: unknown[] }> }
  | { id: number; op: 'begin'; tx: number }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'close' };

/** What crosses the thread boundary of a database error: enough for `sqlState()` and the logs. */
export interface SerializedError {
  message: string;
  code?: string;
  detail?: string;
}

export type Reply = { id: number; result: unknown; error?: undefined } | { id: number; error: SerializedError; result?: undefined };
