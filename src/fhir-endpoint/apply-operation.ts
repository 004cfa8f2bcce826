import type { RequestGroup } from 'fhir/r4';
import { applyPlan, findMatches } from '../engine/apply';
import type { OrderInScope } from '../engine/apply';
import type { CompiledPlan } from '../engine/model';
import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { coverageOutcome } from '../cds/coverage';
import type { PayerIdentity } from '../cds/coverage';
import { ORDER_RESOURCE_TYPES } from '../fhir/constants';
import { badRequest } from '../http/errors';

interface Parameter { name?: unknown; valueString?: unknown; valueReference?: { reference?: unknown }; resource?: unknown }

export interface ApplyOperationDeps {
  knowledge: KnowledgeBase;
  payer: PayerIdentity;
  now: () => Date;
  newId: () => string;
  resolveUrl: (url: string) => string;
}

const REFERENCE = /^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

function stringParam(params: Array<Parameter | null>, name: string): string | undefined {
  const p = params.find((x) => x?.name === name);
  if (!p) return undefined;
  const v = typeof p.valueString === 'string' ? p.valueString : typeof p.valueReference?.reference === 'string' ? p.valueReference.reference : undefined;
  if (v === undefined || !REFERENCE.test(v)) throw badRequest(`Parameter "${name}" must be a reference such as Patient/123 (valueString or valueReference).`, [`Parameters.parameter.where(name='${name}')`]);
  return v;
}

/**
 * PlanDefinition/$apply (FHIR R4 clinical reasoning): Parameters with `subject` (Patient/…), `data` (a Bundle of
 * the draft orders, and optionally the member's Coverage — R5's `data` parameter) and optionally `encounter`
 * and `practitioner` → a RequestGroup. It runs the same engine code as an order-sign call: every order in `data` is
 * in scope, so for the same input the decision, actions and alternatives equal the cards'.
 */
export function applyOperation(plan: CompiledPlan, body: unknown, deps: ApplyOperationDeps): RequestGroup {
  const parameters = body as { resourceType?: unknown; parameter?: unknown };
  if (!parameters || parameters.resourceType !== 'Parameters' || !Array.isArray(parameters.parameter)) {
    throw badRequest('The body must be a Parameters resource with a parameter list.', ['Parameters']);
  }
  // Items may be anything the client sent (null, a number…): read them with optional chaining.
  const params = parameters.parameter as Array<Parameter | null>;
  const subject = stringParam(params, 'subject');
  if (!subject?.startsWith('Patient/')) throw badRequest('Parameter "subject" (Patient/…) is required.', ["Parameters.parameter.where(name='subject')"]);
  const encounter = stringParam(params, 'encounter');
  const practitioner = stringParam(params, 'practitioner') ?? 'Practitioner/unknown';
  const data = params.find((p) => p?.name === 'data')?.resource as { resourceType?: unknown; entry?: unknown } | undefined;
  if (!data || data.resourceType !== 'Bundle') throw badRequest('Parameter "data" must be a Bundle holding the draft orders.', ["Parameters.parameter.where(name='data')"]);
  const entries = Array.isArray(data.entry) ? (data.entry as Array<{ resource?: Record<string, unknown> & { resourceType: string } }>) : [];
  const orders: OrderInScope[] = [];
  const coverages: unknown[] = [];
  entries.forEach((e, i) => {
    const r = e?.resource;
    if (!r || typeof r.resourceType !== 'string') throw badRequest(`data.entry[${i}] has no resource.`, [`Bundle.entry[${i}]`]);
    if (r.resourceType === 'Coverage') coverages.push(r);
    else if (ORDER_RESOURCE_TYPES.has(r.resourceType)) {
      if (typeof r['id'] !== 'string') throw badRequest(`data.entry[${i}] (${r.resourceType}) needs an id.`, [`Bundle.entry[${i}].resource.id`]);
      orders.push({ resource: r, reference: `${r.resourceType}/${r['id']}` });
    }
  });
  const patientId = subject.slice('Patient/'.length);
  const context = { patientId, userId: practitioner, ...(encounter ? { encounterId: encounter.replace(/^Encounter\//, '') } : {}) };
  const env = { context, draftOrders: orders.map((o) => o.resource), hook: 'order-sign' };
  const matches = findMatches(plan, 'order-sign', orders, env);
  const outcome = coverageOutcome(undefined, { status: 'ok', resource: { resourceType: 'Bundle', entry: coverages.map((resource) => ({ resource })) } }, deps.payer);
  // Another payer's member: this plan decides nothing, exactly as the hook says nothing.
  const decided = outcome.kind === 'other-payer' ? { matches: [], coverage: { kind: 'coverage-not-found' as const, text: '' } } : { matches, coverage: outcome };
  return applyPlan({ plan, ...decided, context, valueSets: deps.knowledge.valueSets, now: deps.now(), newId: deps.newId, resolveUrl: deps.resolveUrl, env }).requestGroup;
}
