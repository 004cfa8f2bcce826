import { createHash } from 'node:crypto';

/**
 * A name-based UUID (RFC 9562 §5.5, version 5) for a child of `parent`: unique whenever the parent's uuid is, and
 * recomputable. Suggestion uuids are derived from their card's uuid and the PlanDefinition action they come from,
 * so feedback naming a suggestion can be traced to the alternative chosen without keeping any state.
 */
export function childId(parent: string, name: string): string {
  const ns = Buffer.from(parent.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns.length === 16 ? ns : Buffer.from(parent)).update(name).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
