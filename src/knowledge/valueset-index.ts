import type { ValueSet, ValueSetExpansionContains } from 'fhir/r4';
import { codeKey } from '../fhirpath/code-key';
import type { SystemAliases } from './naming-systems';

/** A ValueSet's member codes, indexed for constant-time local membership tests (no terminology server). */
export interface IndexedValueSet {
  url: string;
  resource: ValueSet;
  /** `codeKey`s of every member, under every spelling of its system (knowledge/naming-systems.ts). */
  keys: ReadonlySet<string>;
  /** The member each key stands for, spelled as the system's preferred URI (else as the ValueSet spells it). */
  members: ReadonlyMap<string, { system: string; code: string }>;
}

function flatten(contains: ValueSetExpansionContains[] | undefined, into: Array<{ system: string; code: string }>): void {
  for (const c of contains ?? []) {
    if (c.system && c.code && !c.abstract) into.push({ system: c.system, code: c.code });
    flatten(c.contains, into);
  }
}

/**
 * The codes of a ValueSet: its expansion where present, else the concepts enumerated in compose.include.
 * Filters and nested value sets need a terminology server and are reported by the knowledge check instead.
 */
export function valueSetCodes(vs: ValueSet): Array<{ system: string; code: string }> {
  const codes: Array<{ system: string; code: string }> = [];
  if (vs.expansion?.contains) flatten(vs.expansion.contains, codes);
  else for (const inc of vs.compose?.include ?? []) {
    for (const concept of inc.concept ?? []) if (inc.system) codes.push({ system: inc.system, code: concept.code });
  }
  return codes;
}

/** Builds the index entry for one ValueSet: its codes under every spelling the NamingSystems give their system. */
export function indexValueSet(vs: ValueSet, aliases: SystemAliases): IndexedValueSet {
  const members = new Map<string, { system: string; code: string }>();
  for (const c of valueSetCodes(vs)) {
    const member = { system: aliases.preferred(c.system) ?? c.system, code: c.code };
    for (const system of aliases.equivalents(c.system)) members.set(codeKey(system, c.code), member);
  }
  return { url: vs.url ?? '', resource: vs, keys: new Set(members.keys()), members };
}
