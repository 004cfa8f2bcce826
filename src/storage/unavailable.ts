import { sqlState } from './database';

/**
 * Why storage could not take a write or answer a read right now. Every reason is transient: the caller is told to
 * come back (HTTP 503 with Retry-After, RFC 9110 §10.2.3), and nothing it was given depends on the failed write.
 */
export type UnavailableReason =
  /** The commit did not complete within the wait a request is allowed (database down, slow or still opening). */
  | 'commit-timeout'
  /** The write queue holds as many rows as it may (backpressure: no accepted row is ever dropped for a new one). */
  | 'queue-full'
  /** The service is shutting down and accepts no new writes. */
  | 'closing'
  /** The jti replay memory is still loading what was claimed before this start. */
  | 'loading'
  /** The database refused or timed out (lock or statement timeout, connection lost, pool exhausted). */
  | 'database';

const MESSAGES: Record<UnavailableReason, string> = {
  'commit-timeout': 'Storage did not confirm the write in time; nothing from this call was kept. Retry later.',
  'queue-full': 'Storage is busy; this call was not accepted. Retry later.',
  closing: 'The service is shutting down; retry on another instance or later.',
  loading: 'The service is still loading its record of used tokens; retry shortly.',
  database: 'The database is unavailable or busy; retry later.',
};

/** A write or read that storage cannot do now; the HTTP layer answers it with 503 and Retry-After. */
export class StorageUnavailableError extends Error {
  constructor(readonly reason: UnavailableReason, readonly retryAfterSec = 2, options?: { cause?: unknown }) {
    super(MESSAGES[reason], options);
    this.name = 'StorageUnavailableError';
  }
}

/**
 * One call carries more rows than storage takes from a single call (STORAGE_MAX_ROWS_PER_CALL). Retrying cannot
 * help, so it is HTTP 413, not 503: accepting it would crowd out every other caller's writes (issue 13, case 5).
 */
export class StorageTooLargeError extends Error {
  constructor(readonly rows: number, readonly limit: number) {
    super(`This call would store ${rows} rows; one call may store at most ${limit}.`);
    this.name = 'StorageTooLargeError';
  }
}

/**
 * SQLSTATEs that mean "not now" rather than "never": lock_timeout (55P03), statement_timeout and cancels (57014),
 * the server shutting down or restarting (57P01–57P03), too many connections (53300), connection exceptions (08…),
 * and a failover's read-only standby (25006). PostgreSQL 15 Appendix A.
 */
const TRANSIENT_STATES = /^(08...|53300|55P03|57014|57P0[1-3]|25006|40001|40P01)$/;
/** What `pg` and Node report when the socket or the pool fails (no SQLSTATE then). */
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const TRANSIENT_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Cannot use a pool after calling end|the PGlite thread exited/i;

/** Whether a database error is an outage or contention (worth a 503 and a retry) rather than a bug or bad data. */
export function isTransientDatabaseError(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return TRANSIENT_STATES.test(state);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_ERRNOS.has(code)) return true;
  return err instanceof Error && TRANSIENT_MESSAGES.test(err.message);
}

/** The error as a StorageUnavailableError when it is one or a transient database error; undefined otherwise. */
export function asStorageUnavailable(err: unknown): StorageUnavailableError | undefined {
  if (err instanceof StorageUnavailableError) return err;
  return isTransientDatabaseError(err) ? new StorageUnavailableError('database', 2, { cause: err }) : undefined;
}
