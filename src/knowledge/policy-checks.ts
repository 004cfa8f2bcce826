import type { ActivityDefinition, CodeSystem, CodeSystemConcept, Extension, PlanDefinitionAction, PlanDefinitionActionDynamicValue } from 'fhir/r4';
import { ACTION_TYPE_SYSTEM, CARD_TYPE_SYSTEM, COVERAGE_INFORMATION_URL, CRD_PRIMARY_HOOKS, EXT_OVERRIDE_REASON, FHIRPATH_LANGUAGE } from '../fhir/constants';
import { FhirPathSyntaxError } from '../fhirpath/lexer';
import { constantsRead } from '../fhirpath/structure';
import type { CanonicalIndex } from './canonical-index';
import { BUILT_IN_VARIABLES, namedEvents } from './policies';
import type { Policy } from './policies';
import type { KnowledgeProblem } from './problems';

/** FHIR R4 request-priority (PlanDefinition.action.priority), mapped to card indicators by the cdshooks ConceptMap. */
export const PRIORITIES: ReadonlySet<string> = new Set(['routine', 'urgent', 'asap', 'stat']);
/** CDS Hooks card-type codes (http://terminology.hl7.org/CodeSystem/cdshooks-card-type; CRD 2.2 ValueSet cardType). */
export const CARD_TYPES: ReadonlySet<string> = new Set([
  'coverage-info', 'unsolicited-determ', 'claim', 'insurance', 'limits', 'network', 'appropriate-use', 'cost',
  'therapy-alternatives-opt', 'therapy-alternatives-req', 'clinical-reminder', 'duplicate-therapy', 'contraindication',
  'guideline', 'off-guideline',
]);
/** CRD 2.2 coverage-information value sets (CodeSystem coverage-information-codes; ext-coverage-information). */
export const COVERED_CODES: ReadonlySet<string> = new Set(['covered', 'not-covered', 'conditional', 'indeterminate']);
export const PA_NEEDED_CODES: ReadonlySet<string> = new Set(['no-auth', 'auth-needed', 'satisfied', 'performpa', 'conditional', 'indeterminate']);
export const DOC_NEEDED_CODES: ReadonlySet<string> = new Set(['clinical', 'admin', 'patient', 'conditional', 'indeterminate']);
export const INFO_NEEDED_CODES: ReadonlySet<string> = new Set(['performer', 'location', 'timeframe', 'contract-window', 'detail-code', 'OTH']);
/** Activity kinds the engine can instantiate into a CDS Hooks `create` action. */
export const INSTANTIABLE_KINDS: ReadonlySet<string> = new Set(['ServiceRequest', 'MedicationRequest', 'DeviceRequest']);

/** Variables every card and activity expression sees (README "Adding a policy"). */
export const TEXT_VARIABLES: ReadonlySet<string> = new Set([
  'order', 'orderName', 'orderReference', 'orders', 'orderNames', 'context', 'draftOrders', 'hook', 'planDefinition',
  'policyReviewed', 'policyNextReview', 'evidence', 'evidenceSummary', 'evidenceLead', 'evidenceCertainty', 'patient', 'coverage',
]);

interface Ctx {
  file: string;
  canonicals: CanonicalIndex;
  problems: KnowledgeProblem[];
}

const code = (e: Extension[] | undefined, url: string): string | undefined => e?.find((x) => x.url === url)?.valueCode;

function checkDynamicValues(ctx: Ctx, values: PlanDefinitionActionDynamicValue[] | undefined, path: string, file = ctx.file): void {
  (values ?? []).forEach((dv, i) => {
    const p = `${path}.dynamicValue[${i}]`;
    if (!dv.path) ctx.problems.push({ file, path: `${p}.path`, message: 'a path is required' });
    const expression = dv.expression?.expression;
    if (!expression) {
      ctx.problems.push({ file, path: `${p}.expression`, message: 'an expression is required' });
      return;
    }
    if (dv.expression?.language !== FHIRPATH_LANGUAGE) {
      ctx.problems.push({ file, path: `${p}.expression.language`, message: `only ${FHIRPATH_LANGUAGE} is supported, not "${dv.expression?.language ?? ''}"` });
      return;
    }
    try {
      for (const v of constantsRead(expression)) {
        if (!TEXT_VARIABLES.has(v) && !BUILT_IN_VARIABLES.has(v) && !/^(vs|ext|cs)-/.test(v)) {
          ctx.problems.push({ file, path: `${p}.expression.expression`, message: `%${v} is not defined (card and activity expressions may read ${[...TEXT_VARIABLES].map((x) => `%${x}`).join(', ')})` });
        }
      }
    } catch (e) {
      if (!(e instanceof FhirPathSyntaxError)) throw e;
      ctx.problems.push({ file, path: `${p}.expression.expression`, message: `FHIRPath does not compile: ${e.message}` });
    }
  });
}

function conceptCodes(concepts: CodeSystemConcept[] | undefined, into: Set<string>): Set<string> {
  for (const c of concepts ?? []) {
    into.add(c.code);
    conceptCodes(c.concept, into);
  }
  return into;
}

function checkOverrideReasons(ctx: Ctx, action: PlanDefinitionAction, path: string): void {
  (action.extension ?? []).forEach((e, i) => {
    if (e.url !== EXT_OVERRIDE_REASON) return;
    const p = `${path}.extension[${i}].valueCoding`;
    const c = e.valueCoding;
    // CDS Hooks 2.0 §Card: an override reason is a Coding with system, code and display.
    if (!c?.system || !c.code || !c.display) {
      ctx.problems.push({ file: ctx.file, path: p, message: 'an override reason needs system, code and display' });
      return;
    }
    const cs = ctx.canonicals.resolve<CodeSystem & { url?: string }>(c.system, 'CodeSystem');
    if (cs && cs.content === 'complete' && !conceptCodes(cs.concept, new Set()).has(c.code)) {
      ctx.problems.push({ file: ctx.file, path: `${p}.code`, message: `${c.code} is not a code of CodeSystem ${c.system}` });
    }
  });
}

/** The CRD coverage-information template on a coverage-info action: codes from CRD's value sets, and its invariants. */
function checkCoverageTemplate(ctx: Ctx, template: Extension, path: string): void {
  const subs = template.extension ?? [];
  const values = (url: string): string[] => subs.filter((s) => s.url === url).map((s) => s.valueCode ?? '');
  const covered = values('covered');
  const checks: Array<[string, ReadonlySet<string>]> = [['covered', COVERED_CODES], ['pa-needed', PA_NEEDED_CODES], ['doc-needed', DOC_NEEDED_CODES], ['info-needed', INFO_NEEDED_CODES]];
  for (const [url, allowed] of checks) {
    for (const v of values(url)) if (!allowed.has(v)) ctx.problems.push({ file: ctx.file, path: `${path}.extension(${url})`, message: `"${v}" is not a CRD ${url} code (${[...allowed].join(', ')})` });
  }
  if (covered.length !== 1) ctx.problems.push({ file: ctx.file, path: `${path}.extension(covered)`, message: 'the coverage-information template needs exactly one covered code' });
  // ext-coverage-information invariants crd-ci-q2, crd-ci-q3, crd-ci-q9.
  if (covered[0] === 'not-covered' && values('pa-needed').length > 0) ctx.problems.push({ file: ctx.file, path: `${path}.extension(pa-needed)`, message: 'pa-needed must be absent when covered is not-covered (crd-ci-q2)' });
  const conditional = [...covered, ...values('pa-needed'), ...values('doc-needed')].includes('conditional');
  if (conditional && values('info-needed').length === 0) ctx.problems.push({ file: ctx.file, path: `${path}.extension(info-needed)`, message: 'info-needed is required when anything is conditional (crd-ci-q3)' });
  const indeterminate = [...covered, ...values('pa-needed'), ...values('doc-needed')].includes('indeterminate');
  if (indeterminate && !subs.some((s) => s.url === 'reason')) ctx.problems.push({ file: ctx.file, path: `${path}.extension(reason)`, message: 'a reason is required when anything is indeterminate (crd-ci-q9)' });
}

function checkActivity(ctx: Ctx, ref: string, path: string): void {
  const ad = ctx.canonicals.resolve<ActivityDefinition & { url?: string }>(ref, 'ActivityDefinition');
  if (!ad) {
    ctx.problems.push({ file: ctx.file, path, message: `definitionCanonical ${ref} does not resolve to a loaded ActivityDefinition` });
    return;
  }
  const file = `ActivityDefinition/${ad.id ?? '?'}`;
  if (!ad.kind || !INSTANTIABLE_KINDS.has(ad.kind)) ctx.problems.push({ file, path: 'ActivityDefinition.kind', message: `kind must be one of ${[...INSTANTIABLE_KINDS].join(', ')}` });
  if (!ad.code && !ad.productCodeableConcept) ctx.problems.push({ file, path: 'ActivityDefinition.code', message: 'code (or productCodeableConcept) is required to build an order' });
  checkDynamicValues(ctx, ad.dynamicValue, 'ActivityDefinition', file);
}

function checkDocumentation(ctx: Ctx, action: PlanDefinitionAction, path: string): void {
  (action.documentation ?? []).forEach((doc, i) => {
    const p = `${path}.documentation[${i}]`;
    if (doc.url) return;
    if (!doc.resource) {
      ctx.problems.push({ file: ctx.file, path: p, message: 'a link needs a url or a resource' });
      return;
    }
    const target = ctx.canonicals.resolve(doc.resource) as { relatedArtifact?: Array<{ url?: string }>; citedArtifact?: { webLocation?: Array<{ url?: string }> } } | undefined;
    const url = target?.relatedArtifact?.find((a) => a.url)?.url ?? target?.citedArtifact?.webLocation?.find((w) => w.url)?.url;
    if (!url) ctx.problems.push({ file: ctx.file, path: `${p}.resource`, message: `${doc.resource} must resolve to a loaded resource with a web address` });
  });
}

function checkAction(ctx: Ctx, action: PlanDefinitionAction, path: string, depth: number): void {
  if (action.priority && !PRIORITIES.has(action.priority)) {
    ctx.problems.push({ file: ctx.file, path: `${path}.priority`, message: `"${action.priority}" is not a request priority (${[...PRIORITIES].join(', ')})` });
  }
  (action.code ?? []).forEach((cc, i) => (cc.coding ?? []).forEach((c, j) => {
    if (c.system === CARD_TYPE_SYSTEM && !CARD_TYPES.has(c.code ?? '')) {
      ctx.problems.push({ file: ctx.file, path: `${path}.code[${i}].coding[${j}].code`, message: `"${c.code ?? ''}" is not a CDS Hooks card type (${[...CARD_TYPES].join(', ')})` });
    }
  }));
  const type = action.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;
  if (type === 'create' && !action.definitionCanonical) ctx.problems.push({ file: ctx.file, path, message: 'a create action needs a definitionCanonical to an ActivityDefinition' });
  const template = (action.extension ?? []).find((e) => e.url === COVERAGE_INFORMATION_URL);
  if (template) checkCoverageTemplate(ctx, template, `${path}.extension`);
  const isCoverage = action.code?.some((cc) => cc.coding?.some((c) => c.system === CARD_TYPE_SYSTEM && c.code === 'coverage-info'));
  if (isCoverage && type === 'update' && !template) ctx.problems.push({ file: ctx.file, path, message: 'a coverage-info update needs the ext-coverage-information template (covered, reason …)' });
  checkOverrideReasons(ctx, action, path);
  checkDocumentation(ctx, action, path);
  checkDynamicValues(ctx, action.dynamicValue, path);
  if (action.definitionCanonical) checkActivity(ctx, action.definitionCanonical, `${path}.definitionCanonical`);
  (action.action ?? []).forEach((child, i) => checkAction(ctx, child, `${path}.action[${i}]`, depth + 1));
}

/**
 * A card may narrow the hooks it shows on with triggers of its own (replacement orders make sense while the order is
 * a draft, not once it is booked or dispatched): they must be hooks its rule fires on, or the card never shows.
 * A coverage template of a rule that fires on a secondary hook must not ask for clinical or administrative
 * documentation there (CRD 2.2 hook-19).
 */
function checkCardHooks(ctx: Ctx, rule: Policy['rules'][number]): void {
  (rule.action.action ?? []).forEach((card, i) => {
    const path = `PlanDefinition.action[${rule.index}].action[${i}]`;
    for (const hook of namedEvents(card)) {
      if (!rule.hooks.has(hook)) ctx.problems.push({ file: ctx.file, path: `${path}.trigger`, message: `"${hook}" is not a hook its rule fires on (${[...rule.hooks].join(', ')}): the card would never show` });
    }
    const template = (card.extension ?? []).find((e) => e.url === COVERAGE_INFORMATION_URL);
    const docs = (template?.extension ?? []).filter((e) => e.url === 'doc-needed' && (e.valueCode === 'clinical' || e.valueCode === 'admin'));
    const secondary = [...rule.hooks].filter((h) => !CRD_PRIMARY_HOOKS.has(h));
    if (docs.length > 0 && secondary.length > 0) {
      ctx.problems.push({ file: ctx.file, path: `${path}.extension(doc-needed)`, message: `doc-needed ${docs.map((d) => d.valueCode ?? '').join(', ')} must not be returned on ${secondary.join(', ')} (CRD hook-19): give that decision its own rule triggered on primary hooks only` });
    }
  });
}

/** The checks of one policy's actions that catch, at load, what would otherwise break or misbehave at run time. */
export function checkPolicyActions(policy: Policy, canonicals: CanonicalIndex, problems: KnowledgeProblem[]): void {
  const ctx: Ctx = { file: policy.file, canonicals, problems };
  policy.rules.forEach((rule) => (rule.action.action ?? []).forEach((card, i) => checkAction(ctx, card, `PlanDefinition.action[${rule.index}].action[${i}]`, 1)));
  policy.rules.forEach((rule) => checkCardHooks(ctx, rule));
  const { from, until } = policy.lifecycle;
  if (from && until && until <= from) problems.push({ file: policy.file, path: 'PlanDefinition.effectivePeriod', message: 'the effective period ends before it starts' });
  if (policy.role === 'default') {
    const decides = policy.rules.some((r) => (r.action.action ?? []).some((a) => a.extension?.some((e) => e.url === COVERAGE_INFORMATION_URL)));
    if (!decides) problems.push({ file: policy.file, path: 'PlanDefinition.action', message: 'the default rule must carry a coverage-info update (the decision for orders no policy governs)' });
  }
}

/** Review dates a policy should carry (they are surfaced to operators); reported as warnings. */
export function checkReviewDates(policy: Policy, warnings: KnowledgeProblem[]): void {
  if (policy.role === 'default') return;
  if (!policy.resource.lastReviewDate) warnings.push({ file: policy.file, path: 'PlanDefinition.lastReviewDate', message: 'no last review date' });
  if (!policy.nextReviewDate) warnings.push({ file: policy.file, path: 'PlanDefinition.extension(artifact-nextReviewDate)', message: 'no next review date: reviews cannot be surfaced when they fall due' });
}

/** Reads a link-type code off a documentation artifact (for the engine's use too). */
export const linkTypeOf = (e: Extension[] | undefined, url: string): string | undefined => code(e, url);
