import type { ActivityDefinition, FhirResource, Reference } from 'fhir/r4';
import type { CompiledActivity } from './model';

/** What an instantiated order inherits from the request: the order it replaces and the hook context. */
export interface InstantiationContext {
  replaces: Record<string, unknown>;
  patientId: string;
  /** The user of the hook context; order-dispatch has none (the replaced order's requester is used, if any). */
  userId?: string;
  encounterId?: string;
  authoredOn: string;
  newId: () => string;
  env: Record<string, unknown>;
}

const ref = (reference: string): Reference => ({ reference });

function canonicalOf(ad: ActivityDefinition): string {
  return ad.version ? `${ad.url ?? ''}|${ad.version}` : ad.url ?? '';
}

/** Sets `value` at a dotted path (`patientInstruction`, `dosageInstruction.text`), creating objects on the way. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cursor = target;
  for (const part of parts.slice(0, -1)) {
    const next = cursor[part];
    if (!next || typeof next !== 'object') cursor[part] = {};
    cursor = cursor[part] as Record<string, unknown>;
  }
  cursor[parts[parts.length - 1] ?? path] = value;
}

/**
 * Instantiates an ActivityDefinition into the order a suggestion creates (FHIR R4 ActivityDefinition/$apply):
 * status draft, the definition's intent, code and priority; subject, encounter, requester and reason carried over
 * from the order it replaces (falling back to the hook context), so the clinician signs a complete order.
 * CRD expects created orders to carry status, intent, code, subject, authoredOn and requester.
 */
export function instantiate(activity: CompiledActivity, ctx: InstantiationContext): FhirResource {
  const ad = activity.resource;
  const kind = ad.kind as 'ServiceRequest' | 'MedicationRequest' | 'DeviceRequest';
  const replaced = ctx.replaces;
  const subject = (replaced['subject'] as Reference | undefined) ?? ref(`Patient/${ctx.patientId}`);
  const encounter = (replaced['encounter'] as Reference | undefined) ?? (ctx.encounterId ? ref(`Encounter/${ctx.encounterId}`) : undefined);
  const requester = (replaced['requester'] as Reference | undefined) ?? (ctx.userId ? ref(ctx.userId) : undefined);
  const reasonCode = Array.isArray(replaced['reasonCode']) && replaced['reasonCode'].length > 0 ? replaced['reasonCode'] as unknown[] : undefined;
  const reasonReference = Array.isArray(replaced['reasonReference']) && replaced['reasonReference'].length > 0 ? replaced['reasonReference'] as unknown[] : undefined;

  const resource: Record<string, unknown> = {
    resourceType: kind,
    id: ctx.newId(),
    instantiatesCanonical: [canonicalOf(ad)],
    status: 'draft',
    intent: ad.intent ?? 'order',
    ...(ad.priority ? { priority: ad.priority } : {}),
  };
  if (kind === 'MedicationRequest') {
    resource['medicationCodeableConcept'] = ad.productCodeableConcept ?? ad.code;
  } else if (kind === 'DeviceRequest') {
    resource['codeCodeableConcept'] = ad.code ?? ad.productCodeableConcept;
  } else {
    resource['code'] = ad.code;
  }
  resource['subject'] = subject;
  if (encounter) resource['encounter'] = encounter;
  resource['authoredOn'] = ctx.authoredOn;
  if (requester) resource['requester'] = requester;
  if (reasonCode) resource['reasonCode'] = reasonCode;
  if (reasonReference) resource['reasonReference'] = reasonReference;
  if (kind === 'MedicationRequest' && ad.dosage) resource['dosageInstruction'] = ad.dosage;

  for (const dv of activity.dynamicValues) {
    const result = dv.expression(ad, ctx.env);
    if (result.length === 1) setPath(resource, dv.path, result[0]);
    else if (result.length > 1) setPath(resource, dv.path, result);
  }
  return resource as unknown as FhirResource;
}
