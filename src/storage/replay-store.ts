import type { Database } from './database';
import type { ReplayStore } from '../auth/replay-store';

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
