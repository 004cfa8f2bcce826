import Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import type { SupportedHook } from '../fhir/constants';

/**
 * JSON Schemas for CDS Hooks 2.0 requests, written from the spec (no official schema exists):
 * §HTTP Request (hook, hookInstance, fhirServer, fhirAuthorization, context, prefetch) and the context of
 * order-select 1.0 and order-sign 1.1. Unknown properties are allowed everywhere: CDS Hooks says unknown elements
 * SHALL be ignored, and CRD says the same of unknown context keys.
 */
const MAX_ORDERS = 5000;
const reference = { type: 'string', minLength: 3, maxLength: 256, pattern: '^[A-Za-z]+/[A-Za-z0-9\\-.]{1,64}$' };
const draftOrders = {
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
            properties: {
              resourceType: { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' },
              id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
            },
          },
        },
      },
    },
  },
};
const commonContext = {
  userId: reference,
  patientId: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
  encounterId: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
  draftOrders,
};

const base = {
  type: 'object',
  required: ['hook', 'hookInstance', 'context'],
  properties: {
    hook: { type: 'string', minLength: 1, maxLength: 128 },
    hookInstance: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
    fhirServer: { type: 'string', maxLength: 2048, pattern: '^https?://[^\\s]+$' },
    fhirAuthorization: {
      type: 'object',
      required: ['access_token', 'token_type', 'expires_in', 'scope', 'subject'],
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
    properties: { ...commonContext, selections: { type: 'array', minItems: 1, maxItems: MAX_ORDERS, items: reference } },
  },
  'order-sign': {
    type: 'object',
    required: ['userId', 'patientId', 'draftOrders'],
    properties: commonContext,
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

/** Validates a hook request for a service's hook; returns the first problem, or undefined when valid. */
export function validateHookRequest(hook: SupportedHook, body: unknown): { location: string; message: string } | undefined {
  const validate = validators[hook];
  if (validate(body)) return undefined;
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
