import type { FhirResource, NamingSystem } from 'fhir/r4';
import { normaliseSystem } from '../fhirpath/code-key';
import type { KnowledgeProblem } from './problems';

/**
 * Which spellings name the same code system, from the knowledge's NamingSystem resources (FHIR R4 NamingSystem,
 * kind `codesystem`: one `uniqueId` per URI or OID, the preferred URI marked). EHRs send HCPCS under CMS's URI,
 * the Blue Button URI or its OID, and CPT under its URI or OID; a payer says so once, for every ValueSet of the
 * catalog, instead of listing each code under each spelling.
 */
export interface SystemAliases {
  /** Every normalised spelling of the system this one names (itself included). */
  equivalents(system: string): string[];
  /** The preferred URI of the system this one names (CRD's value sets spell HCPCS and CPT this way); undefined when no NamingSystem names it. */
  preferred(system: string): string | undefined;
}

const spelling = (id: { type?: string; value?: string }): string | undefined =>
  !id.value ? undefined : id.type === 'oid' ? (id.value.startsWith('urn:oid:') ? id.value : `urn:oid:${id.value}`) : id.type === 'uri' ? id.value : undefined;

/** Reads the NamingSystems of kind `codesystem`; a spelling claimed by two of them, or one without a preferred URI, is a problem. */
export function readSystemAliases(resources: ReadonlyMap<string, FhirResource>, files: ReadonlyMap<string, string>, problems: KnowledgeProblem[]): SystemAliases {
  const groups = new Map<string, string[]>();
  const preferredOf = new Map<string, string>();
  const owner = new Map<string, string>();
  for (const [key, r] of resources) {
    if (r.resourceType !== 'NamingSystem') continue;
    const ns: NamingSystem = r;
    const file = files.get(key) ?? key;
    if (ns.kind !== 'codesystem') continue;
    const ids = (ns.uniqueId ?? []).map((u) => ({ u, value: spelling(u) }));
    const preferred = ids.filter((i) => i.u.type === 'uri' && i.u.preferred === true && i.value);
    if (preferred.length !== 1) {
      problems.push({ file, path: 'NamingSystem.uniqueId', message: 'a code system NamingSystem needs exactly one preferred uri (the spelling billing codes are sent in)' });
      continue;
    }
    const names = [...new Set(ids.map((i) => i.value).filter((v): v is string => !!v).map(normaliseSystem))];
    for (const name of names) {
      const earlier = owner.get(name);
      if (earlier) problems.push({ file, path: 'NamingSystem.uniqueId', message: `${name} is already named by ${earlier}` });
      owner.set(name, key);
      groups.set(name, names);
      preferredOf.set(name, preferred[0]?.value ?? '');
    }
  }
  return {
    equivalents: (system) => groups.get(normaliseSystem(system)) ?? [normaliseSystem(system)],
    preferred: (system) => preferredOf.get(normaliseSystem(system)),
  };
}
