import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import type { JSONWebKeySet } from 'jose';

/**
 * An EHR this payer trusts (CDS Hooks 2.0 §Trusting CDS Clients): its issuer, and its keys either at a registered
 * `jwks_uri` (the only URL ever fetched for it) or inline. `tenant` pins the tenant claim when given.
 */
export interface TrustedClient {
  iss: string;
  jwks_uri?: string;
  jwks?: JSONWebKeySet;
  tenant?: string;
}

const schema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['iss'],
    additionalProperties: false,
    properties: {
      iss: { type: 'string', minLength: 1, maxLength: 2048 },
      jwks_uri: { type: 'string', pattern: '^https?://' },
      jwks: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', minItems: 1, items: { type: 'object', required: ['kty'] } } } },
      tenant: { type: 'string', minLength: 1 },
    },
    oneOf: [{ required: ['jwks_uri'] }, { required: ['jwks'] }],
  },
} as const;
const validate = new Ajv({ allErrors: true }).compile<TrustedClient[]>(schema);

/** Reads and checks the CDS_CLIENTS file; throws a message naming the file and the problem. */
export function loadTrustedClients(file: string): TrustedClient[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`CDS_CLIENTS ${file}: cannot be read as JSON (${(e as Error).message})`);
  }
  if (!validate(json)) {
    const first = validate.errors?.[0];
    throw new Error(`CDS_CLIENTS ${file}: ${first?.instancePath || '(root)'} ${first?.message ?? 'is invalid'} (each entry: {"iss", and "jwks_uri" or "jwks"})`);
  }
  const seen = new Set<string>();
  for (const c of json) {
    if (seen.has(c.iss)) throw new Error(`CDS_CLIENTS ${file}: issuer ${c.iss} is listed twice`);
    seen.add(c.iss);
  }
  return json;
}
