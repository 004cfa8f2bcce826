/**
 * Remembers each (iss, jti) until the token expires, so a captured token cannot be replayed (CDS Hooks 2.0:
 * `jti` is "a nonce … to prevent replay"). Shared by all replicas when backed by the database.
 */
export interface ReplayStore {
  /** True the first time this (iss, jti) is seen before `expiresAt`; false when it was already used. */
  claim(iss: string, jti: string, expiresAt: Date): Promise<boolean>;
  /**
   * The error every claim would be refused with right now (e.g. earlier runs' claims still loading), so a caller can
   * refuse a token before spending a signature verification on it; undefined when claims can be decided.
   */
  unavailable?(): Error | undefined;
}

/** The identity of a token for replay purposes: its `jti` is unique only per issuer. */
export function replayKey(iss: string, jti: string): string {
  return `${iss}\u0000${jti}`;
}

/** One process's memory: enough for a single instance; replicas share the SQL store. Bounded by expiry sweeps. */
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
    const key = replayKey(iss, jti);
    const existing = this.seen.get(key);
    if (existing !== undefined && existing > t) return Promise.resolve(false);
    this.seen.set(key, expiresAt.getTime());
    return Promise.resolve(true);
  }

  /** Records a jti used earlier (loaded from storage at start), keeping the later expiry if it is known twice. */
  remember(iss: string, jti: string, expiresAt: Date): void {
    const key = replayKey(iss, jti);
    this.seen.set(key, Math.max(this.seen.get(key) ?? 0, expiresAt.getTime()));
  }
}
