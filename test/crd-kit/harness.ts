/**
 * Drives the running service the way the Da Vinci CRD server test kit (v2.2.1) does (notes/crd-kit.md §2):
 * discovery, then per hook group a POST per request body (with the kit's JWT) — each re-prepared with a new hookInstance, the mock EHR
 * as fhirServer and a session access token — followed by at most one of each follow-up (coverage-info disabled,
 * unknown configuration key, unknown context key, unknown top-level element) triggered by the first body whose
 * response qualifies. Every exchange is recorded with the hook as tag plus the follow-up's tag, as the kit stores them.
 *
 * The mock EHR is a loopback FHIR server holding the mock_ehr_bundle: read (`Type/id`) and search (`Type?_id=`,
 * `patient`, `status`), bearer token required; `Bearer TRIGGER_500_STATUS` gets HTTP 500 for every request (the
 * kit's technical-issues scenario).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import type { KeyLike } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadConfig } from '../../src/config';
import type { AppConfig } from '../../src/config';
import { startService } from '../../src/server';
import type { RunningService } from '../../src/server';
import { KNOWLEDGE_DIR, SERVICES_DIR, sendFhir, silentLogger, startFhirServer } from '../helpers';
import type { FhirTestServer } from '../helpers';
import { coverageInfoResponse, coverageInfoSystemActionResponse, isObject } from './checks';
import type { Exchange, Json } from './checks';
import { seededDataDir } from '../data-dir';

export const TRIGGER_500_STATUS = 'TRIGGER_500_STATUS';
/** The kit's issuer: `<inferno base>/custom/crd_server_v221`; its JWKS is at `<issuer>/jwks.json`. */
export const KIT_ISSUER = 'https://inferno.example/custom/crd_server_v221';
export const TAG = {
  coverageInfoDisabled: 'coverage-info-disabled',
  unknownConfiguration: 'unknown-configuration',
  unknownContext: 'unknown-context',
  unknownElement: 'unknown-element',
} as const;

/**
 * The service's configuration for this suite, in one place: open (no CDS_CLIENTS, so no JWT), loopback, its own
 * data directory. Reading the mock EHR on 127.0.0.1 is allowed today; if an SSRF allow-list lands
 * (FHIR_SERVER_ALLOWLIST), the loopback mock EHR's origin is added here.
 */
export function kitServiceConfig(mockEhrUrl: string): AppConfig {
  void mockEhrUrl;
  return loadConfig({
    PORT: '0', HOST: '127.0.0.1', KNOWLEDGE_DIR, CDS_SERVICES_DIR: SERVICES_DIR,
    DATA_DIR: seededDataDir('crd-kit'),
    LOG_LEVEL: 'silent',
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Mock EHR
// ---------------------------------------------------------------------------------------------------------------

/** The kit's session token: base64url JSON {session_id, expiration, nonce} (MockEHR::FHIRRequestHandler). */
export function sessionToken(sessionId: string, minutes = 5): string {
  const json = JSON.stringify({ session_id: sessionId, expiration: Math.floor(Date.now() / 1000) + minutes * 60, nonce: randomBytes(8).toString('hex') });
  return Buffer.from(json, 'utf8').toString('base64url');
}

function tokenSession(token: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { session_id?: unknown };
    return typeof parsed.session_id === 'string' ? parsed.session_id : undefined;
  } catch {
    return undefined;
  }
}

const outcome = (code: string, text: string): Json => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] });

function referenceValues(resource: Json, key: string): string[] {
  const v = resource[key];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.map((x) => (isObject(x) && typeof x['reference'] === 'string' ? x['reference'] : '')).filter(Boolean);
}

/** FHIR search over the bundle: _id, patient (subject/patient/beneficiary), status; any other parameter is refused. */
function search(resources: Json[], type: string, params: URLSearchParams): Json | undefined {
  let hits = resources.filter((r) => r['resourceType'] === type);
  for (const [name, value] of params) {
    if (name === '_id') {
      const ids = new Set(value.split(','));
      hits = hits.filter((r) => ids.has(String(r['id'])));
    } else if (name === 'patient') {
      const id = value.replace(/^Patient\//, '');
      hits = hits.filter((r) => ['subject', 'patient', 'beneficiary'].some((k) => referenceValues(r, k).some((ref) => ref === `Patient/${id}` || ref === id)));
    } else if (name === 'status') {
      const statuses = new Set(value.split(','));
      hits = hits.filter((r) => statuses.has(String(r['status'])));
    } else {
      return undefined;
    }
  }
  return { resourceType: 'Bundle', type: 'searchset', total: hits.length, entry: hits.map((resource) => ({ fullUrl: `${type}/${String(resource['id'])}`, resource, search: { mode: 'match' } })) };
}

export interface MockEhr {
  server: FhirTestServer;
  sessionId: string;
}

export async function startMockEhr(bundle: Json, sessionId: string = randomUUID()): Promise<MockEhr> {
  const resources = (Array.isArray(bundle['entry']) ? bundle['entry'] as Json[] : []).map((e) => e['resource']).filter(isObject);
  const server = await startFhirServer((req: IncomingMessage, res: ServerResponse) => {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (token === TRIGGER_500_STATUS) {
      sendFhir(res, 500, outcome('exception', 'Simulated EHR outage (TRIGGER_500_STATUS)'));
      return;
    }
    if (tokenSession(token) !== sessionId) {
      sendFhir(res, 401, outcome('login', 'The access token does not belong to this test session.'));
      return;
    }
    const url = new URL(req.url ?? '/', 'http://mock-ehr');
    const path = url.pathname.replace(/^\/fhir\/?/, '');
    const [type, id, ...rest] = path.split('/');
    if (req.method !== 'GET' || !type || rest.length > 0) {
      sendFhir(res, 400, outcome('not-supported', `Only read and search are supported: ${req.method ?? ''} ${url.pathname}`));
      return;
    }
    if (id) {
      const found = resources.find((r) => r['resourceType'] === type && r['id'] === id);
      if (found) sendFhir(res, 200, found);
      else sendFhir(res, 404, outcome('not-found', `No resource found with id ${type}/${id}`));
      return;
    }
    const result = search(resources, type, url.searchParams);
    if (result) sendFhir(res, 200, result);
    else sendFhir(res, 400, outcome('not-supported', `Unsupported search parameter in ${url.search}`));
  });
  return { server, sessionId };
}

// ---------------------------------------------------------------------------------------------------------------
// Invocation
// ---------------------------------------------------------------------------------------------------------------

export interface KitEnvironment {
  service: RunningService;
  ehr: MockEhr;
  stop: () => Promise<void>;
}

export async function startKitEnvironment(mockEhrBundle: Json): Promise<KitEnvironment> {
  const ehr = await startMockEhr(mockEhrBundle);
  let service: RunningService;
  try {
    service = await startService(kitServiceConfig(ehr.server.url), silentLogger);
    await service.storageReady;
  } catch (e) {
    await ehr.server.close();
    throw e;
  }
  return {
    service, ehr,
    stop: async () => {
      await service.stop();
      await ehr.server.close();
    },
  };
}

/** GET {base}/cds-services with Accept: application/json (crd_v221_discovery_endpoint_test). */
export async function getDiscovery(baseUrl: string): Promise<{ status: number; text: string; body: unknown }> {
  const res = await fetch(`${baseUrl.replace(/\/$/, '')}/cds-services`, { headers: { accept: 'application/json' } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, text, body };
}

/** The first discovered service for the hook, as the kit picks it when no `<hook>_service_ids` input is given. */
export function serviceIdFor(discovery: unknown, hook: string): string | undefined {
  const services = isObject(discovery) && Array.isArray(discovery['services']) ? discovery['services'] : [];
  const found = services.find((s): s is Json => isObject(s) && s['hook'] === hook);
  return found && typeof found['id'] === 'string' ? found['id'] : undefined;
}

const randomKey = (): string => Array.from({ length: 16 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

export interface InvokeOptions {
  /** The access token given to the service (default: a session token the mock EHR accepts). */
  accessToken?: string;
  /** false: no follow-ups (invoke_hook_no_special_requests / invoke_hook_with_bad_auth). */
  followUps?: boolean;
  /** The tag every exchange gets (the kit tags with the hook name; scenarios with their own). */
  tag?: string;
}

/** What the kit's prepare_hook_request does to a body before each POST. */
export function prepareHookRequest(body: Json, fhirServer: string, accessToken: string): Json {
  const prepared = structuredClone(body);
  prepared['hookInstance'] = randomUUID();
  prepared['fhirServer'] = fhirServer;
  const auth = isObject(prepared['fhirAuthorization']) ? prepared['fhirAuthorization'] : {};
  if (auth['expires_in'] === undefined || auth['expires_in'] === null || auth['expires_in'] === '') auth['expires_in'] = 300;
  auth['access_token'] = accessToken;
  prepared['fhirAuthorization'] = auth;
  return prepared;
}

let signingKey: Promise<KeyLike> | undefined;

/**
 * The JWT the kit signs for every hook call (server/jwt_helper.rb): ES384, header typ/kid/jku, payload only iss, aud
 * (the service endpoint), exp (+5 min), iat and jti — no sub. The service under test runs open and ignores it; it is
 * sent so the calls are the kit's, header for header.
 */
async function kitJwt(audience: string): Promise<string> {
  signingKey ??= generateKeyPair('ES384').then((k) => k.privateKey);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomBytes(32).toString('hex') })
    .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: '4b49a739d1eb115b3225f4cf9beb6d1b', jku: `${KIT_ISSUER}/jwks.json` })
    .setIssuer(KIT_ISSUER).setAudience(audience).setIssuedAt(now).setExpirationTime(now + 300)
    .sign(await signingKey);
}

/** POSTs a hook request as the kit does: JSON body, the kit's JWT. */
export async function postHook(url: string, body: Json): Promise<{ status: number; text: string; response: unknown }> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${await kitJwt(url)}` };
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  let response: unknown;
  try {
    response = JSON.parse(text);
  } catch {
    response = undefined;
  }
  return { status: res.status, text, response };
}

/**
 * One hook group's Interaction: every body in order, each followed by the follow-ups the kit would send
 * (jobs/invoke_hook.rb: coverage-info disabled only when the response carries coverage information; the three
 * unknown-element follow-ups only when it carries a coverage-information or form-completion system action).
 */
export async function invokeHookGroup(env: KitEnvironment, hook: string, serviceId: string, bodies: Json[], options: InvokeOptions = {}): Promise<Exchange[]> {
  const endpoint = `${env.service.url}/cds-services/${serviceId}`;
  const fhirServer = env.ehr.server.url;
  const token = (): string => options.accessToken ?? sessionToken(env.ehr.sessionId);
  const tag = options.tag ?? hook;
  const exchanges: Exchange[] = [];
  const send = async (request: Json, extraTags: string[] = [], addedKey?: string): Promise<Exchange> => {
    const r = await postHook(endpoint, request);
    const exchange: Exchange = { hook, tags: [tag, ...extraTags], request, status: r.status, response: r.response, text: r.text, ...(addedKey ? { addedKey } : {}) };
    exchanges.push(exchange);
    return exchange;
  };
  const sent = { disabled: false, configuration: false, context: false, element: false };
  for (const original of bodies) {
    const request = prepareHookRequest(original, fhirServer, token());
    const first = await send(request);
    if (options.followUps === false || first.status !== 200) continue;
    const response = first.response;
    if (!sent.disabled && coverageInfoResponse(response)) {
      const copy = prepareHookRequest(request, fhirServer, token());
      const extension = isObject(copy['extension']) ? copy['extension'] : (copy['extension'] = {}) as Json;
      const configuration = isObject(extension['davinci-crd.configuration']) ? extension['davinci-crd.configuration'] : (extension['davinci-crd.configuration'] = {}) as Json;
      configuration['coverage-info'] = false;
      await send(copy, [TAG.coverageInfoDisabled]);
      sent.disabled = true;
    }
    if (!coverageInfoSystemActionResponse(response)) continue;
    if (!sent.configuration) {
      const copy = prepareHookRequest(request, fhirServer, token());
      const key = randomKey();
      const extension = isObject(copy['extension']) ? copy['extension'] : (copy['extension'] = {}) as Json;
      const configuration = isObject(extension['davinci-crd.configuration']) ? extension['davinci-crd.configuration'] : (extension['davinci-crd.configuration'] = {}) as Json;
      configuration[key] = true;
      await send(copy, [TAG.unknownConfiguration], key);
      sent.configuration = true;
    }
    if (!sent.context) {
      const copy = prepareHookRequest(request, fhirServer, token());
      const key = randomKey();
      (copy['context'] as Json)[key] = randomKey();
      await send(copy, [TAG.unknownContext], key);
      sent.context = true;
    }
    if (!sent.element) {
      const copy = prepareHookRequest(request, fhirServer, token());
      const key = randomKey();
      copy[key] = randomKey();
      await send(copy, [TAG.unknownElement], key);
      sent.element = true;
    }
  }
  return exchanges;
}
