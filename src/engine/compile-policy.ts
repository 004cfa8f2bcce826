import type { ActivityDefinition, PlanDefinitionAction, PlanDefinitionActionDynamicValue, RelatedArtifact } from 'fhir/r4';
import { ACTION_TYPE_SYSTEM, CARD_TYPE_SYSTEM, COVERAGE_INFORMATION_URL } from '../fhir/constants';
import { compileFhirPath } from '../fhirpath/evaluate';
import type { CompiledExpression, ValueSetLookup } from '../fhirpath/evaluate';
import type { CanonicalIndex } from '../knowledge/canonical-index';
import { displayMonth } from '../knowledge/policies';
import { namedEvents } from '../knowledge/policies';
import type { Policy, PolicyRule } from '../knowledge/policies';
import type { KnowledgeProblem } from '../knowledge/problems';
import { compileCondition } from './condition';
import type { OnExpressionError, Predicate } from './condition';
import { evidenceBullets, overallCertainty, studyLabel, summariseEvidence } from './evidence-summary';
import type { EvidenceLike } from './evidence-summary';
import type { CompiledAction, CompiledActivity, CompiledCard, CompiledDynamicValue, CompiledPolicy, CompiledRule, CompiledText } from './model';
import { compileTextTemplate } from './text-template';

/** What compiling a policy reads from the knowledge, and where expression failures are reported. */
export interface CompileContext {
  canonicals: CanonicalIndex;
  lookup: ValueSetLookup;
  /** Called when an expression of this policy fails at run time (a knowledge bug): counted and logged once. */
  onExpressionError: (policy: string, path: string, error: unknown) => void;
  /** Where a condition that fhirpath.js cannot compile is reported (the catalog then refuses to load). */
  problems: KnowledgeProblem[];
}

/** CRD coverage-information `covered` codes, most restrictive first: the most restrictive decision wins a tie. */
const RESTRICTIVENESS: Record<string, number> = { 'not-covered': 3, conditional: 2, indeterminate: 1, covered: 0 };

const typeOf = (a: PlanDefinitionAction): string | undefined => a.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;
const isCoverageUpdate = (a: PlanDefinitionAction): boolean =>
  typeOf(a) === 'update' && (a.code ?? []).some((cc) => (cc.coding ?? []).some((c) => c.system === CARD_TYPE_SYSTEM && c.code === 'coverage-info'));

/** A dynamicValue expression compiled on first use (fhirpath.js parses slowly; a thousand policies start fast). */
function lazyExpression(expression: string, lookup: ValueSetLookup): CompiledExpression {
  let compiled: CompiledExpression | undefined;
  return (focus, env) => (compiled ??= compileFhirPath(expression, lookup))(focus, env);
}

function activityValues(values: PlanDefinitionActionDynamicValue[] | undefined, lookup: ValueSetLookup): CompiledDynamicValue[] {
  return (values ?? []).filter((dv) => dv.path && dv.expression?.expression)
    .map((dv) => ({ path: dv.path as string, expression: lazyExpression(dv.expression?.expression ?? '', lookup) }));
}

/**
 * A documentation entry may point at a knowledge resource instead of a URL (`resource` = an Evidence or Citation
 * canonical): the link then takes the resource's own title and web address, so editing the Evidence edits the card.
 * The knowledge check has made sure each resolves.
 */
function resolveDocumentation(canonicals: CanonicalIndex, docs: RelatedArtifact[] | undefined): RelatedArtifact[] {
  return (docs ?? []).map((doc) => {
    if (doc.url || !doc.resource) return doc;
    const target = canonicals.resolve(doc.resource) as (EvidenceLike & { citedArtifact?: { webLocation?: Array<{ url?: string }> } }) | undefined;
    const url = target?.relatedArtifact?.find((a) => a.url)?.url ?? target?.citedArtifact?.webLocation?.find((w) => w.url)?.url;
    return url && target ? { ...doc, url, label: doc.label ?? target.title ?? studyLabel(target) } : doc;
  });
}

function compileAction(ctx: CompileContext, constants: Readonly<Record<string, unknown>>, action: PlanDefinitionAction, path: string): CompiledAction {
  const texts: CompiledText[] = [];
  (action.dynamicValue ?? []).forEach((dv, i) => {
    const field = dv.path?.replace(/^action\./, '');
    const expression = dv.expression?.expression;
    if (!expression || (field !== 'title' && field !== 'description' && field !== 'textEquivalent')) return;
    texts.push({ field, path: `${path}.dynamicValue[${i}]`, template: compileTextTemplate(expression, constants, ctx.lookup) });
  });
  const compiled: CompiledAction = {
    action, path, texts,
    documentation: resolveDocumentation(ctx.canonicals, action.documentation),
    children: (action.action ?? []).map((child, i) => compileAction(ctx, constants, child, `${path}.action[${i}]`)),
  };
  if (action.definitionCanonical) {
    const ad = ctx.canonicals.resolve<ActivityDefinition & { url?: string }>(action.definitionCanonical, 'ActivityDefinition');
    if (ad) compiled.activity = { resource: ad, dynamicValues: activityValues(ad.dynamicValue, ctx.lookup) } satisfies CompiledActivity;
  }
  return compiled;
}

/** Whether the card acts on the order its rule fired for: a suggestion removes or updates it. */
function actsOnOrder(action: PlanDefinitionAction): boolean {
  return (action.action ?? []).some((child) => ((typeOf(child) === 'remove' || typeOf(child) === 'update') && !child.definitionCanonical) || actsOnOrder(child));
}

function conjunction(checks: Predicate[]): Predicate {
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0] as Predicate;
  return (order, vars) => checks.every((c) => c(order, vars));
}

function compileRule(ctx: CompileContext, policy: Policy, constants: Readonly<Record<string, unknown>>, rule: PolicyRule): CompiledRule {
  const onError: OnExpressionError = (expression, error) => ctx.onExpressionError(policy.key, `PlanDefinition.action[${rule.index}].condition (${expression.slice(0, 60)})`, error);
  const compile = (condition: PolicyRule['conditions'][number]): Predicate => {
    try {
      return compileCondition(condition.tree, ctx.lookup, onError);
    } catch (e) {
      const index = rule.conditions.indexOf(condition);
      ctx.problems.push({ file: policy.file, path: `PlanDefinition.action[${rule.index}].condition[${index}].expression.expression`, message: `FHIRPath does not compile: ${(e as Error).message.split('\n')[0] ?? ''}` });
      return () => false;
    }
  };
  const memberConditions = rule.conditions.filter((c) => c.reads.includes('coverage') || c.reads.includes('patient'));
  const orderConditions = rule.conditions.filter((c) => !memberConditions.includes(c));
  const cards: CompiledCard[] = [];
  let coverageTemplate: CompiledRule['coverageTemplate'];
  (rule.action.action ?? []).forEach((child, i) => {
    const path = `PlanDefinition.action[${rule.index}].action[${i}]`;
    if (isCoverageUpdate(child)) {
      coverageTemplate = child.extension?.find((e) => e.url === COVERAGE_INFORMATION_URL);
      return;
    }
    const hooks = namedEvents(child);
    cards.push({ ...compileAction(ctx, constants, child, path), scope: actsOnOrder(child) ? 'order' : 'policy', ...(hooks.size > 0 ? { hooks } : {}) });
  });
  const covered = coverageTemplate?.extension?.find((e) => e.url === 'covered')?.valueCode ?? 'covered';
  const compiled: CompiledRule = {
    rule,
    appliesTo: conjunction(orderConditions.map(compile)),
    cards,
    restrictiveness: RESTRICTIVENESS[covered] ?? 0,
  };
  if (memberConditions.length > 0) compiled.appliesToMember = conjunction(memberConditions.map(compile));
  if (coverageTemplate) compiled.coverageTemplate = coverageTemplate;
  return compiled;
}

/** Compiles one catalog policy: conditions into checks, card texts into templates, evidence into summaries. */
export function compilePolicy(policy: Policy, ctx: CompileContext): CompiledPolicy {
  const plan = policy.resource;
  const evidence = (plan.relatedArtifact ?? [])
    .filter((a) => a.type === 'justification' && a.resource)
    .map((a) => ctx.canonicals.resolve(a.resource ?? '') as EvidenceLike | undefined)
    .filter((e): e is EvidenceLike => e?.resourceType === 'Evidence');
  const lastReviewed = displayMonth(plan.lastReviewDate);
  const nextReview = displayMonth(policy.nextReviewDate);
  // Evidence text is computed once per load: it is constant until the knowledge changes.
  const constants = {
    planDefinition: plan,
    policyReviewed: lastReviewed ?? 'unknown',
    policyNextReview: nextReview ?? 'unknown',
    evidence,
    evidenceSummary: evidenceBullets(evidence),
    evidenceLead: evidence[0] ? summariseEvidence(evidence[0]) : 'none recorded',
    evidenceCertainty: overallCertainty(evidence) ?? 'unrated',
  };
  const compiled: CompiledPolicy = { policy, rules: policy.rules.map((r) => compileRule(ctx, policy, constants, r)), evidence, constants };
  if (lastReviewed) compiled.lastReviewed = lastReviewed;
  if (nextReview) compiled.nextReview = nextReview;
  return compiled;
}
