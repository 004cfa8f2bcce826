/**
 * Normalises a code-system URI for matching: EHRs send CPT under its URI, its OID or the HCPCS URI,
 * and some use https where the standard says http (codes.md). Matching treats those spellings as one.
 * memberOf() and the knowledge's code index both key codes this way.
 */
export function normaliseSystem(system: string): string {
  let s = system.trim();
  if (s.startsWith('https://')) s = `http://${s.slice('https://'.length)}`;
  if (s.endsWith('/')) s = s.slice(0, -1);
  return s.toLowerCase();
}

/** The key a code is indexed under: normalised system, a bar, then the code as sent (codes are case-sensitive). */
export function codeKey(system: string, code: string): string {
  return `${normaliseSystem(system)}|${code.trim()}`;
}
