import { createHmac } from 'node:crypto';
import type { Reference } from 'fhir/r4';

/**
 * The member, as far as the payer's tables know them: an HMAC-SHA256 of the Coverage reference under a secret key.
 * Staff can match rows for one member (and, holding the key, check a reference against them), but the tables alone
 * identify nobody — unlike a plain hash, which anyone could recompute from a guessed reference.
 */
export type MemberHasher = (coverage: Reference) => string | undefined;

/** What is hashed for a Coverage: its reference, else its identifier; undefined when it names no member. */
export function memberSubject(coverage: Reference): string | undefined {
  return coverage.reference ?? (coverage.identifier?.value ? `${coverage.identifier.system ?? ''}|${coverage.identifier.value}` : undefined);
}

export function memberHasher(key: string | Buffer): MemberHasher {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  // Short keys make the hash guessable again; 16 bytes is HMAC's floor for a 128-bit security level.
  if (bytes.length < 16) throw new Error('The member hash key must be at least 16 bytes.');
  return (coverage) => {
    const subject = memberSubject(coverage);
    // A display-only reference (no member found, coverage without an id) names no member: nothing to hash.
    if (!subject) return undefined;
    return createHmac('sha256', bytes).update(subject, 'utf8').digest('hex');
  };
}
