import type { ActivityDefinition, Expression, PlanDefinition, PlanDefinitionAction, PlanDefinitionActionDynamicValue, RelatedArtifact } from 'fhir/r4';
import { evidenceBullets, overallCertainty, studyLabel, summariseEvidence } from '../engine/evidence-summary';
import type { EvidenceLike } from '../engine/evidence-summary';
import { EXT_NEXT_REVIEW_DATE, FHIRPATH_LANGUAGE, PLAN_DEFINITION_TYPE_SYSTEM, SUPPORTED_HOOKS } from '../fhir/constants';
import { compileApplicability } from '../engine/applicability';
import type { Applicability } from '../engine/applicability';
import { compileDynamicValue } from '../engine/dynamic-value';
import type { CompiledExpression, ValueSetLookup } from '../engine/fhirpath';
import { compileFhirPath } from '../engine/fhirpath';
import type { CompiledAction, CompiledActivity, CompiledDynamicValue, CompiledPlan, CompiledRule } from '../engine/model';
import type { CanonicalIndex } from './canonical-index';
import type { KnowledgeProblem } from './problems';

/** Activity kinds the engine can instantiate into a CDS Hooks `create` action. */
export const INSTANTIABLE_KINDS: ReadonlySet<string> = new Set(['ServiceRequest', 'MedicationRequest', 'DeviceRequest']);

const MEMBER_OF = /memberOf\(\s*'([^']+)'\s*\)/g;

/** "2025-07" → "7/2025", the way the policy itself writes review dates. */
export function displayMonth(date: string | undefined): string | undefined {
  const m = /^(\d{4})-(\d{2})/.exec(date ?? '');
  return m ? `${Number(m[2])}/${m[1]}` : date;
}

interface Ctx {
  file: string;
  problems: KnowledgeProblem[];
  canonicals: CanonicalIndex;
  lookup: ValueSetLookup;
  /** The plan's fixed `%` variables (CompiledPlan.constants): what dynamic values may fold into text once. */
  constants: Readonly<Record<string, unknown>>;
}

function compileExpression(ctx: Ctx, expr: Expression | undefined, path: string): CompiledExpression | undefined {
  if (!expr?.expression) {
    ctx.problems.push({ file: ctx.file, path, message: 'an expression is required' });
    return undefined;
  }
  if (expr.language !== FHIRPATH_LANGUAGE) {
    ctx.problems.push({ file: ctx.file, path: `${path}.language`, message: `only ${FHIRPATH_LANGUAGE} is supported, not "${expr.language}"` });
    return undefined;
  }
  for (const m of expr.expression.matchAll(MEMBER_OF)) {
    if (!ctx.lookup(m[1] ?? '')) ctx.problems.push({ file: ctx.file, path: `${path}.expression`, message: `memberOf('${m[1]}') names a ValueSet that is not loaded` });
  }
  try {
    return compileFhirPath(expr.expression, ctx.lookup);
  } catch (e) {
    ctx.problems.push({ file: ctx.file, path: `${path}.expression`, message: `FHIRPath does not compile: ${(e as Error).message.split('\n')[0]}` });
    return undefined;
  }
}

function compileDynamicValues(ctx: Ctx, values: PlanDefinitionActionDynamicValue[] | undefined, path: string): CompiledDynamicValue[] {
  const out: CompiledDynamicValue[] = [];
  (values ?? []).forEach((dv, i) => {
    const p = `${path}.dynamicValue[${i}]`;
    if (!dv.path) ctx.problems.push({ file: ctx.file, path: `${p}.path`, message: 'a path is required' });
    const expression = compileExpression(ctx, dv.expression, `${p}.expression`);
    if (dv.path && expression) out.push({ path: dv.path, expression: compileDynamicValue(dv.expression?.expression ?? '', expression, ctx.lookup, ctx.constants) });
  });
  return out;
}

function compileActivity(ctx: Ctx, ref: string, path: string): CompiledActivity | undefined {
  const ad = ctx.canonicals.resolve<ActivityDefinition>(ref, 'ActivityDefinition');
  if (!ad) {
    ctx.problems.push({ file: ctx.file, path, message: `definitionCanonical ${ref} does not resolve to a loaded ActivityDefinition` });
    return undefined;
  }
  const adCtx = { ...ctx, file: `ActivityDefinition/${ad.id ?? '?'}` };
  if (!ad.kind || !INSTANTIABLE_KINDS.has(ad.kind)) {
    ctx.problems.push({ file: adCtx.file, path: 'ActivityDefinition.kind', message: `kind must be one of ${[...INSTANTIABLE_KINDS].join(', ')}` });
  }
  if (!ad.code && !ad.productCodeableConcept) {
    ctx.problems.push({ file: adCtx.file, path: 'ActivityDefinition.code', message: 'code (or productCodeableConcept) is required to build an order' });
  }
  return { resource: ad, dynamicValues: compileDynamicValues(adCtx, ad.dynamicValue, 'ActivityDefinition') };
}

/**
 * A documentation entry may point at a knowledge resource instead of a URL (`resource` = an Evidence or Citation
 * canonical): the link then takes the resource's own title and web address, so editing the Evidence edits the card.
 */
function resolveDocumentation(ctx: Ctx, docs: RelatedArtifact[] | undefined, path: string): RelatedArtifact[] {
  return (docs ?? []).map((doc, i) => {
    if (doc.url || !doc.resource) {
      if (!doc.url) ctx.problems.push({ file: ctx.file, path: `${path}.documentation[${i}]`, message: 'a link needs a url or a resource' });
      return doc;
    }
    const target = ctx.canonicals.resolve(doc.resource) as (EvidenceLike & { citedArtifact?: { webLocation?: Array<{ url?: string }> } }) | undefined;
    const url = target?.relatedArtifact?.find((a) => a.url)?.url ?? target?.citedArtifact?.webLocation?.find((w) => w.url)?.url;
    if (!target || !url) {
      ctx.problems.push({ file: ctx.file, path: `${path}.documentation[${i}].resource`, message: `${doc.resource} must resolve to a loaded resource with a web address` });
      return doc;
    }
    return { ...doc, url, label: doc.label ?? target.title ?? studyLabel(target) };
  });
}

function compileAction(ctx: Ctx, action: PlanDefinitionAction, path: string): CompiledAction {
  const compiled: CompiledAction = {
    action,
    dynamicValues: compileDynamicValues(ctx, action.dynamicValue, path),
    documentation: resolveDocumentation(ctx, action.documentation, path),
    children: (action.action ?? []).map((child, i) => compileAction(ctx, child, `${path}.action[${i}]`)),
  };
  if (action.definitionCanonical) {
    const activity = compileActivity(ctx, action.definitionCanonical, `${path}.definitionCanonical`);
    if (activity) compiled.activity = activity;
  }
  return compiled;
}

function compileRule(ctx: Ctx, action: PlanDefinitionAction, index: number): CompiledRule | undefined {
  const path = `PlanDefinition.action[${index}]`;
  const hooks = new Set((action.trigger ?? []).filter((t) => t.type === 'named-event' && t.name).map((t) => t.name as string));
  const supported = [...hooks].filter((h) => (SUPPORTED_HOOKS as readonly string[]).includes(h));
  if (supported.length === 0) {
    ctx.problems.push({ file: ctx.file, path: `${path}.trigger`, message: `a rule needs a named-event trigger for one of: ${SUPPORTED_HOOKS.join(', ')}` });
  }
  const applicability: Applicability[] = [];
  const valueSetUrls: string[] = [];
  (action.condition ?? []).forEach((cond, i) => {
    const p = `${path}.condition[${i}]`;
    if (cond.kind !== 'applicability') return; // start/stop conditions do not apply to a CDS Hooks call
    const fn = compileExpression(ctx, cond.expression, `${p}.expression`);
    if (fn) applicability.push(compileApplicability(cond.expression?.expression ?? '', fn, ctx.lookup));
    for (const m of (cond.expression?.expression ?? '').matchAll(MEMBER_OF)) if (m[1]) valueSetUrls.push(m[1]);
  });
  if (applicability.length === 0) {
    ctx.problems.push({ file: ctx.file, path: `${path}.condition`, message: 'a rule needs an applicability condition, or it would fire on every order' });
  }
  const children = (action.action ?? []).map((child, i) => compileAction(ctx, child, `${path}.action[${i}]`));
  if (children.length === 0) ctx.problems.push({ file: ctx.file, path: `${path}.action`, message: 'a rule needs at least one card or coverage action' });
  return { index, action, hooks, applicability, valueSetUrls, children };
}

/** Compiles a PlanDefinition; problems are appended to `problems` with the file they came from. */
export function compilePlan(plan: PlanDefinition, file: string, problems: KnowledgeProblem[], canonicals: CanonicalIndex, lookup: ValueSetLookup): CompiledPlan {
  const isEca = plan.type?.coding?.some((c) => c.system === PLAN_DEFINITION_TYPE_SYSTEM && c.code === 'eca-rule');
  if (!isEca) problems.push({ file, path: 'PlanDefinition.type', message: `must be ${PLAN_DEFINITION_TYPE_SYSTEM}#eca-rule` });
  if (!plan.publisher) problems.push({ file, path: 'PlanDefinition.publisher', message: 'the publisher names the plan on every card (source.label)' });
  const nextReviewDate = plan.extension?.find((e) => e.url === EXT_NEXT_REVIEW_DATE)?.valueDate;
  const evidence = (plan.relatedArtifact ?? [])
    .filter((a) => a.type === 'justification' && a.resource)
    .map((a) => canonicals.resolve(a.resource ?? '') as EvidenceLike | undefined)
    .filter((e): e is EvidenceLike => e?.resourceType === 'Evidence');
  // Evidence text is computed once per load: it is constant until the knowledge changes (and costly per request).
  // It comes before the rules: their card texts fold what reads only these values (compileDynamicValue).
  const compiled: CompiledPlan = {
    resource: plan, canonical: `${plan.url ?? ''}|${plan.version ?? ''}`, rules: [], evidence,
    evidenceSummary: evidenceBullets(evidence),
    evidenceLead: evidence[0] ? summariseEvidence(evidence[0]) : 'none recorded',
    constants: {},
  };
  const certainty = overallCertainty(evidence);
  if (certainty) compiled.evidenceCertainty = certainty;
  const lastReviewed = displayMonth(plan.lastReviewDate);
  const nextReview = displayMonth(nextReviewDate);
  if (lastReviewed) compiled.lastReviewed = lastReviewed;
  if (nextReview) compiled.nextReview = nextReview;
  // The `%` variables fixed for the plan, as every card and activity expression sees them (orderEnv, engine/apply.ts).
  compiled.constants = {
    planDefinition: plan,
    policyReviewed: compiled.lastReviewed ?? 'unknown',
    policyNextReview: compiled.nextReview ?? 'unknown',
    evidence,
    evidenceSummary: compiled.evidenceSummary,
    evidenceLead: compiled.evidenceLead,
    evidenceCertainty: compiled.evidenceCertainty ?? 'unrated',
  };
  const ctx: Ctx = { file, problems, canonicals, lookup, constants: compiled.constants };
  compiled.rules = (plan.action ?? []).map((a, i) => compileRule(ctx, a, i)).filter((r): r is CompiledRule => r !== undefined);
  if (compiled.rules.length === 0) problems.push({ file, path: 'PlanDefinition.action', message: 'no rules' });
  return compiled;
}
