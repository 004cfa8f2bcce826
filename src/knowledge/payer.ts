import type { FhirResource, Organization } from 'fhir/r4';
import type { KnowledgeProblem } from './problems';

/** The organization-type code for a payer (http://terminology.hl7.org/CodeSystem/organization-type#pay). */
const ORGANIZATION_TYPE = 'http://terminology.hl7.org/CodeSystem/organization-type';

/**
 * Who this endpoint answers for: the payer's name (the card source label, CRD resp-4) and how it recognises its own
 * Coverage.payor entries: `system|value` identifiers and `Organization/id` references. From the knowledge's payer
 * Organization (type `pay`), plus PAYER_IDENTIFIERS.
 */
export interface PayerIdentity {
  name?: string;
  organization?: string;
  identifiers: ReadonlySet<string>;
  references: ReadonlySet<string>;
}

/** Splits PAYER_IDENTIFIERS ("system|value,Organization/abc") into identifiers and references. */
export function parsePayerList(list: readonly string[]): { identifiers: string[]; references: string[] } {
  const identifiers: string[] = [];
  const references: string[] = [];
  for (const item of list.map((s) => s.trim()).filter(Boolean)) (item.includes('|') ? identifiers : references).push(item);
  return { identifiers, references };
}

/** The payer Organization(s) in the knowledge: at most one may say it is this endpoint's payer. */
export function readPayer(resources: ReadonlyMap<string, FhirResource>, files: ReadonlyMap<string, string>, extra: readonly string[], problems: KnowledgeProblem[]): PayerIdentity {
  const payers = [...resources.entries()].filter(([, r]) => r.resourceType === 'Organization'
    && (r.type ?? []).some((t) => (t.coding ?? []).some((c) => c.system === ORGANIZATION_TYPE && c.code === 'pay'))) as Array<[string, Organization]>;
  if (payers.length > 1) {
    for (const [key] of payers.slice(1)) problems.push({ file: files.get(key) ?? key, path: 'Organization.type', message: `only one payer Organization (type pay) may describe this endpoint; ${payers[0]?.[0] ?? ''} already does` });
  }
  const [key, org] = payers[0] ?? [];
  const listed = parsePayerList(extra);
  const identifiers = new Set(listed.identifiers);
  for (const id of org?.identifier ?? []) {
    if (id.system && id.value) identifiers.add(`${id.system}|${id.value}`);
  }
  if (org && identifiers.size === 0) problems.push({ file: files.get(key ?? '') ?? '', path: 'Organization.identifier', message: 'the payer Organization needs an identifier (system and value) to recognise its members\' Coverage' });
  const identity: PayerIdentity = { identifiers, references: new Set(listed.references) };
  if (org?.name) identity.name = org.name;
  if (key) identity.organization = key;
  return identity;
}
