import type { Extension, FhirResource, RelatedArtifact, RequestGroup, RequestGroupAction } from 'fhir/r4';
import { ACTION_TYPE_SYSTEM, EXT_APP_CONTEXT, EXT_ASSOCIATED_RESOURCE, EXT_LINK_TYPE } from '../fhir/constants';
import { childId } from './ids';
import { instantiate } from './instantiate';
import type { InstantiationContext } from './instantiate';
import { escapeMarkdown } from './markdown';
import type { CompiledAction, CompiledCard, CompiledPolicy, CompiledRule } from './model';

/** An order as it arrived in the hook context, with its `Type/id` reference. */
export interface OrderInScope {
  resource: Record<string, unknown> & { resourceType: string };
  reference: string;
}

/** The hook context the engine needs (CDS Hooks context; order-dispatch has no userId). */
export interface HookContext {
  patientId: string;
  userId?: string;
  encounterId?: string;
}

/** A rule of the policy and the orders it governs in this call. */
export interface RuleApplication {
  rule: CompiledRule;
  orders: OrderInScope[];
}

export interface ApplyCardsRequest {
  policy: CompiledPolicy;
  /** The hook being answered: a card whose triggers name other hooks is left out. */
  hook: string;
  applications: RuleApplication[];
  context: HookContext;
  /** The call's `%` variables (`%context`, `%draftOrders`, `%hook`, `%patient`, `%coverage`). */
  variables: Record<string, unknown>;
  /** The coverage-assertion ids issued for an order in this call (the app's appContext names them). */
  decisionIds: (order: OrderInScope) => string[];
  now: Date;
  newId: () => string;
  /** Turns a knowledge link (`/policies/x`) into an absolute URL on this service (CDS Hooks links are absolute). */
  resolveUrl: (url: string) => string;
  /** A card text that failed: the card keeps its written text; the failure is reported (no patient data). */
  onTextError: (path: string, error: unknown) => void;
}

const typeCode = (a: { type?: { coding?: Array<{ system?: string; code?: string }> } }): string | undefined => a.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;

/** A readable name for an order: its text, else its first coding's display or code, else its reference. */
export function orderName(order: OrderInScope): string {
  const r = order.resource;
  const code = (r['code'] ?? r['medicationCodeableConcept'] ?? r['codeCodeableConcept'] ?? (Array.isArray(r['serviceType']) ? r['serviceType'][0] : undefined)) as
    { text?: unknown; coding?: Array<{ display?: unknown; code?: unknown }> } | undefined;
  const coding = Array.isArray(code?.coding) ? code.coding.find((c) => c && (typeof c.display === 'string' || typeof c.code === 'string')) : undefined;
  const candidates = [code?.text, coding?.display, coding?.code];
  const name = candidates.find((c): c is string => typeof c === 'string' && c.trim().length > 0);
  return name ?? order.reference;
}

/**
 * "**name** (ServiceRequest/1)": how a card names an order. The name comes from the request and is Markdown-escaped;
 * the reference is `Type/id` with an id the request schema holds to FHIR's [A-Za-z0-9\-.]{1,64}, as `%orderReference`.
 */
const namedOrder = (o: OrderInScope): string => `**${escapeMarkdown(orderName(o))}** (${o.reference})`;

interface Build {
  req: ApplyCardsRequest;
  /** The order the card is about (order cards), or every order the policy governs (policy cards). */
  orders: OrderInScope[];
  vars: Record<string, unknown>;
  now: string;
  instantiation?: InstantiationContext;
  contained: FhirResource[];
  appContexts: Extension[];
}

function links(b: Build, docs: RelatedArtifact[]): RelatedArtifact[] | undefined {
  if (docs.length === 0) return undefined;
  return docs.map((d) => {
    const out: RelatedArtifact = { ...d, url: b.req.resolveUrl(d.url ?? '') };
    if (d.extension?.some((e) => e.url === EXT_LINK_TYPE && e.valueCode === 'smart')) {
      const appContext: Extension = { url: EXT_APP_CONTEXT, valueString: '' };
      out.extension = [...(d.extension ?? []), appContext];
      b.appContexts.push(appContext);
    }
    return out;
  });
}

function applyTexts(b: Build, source: CompiledAction, target: RequestGroupAction): void {
  for (const text of source.texts) {
    try {
      const value = text.template(b.orders[0]?.resource ?? {}, b.vars);
      if (value !== undefined) target[text.field] = value;
    } catch (e) {
      b.req.onTextError(text.path, e);
    }
  }
}

/** One PlanDefinition action → one RequestGroup action (a card, a suggestion, or a suggestion's action). */
function applyAction(b: Build, source: CompiledAction, parentId?: string): RequestGroupAction {
  const a = source.action;
  // Cards get fresh ids; what is under a card (suggestions, their actions) gets ids derived from the card's, so
  // feedback naming a suggestion can be traced to the alternative chosen without keeping state.
  const out: RequestGroupAction = { id: parentId && a.id ? childId(parentId, a.id) : b.req.newId() };
  if (a.title) out.title = a.title;
  if (a.description) out.description = a.description;
  if (a.priority) out.priority = a.priority;
  if (a.code) out.code = a.code;
  if (a.extension && a.extension.length > 0) out.extension = a.extension;
  const docs = links(b, source.documentation);
  if (docs) out.documentation = docs;
  if (a.selectionBehavior) out.selectionBehavior = a.selectionBehavior;
  if (a.type) out.type = a.type;
  applyTexts(b, source, out);
  const order = b.orders[0];
  if (source.activity && b.instantiation) {
    const created = instantiate(source.activity, b.instantiation);
    b.contained.push(created);
    out.resource = { reference: `#${created.id ?? ''}` };
    if (!out.description) out.description = `Order: ${source.activity.resource.title ?? source.activity.resource.name ?? ''}`;
  } else if (typeCode(a) === 'remove' && order) {
    // "remove" without a definition removes the order the rule fired for (the draft being replaced).
    out.resource = { reference: order.reference };
  }
  if (source.children.length > 0) out.action = source.children.map((child) => applyAction(b, child, out.id));
  return out;
}

/**
 * appContext names the decision without PHI or tokens (smart.md "appContext"): the coverage-assertion id(s) issued
 * for the order(s), the order reference(s) and the PlanDefinition id. One order: `decision` and `order`; several
 * (a policy card): `decisions` and `orders`.
 */
function fillAppContext(b: Build, planDefinition: string | undefined): void {
  if (b.appContexts.length === 0) return;
  const ids = b.orders.flatMap((o) => b.req.decisionIds(o));
  const value = b.orders.length === 1
    ? JSON.stringify({ decision: ids[0], order: b.orders[0]?.reference, planDefinition })
    : JSON.stringify({ decisions: ids, orders: b.orders.map((o) => o.reference), planDefinition });
  for (const e of b.appContexts) e.valueString = value;
}

function group(orders: OrderInScope[], actions: RequestGroupAction[], id: string): RequestGroupAction {
  return {
    id,
    extension: orders.map((o) => ({ url: EXT_ASSOCIATED_RESOURCE, valueReference: { reference: o.reference } })),
    action: actions,
  };
}

/**
 * Applies a policy's matched rules to the orders they govern (FHIR R4 PlanDefinition/$apply) into a RequestGroup
 * (CDS Hooks RequestGroup profile): one group per order holding the cards that act on that order (replacement
 * suggestions), and one group for the whole call holding the policy's guidance cards, naming every order they
 * cover. Nothing here mutates the knowledge or the request: per-call objects are built fresh.
 */
export function applyCards(req: ApplyCardsRequest): RequestGroup {
  const contained: FhirResource[] = [];
  const now = req.now.toISOString();
  const { policy } = req;
  const planId = policy.policy.resource.id;
  const groups: RequestGroupAction[] = [];
  const policyCards: Array<{ rule: CompiledRule; card: CompiledCard; orders: OrderInScope[] }> = [];
  const shows = (card: CompiledCard): boolean => !card.hooks || card.hooks.has(req.hook);
  for (const { rule, orders } of req.applications) {
    const cards = rule.cards.filter(shows);
    for (const order of orders) {
      const vars: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, req.variables, policy.constants, {
        order: order.resource, orderReference: order.reference, orderName: escapeMarkdown(orderName(order)),
        orders: [order.resource], orderNames: namedOrder(order),
      });
      const instantiation: InstantiationContext = {
        replaces: order.resource, patientId: req.context.patientId, authoredOn: now, newId: req.newId, env: vars,
        ...(req.context.userId ? { userId: req.context.userId } : {}),
        ...(req.context.encounterId ? { encounterId: req.context.encounterId } : {}),
      };
      const b: Build = { req, orders: [order], vars, now, instantiation, contained, appContexts: [] };
      const actions = cards.filter((c) => c.scope === 'order').map((card) => applyAction(b, card));
      fillAppContext(b, planId);
      if (actions.length > 0) groups.push(group([order], actions, req.newId()));
    }
    for (const card of cards) if (card.scope === 'policy') policyCards.push({ rule, card, orders });
  }
  // Policy cards: once per call, for every order the rule governs (CRD dev-24 names the orders; no duplicates).
  for (const { card, orders } of policyCards) {
    const first = orders[0];
    const vars: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, req.variables, policy.constants, {
      order: first?.resource, orderReference: first?.reference, orderName: first ? escapeMarkdown(orderName(first)) : '',
      orders: orders.map((o) => o.resource), orderNames: orders.map(namedOrder).join(', '),
    });
    const b: Build = { req, orders, vars, now, contained, appContexts: [] };
    const action = applyAction(b, card);
    fillAppContext(b, planId);
    groups.push(group(orders, [action], req.newId()));
  }
  return {
    resourceType: 'RequestGroup',
    id: req.newId(),
    ...(contained.length > 0 ? { contained } : {}),
    instantiatesCanonical: [policy.policy.canonical],
    status: 'draft',
    intent: 'proposal',
    subject: { reference: `Patient/${req.context.patientId}` },
    authoredOn: now,
    ...(groups.length > 0 ? { action: groups } : {}),
  };
}
