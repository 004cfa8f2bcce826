import type { FhirResource, RequestGroup, RequestGroupAction } from 'fhir/r4';
import type { OrderInScope } from '../engine/apply';
import type { Catalog } from '../engine/catalog';
import type { CompiledPolicy } from '../engine/model';
import { decide } from '../decision/decide';
import type { DecisionResult } from '../decision/decide';
import { memberCoverage, OtherPayerError } from '../decision/member';
import { DEFAULT_WORK_LIMITS } from '../decision/limits';
import type { WorkLimits } from '../decision/limits';
import { isDecidable } from '../decision/scope';
import { ACTION_TYPE_SYSTEM, CARD_TYPE_SYSTEM, EXT_ASSOCIATED_RESOURCE } from '../fhir/constants';
import { HttpError, badRequest } from '../http/errors';

interface Parameter { name?: unknown; valueString?: unknown; valueReference?: { reference?: unknown }; resource?: unknown }

export interface ApplyOperationDeps {
  catalog: Catalog;
  allowDraft: boolean;
  now: () => Date;
  newId: () => string;
  resolveUrl: (url: string) => string;
  onExpressionError: (policy: string, path: string, error: unknown) => void;
  limits?: WorkLimits;
}

const REFERENCE = /^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

function stringParam(params: Array<Parameter | null>, name: string): string | undefined {
  const p = params.find((x) => x?.name === name);
  if (!p) return undefined;
  const v = typeof p.valueString === 'string' ? p.valueString : typeof p.valueReference?.reference === 'string' ? p.valueReference.reference : undefined;
  if (v === undefined || !REFERENCE.test(v)) throw badRequest(`Parameter "${name}" must be a reference such as Patient/123 (valueString or valueReference).`, [`Parameters.parameter.where(name='${name}')`]);
  return v;
}

/** The decision as one FHIR RequestGroup: the policy's cards, then one coverage-information update per order. */
function asRequestGroup(result: DecisionResult, policy: CompiledPolicy, subject: string, now: Date, newId: () => string): RequestGroup {
  const cards = result.applications[0]?.requestGroup;
  const contained: FhirResource[] = [...(cards?.contained ?? [])] as FhirResource[];
  const actions: RequestGroupAction[] = [...(cards?.action ?? [])];
  for (const update of result.updates) {
    // The updated order keeps its own id (CRD: nothing but the extension changes); contained ids of instantiated
    // orders are UUIDs, so they cannot collide with it.
    const id = String(update.resource['id']);
    contained.push(update.resource as unknown as FhirResource);
    actions.push({
      id: newId(),
      extension: [{ url: EXT_ASSOCIATED_RESOURCE, valueReference: { reference: update.order.reference } }],
      action: [{
        id: newId(),
        title: 'Coverage information',
        description: `Record the coverage decision on ${update.order.reference} (Da Vinci CRD coverage-information)`,
        code: [{ coding: [{ system: CARD_TYPE_SYSTEM, code: 'coverage-info' }] }],
        type: { coding: [{ system: ACTION_TYPE_SYSTEM, code: 'update' }] },
        resource: { reference: `#${id}` },
      }],
    });
  }
  return {
    resourceType: 'RequestGroup',
    id: cards?.id ?? newId(),
    ...(contained.length > 0 ? { contained } : {}),
    instantiatesCanonical: [policy.policy.canonical],
    status: 'draft',
    intent: 'proposal',
    subject: { reference: subject },
    authoredOn: now.toISOString(),
    ...(actions.length > 0 ? { action: actions } : {}),
  };
}

/**
 * PlanDefinition/$apply (FHIR R4 clinical reasoning): Parameters with `subject` (Patient/…), `data` (a Bundle of
 * the draft orders, and optionally the member's Coverage — R5's `data` parameter) and optionally `encounter`
 * and `practitioner` → a RequestGroup. It runs the same decision code as an order-sign call, restricted to this one
 * PlanDefinition: for the same input the decision, actions and alternatives equal the cards'.
 */
export async function applyOperation(policy: CompiledPolicy, body: unknown, deps: ApplyOperationDeps): Promise<RequestGroup> {
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
    else if (typeof r['id'] !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(r['id'])) {
      throw badRequest(`data.entry[${i}] (${r.resourceType}) needs an id.`, [`Bundle.entry[${i}].resource.id`]);
    } else orders.push({ resource: r, reference: `${r.resourceType}/${r['id']}` });
  });
  const patientId = subject.slice('Patient/'.length);
  const context = { patientId, userId: practitioner, ...(encounter ? { encounterId: encounter.replace(/^Encounter\//, '') } : {}) };
  const now = deps.now();
  const limits = deps.limits ?? DEFAULT_WORK_LIMITS;
  try {
    const result = await decide({
      catalog: deps.catalog,
      hook: 'order-sign',
      primary: true,
      orders: orders.filter(isDecidable),
      context,
      variables: { context, draftOrders: orders.map((o) => o.resource), hook: 'order-sign' },
      // The data is all there is: no EHR to read from (a payor named only by reference stays unidentified).
      member: () => memberCoverage(deps.catalog.knowledge.payer, {
        patient: () => Promise.resolve(undefined),
        coverage: () => Promise.resolve({ status: 'ok', resource: { resourceType: 'Bundle', entry: coverages.map((resource) => ({ resource })) } }),
        read: () => Promise.resolve({ status: 'absent' }),
      }, limits.maxCoverages),
      maxDecisions: limits.maxDecisions,
      decideCoverage: true,
      allowDraft: deps.allowDraft,
      only: policy,
      now,
      newId: deps.newId,
      resolveUrl: deps.resolveUrl,
      onExpressionError: deps.onExpressionError,
    });
    return asRequestGroup(result, policy, subject, now, deps.newId);
  } catch (e) {
    if (e instanceof OtherPayerError) throw new HttpError(400, 'business-rule', e.message, ["Parameters.parameter.where(name='data')"]);
    throw e;
  }
}
