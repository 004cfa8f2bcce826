import { createLocalJWKSet } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { readLimited } from '../http/read-limited';
import type { TrustedClient } from './clients';

export interface KeySetOptions {
  timeoutMs: number;
  maxBytes: number;
  /** How long a fetched JWKS is used before it is fetched again. */
  maxAgeMs: number;
  /** The least time between two fetches for one issuer: a flood of unknown kids cannot make us hammer the EHR. */
  cooldownMs: number;
  now?: () => number;
}

interface Cached {
  getKey: JWTVerifyGetKey;
  fetchedAt: number;
}

/** Thrown when a JWKS cannot be fetched or read; the message names no token. */
export class KeySetError extends Error {}

/**
 * The keys of each trusted issuer. Inline JWKS are used as given; a `jwks_uri` is fetched with a timeout, a size
 * limit and no redirects, cached for `maxAgeMs`, and fetched again once when a token names a kid it lacks (key
 * rotation) — but never more often than `cooldownMs`. Only registered `jwks_uri`s are ever fetched.
 */
export class KeySets {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Cached>>();
  private readonly lastAttempt = new Map<string, number>();
  /** Fetch attempts per issuer (tests and metrics read it). */
  readonly fetches = new Map<string, number>();

  constructor(private readonly options: KeySetOptions) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private async fetchSet(client: TrustedClient & { jwks_uri: string }): Promise<Cached> {
    this.lastAttempt.set(client.iss, this.now());
    this.fetches.set(client.iss, (this.fetches.get(client.iss) ?? 0) + 1);
    let res: Response;
    try {
      res = await fetch(client.jwks_uri, { redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs), headers: { accept: 'application/json' } });
    } catch {
      throw new KeySetError(`the issuer's JWKS at its registered jwks_uri could not be fetched`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new KeySetError(`the issuer's JWKS answered HTTP ${res.status}`);
    }
    const text = await readLimited(res.body, this.options.maxBytes);
    if (text === undefined) throw new KeySetError('the issuer\'s JWKS is larger than allowed');
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(text) as JSONWebKeySet;
      const cached = { getKey: createLocalJWKSet(jwks), fetchedAt: this.now() };
      this.cache.set(client.iss, cached);
      return cached;
    } catch {
      throw new KeySetError('the issuer\'s JWKS is not a valid JWK Set');
    }
  }

  private load(client: TrustedClient & { jwks_uri: string }): Promise<Cached> {
    const pending = this.inflight.get(client.iss);
    if (pending) return pending;
    const p = this.fetchSet(client).finally(() => this.inflight.delete(client.iss));
    this.inflight.set(client.iss, p);
    return p;
  }

  /** The key resolver for an issuer, fetching its JWKS when there is none or it is older than maxAgeMs. */
  async resolver(client: TrustedClient): Promise<JWTVerifyGetKey> {
    if (client.jwks) {
      const inline = this.cache.get(client.iss) ?? { getKey: createLocalJWKSet(client.jwks), fetchedAt: Number.POSITIVE_INFINITY };
      this.cache.set(client.iss, inline);
      return inline.getKey;
    }
    if (!client.jwks_uri) throw new KeySetError('no keys registered for this issuer');
    const cached = this.cache.get(client.iss);
    if (cached && this.now() - cached.fetchedAt < this.options.maxAgeMs) return cached.getKey;
    return (await this.load({ ...client, jwks_uri: client.jwks_uri })).getKey;
  }

  /**
   * Called when the token's kid is not in the cached set: refetch once if the cool-down allows (the EHR may have
   * rotated its keys). Returns the new resolver, or undefined when a refetch is not allowed now.
   */
  async refreshForUnknownKid(client: TrustedClient): Promise<JWTVerifyGetKey | undefined> {
    if (!client.jwks_uri) return undefined;
    const last = this.lastAttempt.get(client.iss) ?? 0;
    if (this.now() - last < this.options.cooldownMs) return undefined;
    return (await this.load({ ...client, jwks_uri: client.jwks_uri })).getKey;
  }
}
