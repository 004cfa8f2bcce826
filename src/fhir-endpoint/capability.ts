import type { KnowledgeRepository } from './repository';
import { SEARCH_PARAMS } from './search';

/** FHIR version this endpoint speaks: R4B (4.3.0), which holds both the R4 knowledge and the R4B evidence. */
export const ENDPOINT_FHIR_VERSION = '4.3.0';
export const FHIR_JSON = 'application/fhir+json; fhirVersion=4.3';

/** Operations per type (canonical OperationDefinitions of the FHIR specification). */
const OPERATIONS: Record<string, Array<{ name: string; definition: string }>> = {
  ValueSet: [{ name: 'expand', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand' }],
  PlanDefinition: [{ name: 'apply', definition: 'http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply' }],
};

/** The CapabilityStatement: exactly the types, interactions, search parameters and operations served. */
export function capabilityStatement(repo: KnowledgeRepository, baseUrl: string, date: string, publisher: string | undefined): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date,
    ...(publisher ? { publisher } : {}),
    kind: 'instance',
    software: { name: 'payer CRD service knowledge endpoint' },
    implementation: { description: 'Read-only FHIR endpoint over the clinical-policy catalog the CRD service applies', url: `${baseUrl}/fhir` },
    fhirVersion: ENDPOINT_FHIR_VERSION,
    format: ['application/fhir+json', 'json'],
    rest: [{
      mode: 'server',
      documentation: 'Read-only: read, search-type, ValueSet/$expand and PlanDefinition/$apply. Writes answer 405.',
      resource: repo.types().map((type) => ({
        type,
        interaction: [{ code: 'read' }, { code: 'search-type' }],
        versioning: 'versioned',
        readHistory: false,
        conditionalRead: 'full-support',
        searchParam: SEARCH_PARAMS.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
        ...(OPERATIONS[type] ? { operation: OPERATIONS[type] } : {}),
      })),
    }],
  };
}
