import type { OrderInScope } from '../engine/apply';

/** The request resources CRD decides on (CRD 2.2 hooks.md: the order types of order-select/-sign/-dispatch). */
export const DECIDABLE_TYPES: ReadonlySet<string> = new Set([
  'ServiceRequest', 'MedicationRequest', 'DeviceRequest', 'NutritionOrder', 'VisionPrescription', 'CommunicationRequest', 'Appointment',
]);

/** Statuses of an order or appointment that is no longer one to perform: nothing to decide (FHIR R4 request-status, appointmentstatus). */
const ENDED = new Set(['revoked', 'entered-in-error', 'completed', 'cancelled', 'fulfilled', 'noshow']);

/** Every resource of a Bundle as `Type/id` references (the request schema guarantees both are present). */
export function bundleResources(bundle: unknown): OrderInScope[] {
  const entries = (bundle as { entry?: Array<{ resource?: Record<string, unknown> & { resourceType: string; id: string } }> } | undefined)?.entry ?? [];
  const out: OrderInScope[] = [];
  for (const e of entries) {
    const r = e?.resource;
    if (r) out.push({ resource: r, reference: `${r.resourceType}/${r.id}` });
  }
  return out;
}

/**
 * Whether the payer decides on this resource: an order type CRD covers, still to be performed, and not a request
 * NOT to do it — a `doNotPerform` ServiceRequest says the service must not happen (the CRD ServiceRequest profile:
 * servers SHALL understand doNotPerform), so there is no coverage to decide.
 */
export function isDecidable(order: OrderInScope): boolean {
  const r = order.resource;
  if (!DECIDABLE_TYPES.has(r.resourceType)) return false;
  if (r['doNotPerform'] === true) return false;
  return !(typeof r['status'] === 'string' && ENDED.has(r['status']));
}

/**
 * The orders a hook decides on. order-select: only the `selections` (guidance "should focus on the selected
 * orders"; CRD hook-34); order-sign: every draft order. Orders that are not decidable are left out.
 */
export function ordersInScope(hook: string, drafts: OrderInScope[], selections: unknown): OrderInScope[] {
  const decidable = drafts.filter(isDecidable);
  if (hook !== 'order-select') return decidable;
  const selected = new Set(Array.isArray(selections) ? selections.filter((s): s is string => typeof s === 'string') : []);
  return decidable.filter((o) => selected.has(o.reference));
}
