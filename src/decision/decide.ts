import type { Extension, Reference, RequestGroup } from 'fhir/r4';
import { COVERAGE_INFORMATION_URL } from '../fhir/constants';
import { applyCards } from '../engine/apply';
import type { HookContext, OrderInScope, RuleApplication } from '../engine/apply';
import { billingCodesOf } from '../engine/catalog';
import type { Catalog, CatalogRule } from '../engine/catalog';
import { buildCoverageExtension, sameDecision } from '../engine/coverage-information';
import type { CoverageDecision, CoverageOutcome } from '../engine/coverage-information';
import type { CompiledPolicy } from '../engine/model';
import { inForce } from '../knowledge/policies';
import { WorkLimitError } from './limits';

/** A decision as the payer keeps it: the CRD decision plus the policy (canonical `url|version`) that made it. */
export interface Decision extends CoverageDecision {
  policy: string;
}

/** An order that gets a coverage-information update: the order as sent, with this call's extensions. */
export interface OrderUpdate {
  order: OrderInScope;
  resource: Record<string, unknown> & { resourceType: string };
}

export interface DecisionInput {
  catalog: Catalog;
  hook: string;
  /** A CRD primary hook: every order in scope gets a decision, from the default rule when no policy governs it. */
  primary: boolean;
  orders: OrderInScope[];
  context: HookContext;
  /** The call's `%` variables (`%context`, `%draftOrders`, `%hook`). */
  variables: Record<string, unknown>;
  /** The member's coverage, read only when some rule matched or a decision is due. */
  member: () => Promise<CoverageOutcome>;
  /** The member's Patient, when the call has it (`%patient`). */
  patient?: () => Record<string, unknown> | undefined;
  /** False when the EHR switched coverage information off (CRD `coverage-info: false`): cards only. */
  decideCoverage: boolean;
  /** POLICY_ALLOW_DRAFT: draft policies fire too (testing). */
  allowDraft: boolean;
  /** Only this policy ($apply of one PlanDefinition); the whole catalog otherwise. */
  only?: CompiledPolicy;
  now: Date;
  newId: () => string;
  resolveUrl: (url: string) => string;
  /** A knowledge expression failed (reported by policy key and path; never with patient data). */
  onExpressionError: (policy: string, path: string, error: unknown) => void;
  /** MAX_DECISIONS_PER_CALL: orders × Coverages × governing rules; more → WorkLimitError (413) before any is decided. */
  maxDecisions?: number;
}

export interface DecisionResult {
  /** One RequestGroup of cards per policy that governs an order in this call. */
  applications: Array<{ policy: CompiledPolicy; requestGroup: RequestGroup }>;
  /** One coverage-information update per order whose decision is new or changed (CRD resp-29, resp-35). */
  updates: OrderUpdate[];
  /** The decisions issued in this call (to be stored before they are sent). */
  decisions: Decision[];
  /** Orders some policy (not the default) governs. */
  matchedOrders: string[];
}

const EMPTY: DecisionResult = { applications: [], updates: [], decisions: [], matchedOrders: [] };

/** Who decides when several rules govern one order: policy precedence, then the most restrictive, then stable order. */
export function compare(a: CatalogRule, b: CatalogRule): number {
  return (b.policy.policy.precedence - a.policy.policy.precedence)
    || (b.rule.restrictiveness - a.rule.restrictiveness)
    || a.policy.policy.key.localeCompare(b.policy.policy.key)
    || a.rule.rule.index - b.rule.rule.index;
}

type Target = { coverage: Reference; resource?: Record<string, unknown> } | Exclude<CoverageOutcome, { kind: 'member' }>;

const referenceOf = (e: Extension): string | undefined => {
  const coverage = (Array.isArray(e.extension) ? e.extension : []).find((s) => s?.url === 'coverage')?.valueReference;
  return coverage?.reference ?? coverage?.display;
};

/**
 * Decides a call: which policy governs each order in scope (the code index, then each candidate's conditions, then
 * precedence), what each order's coverage decision is under each of the member's Coverages (CRD resp-29: one per
 * order and coverage; the default rule for orders no policy governs on primary hooks), and each governing policy's
 * cards. Shared by the CDS services and PlanDefinition/$apply. The member's data is read only when a rule matched
 * or a decision is due.
 */
export async function decide(input: DecisionInput): Promise<DecisionResult> {
  const { catalog } = input;
  const named = input.only;
  const only = named && inForce(named.policy, input.now, input.allowDraft)
    ? named.rules.filter((r) => r.rule.hooks.has(input.hook)).map((rule): CatalogRule => ({ policy: named, rule }))
    : named ? [] : undefined;
  const matched = new Map<OrderInScope, CatalogRule[]>();
  for (const order of input.orders) {
    const vars = { ...input.variables, order: order.resource };
    const candidates = only ? only : catalog.candidates(input.hook, order.resource, input.now, input.allowDraft);
    const applies = candidates.filter((c) => c.rule.appliesTo(order.resource, vars));
    if (applies.length > 0) matched.set(order, applies);
  }
  const fallback = input.primary && !named ? catalog.defaultPolicy : undefined;
  const defaultInForce = fallback && inForce(fallback.policy, input.now, input.allowDraft) ? fallback : undefined;
  if (matched.size === 0 && !(defaultInForce && input.orders.length > 0)) return EMPTY;

  const outcome = await input.member();
  const patient = input.patient?.();
  const targets: Target[] = outcome.kind === 'member' ? outcome.coverages.map((c) => ({ coverage: c.reference, resource: c.resource })) : [outcome];
  const firstCoverage = outcome.kind === 'member' ? outcome.coverages[0]?.resource : undefined;
  const memberVars = { ...input.variables, ...(patient ? { patient } : {}), ...(firstCoverage ? { coverage: firstCoverage } : {}) };

  // Bounded before the per-coverage work: each order in play is tested under each Coverage against its rules.
  const maxDecisions = input.maxDecisions ?? Number.POSITIVE_INFINITY;
  const inPlay = defaultInForce ? input.orders.length : matched.size;
  const work = (defaultInForce ? input.orders : [...matched.keys()]).reduce((sum, o) => sum + Math.max(1, matched.get(o)?.length ?? 0) * targets.length, 0);
  if (work > maxDecisions) {
    throw new WorkLimitError(413, `This call would decide ${work} order × Coverage × rule combinations (${inPlay} orders, ${targets.length} Coverages); one call may decide at most ${maxDecisions} (MAX_DECISIONS_PER_CALL). Send fewer orders per call.`);
  }

  const governing = new Map<OrderInScope, Array<{ target: Target; by: CatalogRule }>>();
  for (const order of input.orders) {
    const rules = (matched.get(order) ?? []).slice().sort(compare);
    for (const target of targets) {
      const coverage = 'coverage' in target ? target.resource : undefined;
      const vars = { ...memberVars, order: order.resource, ...(coverage ? { coverage } : {}) };
      const holds = (c: CatalogRule): boolean => !c.rule.appliesToMember || (coverage !== undefined && c.rule.appliesToMember(order.resource, vars));
      let by = rules.find(holds);
      if (!by && defaultInForce) {
        const rule = defaultInForce.rules.find((r) => r.rule.hooks.has(input.hook) && r.appliesTo(order.resource, vars) && holds({ policy: defaultInForce, rule: r }));
        if (rule) by = { policy: defaultInForce, rule };
      }
      if (!by) continue;
      const list = governing.get(order);
      if (list) list.push({ target, by });
      else governing.set(order, [{ target, by }]);
    }
  }

  const decisions: Decision[] = [];
  const updates: OrderUpdate[] = [];
  const idsByOrder = new Map<OrderInScope, string[]>();
  const date = input.now.toISOString().slice(0, 10);
  if (input.decideCoverage) {
    for (const [order, list] of governing) {
      const existing = (Array.isArray(order.resource['extension']) ? order.resource['extension'] as Extension[] : []).filter((e) => e?.url === COVERAGE_INFORMATION_URL);
      const fresh: Extension[] = [];
      const ids: string[] = [];
      for (const { target, by } of list) {
        if ('coverage' in target && !by.rule.coverageTemplate) continue; // a rule with cards but no decision
        const { extension, decision } = buildCoverageExtension({
          template: by.rule.coverageTemplate,
          target: 'coverage' in target ? { coverage: target.coverage } : target,
          billingCodes: billingCodesOf(order.resource, by.policy.policy, by.rule.rule.index, catalog.knowledge),
          date,
          assertionId: input.newId(),
          resolveUrl: input.resolveUrl,
        });
        // CRD resp-35: the order already carries this decision for this coverage: nothing new to send or store.
        const same = existing.find((e) => referenceOf(e) === referenceOf(extension) && sameDecision(e, extension));
        if (same) {
          const id = (same.extension ?? []).find((s) => s.url === 'coverage-assertion-id')?.valueString;
          if (id) ids.push(id);
          continue;
        }
        fresh.push(extension);
        ids.push(decision.assertionId);
        decisions.push({ ...decision, orderReference: order.reference, policy: by.policy.policy.canonical });
      }
      idsByOrder.set(order, ids);
      if (fresh.length === 0) continue;
      // Only this payer's extensions for the coverages it re-decided change (CRD resp-37); the rest stay as sent.
      const replaced = new Set(fresh.map(referenceOf));
      // A shallow copy with its own extension list: the order's other elements are the request's, shared, not
      // cloned (nothing downstream changes them; they are serialized into the answer as sent).
      const kept = (Array.isArray(order.resource['extension']) ? order.resource['extension'] as Extension[] : []).filter((e) => !(e?.url === COVERAGE_INFORMATION_URL && replaced.has(referenceOf(e))));
      const resource = { ...order.resource, extension: [...kept, ...fresh] };
      updates.push({ order, resource });
    }
  }

  // Sets, not arrays searched with includes(): linear in orders × Coverages (issue 13).
  const byPolicy = new Map<CompiledPolicy, Map<CatalogRule['rule'], Set<OrderInScope>>>();
  for (const [order, list] of governing) {
    for (const { by } of list) {
      if (by.policy.policy.role === 'default') continue;
      let rules = byPolicy.get(by.policy);
      if (!rules) byPolicy.set(by.policy, (rules = new Map<CatalogRule['rule'], Set<OrderInScope>>()));
      const orders = rules.get(by.rule);
      if (orders) orders.add(order);
      else rules.set(by.rule, new Set([order]));
    }
  }
  const applications: DecisionResult['applications'] = [];
  for (const [policy, rules] of byPolicy) {
    const list: RuleApplication[] = [...rules].map(([rule, orders]) => ({ rule, orders: [...orders] }));
    applications.push({
      policy,
      requestGroup: applyCards({
        policy, hook: input.hook, applications: list, context: input.context, variables: memberVars,
        decisionIds: (order) => idsByOrder.get(order) ?? [],
        now: input.now, newId: input.newId, resolveUrl: input.resolveUrl,
        onTextError: (path, error) => input.onExpressionError(policy.policy.key, path, error),
      }),
    });
  }
  const matchedOrders = [...governing].filter(([, list]) => list.some((g) => g.by.policy.policy.role !== 'default')).map(([o]) => o.reference);
  return { applications, updates, decisions, matchedOrders };
}

/**
 * The policy that would govern each order on order-sign, from the order alone (conditions on the member's Coverage
 * are not tested: no member data is read). For the details app when the EHR launched it without naming a decision:
 * nothing is decided, stored or logged.
 */
export function governingPolicies(catalog: Catalog, orders: readonly OrderInScope[], now: Date, allowDraft: boolean): Array<{ order: OrderInScope; policy: CompiledPolicy }> {
  const out: Array<{ order: OrderInScope; policy: CompiledPolicy }> = [];
  for (const order of orders) {
    const vars = { order: order.resource, context: {}, draftOrders: [order.resource], hook: 'order-sign' };
    const best = catalog.candidates('order-sign', order.resource, now, allowDraft).filter((c) => c.rule.appliesTo(order.resource, vars)).sort(compare)[0];
    if (best) out.push({ order, policy: best.policy });
  }
  return out;
}
