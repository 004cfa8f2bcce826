import type { Coding, FhirResource, RequestGroup, RequestGroupAction } from 'fhir/r4';
import type { Action, Card, HookResponse, Link, Suggestion } from './types';
import type { OrderUpdate } from '../decision/decide';
import {
  ACTION_TYPE_SYSTEM, CARD_TYPE_SYSTEM, CRD_ASSOCIATED_RESOURCE_KEY, EXT_APP_CONTEXT, EXT_ASSOCIATED_RESOURCE, EXT_LINK_TYPE, EXT_OVERRIDE_REASON,
} from '../fhir/constants';

/** CDS Hooks: summary "<140 characters"; the CRD test kit fails 140. */
export const MAX_SUMMARY = 139;

/** FHIR ConceptMap cdshooks-indicator (http://cds-hooks.hl7.org/ConceptMap/indicator-to-request-priority), read backwards. */
const INDICATOR: Record<string, Card['indicator']> = { routine: 'info', urgent: 'warning', asap: 'critical', stat: 'critical' };
const SEVERITY: Record<Card['indicator'], number> = { critical: 0, warning: 1, info: 2 };

/** What the EHR asked for with `davinci-crd.configuration` (CRD 2.x), already parsed. */
export interface ResponseOptions {
  /** Card-type codes switched off. */
  disabledTypes: ReadonlySet<string>;
  maxCards?: number;
  /** The payer's name shown as `source.label` (CRD resp-4). */
  sourceLabel: string;
  /** Primary hooks: `systemActions` is always present (CRD test kit), empty or not. */
  alwaysSystemActions: boolean;
}

const topicOf = (a: RequestGroupAction): Coding | undefined => a.code?.flatMap((c) => c.coding ?? []).find((c) => c.system === CARD_TYPE_SYSTEM);
const typeOf = (a: RequestGroupAction): string | undefined => a.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function containedById(rg: RequestGroup): Map<string, FhirResource> {
  return new Map((rg.contained ?? []).map((r) => [`#${r.id ?? ''}`, r as FhirResource]));
}

function toAction(a: RequestGroupAction, contained: Map<string, FhirResource>): Action | undefined {
  const type = typeOf(a);
  const ref = a.resource?.reference ?? '';
  const description = a.description ?? a.title ?? '';
  if (type === 'remove') return { type: 'delete', description, resourceId: ref };
  const resource = contained.get(ref);
  if (!resource) return undefined;
  return { type: type === 'update' ? 'update' : 'create', description, resource };
}

function toSuggestion(a: RequestGroupAction, contained: Map<string, FhirResource>): Suggestion {
  const actions = (a.action ?? []).map((x) => toAction(x, contained)).filter((x): x is Action => x !== undefined);
  return {
    label: a.title ?? a.description ?? 'Suggestion',
    uuid: a.id ?? '',
    ...(actions.length > 0 ? { actions } : {}),
  };
}

function toLinks(a: RequestGroupAction): Link[] | undefined {
  const docs = (a.documentation ?? []).filter((d) => d.url);
  if (docs.length === 0) return undefined;
  return docs.map((d) => {
    const smart = d.extension?.find((e) => e.url === EXT_LINK_TYPE)?.valueCode === 'smart';
    const appContext = d.extension?.find((e) => e.url === EXT_APP_CONTEXT)?.valueString;
    return {
      label: d.label ?? d.display ?? d.url ?? '',
      url: d.url ?? '',
      type: smart ? 'smart' : 'absolute',
      ...(smart && appContext ? { appContext } : {}),
    };
  });
}

function toCard(a: RequestGroupAction, associated: string[], contained: Map<string, FhirResource>, label: string): Card {
  const topic = topicOf(a);
  const suggestions = (a.action ?? []).map((s) => toSuggestion(s, contained));
  const overrideReasons = (a.extension ?? []).filter((e) => e.url === EXT_OVERRIDE_REASON && e.valueCoding).map((e) => e.valueCoding as Coding);
  const links = toLinks(a);
  const card: Card = {
    uuid: a.id ?? '',
    summary: truncate(a.title ?? a.description ?? '', MAX_SUMMARY),
    indicator: INDICATOR[a.priority ?? 'routine'] ?? 'info',
    source: { label, ...(topic ? { topic: { system: topic.system ?? CARD_TYPE_SYSTEM, code: topic.code ?? '', ...(topic.display ? { display: topic.display } : {}) } } : {}) },
  };
  if (a.description) card.detail = a.description;
  if (suggestions.length > 0) {
    card.suggestions = suggestions;
    card.selectionBehavior = a.selectionBehavior === 'any' ? 'any' : 'at-most-one';
  }
  if (overrideReasons.length > 0) card.overrideReasons = overrideReasons;
  if (links) card.links = links;
  if (associated.length > 0) card.extension = { [CRD_ASSOCIATED_RESOURCE_KEY]: associated.map((reference) => ({ reference })) };
  return card;
}

/**
 * Maps the policies' applied RequestGroups to a CDS Hooks response, following the CDS Hooks RequestGroup profile
 * (title→summary, description→detail, priority→indicator, documentation→links, child actions→suggestions), and
 * each order's coverage-information update to a system action, never a card (CRD "Coverage Information" response
 * type, resp-25). Each card names the order(s) it is about (`davinci-crd.associated-resource`). Configuration: card
 * types switched off are dropped; `max-cards` keeps the most severe cards, in order.
 */
export function toCdsResponse(groups: readonly RequestGroup[], updates: readonly OrderUpdate[], options: ResponseOptions): HookResponse {
  const cards: Card[] = [];
  for (const rg of groups) {
    const contained = containedById(rg);
    for (const group of rg.action ?? []) {
      const associated = (group.extension ?? []).filter((e) => e.url === EXT_ASSOCIATED_RESOURCE).map((e) => e.valueReference?.reference).filter((r): r is string => !!r);
      for (const a of group.action ?? []) {
        const topic = topicOf(a)?.code;
        if (topic && options.disabledTypes.has(topic)) continue;
        cards.push(toCard(a, associated, contained, options.sourceLabel));
      }
    }
  }
  let kept = cards;
  if (options.maxCards !== undefined && cards.length > options.maxCards) {
    const ranked = cards.map((c, i) => ({ c, i })).sort((x, y) => SEVERITY[x.c.indicator] - SEVERITY[y.c.indicator] || x.i - y.i);
    const keep = new Set(ranked.slice(0, Math.max(0, options.maxCards)).map((x) => x.i));
    kept = cards.filter((_, i) => keep.has(i));
  }
  const systemActions: Action[] = updates.map((u) => ({
    type: 'update',
    description: `Record ${options.sourceLabel}'s coverage decision on ${u.order.reference} (Da Vinci CRD coverage-information)`,
    resource: u.resource as unknown as FhirResource,
  }));
  const response: HookResponse = { cards: kept };
  if (systemActions.length > 0 || options.alwaysSystemActions) response.systemActions = systemActions;
  return response;
}
