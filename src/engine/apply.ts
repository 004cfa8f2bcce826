import type { Coding, Extension, FhirResource, RelatedArtifact, RequestGroup, RequestGroupAction } from 'fhir/r4';
import { ACTION_TYPE_SYSTEM, CARD_TYPE_SYSTEM, COVERAGE_INFORMATION_URL, EXT_APP_CONTEXT, EXT_ASSOCIATED_RESOURCE } from '../fhir/constants';
import { codeKey } from '../knowledge/code-systems';
import type { IndexedValueSet } from '../knowledge/valueset-index';
import { buildCoverageInformation } from './coverage-information';
import type { CoverageDecision, CoverageOutcome } from './coverage-information';
import { asText } from './fhirpath';
import { instantiate } from './instantiate';
import type { InstantiationContext } from './instantiate';
import { childId } from './ids';
import { escapeMarkdown } from './markdown';
import type { CompiledAction, CompiledPlan, CompiledRule } from './model';

/** An order as it arrived in draftOrders, with its `Type/id` reference. */
export interface OrderInScope {
  resource: Record<string, unknown> & { resourceType: string };
  reference: string;
}

/** A rule that applies to an order. */
export interface RuleMatch {
  rule: CompiledRule;
  order: OrderInScope;
}

/** The hook context the engine needs (CDS Hooks order-select / order-sign context). */
export interface HookContext {
  patientId: string;
  userId: string;
  encounterId?: string;
}

export interface ApplyRequest {
  plan: CompiledPlan;
  matches: RuleMatch[];
  context: HookContext;
  coverage: Exclude<CoverageOutcome, { kind: 'other-payer' }>;
  valueSets: ReadonlyMap<string, IndexedValueSet>;
  now: Date;
  newId: () => string;
  /** Turns a knowledge link (`/policies/x`) into an absolute URL on this service (CDS Hooks links are absolute). */
  resolveUrl: (url: string) => string;
  /** Extra `%` variables for expressions (e.g. `%patient`). */
  env?: Record<string, unknown>;
}

/** The applied plan: a RequestGroup (FHIR R4, CDS Hooks RequestGroup profile) plus the coverage decisions it carries. */
export interface ApplyResult {
  requestGroup: RequestGroup;
  decisions: CoverageDecision[];
}

const typeCode = (a: { type?: { coding?: Coding[] } }): string | undefined => a.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;
const topicCode = (a: { code?: Array<{ coding?: Coding[] }> }): string | undefined =>
  a.code?.flatMap((c) => c.coding ?? []).find((c) => c.system === CARD_TYPE_SYSTEM)?.code;

/** A readable name for an order: its text, else its first coding's display or code, else its reference. */
export function orderName(order: OrderInScope): string {
  const code = (order.resource['code'] ?? order.resource['medicationCodeableConcept'] ?? order.resource['codeCodeableConcept']) as
    { text?: unknown; coding?: Array<{ display?: unknown; code?: unknown }> } | undefined;
  const coding = Array.isArray(code?.coding) ? code.coding.find((c) => c && (typeof c.display === 'string' || typeof c.code === 'string')) : undefined;
  const candidates = [code?.text, coding?.display, coding?.code];
  const name = candidates.find((c): c is string => typeof c === 'string' && c.trim().length > 0);
  return name ?? order.reference;
}

/** `%` variables every expression sees for one order: the request's, the order's, then the plan's fixed ones. */
function orderEnv(plan: CompiledPlan, order: OrderInScope, base: Record<string, unknown>): Record<string, unknown> {
  return {
    ...base,
    order: order.resource,
    orderReference: order.reference,
    orderName: escapeMarkdown(orderName(order)),
    ...plan.constants,
  };
}

/**
 * Which rules apply to which orders: for each order in scope, each rule triggered by this hook whose applicability
 * conditions are all true with the order as `%order` (FHIR R4 PlanDefinition.action.condition, kind applicability).
 * An expression that fails on a malformed order counts as "does not apply" for that order only.
 */
export function findMatches(plan: CompiledPlan, hook: string, orders: OrderInScope[], env: Record<string, unknown>): RuleMatch[] {
  const matches: RuleMatch[] = [];
  // The variables are the request's plus `%planDefinition`, and `%order` per order. Each order's are a fresh object
  // inheriting the shared ones: fhirpath.js reads variables with `in` and property access, which see inherited
  // properties, and copying them for each order (an object spread, about 1 µs) cost more than some conditions do.
  const shared = { ...env, planDefinition: plan.resource };
  for (const rule of plan.rules) {
    if (!rule.hooks.has(hook)) continue;
    for (const order of orders) {
      const vars = Object.create(shared) as Record<string, unknown>;
      vars['order'] = order.resource;
      if (rule.applicability.every((applies) => applies(order.resource, vars))) matches.push({ rule, order });
    }
  }
  return matches;
}

/** The order's codings that are members of the ValueSets its rule tested: the codes a claim would bill. */
function billingCodes(order: OrderInScope, rule: CompiledRule, valueSets: ReadonlyMap<string, IndexedValueSet>): Coding[] {
  const code = order.resource['code'] as { coding?: unknown } | undefined;
  const codings = Array.isArray(code?.coding) ? (code.coding as Array<Partial<Coding>>) : [];
  const sets = rule.valueSetUrls.map((u) => valueSets.get(u)).filter((v): v is IndexedValueSet => v !== undefined);
  const out: Coding[] = [];
  for (const c of codings) {
    if (typeof c?.system !== 'string' || typeof c.code !== 'string') continue;
    const key = codeKey(c.system, c.code);
    if (sets.some((vs) => vs.keys.has(key)) && !out.some((o) => codeKey(o.system ?? '', o.code ?? '') === key)) {
      out.push({ system: c.system, code: c.code, ...(typeof c.display === 'string' && c.display ? { display: c.display } : {}) });
    }
  }
  return out;
}

interface Build {
  req: ApplyRequest;
  match: RuleMatch;
  env: Record<string, unknown>;
  /** `req.now` as an ISO date-time, formatted once per request. */
  now: string;
  /** What every order instantiated for this match inherits (the same for each of its activities). */
  instantiation: InstantiationContext;
  contained: FhirResource[];
  decisions: CoverageDecision[];
  /** The appContext extensions of this match's links, filled once its coverage decision is known (fillAppContext). */
  appContexts: Extension[];
}

function applyDynamicValues(b: Build, source: CompiledAction, target: RequestGroupAction): void {
  for (const dv of source.dynamicValues) {
    const value = asText(dv.expression(b.match.order.resource, b.env));
    if (value === undefined) continue;
    const field = dv.path.replace(/^action\./, '');
    if (field === 'title' || field === 'description' || field === 'textEquivalent') target[field] = value;
  }
}

function links(b: Build, docs: RelatedArtifact[] | undefined): RelatedArtifact[] | undefined {
  if (!docs || docs.length === 0) return undefined;
  return docs.map((d) => {
    const out: RelatedArtifact = { ...d, url: b.req.resolveUrl(d.url ?? '') };
    const isSmart = d.extension?.some((e) => e.valueCode === 'smart');
    if (isSmart) out.extension = [...(d.extension ?? []), { url: EXT_APP_CONTEXT, valueString: '' }];
    for (const e of out.extension ?? []) if (e.url === EXT_APP_CONTEXT) b.appContexts.push(e);
    return out;
  });
}

/** One PlanDefinition action → one RequestGroup action (a card, suggestion, suggestion action or coverage update). */
function applyAction(b: Build, source: CompiledAction, parentId?: string): RequestGroupAction {
  const a = source.action;
  // Cards get fresh ids; what is under a card (suggestions, their actions) gets ids derived from the card's.
  const out: RequestGroupAction = { id: parentId && a.id ? childId(parentId, a.id) : b.req.newId() };
  if (a.title) out.title = a.title;
  if (a.description) out.description = a.description;
  if (a.priority) out.priority = a.priority;
  if (a.code) out.code = a.code;
  if (a.extension) out.extension = a.extension.filter((e) => e.url !== COVERAGE_INFORMATION_URL);
  if (out.extension?.length === 0) delete out.extension;
  const docs = links(b, source.documentation);
  if (docs) out.documentation = docs;
  if (a.selectionBehavior) out.selectionBehavior = a.selectionBehavior;
  if (a.type) out.type = a.type;
  applyDynamicValues(b, source, out);

  const kind = typeCode(a);
  if (source.activity) {
    const created = instantiate(source.activity, b.instantiation);
    b.contained.push(created);
    out.resource = { reference: `#${created.id ?? ''}` };
    if (!out.description) out.description = `Order: ${source.activity.resource.title ?? source.activity.resource.name ?? ''}`;
  } else if (kind === 'remove') {
    // "remove" without a definition removes the order the rule fired for (the draft being replaced).
    out.resource = { reference: b.match.order.reference };
  } else if (kind === 'update' && topicCode(a) === 'coverage-info') {
    const template = a.extension?.find((e) => e.url === COVERAGE_INFORMATION_URL);
    const { extensions, decisions } = buildCoverageInformation({
      template,
      outcome: b.req.coverage,
      billingCodes: billingCodes(b.match.order, b.match.rule, b.req.valueSets),
      date: b.now.slice(0, 10),
      orderReference: b.match.order.reference,
      newId: b.req.newId,
    });
    // The order goes back unchanged but for the extension (CRD: nothing else in the resource may change).
    const updated = structuredClone(b.match.order.resource);
    const existing = Array.isArray(updated['extension']) ? (updated['extension'] as Extension[]).filter((e) => e?.url !== COVERAGE_INFORMATION_URL) : [];
    updated['extension'] = [...existing, ...extensions];
    b.contained.push(updated as unknown as FhirResource);
    out.resource = { reference: `#${b.match.order.resource['id'] as string}` };
    b.decisions.push(...decisions);
  }
  if (source.children.length > 0) out.action = source.children.map((child) => applyAction(b, child, out.id));
  return out;
}

/**
 * The PlanDefinition action id of the suggestion a clinician accepted, from the card uuid and suggestion uuid that
 * feedback carries (the inverse of the derived suggestion ids above); undefined when it is not one of ours.
 */
export function acceptedAlternative(plan: CompiledPlan, cardId: string, suggestionId: string): string | undefined {
  for (const rule of plan.rules) {
    for (const card of rule.children) {
      for (const suggestion of card.children) {
        const name = suggestion.action.id;
        if (name && childId(cardId, name) === suggestionId) return name;
      }
    }
  }
  return undefined;
}

/**
 * appContext names the decision without PHI or tokens (smart.md "appContext"): the coverage-assertion id made for
 * this order (when coverage information was produced), the order reference and the PlanDefinition id. It goes into
 * every appContext extension of the match's links, which links() collected as it made them (no walk of the tree).
 */
function fillAppContext(b: Build, context: { decision: string | undefined; order: string; planDefinition: string | undefined }): void {
  const value = JSON.stringify(context);
  for (const e of b.appContexts) e.valueString = value;
}

/**
 * Applies the matched rules (FHIR R4 PlanDefinition/$apply): one RequestGroup action per (rule, order), holding a
 * card action per child, suggestions with their create/remove actions, and the coverage-information update.
 * Nothing here mutates the knowledge or the request: per-request objects are built fresh.
 */
export function applyPlan(req: ApplyRequest): ApplyResult {
  const contained: FhirResource[] = [];
  const decisions: CoverageDecision[] = [];
  const now = req.now.toISOString();
  const groups: RequestGroupAction[] = req.matches.map((match) => {
    const env = orderEnv(req.plan, match.order, req.env ?? {});
    const instantiation: InstantiationContext = {
      replaces: match.order.resource, patientId: req.context.patientId, userId: req.context.userId, authoredOn: now, newId: req.newId, env,
    };
    if (req.context.encounterId) instantiation.encounterId = req.context.encounterId;
    const b: Build = { req, match, env, now, instantiation, contained, decisions, appContexts: [] };
    const decidedBefore = decisions.length;
    const group: RequestGroupAction = {
      id: req.newId(),
      ...(match.rule.action.title ? { title: match.rule.action.title } : {}),
      extension: [{ url: EXT_ASSOCIATED_RESOURCE, valueReference: { reference: match.order.reference } }],
      action: match.rule.children.map((child) => applyAction(b, child)),
    };
    fillAppContext(b, { decision: decisions[decidedBefore]?.assertionId, order: match.order.reference, planDefinition: req.plan.resource.id });
    return group;
  });
  const requestGroup: RequestGroup = {
    resourceType: 'RequestGroup',
    id: req.newId(),
    ...(contained.length > 0 ? { contained } : {}),
    instantiatesCanonical: [req.plan.canonical],
    status: 'draft',
    intent: 'proposal',
    subject: { reference: `Patient/${req.context.patientId}` },
    authoredOn: now,
    ...(groups.length > 0 ? { action: groups } : {}),
  };
  return { requestGroup, decisions };
}
