/** Reads from this service (same origin): the knowledge endpoint /fhir and the decision API. */

export interface Decision {
  assertionId: string;
  order: string;
  covered: string;
  reason?: string;
  reasonCode?: string;
  /** The order's codes the decision was made on, spelled as billed, with their displays. */
  billingCodes: Array<{ system: string; code: string; display?: string }>;
  policy: string;
  decidedAt: string;
}

export class NotFoundError extends Error {}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, headers: { accept: 'application/fhir+json, application/json', ...(init?.headers ?? {}) } });
  if (res.status === 404) throw new NotFoundError(url);
  if (!res.ok) throw new Error(`The plan's service answered HTTP ${res.status} for ${url}`);
  return (await res.json()) as T;
}

type Json = Record<string, unknown>;
interface Bundle { entry?: Array<{ resource: Json }> }

export const decision = (id: string): Promise<Decision> => getJson<Decision>(`/smart/api/decisions/${encodeURIComponent(id)}`);

export async function search(type: string, query = ''): Promise<Json[]> {
  const bundle = await getJson<Bundle>(`/fhir/${type}${query ? `?${query}` : ''}`);
  return (bundle.entry ?? []).map((e) => e.resource);
}

export const read = (type: string, id: string): Promise<Json> => getJson<Json>(`/fhir/${type}/${encodeURIComponent(id)}`);

export const expandUrl = (url: string): Promise<Json> => getJson<Json>(`/fhir/ValueSet/$expand?url=${encodeURIComponent(url)}`);

/**
 * PlanDefinition/$apply: the same engine as the cards, for this order and coverage. Through the app's own route
 * (/smart/api/apply): /fhir/…/$apply needs a CDS client's JWT when the service authenticates its clients.
 */
export function apply(planId: string, subject: string, data: Json[], practitioner?: string): Promise<Json> {
  const parameter: Json[] = [
    { name: 'subject', valueString: subject },
    { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: data.map((resource) => ({ resource })) } },
  ];
  if (practitioner && /^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(practitioner)) parameter.push({ name: 'practitioner', valueString: practitioner });
  return getJson<Json>(`/smart/api/apply/${encodeURIComponent(planId)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Parameters', parameter }),
  });
}

/** Which of the plan's policies governs each order (for a launch that names no decision); nothing is stored. */
export async function match(orders: Json[]): Promise<Array<{ order: string; planDefinition: string; title: string }>> {
  const body = await getJson<{ matches: Array<{ order: string; planDefinition: string; title: string }> }>('/smart/api/policies/match', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orders }),
  });
  return body.matches;
}
