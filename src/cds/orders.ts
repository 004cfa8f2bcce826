import type { OrderInScope } from '../engine/apply';

interface BundleLike { entry?: Array<{ resource?: Record<string, unknown> & { resourceType: string; id: string } }> }

/** Every draft order in the Bundle, as `Type/id` references (the request schema guarantees both are present). */
export function draftOrdersOf(bundle: unknown): OrderInScope[] {
  const entries = (bundle as BundleLike | undefined)?.entry ?? [];
  const out: OrderInScope[] = [];
  for (const e of entries) {
    const r = e.resource;
    if (r) out.push({ resource: r, reference: `${r.resourceType}/${r.id}` });
  }
  return out;
}

/**
 * The orders a hook decides on. order-select: only the `selections` (the spec: guidance "should focus on the
 * selected orders"; the other drafts are context). order-sign: every draft order.
 */
export function ordersInScope(hook: string, drafts: OrderInScope[], selections: unknown): OrderInScope[] {
  if (hook !== 'order-select') return drafts;
  const selected = new Set(Array.isArray(selections) ? selections.filter((s): s is string => typeof s === 'string') : []);
  return drafts.filter((o) => selected.has(o.reference));
}
