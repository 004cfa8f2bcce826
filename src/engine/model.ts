import type { ActivityDefinition, Extension, PlanDefinitionAction, RelatedArtifact } from 'fhir/r4';
import type { CompiledExpression } from '../fhirpath/evaluate';
import type { Policy, PolicyRule } from '../knowledge/policies';
import type { Predicate } from './condition';
import type { EvidenceLike } from './evidence-summary';
import type { TextTemplate } from './text-template';

/** A dynamicValue compiled at load: where the value goes and how it is computed (FHIR R4 dynamicValue). */
export interface CompiledDynamicValue {
  path: string;
  expression: CompiledExpression;
}

/** An ActivityDefinition ready to instantiate (FHIR R4 ActivityDefinition/$apply). */
export interface CompiledActivity {
  resource: ActivityDefinition;
  dynamicValues: CompiledDynamicValue[];
}

/** A card text field computed by a dynamicValue (`action.title`, `action.description`, `action.textEquivalent`). */
export interface CompiledText {
  field: 'title' | 'description' | 'textEquivalent';
  /** Where it is in the PlanDefinition, for error reports (never with patient data). */
  path: string;
  template: TextTemplate;
}

/** A PlanDefinition action below the rule: a card, a suggestion, a suggestion's action, or coverage information. */
export interface CompiledAction {
  action: PlanDefinitionAction;
  path: string;
  texts: CompiledText[];
  activity?: CompiledActivity;
  /** action.documentation with links to knowledge resources (Evidence, Citation) resolved to their URL and title. */
  documentation: RelatedArtifact[];
  children: CompiledAction[];
}

/**
 * A card of a rule. `order` cards act on one order (their suggestions remove or update it) and come once per order;
 * `policy` cards (guidance, links, the app) come once per call for all the orders the policy governs (CRD dev-24:
 * cards that name the orders they are about, not the same card once per order).
 */
export interface CompiledCard extends CompiledAction {
  scope: 'order' | 'policy';
  /** The hooks the card shows on, when its own triggers narrow its rule's (undefined: every hook of the rule). */
  hooks?: ReadonlySet<string>;
}

/** A top-level PlanDefinition action, compiled: an event-condition-action rule. */
export interface CompiledRule {
  rule: PolicyRule;
  /** Its applicability conditions that read only the order and the call (`%order`, `%context` …). */
  appliesTo: Predicate;
  /** Its conditions that read the member's data (`%coverage`, `%patient`): tested per Coverage; absent when none. */
  appliesToMember?: Predicate;
  cards: CompiledCard[];
  /** The CRD coverage-information template of its coverage-info update action, when it decides coverage. */
  coverageTemplate?: Extension;
  /** How restrictive its decision is (not-covered 3, conditional 2, indeterminate 1, covered 0): precedence. */
  restrictiveness: number;
}

/** A policy with everything the engine needs per call precomputed. */
export interface CompiledPolicy {
  policy: Policy;
  rules: CompiledRule[];
  /** The R4B Evidence the policy is justified by (relatedArtifact type justification), in the policy's order. */
  evidence: EvidenceLike[];
  /** Display strings for review dates ("7/2025"). */
  lastReviewed?: string;
  nextReview?: string;
  /**
   * The `%` variables whose values are fixed for the policy (`%planDefinition`, `%policyReviewed`, `%evidence`,
   * `%evidenceSummary` …), as every card and activity expression sees them; text that reads only these is computed
   * once (engine/text-template.ts).
   */
  constants: Readonly<Record<string, unknown>>;
}
