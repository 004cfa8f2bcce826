import type { Database, Queryable } from './database';
import { toIso } from './database';
import { MemoryReplayStore, replayKey } from '../auth/replay-store';
import type { ReplayStore } from '../auth/replay-store';
import { chunkRows, valuesList } from './sql-values';
import type { TableWriter, WriteQueue } from './write-queue';

export type { ReplayStore } from '../auth/replay-store';
export { MemoryReplayStore } from '../auth/replay-store';

/**
 * The replicas' shared memory of used jtis. One statement decides atomically: insert, or take over a row whose
 * token has expired; a live row is left alone and nothing is returned. Two replicas claiming the same jti at once
 * serialize on the primary key, and only one sees a row come back. Expiry is judged by this process's clock (the
 * same clock that checked the token's `exp`), passed in rather than the database's now().
 */
export class SqlReplayStore implements ReplayStore {
  constructor(private readonly db: Pick<Database, 'query'>, private readonly now: () => number = Date.now) {}

  async claim(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    const { rows } = await this.db.query(
      `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ($1::text, $2::text, $3::timestamptz)
       ON CONFLICT (iss, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE jti_replay.expires_at <= $4::timestamptz
       RETURNING 1 AS claimed`,
      [iss, jti, expiresAt.toISOString(), new Date(this.now()).toISOString()],
    );
    return rows.length === 1;
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
    for (const chunk of chunkRows([...latest.values()], 3)) {
      const values = valuesList(chunk.map((r) => [r.iss, r.jti, r.expiresAt]), ['text', 'text', 'timestamptz']);
      await tx.query(
        `INSERT INTO jti_replay (iss, jti, expires_at) VALUES ${values.sql}
         ON CONFLICT (iss, jti) DO UPDATE SET expires_at = GREATEST(jti_replay.expires_at, EXCLUDED.expires_at)`,
        values.params,
      );
    }
  },
};

export interface WriteBehindReplayOptions {
  /** Longest a claim waits for the remembered jtis to be loaded at start before deciding from memory alone. */
  loadTimeoutMs?: number;
  /** Told when a claim had to be decided before the load finished (or the load failed). */
  onUnloaded?: (err?: unknown) => void;
  now?: () => number;
}

/**
 * The replay memory of the embedded database, where exactly one process owns the data directory (PGlite cannot be
 * shared): that process's memory decides every claim, so no statement runs on the request path (an INSERT per
 * authenticated call was 13 % of its CPU, BENCHMARKS.md). Claims are written behind through the write queue and
 * loaded back at start, so a token used before a restart is still refused after it. Replicas sharing PostgreSQL
 * need the atomic SQL claim (`SqlReplayStore`) instead.
 */
export class WriteBehindReplayStore implements ReplayStore {
  private readonly memory: MemoryReplayStore;
  private readonly loaded: Promise<void>;
  private isLoaded = false;
  private warned = false;
  private readonly loadTimeoutMs: number;
  private readonly onUnloaded: (err?: unknown) => void;

  constructor(db: Pick<Database, 'query'> & { opened: Promise<unknown> }, private readonly queue: Pick<WriteQueue, 'enqueue'>, options: WriteBehindReplayOptions = {}) {
    const now = options.now ?? Date.now;
    this.memory = new MemoryReplayStore(now);
    this.loadTimeoutMs = options.loadTimeoutMs ?? 500;
    this.onUnloaded = options.onUnloaded ?? (() => undefined);
    this.loaded = db.opened
      .then(() => db.query<{ iss: string; jti: string; expires_at: unknown }>(
        'SELECT iss, jti, expires_at FROM jti_replay WHERE expires_at > $1::timestamptz', [new Date(now()).toISOString()]))
      .then(({ rows }) => {
        for (const r of rows) this.memory.remember(r.iss, r.jti, new Date(toIso(r.expires_at)));
        this.isLoaded = true;
      })
      .catch((err: unknown) => this.onUnloaded(err));
  }

  async claim(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    if (!this.isLoaded) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.loaded, new Promise<void>((r) => (timer = setTimeout(r, this.loadTimeoutMs)))]);
      clearTimeout(timer);
      if (!this.isLoaded && !this.warned) {
        this.warned = true;
        this.onUnloaded();
      }
    }
    if (!(await this.memory.claim(iss, jti, expiresAt))) return false;
    this.queue.enqueue(JTI_WRITER, { iss, jti, expiresAt: expiresAt.toISOString() });
    return true;
  }
}
