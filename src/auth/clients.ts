import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import type { JSONWebKeySet } from 'jose';
import { parseRule } from '../egress/target-policy';
import type { TargetRule } from '../egress/target-policy';

/**
 * An EHR this payer trusts (CDS Hooks 2.0 §Trusting CDS Clients): its issuer, and its keys either at a registered
 * `jwks_uri` (the only URL ever fetched for it) or inline. `tenant` pins the tenant claim when given.
 * `fhirServers` are the FHIR base URLs its calls may name as `fhirServer` (and its SMART launches as `iss`): the
 * service sends the client's access token to nothing else. A base on a private network by name says so with
 * `{"url": …, "privateNetwork": true}`; one written as a loopback/private IP address or `localhost` needs nothing.
 */
export interface TrustedClient {
  iss: string;
  jwks_uri?: string;
  jwks?: JSONWebKeySet;
  tenant?: string;
  fhirServers?: Array<string | { url: string; privateNetwork?: boolean }>;
}

/** The client's registered fhirServers as target rules (https only in production; exact bases, no wildcards). */
export function clientTargets(client: TrustedClient, production: boolean): TargetRule[] {
  return (client.fhirServers ?? []).map((f) => parseRule(typeof f === 'string' ? f : f.url, {
    what: `fhirServers of ${client.iss}`, production, wildcards: false, privateNetwork: typeof f === 'string' ? false : f.privateNetwork === true,
  }));
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
      fhirServers: {
        type: 'array',
        items: {
          oneOf: [
            { type: 'string', pattern: '^https?://', maxLength: 2048 },
            { type: 'object', required: ['url'], additionalProperties: false, properties: { url: { type: 'string', pattern: '^https?://', maxLength: 2048 }, privateNetwork: { type: 'boolean' } } },
          ],
        },
      },
    },
    oneOf: [{ required: ['jwks_uri'] }, { required: ['jwks'] }],
  },
} as const;
const validate = new Ajv({ allErrors: true }).compile<TrustedClient[]>(schema);

/** Reads and checks the CDS_CLIENTS file; throws a message naming the file and the problem. */
export function loadTrustedClients(file: string, options: { production?: boolean } = {}): TrustedClient[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`CDS_CLIENTS ${file}: cannot be read as JSON (${(e as Error).message})`);
  }
  if (!validate(json)) {
    const first = validate.errors?.[0];
    throw new Error(`CDS_CLIENTS ${file}: ${first?.instancePath || '(root)'} ${first?.message ?? 'is invalid'} (each entry: {"iss", "jwks_uri" or "jwks", optional "tenant" and "fhirServers"})`);
  }
  const seen = new Set<string>();
  for (const c of json) {
    if (seen.has(c.iss)) throw new Error(`CDS_CLIENTS ${file}: issuer ${c.iss} is listed twice`);
    seen.add(c.iss);
    try {
      clientTargets(c, options.production === true);
    } catch (e) {
      throw new Error(`CDS_CLIENTS ${file}: ${(e as Error).message}`);
    }
  }
  return json;
}
