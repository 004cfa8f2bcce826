/**
 * Named constants for the code systems, extensions and URLs this service speaks.
 * Each cites the specification that defines it.
 */

/** CDS Hooks card-type codes (https://cds-hooks.hl7.org/2.0/#card-attributes, `source.topic`). */
export const CARD_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/cdshooks-card-type';

/** Da Vinci CRD coverage-information extension (CRD 2.x, StructureDefinition-ext-coverage-information). */
export const COVERAGE_INFORMATION_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

/** CRD temporary code system holding coverage assertion reasons (no-member-found, technical …). */
export const CRD_TEMP_SYSTEM = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';

/** FHIR R4 PlanDefinition.type for event-condition-action rules. */
export const PLAN_DEFINITION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/plan-definition-type';

/** FHIR R4 action-type code system (create | update | remove | fire-event). */
export const ACTION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/action-type';

/** FHIRPath expression language code (FHIR R4 Expression.language). */
export const FHIRPATH_LANGUAGE = 'text/fhirpath';

/**
 * Extensions this engine defines where FHIR R4 has no element (each documented in README "Adding a policy").
 * They live under one product namespace so a payer's knowledge can use them without inventing its own.
 */
export const ENGINE_EXTENSION_BASE = 'http://payer-cds.example.org/fhir/StructureDefinition/';
/** On a card action: a CDS Hooks `overrideReasons` Coding (CDS Hooks 2.0 §Card, overrideReasons). */
export const EXT_OVERRIDE_REASON = `${ENGINE_EXTENSION_BASE}cds-override-reason`;
/** On a RelatedArtifact in action.documentation: the CDS Hooks link type (`absolute` | `smart`). */
export const EXT_LINK_TYPE = `${ENGINE_EXTENSION_BASE}cds-link-type`;
/** On a RequestGroup link artifact: the smart link's appContext. */
export const EXT_APP_CONTEXT = `${ENGINE_EXTENSION_BASE}cds-app-context`;
/** On a RequestGroup action: the order the card is about (CRD `davinci-crd.associated-resource`). */
export const EXT_ASSOCIATED_RESOURCE = `${ENGINE_EXTENSION_BASE}cds-associated-resource`;
/** On a PlanDefinition: when the publisher will next review the policy (no R4 element exists). */
export const EXT_NEXT_REVIEW_DATE = `${ENGINE_EXTENSION_BASE}artifact-nextReviewDate`;

/**
 * On a PlanDefinition: this policy is the payer's default rule (valueBoolean true), applied on the primary hooks to
 * every order no other policy governs (CRD 2.2 hook-16, resp-29: a decision for every order in scope).
 */
export const EXT_CATALOG_DEFAULT = `${ENGINE_EXTENSION_BASE}catalog-default`;
/**
 * On a PlanDefinition: its precedence when two active policies govern the same order (valueInteger; higher wins;
 * default 0). Between equal precedences the most restrictive decision wins (README "Policy precedence").
 */
export const EXT_POLICY_PRECEDENCE = `${ENGINE_EXTENSION_BASE}policy-precedence`;
/** On an R4B Evidence.variableDefinition: the statistic category (valueCoding) its figures are reported under. */
export const EXT_EVIDENCE_MEASURE = `${ENGINE_EXTENSION_BASE}evidence-measure`;

/** On an R4B Evidence.statistic: when the figure was measured (valueQuantity, UCUM time; 0 = before the procedure). */
export const EXT_EVIDENCE_TIMEPOINT = `${ENGINE_EXTENSION_BASE}evidence-timepoint`;
/** On an R4B Evidence.statistic: the arm or subgroup the figure is about (valueString). */
export const EXT_EVIDENCE_GROUP = `${ENGINE_EXTENSION_BASE}evidence-group`;

/** Systems that identify CPT codes in the wild (codes.md: CPT URI, the CPT OID, and HCPCS URIs some EHRs use). */
export const CPT_SYSTEM = 'http://www.ama-assn.org/go/cpt';

/** CRD discovery and request extension keys (CRD 2.x, "Configuration options"). */
export const CRD_VERSION_KEY = 'davinci-crd.version';
export const CRD_CONFIGURATION_OPTIONS_KEY = 'davinci-crd.configuration-options';
export const CRD_CONFIGURATION_KEY = 'davinci-crd.configuration';
export const CRD_ASSOCIATED_RESOURCE_KEY = 'davinci-crd.associated-resource';

/** CRD versions this service implements (discovery `davinci-crd.version`, pattern ^[1-9]\d*\.\d+$). */
export const CRD_VERSIONS = ['2.0', '2.2'];

/** Hooks on which CRD requires coverage information (CRD 2.x "primary" hooks). */
export const CRD_PRIMARY_HOOKS: ReadonlySet<string> = new Set(['order-sign', 'order-dispatch', 'appointment-book']);

/**
 * Hooks this service knows how to handle (CDS Hooks hook library: order-select 1.0, order-sign 1.1,
 * appointment-book 1.0, order-dispatch 1.1). encounter-start and encounter-discharge are not among them: the
 * catalog decides on orders, and an Encounter alone carries nothing to decide (README "Hooks").
 */
export const SUPPORTED_HOOKS = ['order-select', 'order-sign', 'appointment-book', 'order-dispatch'] as const;
export type SupportedHook = (typeof SUPPORTED_HOOKS)[number];

