import type { ValueSet, ValueSetExpansionContains } from 'fhir/r4';
import { codeKey } from '../fhirpath/code-key';

/** A ValueSet's member codes, indexed for constant-time local membership tests (no terminology server). */
export interface IndexedValueSet {
  url: string;
  resource: ValueSet;
  keys: ReadonlySet<string>;
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

/** Builds the index entry for one ValueSet. */
export function indexValueSet(vs: ValueSet): IndexedValueSet {
  const keys = new Set(valueSetCodes(vs).map((c) => codeKey(c.system, c.code)));
  return { url: vs.url ?? '', resource: vs, keys };
}
