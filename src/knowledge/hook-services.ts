import Ajv from 'ajv';
import type { SupportedHook } from '../fhir/constants';
import { SUPPORTED_HOOKS } from '../fhir/constants';

/**
 * A CDS service as the payer declares it in `cds-services/*.json`: one per hook, whatever the number of policies
 * (CRD 2.2 found-15: one endpoint capable of handling all coverages; EHRs register a service per hook). The
 * discovery fields of CDS Hooks 2.0 §Discovery, plus `aliases`: older ids that still answer (not listed in
 * discovery), so EHRs registered under them keep working while they move to the new id.
 */
export interface HookService {
  id: string;
  hook: SupportedHook;
  title: string;
  description: string;
  prefetch?: Record<string, string>;
  usageRequirements?: string;
  aliases?: string[];
}

const ID = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

const schema = {
  type: 'object',
  required: ['id', 'hook', 'title', 'description'],
  additionalProperties: false,
  properties: {
    $comment: { type: 'string' },
    id: { type: 'string', pattern: ID },
    hook: { enum: [...SUPPORTED_HOOKS] },
    title: { type: 'string', minLength: 1 },
    description: { type: 'string', minLength: 1 },
    prefetch: { type: 'object', additionalProperties: { type: 'string', minLength: 1 }, minProperties: 1 },
    usageRequirements: { type: 'string', minLength: 1 },
    aliases: { type: 'array', items: { type: 'string', pattern: ID }, uniqueItems: true },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile<HookService>(schema);

/** Checks one service file; returns its problems as `path: message` pairs (empty when valid). */
export function checkHookService(json: unknown): Array<{ path: string; message: string }> {
  if (validate(json)) return [];
  return (validate.errors ?? []).map((e) => ({
    path: e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(root)',
    message: e.keyword === 'enum' && e.instancePath === '/hook'
      ? `must be one of ${SUPPORTED_HOOKS.join(', ')} (the hooks this service decides on; README "Hooks")`
      : e.keyword === 'additionalProperties'
      ? `unknown property "${String((e.params as { additionalProperty?: string }).additionalProperty)}"${(e.params as { additionalProperty?: string }).additionalProperty === 'planDefinition' ? ' (a service now answers for every policy in the catalog: remove it)' : ''}`
      : e.message ?? 'invalid',
  }));
}
