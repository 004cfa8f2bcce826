import type { Database } from './database';

/**
 * Remembers each client token's (iss, jti) until the token expires, so a captured token cannot be replayed
 * (CDS Hooks 2.0: `jti` is "a nonce … to prevent replay"). Same shape as src/auth/replay-store.ts.
 */
export interface ReplayStore {
  /** True the first time (iss, jti) is seen, or when its earlier use has expired; false while it is still live. */
  claim(iss: string, jti: string, expiresAt: Date): Promise<boolean>;
}

/** One process's memory: enough for a single instance. Expired entries are swept so it stays bounded by traffic. */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  claim(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    const t = this.now();
    if (t - this.lastSweep > 60_000) {
      for (const [k, exp] of this.seen) if (exp <= t) this.seen.delete(k);
      this.lastSweep = t;
    }
    const key = `${iss}\u0000${jti}`;
    const existing = this.seen.get(key);
    if (existing !== undefined && existing > t) return Promise.resolve(false);
    this.seen.set(key, expiresAt.getTime());
    return Promise.resolve(true);
  }
}

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
