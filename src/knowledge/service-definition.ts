import Ajv from 'ajv';
import type { SupportedHook } from '../fhir/constants';
import { SUPPORTED_HOOKS } from '../fhir/constants';

/**
 * A CDS service as a payer declares it in `cds-services/*.json`: the discovery fields of CDS Hooks 2.0
 * (§Discovery) plus the canonical of the PlanDefinition it applies. Discovery is generated from these; an id is
 * written nowhere else.
 */
export interface ServiceDefinition {
  id: string;
  hook: SupportedHook;
  title: string;
  description: string;
  planDefinition: string;
  prefetch?: Record<string, string>;
  usageRequirements?: string;
}

const schema = {
  type: 'object',
  required: ['id', 'hook', 'title', 'description', 'planDefinition'],
  additionalProperties: false,
  properties: {
    $comment: { type: 'string' },
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
    hook: { enum: [...SUPPORTED_HOOKS] },
    title: { type: 'string', minLength: 1 },
    description: { type: 'string', minLength: 1 },
    planDefinition: { type: 'string', minLength: 1 },
    prefetch: { type: 'object', additionalProperties: { type: 'string', minLength: 1 }, minProperties: 1 },
    usageRequirements: { type: 'string', minLength: 1 },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile<ServiceDefinition>(schema);

/** Checks one service file; returns its problems as `path: message` pairs (empty when valid). */
export function checkServiceDefinition(json: unknown): Array<{ path: string; message: string }> {
  if (validate(json)) return [];
  return (validate.errors ?? []).map((e) => ({
    path: e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(root)',
    message: e.keyword === 'additionalProperties'
      ? `unknown property "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`
      : e.message ?? 'invalid',
  }));
}
