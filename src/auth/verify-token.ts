import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { TrustedClient } from './clients';
import type { KeySets } from './key-sets';
import { KeySetError } from './key-sets';
import type { ReplayStore } from './replay-store';

/** Why a token was refused, in words safe to return (they never contain the token). */
export class AuthError extends Error {}

export interface VerifyOptions {
  clients: ReadonlyMap<string, TrustedClient>;
  keySets: KeySets;
  replay: ReplayStore;
  /** Asymmetric algorithms accepted; ES384 and RS384 by default (CDS Hooks 2.0 §Trusting CDS Clients). */
  algorithms: readonly string[];
  /** Allowed clock skew in seconds. */
  clockToleranceSec: number;
  /** The longest lifetime (exp − iat) accepted, in seconds: CDS Hooks says 5 minutes. */
  maxLifetimeSec: number;
  now?: () => Date;
}

/** The verified caller. */
export interface CdsCaller {
  iss: string;
  tenant?: string;
}

const NEVER = /^(none|HS\d+)$/i;

/**
 * Verifies a CDS client's JWT (CDS Hooks 2.0 §Trusting CDS Clients): an asymmetric `alg` from the allow-list
 * (never `none`, never HMAC), `kid` required, `typ` JWT; `iss` registered; signature by one of the issuer's
 * registered keys (a `jku` header is never fetched nor trusted for keys); `aud` equal to the exact
 * URL called; `exp` in the future and at most 5 minutes after `iat`; `iat` not in the future; `jti` used once.
 */
export async function verifyCdsToken(token: string, audience: string, o: VerifyOptions): Promise<CdsCaller> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    throw new AuthError('The bearer token is not a well-formed JWT.');
  }
  if (!header.alg || NEVER.test(header.alg) || !o.algorithms.includes(header.alg)) {
    throw new AuthError(`The token's signing algorithm is not accepted; use one of ${o.algorithms.join(', ')}.`);
  }
  if (!header.kid) throw new AuthError('The token header has no kid.');
  if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT') throw new AuthError('The token header typ must be JWT.');
  const iss = unverified.iss;
  const client = typeof iss === 'string' ? o.clients.get(iss) : undefined;
  if (!client || typeof iss !== 'string') throw new AuthError('The token\'s issuer is not a registered CDS client.');
  // A `jku` header is not where keys come from: the issuer's registered keys (inline, or fetched from its
  // registered jwks_uri) verify every token, whatever URL the token names, and no URL a token names is ever
  // fetched (CDS Hooks 2.0 §Trusting CDS Clients: services allow-list jku; RFC 7515 §4.1.2 makes it a hint). A
  // token signed by a registered key is authentic with any jku; one signed by another key fails its signature.

  // No token can be accepted until its jti can be checked (the embedded store still loading earlier runs' claims):
  // refuse with that 503 before verifying a signature. At start-up EHRs retry often; each refusal then costs a
  // header decode instead of an ES384 verification on the core the database is opening on.
  const unavailable = o.replay.unavailable?.();
  if (unavailable) throw unavailable;

  const now = o.now?.() ?? new Date();
  const verifyWith = (getKey: JWTVerifyGetKey): ReturnType<typeof jwtVerify> => jwtVerify(token, getKey, {
    algorithms: [...o.algorithms],
    issuer: iss,
    audience,
    clockTolerance: o.clockToleranceSec,
    currentDate: now,
    requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
  });
  let payload: JWTPayload;
  try {
    try {
      payload = (await verifyWith(await o.keySets.resolver(client))).payload;
    } catch (e) {
      if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
      // The EHR may have rotated its keys: fetch its JWKS once more (within the cool-down) and retry.
      const refreshed = await o.keySets.refreshForUnknownKid(client);
      if (!refreshed) throw e;
      payload = (await verifyWith(refreshed)).payload;
    }
  } catch (e) {
    throw new AuthError(describe(e));
  }

  const nowSec = Math.floor(now.getTime() / 1000);
  const { iat, exp, jti } = payload;
  if (typeof iat !== 'number' || iat > nowSec + o.clockToleranceSec) throw new AuthError('The token\'s iat is in the future.');
  if (typeof exp !== 'number' || exp - iat > o.maxLifetimeSec) throw new AuthError(`The token lives longer than ${o.maxLifetimeSec / 60} minutes (exp − iat).`);
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new AuthError('The token has no usable jti.');
  if (client.tenant !== undefined && payload['tenant'] !== client.tenant) throw new AuthError('The token\'s tenant is not the one registered for its issuer.');
  if (!(await o.replay.claim(iss, jti, new Date((exp + o.clockToleranceSec) * 1000)))) throw new AuthError('The token\'s jti was already used (replay).');
  return { iss, ...(typeof payload['tenant'] === 'string' ? { tenant: payload['tenant'] } : {}) };
}

function describe(e: unknown): string {
  if (e instanceof KeySetError) return `The issuer's keys could not be obtained: ${e.message}.`;
  if (e instanceof errors.JWTExpired) return 'The token has expired.';
  if (e instanceof errors.JWKSNoMatchingKey) return 'No key of the issuer matches the token\'s kid.';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'The token\'s signature does not verify.';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return 'The token\'s aud is not the URL that was called.';
    return `The token's ${e.claim} claim is missing or invalid.`;
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return 'The token\'s signing algorithm is not accepted.';
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return 'The bearer token is not a valid JWS.';
  return 'The bearer token could not be verified.';
}
