import type { PlanDefinition, PlanDefinitionAction } from 'fhir/r4';
import { EXT_CATALOG_DEFAULT, EXT_NEXT_REVIEW_DATE, EXT_POLICY_PRECEDENCE, FHIRPATH_LANGUAGE, PLAN_DEFINITION_TYPE_SYSTEM, SUPPORTED_HOOKS } from '../fhir/constants';
import { FhirPathSyntaxError } from '../fhirpath/lexer';
import { constantsRead } from '../fhirpath/structure';
import type { ValueSetLookup } from '../fhirpath/evaluate';
import { analyseCondition } from './condition-forms';
import type { ConditionTree } from './condition-forms';
import { requirementOf, resourceTypesOf } from './code-index';
import type { Requirement } from './code-index';
import type { KnowledgeProblem } from './problems';

/** A top-level PlanDefinition action: an event-condition-action rule (FHIR R4 PlanDefinition.action). */
export interface PolicyRule {
  index: number;
  action: PlanDefinitionAction;
  /** The hooks its `named-event` triggers name. */
  hooks: ReadonlySet<string>;
  /** Its applicability conditions (AND), analysed into recognised forms; empty: applies to every order. */
  conditions: Array<{ expression: string; tree: ConditionTree; reads: string[] }>;
  /** Conditions that read the member's data (`%coverage`, `%patient`): evaluated per Coverage, once it is read. */
  readsMember: boolean;
  /** ValueSets its conditions test with memberOf(): an order's codings in them are its billing codes. */
  valueSetUrls: string[];
  requirement: Requirement | undefined;
  types: Set<string> | undefined;
}

/** When a policy is in force (FHIR R4 PlanDefinition.status and effectivePeriod). */
export interface Lifecycle {
  status: string;
  /** First instant it applies (inclusive); undefined: since always. */
  from?: Date;
  /** First instant it no longer applies (exclusive); undefined: until further notice. */
  until?: Date;
}

/** One policy of the payer's catalog: a PlanDefinition (eca-rule) and what the catalog needs to know about it. */
export interface Policy {
  /** `PlanDefinition/<id>`. */
  key: string;
  resource: PlanDefinition;
  file: string;
  /** `url|version`, as quoted in coverage assertions and audit. */
  canonical: string;
  /** The payer's default rule (EXT_CATALOG_DEFAULT) or an ordinary policy. */
  role: 'policy' | 'default';
  precedence: number;
  lifecycle: Lifecycle;
  /** The next review date as written (e.g. "2026-11"), from EXT_NEXT_REVIEW_DATE. */
  nextReviewDate?: string;
  rules: PolicyRule[];
}

/** Variables every applicability condition sees (README "Adding a policy"). */
export const CONDITION_VARIABLES: ReadonlySet<string> = new Set(['order', 'context', 'draftOrders', 'hook', 'planDefinition', 'coverage', 'patient']);
/** Variables that are the member's data: a condition reading one is evaluated once the Coverage is known. */
const MEMBER_VARIABLES = new Set(['coverage', 'patient']);
/** FHIRPath's and FHIR's own environment variables (FHIRPath §8.5, FHIR R4 §2.1.9.1.2), always defined. */
export const BUILT_IN_VARIABLES: ReadonlySet<string> = new Set(['ucum', 'sct', 'loinc', 'resource', 'rootResource', 'factory', 'terminologies', 'server']);

/** "2016-08" → 2016-08-01T00:00Z; a partial date starts at the start of its period. */
export function startOfPeriod(date: string): Date {
  const [y = '0', m = '1', d = '1'] = date.slice(0, 10).split('-');
  return new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
}

/** "2026-11" → 2026-12-01T00:00Z: the first instant after the period a partial date names. */
export function endOfPeriod(date: string): Date {
  const [y = '0', m, d] = date.slice(0, 10).split('-');
  if (d) return new Date(Date.UTC(Number(y), Number(m) - 1, Number(d) + 1));
  if (m) return new Date(Date.UTC(Number(y), Number(m), 1));
  return new Date(Date.UTC(Number(y) + 1, 0, 1));
}

/** Whether the policy applies at `now`: active (or draft, when drafts may fire for testing) and in its effective period. */
export function inForce(policy: Pick<Policy, 'lifecycle'>, now: Date, allowDraft = false): boolean {
  const { status, from, until } = policy.lifecycle;
  if (status !== 'active' && !(allowDraft && status === 'draft')) return false;
  return (!from || now >= from) && (!until || now < until);
}

/** Whether a policy's next review date has passed (it still applies; operators are told). */
export function isPastReview(policy: Pick<Policy, 'nextReviewDate'>, now: Date): boolean {
  return policy.nextReviewDate !== undefined && now >= endOfPeriod(policy.nextReviewDate);
}

/** "2025-07" → "7/2025", the way payers' policies write review dates. */
export function displayMonth(date: string | undefined): string | undefined {
  const m = /^(\d{4})-(\d{2})/.exec(date ?? '');
  return m ? `${Number(m[2])}/${m[1]}` : date;
}

/** The hooks an action's `named-event` triggers name (FHIR R4 PlanDefinition.action.trigger; CDS Hooks hook names). */
export function namedEvents(action: PlanDefinitionAction): Set<string> {
  return new Set((action.trigger ?? []).filter((t) => t.type === 'named-event' && t.name).map((t) => t.name as string));
}

const MEMBER_OF = /memberOf\(\s*'([^']+)'\s*\)/g;

function analyseRule(action: PlanDefinitionAction, index: number, role: Policy['role'], file: string, lookup: ValueSetLookup, problems: KnowledgeProblem[]): PolicyRule {
  const path = `PlanDefinition.action[${index}]`;
  const hooks = namedEvents(action);
  if (![...hooks].some((h) => (SUPPORTED_HOOKS as readonly string[]).includes(h))) {
    problems.push({ file, path: `${path}.trigger`, message: `a rule needs a named-event trigger for one of: ${SUPPORTED_HOOKS.join(', ')}` });
  }
  const conditions: PolicyRule['conditions'] = [];
  const valueSetUrls: string[] = [];
  (action.condition ?? []).forEach((cond, i) => {
    if (cond.kind !== 'applicability') return; // start/stop conditions do not apply to a CDS Hooks call
    const p = `${path}.condition[${i}].expression`;
    const expression = cond.expression?.expression;
    if (!expression) {
      problems.push({ file, path: p, message: 'an expression is required' });
      return;
    }
    if (cond.expression?.language !== FHIRPATH_LANGUAGE) {
      problems.push({ file, path: `${p}.language`, message: `only ${FHIRPATH_LANGUAGE} is supported, not "${cond.expression?.language ?? ''}"` });
      return;
    }
    for (const m of expression.matchAll(MEMBER_OF)) {
      const url = m[1] ?? '';
      if (!lookup(url)) problems.push({ file, path: `${p}.expression`, message: `memberOf('${url}') names a ValueSet that is not loaded` });
      else valueSetUrls.push(url);
    }
    try {
      const reads = constantsRead(expression);
      const undefinedVars = reads.filter((v) => !CONDITION_VARIABLES.has(v) && !BUILT_IN_VARIABLES.has(v) && !/^(vs|ext|cs)-/.test(v));
      for (const v of undefinedVars) {
        problems.push({ file, path: `${p}.expression`, message: `%${v} is not defined for conditions (defined: ${[...CONDITION_VARIABLES].map((x) => `%${x}`).join(', ')}); the rule would never fire` });
      }
      conditions.push({ expression, tree: analyseCondition(expression), reads });
    } catch (e) {
      if (!(e instanceof FhirPathSyntaxError)) throw e;
      problems.push({ file, path: `${p}.expression`, message: `FHIRPath does not compile: ${e.message}` });
    }
  });
  if (conditions.length === 0 && role !== 'default') {
    problems.push({ file, path: `${path}.condition`, message: 'a rule needs an applicability condition, or it would fire on every order' });
  }
  if ((action.action ?? []).length === 0) problems.push({ file, path: `${path}.action`, message: 'a rule needs at least one card or coverage action' });
  const tree: ConditionTree = { kind: 'and', operands: conditions.map((c) => c.tree) };
  return {
    index, action, hooks, conditions, valueSetUrls,
    readsMember: conditions.some((c) => c.reads.some((v) => MEMBER_VARIABLES.has(v))),
    requirement: conditions.length > 0 ? requirementOf(tree, lookup) : undefined,
    types: conditions.length > 0 ? resourceTypesOf(tree) : undefined,
  };
}

/** Reads one PlanDefinition as a catalog policy; problems are appended with the file they came from. */
export function readPolicy(plan: PlanDefinition, file: string, lookup: ValueSetLookup, problems: KnowledgeProblem[]): Policy {
  const key = `PlanDefinition/${plan.id ?? ''}`;
  if (!plan.type?.coding?.some((c) => c.system === PLAN_DEFINITION_TYPE_SYSTEM && c.code === 'eca-rule')) {
    problems.push({ file, path: 'PlanDefinition.type', message: `must be ${PLAN_DEFINITION_TYPE_SYSTEM}#eca-rule` });
  }
  if (!plan.publisher) problems.push({ file, path: 'PlanDefinition.publisher', message: 'the publisher names the plan on every card (source.label)' });
  const role = plan.extension?.some((e) => e.url === EXT_CATALOG_DEFAULT && e.valueBoolean === true) ? 'default' : 'policy';
  const precedence = plan.extension?.find((e) => e.url === EXT_POLICY_PRECEDENCE)?.valueInteger ?? 0;
  const lifecycle: Lifecycle = { status: plan.status };
  if (plan.effectivePeriod?.start) lifecycle.from = startOfPeriod(plan.effectivePeriod.start);
  if (plan.effectivePeriod?.end) lifecycle.until = endOfPeriod(plan.effectivePeriod.end);
  const rules = (plan.action ?? []).map((a, i) => analyseRule(a, i, role, file, lookup, problems));
  if (rules.length === 0) problems.push({ file, path: 'PlanDefinition.action', message: 'no rules' });
  const policy: Policy = { key, resource: plan, file, canonical: `${plan.url ?? ''}|${plan.version ?? ''}`, role, precedence, lifecycle, rules };
  const next = plan.extension?.find((e) => e.url === EXT_NEXT_REVIEW_DATE)?.valueDate;
  if (next) policy.nextReviewDate = next;
  return policy;
}
