/** FHIR versions the knowledge is written in. */
export type FhirVersion = 'R4' | 'R4B';

/**
 * Resource types whose R4 shape cannot hold the policy's numbers (fhir-knowledge.md): the evidence resources are
 * written in R4B (4.3.0), where Evidence carries statistics and Citation exists. Everything else is R4 (4.0.1),
 * the version the EHR-facing hooks speak; it is also valid R4B (tested).
 */
const R4B_TYPES: ReadonlySet<string> = new Set(['Evidence', 'EvidenceVariable', 'EvidenceReport', 'Citation']);

/** The FHIR version a knowledge resource of this type is written in. */
export function fhirVersionOf(resourceType: string): FhirVersion {
  return R4B_TYPES.has(resourceType) ? 'R4B' : 'R4';
}
