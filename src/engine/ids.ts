import { hash } from 'node:crypto';

const DASHES = /-/g;

/**
 * A name-based UUID (RFC 9562 §5.5, version 5) for a child of `parent`: unique whenever the parent's uuid is, and
 * recomputable. Suggestion uuids are derived from their card's uuid and the PlanDefinition action they come from,
 * so feedback naming a suggestion can be traced to the alternative chosen without keeping any state.
 * The SHA-1 is one-shot `crypto.hash` (Node ≥ 20.12): a response derives about twenty ids, and a Hash object each
 * cost twice as much. The namespace is the parent's 16 bytes when it is a UUID, else its UTF-8 text.
 */
export function childId(parent: string, name: string): string {
  const ns = Buffer.from(parent.replace(DASHES, ''), 'hex');
  const h = hash('sha1', Buffer.concat([ns.length === 16 ? ns : Buffer.from(parent), Buffer.from(name)]), 'hex');
  // RFC 9562 §5.5: the version (5) in the high nibble of octet 6; the variant (0b10) in the top bits of octet 8.
  const variant = ((parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
