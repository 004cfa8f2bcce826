import Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import type { SupportedHook } from '../fhir/constants';

/**
 * JSON Schemas for CDS Hooks 2.0 requests, written from the spec (no official schema exists):
 * §HTTP Request (hook, hookInstance, fhirServer, fhirAuthorization, context, prefetch) and the context of
 * order-select 1.0, order-sign 1.1, appointment-book 1.0 and order-dispatch 1.1 (CDS Hooks hook library; CRD 2.2
 * hook-24, hook-31). Unknown properties are allowed everywhere: CDS Hooks says unknown elements SHALL be ignored,
 * and CRD says the same of unknown context keys (hook-23).
 */
const MAX_ORDERS = 5000;
const ID = '^[A-Za-z0-9\\-.]{1,64}$';
const reference = { type: 'string', minLength: 3, maxLength: 256, pattern: '^[A-Za-z]+/[A-Za-z0-9\\-.]{1,64}$' };
/** A Bundle whose entries are resources with a type and an id (draftOrders; appointments: only Appointments). */
const resourceBundle = (resourceType: object) => ({
  type: 'object',
  required: ['resourceType'],
  properties: {
    resourceType: { const: 'Bundle' },
    type: { type: 'string' },
    entry: {
      type: 'array',
      maxItems: MAX_ORDERS,
      items: {
        type: 'object',
        required: ['resource'],
        properties: {
          resource: {
            type: 'object',
            required: ['resourceType', 'id'],
            properties: { resourceType, id: { type: 'string', pattern: ID } },
          },
        },
      },
    },
  },
});
const draftOrders = resourceBundle({ type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' });
const patientId = { type: 'string', pattern: ID };
const encounterId = { type: 'string', pattern: ID };

const base = {
  type: 'object',
  required: ['hook', 'hookInstance', 'context'],
  properties: {
    hook: { type: 'string', minLength: 1, maxLength: 128 },
    hookInstance: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
    fhirServer: { type: 'string', maxLength: 2048, pattern: '^https?://[^\\s]+$' },
    // CDS Hooks 2.0 §Passing the Access Token lists access_token, token_type ("Bearer"), expires_in, scope and
    // subject as required. Only the token is needed to read the EHR's FHIR server; the rest is informational, and
    // clients omit it in the wild (the CRD test kit sends {access_token, expires_in}). So: the token is required, a
    // token_type other than Bearer is refused (the service could not use it correctly), and the rest is checked
    // only for its type when present (README "Departures").
    fhirAuthorization: {
      type: 'object',
      required: ['access_token'],
      properties: {
        access_token: { type: 'string', minLength: 1, maxLength: 16384 },
        token_type: { type: 'string', pattern: '^[Bb]earer$' },
        expires_in: { type: 'integer', minimum: 0 },
        scope: { type: 'string', maxLength: 8192 },
        subject: { type: 'string', maxLength: 1024 },
        patient: { type: 'string', maxLength: 256 },
      },
    },
    prefetch: { type: 'object', additionalProperties: { type: ['object', 'null'] } },
    extension: { type: 'object' },
  },
  // CDS Hooks 2.0 §HTTP Request: fhirServer is REQUIRED when fhirAuthorization is present.
  dependencies: { fhirAuthorization: ['fhirServer'] },
};

const contextSchemas: Record<SupportedHook, object> = {
  'order-select': {
    type: 'object',
    required: ['userId', 'patientId', 'selections', 'draftOrders'],
    properties: { userId: reference, patientId, encounterId, draftOrders, selections: { type: 'array', minItems: 1, maxItems: MAX_ORDERS, items: reference } },
  },
  'order-sign': {
    type: 'object',
    required: ['userId', 'patientId', 'draftOrders'],
    properties: { userId: reference, patientId, encounterId, draftOrders },
  },
  // appointment-book 1.0: "FHIR Bundle of Appointments in 'proposed' state" (the status is not enforced: CRD
  // allows booked or other statuses for edits, profile-appointment-*.status comment).
  'appointment-book': {
    type: 'object',
    required: ['userId', 'patientId', 'appointments'],
    properties: { userId: reference, patientId, encounterId, appointments: resourceBundle({ const: 'Appointment' }) },
  },
  // order-dispatch 1.1: no userId or encounterId; the orders are references, the performer a reference, the Tasks
  // objects (each for one of the dispatched orders).
  'order-dispatch': {
    type: 'object',
    required: ['patientId', 'dispatchedOrders', 'performer'],
    properties: {
      patientId,
      dispatchedOrders: { type: 'array', minItems: 1, maxItems: MAX_ORDERS, items: reference },
      performer: reference,
      fulfillmentTasks: {
        type: 'array',
        maxItems: MAX_ORDERS,
        items: { type: 'object', required: ['resourceType'], properties: { resourceType: { const: 'Task' }, id: { type: 'string', pattern: ID } } },
      },
    },
  },
};

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const validators = Object.fromEntries(Object.entries(contextSchemas).map(([hook, context]) => [
  hook, ajv.compile({ ...base, properties: { ...base.properties, context } }),
])) as Record<SupportedHook, ReturnType<typeof ajv.compile>>;

/** What a failed pattern means, by property name: people read these, not regular expressions. */
const PATTERN_MEANING: Record<string, string> = {
  hookInstance: 'must be a UUID (e.g. d1577c69-dfbe-44ad-ba6d-3e05e953b2ea)',
  userId: 'must be a FHIR reference such as Practitioner/123',
  selections: 'must hold FHIR references such as ServiceRequest/123',
  dispatchedOrders: 'must hold FHIR references such as ServiceRequest/123',
  performer: 'must be a FHIR reference such as Practitioner/123',
  patientId: 'must be a FHIR id (1–64 letters, digits, "-" or ".")',
  encounterId: 'must be a FHIR id (1–64 letters, digits, "-" or ".")',
  id: 'must be a FHIR id (1–64 letters, digits, "-" or ".")',
  resourceType: 'must be a FHIR resource type',
  fhirServer: 'must be an http(s) URL',
  token_type: 'must be "Bearer"',
  outcomeTimestamp: 'must be an ISO 8601 date-time with a time zone (e.g. 2026-11-23T10:05:00Z)',
};

/** Converts an ajv error to "context.selections: must have at least 1 item" with a FHIRPath-like location. */
function describe(e: ErrorObject): { location: string; message: string } {
  let location = e.instancePath.slice(1).replace(/\//g, '.').replace(/\.(\d+)(?=\.|$)/g, '[$1]');
  if (e.keyword === 'required') location = [location, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.');
  if (e.keyword === 'dependencies') location = 'fhirServer';
  const message = e.keyword === 'pattern' ? PATTERN_MEANING[location.replace(/\[\d+\]/g, '').split('.').pop() ?? ''] ?? `has an invalid format`
    : e.keyword === 'required' ? 'is required'
    : e.keyword === 'dependencies' ? 'is required when fhirAuthorization is present'
      : e.keyword === 'const' ? `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`
        : e.message ?? 'is invalid';
  return { location: location || '(body)', message };
}

/**
 * Request types of earlier FHIR versions and their FHIR R4 successors. CRD 2.2 is FHIR R4 only; an order of an
 * older version is not something to ignore silently (the payer would say nothing about an order it governs), it is
 * a request this service cannot read: 400, naming the R4 type to send.
 */
const OLDER_FHIR_TYPES: Readonly<Record<string, string>> = {
  ProcedureRequest: 'ServiceRequest (ProcedureRequest is FHIR STU3)',
  ReferralRequest: 'ServiceRequest (ReferralRequest is FHIR STU3)',
  DiagnosticOrder: 'ServiceRequest (DiagnosticOrder is FHIR DSTU2)',
  MedicationOrder: 'MedicationRequest (MedicationOrder is FHIR DSTU2)',
  DeviceUseRequest: 'DeviceRequest (DeviceUseRequest is FHIR DSTU2)',
};

type Problem = { location: string; message: string };

function olderFhirType(type: unknown, location: string): Problem | undefined {
  const successor = typeof type === 'string' ? OLDER_FHIR_TYPES[type] : undefined;
  return successor ? { location, message: `is ${String(type)}: this service speaks FHIR R4 (CRD 2.2); send ${successor}` } : undefined;
}

/** The first order of an older FHIR version in the context, where the hook names orders. */
function olderFhirOrder(context: Record<string, unknown>): Problem | undefined {
  const entries = (context['draftOrders'] as { entry?: Array<{ resource: { resourceType: string } }> } | undefined)?.entry ?? [];
  for (const [i, e] of entries.entries()) {
    const problem = olderFhirType(e.resource.resourceType, `context.draftOrders.entry[${i}].resource.resourceType`);
    if (problem) return problem;
  }
  const dispatched = Array.isArray(context['dispatchedOrders']) ? context['dispatchedOrders'] as string[] : [];
  for (const [i, ref] of dispatched.entries()) {
    const problem = olderFhirType(ref.slice(0, ref.indexOf('/')), `context.dispatchedOrders[${i}]`);
    if (problem) return problem;
  }
  return undefined;
}

/** Validates a hook request for a service's hook; returns the first problem, or undefined when valid. */
export function validateHookRequest(hook: SupportedHook, body: unknown): Problem | undefined {
  const validate = validators[hook];
  if (validate(body)) return olderFhirOrder((body as { context: Record<string, unknown> }).context);
  const first = validate.errors?.[0];
  return first ? describe(first) : { location: '(body)', message: 'is invalid' };
}

/** CDS Hooks 2.0 §Feedback: `{ feedback: [ { card, outcome, acceptedSuggestions?, overrideReason?, outcomeTimestamp } ] }`. */
const feedbackValidator = ajv.compile({
  type: 'object',
  required: ['feedback'],
  properties: {
    feedback: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['card', 'outcome', 'outcomeTimestamp'],
        properties: {
          card: { type: 'string', minLength: 1, maxLength: 128 },
          outcome: { enum: ['accepted', 'overridden'] },
          acceptedSuggestions: { type: 'array', maxItems: 100, items: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } } } },
          overrideReason: {
            type: 'object',
            properties: {
              reason: { type: 'object', properties: { system: { type: 'string', maxLength: 1024 }, code: { type: 'string', maxLength: 256 }, display: { type: 'string', maxLength: 1024 } } },
              userComment: { type: 'string', maxLength: 4000 },
            },
          },
          outcomeTimestamp: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$' },
        },
      },
    },
  },
});

/**
 * Whether a date-time the pattern accepted names a real instant: years 0001–9999 (FHIR instant/dateTime and
 * xs:dateTime have no year 0000), a real calendar day (no 30 February; 29 February only in leap years), hours
 * 00–23, minutes 00–59, seconds 00–60 (a leap second, as FHIR's instant allows), offsets up to ±14:00. The
 * database would otherwise refuse the whole batch (500; issue 13, case 14).
 */
function isRealInstant(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/.exec(value);
  if (!m) return false;
  const n = (i: number): number => Number(m[i] ?? 0);
  const [year, month, day] = [n(1), n(2), n(3)];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return year >= 1 && days !== undefined && day >= 1 && day <= days && n(4) <= 23 && n(5) <= 59 && n(6) <= 60
    && n(8) <= 59 && (n(7) < 14 || (n(7) === 14 && n(8) === 0));
}

/** Validates a feedback body; returns the first problem, or undefined when valid. */
export function validateFeedback(body: unknown): { location: string; message: string } | undefined {
  const valid: boolean = feedbackValidator(body);
  if (!valid) {
    const first = feedbackValidator.errors?.[0];
    return first ? describe(first) : { location: '(body)', message: 'is invalid' };
  }
  const items = (body as { feedback: Array<{ outcomeTimestamp: string }> }).feedback;
  const bad = items.findIndex((f) => !isRealInstant(f.outcomeTimestamp));
  return bad < 0 ? undefined : { location: `feedback[${bad}].outcomeTimestamp`, message: 'must be a real date and time, years 0001–9999 (e.g. 2026-11-23T10:05:00Z)' };
}
