import type { Database, Queryable } from './database';
import { toIso } from './database';
import { MemoryReplayStore, replayKey } from '../auth/replay-store';
import type { ReplayStore } from '../auth/replay-store';
import { ROWS_PER_RECORDSET, chunkRows, recordset } from './sql-values';
import { StorageUnavailableError, asStorageUnavailable } from './unavailable';
import type { TableWriter, WriteQueue } from './write-queue';

export type { ReplayStore } from '../auth/replay-store';
export { MemoryReplayStore } from '../auth/replay-store';

/**
 * The replicas' shared memory of used jtis. One statement decides atomically: insert, or take over a row whose
 * token has expired; a live row is left alone and nothing is returned. Two replicas claiming the same jti at once
 * serialize on the primary key, and only one sees a row come back. Expiry is judged by this process's clock (the
 * same clock that checked the token's `exp`), passed in rather than the database's now().
 *
 * The statement autocommits before `claim` resolves, so a claim is durable before the call is answered. When the
 * database cannot decide (down, cut, lock or statement timeout) the claim fails with StorageUnavailableError and
 * the call is refused with 503: a jti is accepted only when it was checked against every claim made before, on
 * every replica (issue 13, case 7) — a replica's own memory cannot know what the others accepted.
 */
export class SqlReplayStore implements ReplayStore {
  constructor(private readonly db: Pick<Database, 'query'>, private readonly now: () => number = Date.now) {}

  async claim(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    try {
      const { rows } = await this.db.query(
        `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ($1::text, $2::text, $3::timestamptz)
         ON CONFLICT (iss, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE jti_replay.expires_at <= $4::timestamptz
         RETURNING 1 AS claimed`,
        [iss, jti, expiresAt.toISOString(), new Date(this.now()).toISOString()],
      );
      return rows.length === 1;
    } catch (err) {
      throw asStorageUnavailable(err) ?? err;
    }
  }
}

interface JtiRow {
  iss: string;
  jti: string;
  expiresAt: string;
}

/** Remembered jtis are upserted: memory already decided the claim, the table only has to keep it across a restart. */
const JTI_WRITER: TableWriter<JtiRow> = {
  table: 'jti_replay',
  async write(tx: Queryable, rows: JtiRow[]): Promise<void> {
    // One row per (iss, jti) per statement: an upsert may not touch a row twice (SQLSTATE 21000), which a jti
    // claimed again after expiring within one batch would otherwise cause.
    const latest = new Map<string, JtiRow>();
    for (const r of rows) {
      const key = replayKey(r.iss, r.jti);
      const seen = latest.get(key);
      if (!seen || Date.parse(r.expiresAt) > Date.parse(seen.expiresAt)) latest.set(key, r);
    }
    for (const chunk of chunkRows([...latest.values()], 1, ROWS_PER_RECORDSET)) {
      const records = recordset(chunk.map((r) => [r.iss, r.jti, r.expiresAt]), ['iss', 'jti', 'expires_at'], ['text', 'text', 'timestamptz']);
      await tx.query(
        `INSERT INTO jti_replay (iss, jti, expires_at) ${records.sql}
         ON CONFLICT (iss, jti) DO UPDATE SET expires_at = GREATEST(jti_replay.expires_at, EXCLUDED.expires_at)`,
        records.params,
      );
    }
  },
};

export interface EmbeddedReplayOptions {
  /** Told once the remembered jtis are loaded (how many), or when loading failed. */
  onLoaded?: (result: { count: number } | { err: unknown }) => void;
  now?: () => number;
}

/**
 * The replay memory of the embedded database, where exactly one process owns the data directory (PGlite cannot be
 * shared, and `data-dir-lock.ts` enforces it): that process's memory decides every claim, without a statement on
 * the request path. Each accepted claim is then group-committed to `jti_replay` before `claim` resolves, so a token
 * used before a `kill -9` is still refused after the restart (issue 13, case 7). Until the claims of earlier runs
 * are loaded, nothing can be decided: `claim` refuses with StorageUnavailableError('loading') — a 503 with
 * Retry-After — rather than accept a token it cannot check. Replicas sharing PostgreSQL need the atomic SQL claim
 * (`SqlReplayStore`) instead.
 */
export class EmbeddedReplayStore implements ReplayStore {
  private readonly memory: MemoryReplayStore;
  private isLoaded = false;
  /** Settles once loading has succeeded or failed (the service's storageReady waits for it). */
  readonly settled: Promise<void>;

  constructor(db: Pick<Database, 'query'> & { opened: Promise<unknown> }, private readonly queue: Pick<WriteQueue, 'submit'>, options: EmbeddedReplayOptions = {}) {
    const now = options.now ?? Date.now;
    this.memory = new MemoryReplayStore(now);
    this.settled = db.opened
      .then(() => db.query<{ iss: string; jti: string; expires_at: unknown }>(
        'SELECT iss, jti, expires_at FROM jti_replay WHERE expires_at > $1::timestamptz', [new Date(now()).toISOString()]))
      .then(({ rows }) => {
        for (const r of rows) this.memory.remember(r.iss, r.jti, new Date(toIso(r.expires_at)));
        this.isLoaded = true;
        options.onLoaded?.({ count: rows.length });
      })
      .catch((err: unknown) => options.onLoaded?.({ err }));
  }

  /** True once the claims of earlier runs are in memory: from then on claims can be decided. */
  get loaded(): boolean {
    return this.isLoaded;
  }

  unavailable(): Error | undefined {
    return this.isLoaded ? undefined : new StorageUnavailableError('loading', 1);
  }

  async claim(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    const refused = this.unavailable();
    if (refused) throw refused;
    if (!(await this.memory.claim(iss, jti, expiresAt))) return false;
    // Memory keeps the claim even if the commit fails: the caller is refused (503) and the token stays used.
    await this.queue.submit(JTI_WRITER, [{ iss, jti, expiresAt: expiresAt.toISOString() }]);
    return true;
  }
}
