import type { ActivityDefinition, PlanDefinition, PlanDefinitionAction, RelatedArtifact } from 'fhir/r4';
import type { Applicability } from './applicability';
import type { EvidenceLike } from './evidence-summary';
import type { CompiledExpression } from './fhirpath';

/** A dynamicValue compiled once at load: where the value goes and how it is computed (FHIR R4 dynamicValue). */
export interface CompiledDynamicValue {
  path: string;
  expression: CompiledExpression;
}

/** An ActivityDefinition ready to instantiate (FHIR R4 ActivityDefinition/$apply). */
export interface CompiledActivity {
  resource: ActivityDefinition;
  dynamicValues: CompiledDynamicValue[];
}

/** A PlanDefinition action below the rule: a card, a suggestion, a suggestion's action, or coverage information. */
export interface CompiledAction {
  action: PlanDefinitionAction;
  dynamicValues: CompiledDynamicValue[];
  activity?: CompiledActivity;
  /** action.documentation with links to knowledge resources (Evidence, Citation) resolved to their URL and title. */
  documentation: RelatedArtifact[];
  children: CompiledAction[];
}

/**
 * A top-level PlanDefinition action: an event-condition-action rule. It fires on the hooks named by its
 * `named-event` triggers, for each order in scope whose applicability conditions are all true.
 */
export interface CompiledRule {
  index: number;
  action: PlanDefinitionAction;
  hooks: ReadonlySet<string>;
  applicability: Applicability[];
  /** ValueSets the conditions test with memberOf(): the order's codings in them are its billing codes. */
  valueSetUrls: string[];
  children: CompiledAction[];
}

/** A PlanDefinition with everything the engine needs per request precomputed. */
export interface CompiledPlan {
  resource: PlanDefinition;
  /** `url|version`, as quoted in coverage assertions and audit. */
  canonical: string;
  rules: CompiledRule[];
  /** Display strings for review dates ("7/2025"), computed once. */
  lastReviewed?: string;
  nextReview?: string;
  /** The R4B Evidence the plan is justified by (relatedArtifact type justification), in the plan's order. */
  evidence: EvidenceLike[];
  /** Markdown bullets summarising that evidence from its statistics; `%evidenceSummary` in expressions. */
  evidenceSummary: string;
  /** The first study's one-line summary; `%evidenceLead`. */
  evidenceLead: string;
  /** The certainty rating the evidence carries ("low"); `%evidenceCertainty`. */
  evidenceCertainty?: string;
  /**
   * The `%` variables whose values are fixed for the plan (`%planDefinition`, `%policyReviewed`, `%evidence`, …),
   * as every card and activity expression sees them; expressions reading only these are evaluated once.
   */
  constants: Readonly<Record<string, unknown>>;
}
