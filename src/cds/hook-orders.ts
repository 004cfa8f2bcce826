import type { OrderInScope } from '../engine/apply';
import type { MemberData, MemberDataSource } from '../decision/member';
import { bundleResources, isDecidable, ordersInScope } from '../decision/scope';
import { HttpError } from '../http/errors';

/** FHIR R4 core extension an R4 Appointment uses to be based on a MedicationRequest or DeviceRequest (R5 allows it). */
const ALTERNATE_REFERENCE = 'http://hl7.org/fhir/StructureDefinition/alternate-reference';
/** What an Appointment may be based on (CRD profile-appointment-with-order: ServiceRequest, or via alternate-reference). */
const BASED_ON_TYPES = /^(ServiceRequest|MedicationRequest|DeviceRequest)\/[A-Za-z0-9\-.]{1,64}$/;

/** The orders a hook call decides on, and every request resource of the call (`%draftOrders` for conditions). */
export interface HookOrders {
  orders: OrderInScope[];
  callOrders: Array<Record<string, unknown>>;
}

type Resource = Record<string, unknown> & { resourceType: string };

/**
 * The local references an Appointment is based on: `basedOn.reference` to a ServiceRequest, or the
 * alternate-reference extension's `valueReference` to a MedicationRequest or DeviceRequest. Absolute URLs and
 * display-only references name nothing this service may read (it reads only the call's fhirServer).
 */
function basedOnReferences(appointment: Resource): string[] {
  const out: string[] = [];
  for (const b of Array.isArray(appointment['basedOn']) ? appointment['basedOn'] as Array<Record<string, unknown> | null> : []) {
    const direct = typeof b?.['reference'] === 'string' ? b['reference'] : undefined;
    const alternate = (Array.isArray(b?.['extension']) ? b['extension'] as Array<{ url?: unknown; valueReference?: { reference?: unknown } } | null> : [])
      .find((e) => e?.url === ALTERNATE_REFERENCE)?.valueReference?.reference;
    for (const ref of [direct, alternate]) if (typeof ref === 'string' && BASED_ON_TYPES.test(ref) && !out.includes(ref)) out.push(ref);
  }
  return out;
}

/**
 * An order the call names but does not carry: from prefetch or the EHR. When it can be had neither way the service
 * cannot decide on it: CDS Hooks 2.0 §HTTP Response 412 ("unable to retrieve the necessary FHIR data … through a
 * prefetch request or directly calling the FHIR server"; CRD found-32 keeps 412 for exactly this case).
 */
async function namedOrder(source: MemberDataSource, reference: string, role: string, location: string): Promise<OrderInScope> {
  const data: MemberData = await source.read(reference);
  if (data.status === 'ok') return { resource: data.resource, reference };
  const why = data.status === 'absent' ? 'the EHR\'s FHIR server has no such resource' : data.reason;
  throw new HttpError(412, 'incomplete', `${reference} (${role}) was not in prefetch and could not be read: ${why}. Send it in prefetch, or fhirServer with fhirAuthorization.`, [location]);
}

/**
 * appointment-book: each Appointment still to happen. One based on an order is decided through that order — the
 * coverage information goes on the ServiceRequest, not the Appointment (CRD 2.2 cards.md, FHIR-50318); one based on
 * nothing is decided as itself, by its serviceType (CRD profile-appointment-no-order). Orders shared by several
 * Appointments are decided once.
 */
async function appointmentOrders(context: Record<string, unknown>, source: MemberDataSource): Promise<HookOrders> {
  const appointments = bundleResources(context['appointments']);
  const pending: Array<Promise<OrderInScope & { basedOn?: true }>> = [];
  const seen = new Set<string>();
  appointments.forEach((appointment, i) => {
    if (!isDecidable(appointment)) return;
    const refs = basedOnReferences(appointment.resource);
    if (refs.length === 0) pending.push(Promise.resolve(appointment));
    for (const ref of refs) {
      if (seen.has(ref)) continue;
      seen.add(ref);
      const location = `context.appointments.entry[${i}].resource.basedOn`;
      pending.push(namedOrder(source, ref, `the order ${appointment.reference} is based on`, location).then((o) => ({ ...o, basedOn: true as const })));
    }
  });
  const resolved = await Promise.all(pending);
  const basedOn = resolved.filter((o) => o.basedOn).map(({ resource, reference }) => ({ resource, reference }));
  return {
    orders: resolved.map(({ resource, reference }) => ({ resource, reference })).filter(isDecidable),
    callOrders: [...appointments.map((a) => a.resource), ...basedOn.map((o) => o.resource)],
  };
}

/** order-dispatch: the dispatched orders only (CRD hook-30), from prefetch or the EHR. */
async function dispatchedOrders(context: Record<string, unknown>, source: MemberDataSource): Promise<HookOrders> {
  const refs = [...new Set(Array.isArray(context['dispatchedOrders']) ? context['dispatchedOrders'] as string[] : [])];
  const orders = await Promise.all(refs.map((ref) => namedOrder(source, ref, 'a dispatched order', `context.dispatchedOrders[${(context['dispatchedOrders'] as string[]).indexOf(ref)}]`)));
  return { orders: orders.filter(isDecidable), callOrders: orders.map((o) => o.resource) };
}

/**
 * The orders a hook call decides on (CRD 2.2 hooks.md): the selected draft orders (order-select), every draft order
 * (order-sign), the appointments' orders (appointment-book), the dispatched orders (order-dispatch). Orders that
 * are not to be performed (doNotPerform, ended) are left out (decision/scope.ts).
 */
export async function ordersForHook(hook: string, context: Record<string, unknown>, source: MemberDataSource): Promise<HookOrders> {
  if (hook === 'appointment-book') return appointmentOrders(context, source);
  if (hook === 'order-dispatch') return dispatchedOrders(context, source);
  const drafts = bundleResources(context['draftOrders']);
  return { orders: ordersInScope(hook, drafts, context['selections']), callOrders: drafts.map((d) => d.resource) };
}
