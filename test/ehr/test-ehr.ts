/**
 * A small but real test EHR for SMART App Launch tests: an OAuth 2 authorization server (authorize with PKCE S256,
 * token with launch context and appContext) and a FHIR R4 server, on one loopback port. Everything the browser calls
 * cross-origin carries CORS headers, as a real EHR's would for a browser-based public client.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A FHIR resource or element as open JSON: tests and the fixture read arbitrary paths of it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- FHIR JSON is open-ended (the fixture's contract types it as any)
export type Json = any;

export interface TestEhrOptions {
  /** The registered public client (default 'sacroplasty-cds-app'). */
  clientId?: string;
  /** Exact redirect URIs registered for the client. */
  redirectUris: string[];
  /** Whether token scopes may include create/write permissions (default true). */
  grantWrite?: boolean;
  /** Seed a second sacroplasty order (sr-sacro-2, CPT 0201T) so the app must let the user choose. */
  secondSacroplasty?: boolean;
}

export interface LaunchContext {
  /** The patient in context; absent for a launch from outside a chart (the app must not search without one). */
  patient?: string;
  encounter?: string;
  /** A string as CDS Hooks 2.0 passes it; an object for EHRs that hand the app the parsed JSON instead. */
  appContext?: string | Record<string, unknown>;
  fhirContext?: Array<{ reference: string }>;
  needPatientBanner?: boolean;
}

export interface TestEhr {
  origin: string;
  /** origin + '/fhir': the `iss` of launches. */
  fhirBaseUrl: string;
  /** 'Type/id' → resource. */
  store: Map<string, Json>;
  /** Resources created through POST /fhir/{type}. */
  created: Json[];
  /** Every request seen; `path` includes the query string. */
  requests: Array<{ method: string; path: string; authorization?: string }>;
  /** Registers an EHR launch and returns its opaque `launch` id. */
  createLaunch(ctx: LaunchContext): string;
  /** The next authorization request is denied by the "user" (one-shot). */
  denyNextAuthorization(): void;
  /** Every access token issued so far stops working. */
  expireTokens(): void;
  setGrantWrite(v: boolean): void;
  close(): Promise<void>;
}

export const CPT = 'http://www.ama-assn.org/go/cpt';
export const SNOMED = 'http://snomed.info/sct';
export const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';

const CODE_TTL_MS = 60_000;
const TOKEN_TTL_S = 3600;

interface PendingCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  context: LaunchContext | undefined;
  issuedAt: number;
  used: boolean;
  /** Tokens issued from this code (revoked if the code is replayed, RFC 6749 §4.1.2). */
  tokens: string[];
}

interface IssuedToken {
  scopes: string[];
  expiresAt: number;
  revoked: boolean;
}

function b64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64url');
}

function signJwt(payload: Record<string, unknown>, secret: Buffer): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function outcome(severity: 'error' | 'fatal', code: string, diagnostics: string): Record<string, unknown> {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

/** The seed chart: Eleanor Whitfield, her coverage, encounter and orders. */
function seed(options: TestEhrOptions): Map<string, Json> {
  const resources: Json[] = [
    {
      resourceType: 'Patient', id: 'p1',
      identifier: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }], text: 'MRN' }, system: 'http://ehr.example/mrn', value: 'MRN-0042178' }],
      name: [{ use: 'official', given: ['Eleanor'], family: 'Whitfield' }],
      birthDate: '1948-03-02', gender: 'female',
    },
    { resourceType: 'Practitioner', id: 'd1', name: [{ prefix: ['Dr'], given: ['Alan'], family: 'Reyes', text: 'Dr Alan Reyes' }] },
    {
      resourceType: 'Encounter', id: 'e1', status: 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      subject: { reference: 'Patient/p1' }, participant: [{ individual: { reference: 'Practitioner/d1' } }],
      period: { start: '2026-11-23T10:30:00Z' },
    },
    {
      resourceType: 'Coverage', id: 'c1', status: 'active', beneficiary: { reference: 'Patient/p1' },
      subscriberId: 'VIP-556677', payor: [{ display: 'AmeriHealth Caritas VIP Care' }],
    },
    {
      resourceType: 'ServiceRequest', id: 'sr-sacro-1', status: 'draft', intent: 'order',
      code: { coding: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }], text: 'Sacroplasty, left' },
      bodySite: [{ coding: [{ system: SNOMED, code: '54735007', display: 'Sacrum' }], text: 'Sacrum, left' }],
      reasonCode: [{ coding: [{ system: ICD10CM, code: 'M84.48XA', display: 'Pathological fracture, other site, initial encounter for fracture' }], text: 'Sacral insufficiency fracture' }],
      subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' }, requester: { reference: 'Practitioner/d1' },
      authoredOn: '2026-11-23T11:00:00Z',
    },
    {
      resourceType: 'ServiceRequest', id: 'sr-pt-1', status: 'active', intent: 'order',
      code: { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercises' }], text: 'Therapeutic exercise' },
      subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' }, requester: { reference: 'Practitioner/d1' },
      authoredOn: '2026-11-20T09:00:00Z',
    },
  ];
  if (options.secondSacroplasty) {
    resources.push({
      resourceType: 'ServiceRequest', id: 'sr-sacro-2', status: 'draft', intent: 'order',
      code: { coding: [{ system: CPT, code: '0201T', display: 'Percutaneous sacral augmentation (sacroplasty), bilateral injections' }], text: 'Sacroplasty, bilateral' },
      bodySite: [{ coding: [{ system: SNOMED, code: '54735007', display: 'Sacrum' }], text: 'Sacrum, bilateral' }],
      reasonCode: [{ coding: [{ system: ICD10CM, code: 'M84.48XA', display: 'Pathological fracture, other site, initial encounter for fracture' }], text: 'Sacral insufficiency fracture' }],
      subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' }, requester: { reference: 'Practitioner/d1' },
      authoredOn: '2026-11-23T11:05:00Z',
    });
  }
  return new Map(resources.map((r) => [`${String(r.resourceType)}/${String(r.id)}`, r]));
}

/** Resource types the FHIR server declares, with their search parameters. */
const DECLARED: Record<string, string[]> = {
  Patient: ['_id'],
  ServiceRequest: ['_id', 'patient', 'code', 'status', 'encounter'],
  Coverage: ['_id', 'patient', 'status'],
  Encounter: ['_id', 'patient', 'status'],
  MedicationRequest: ['_id', 'patient', 'code', 'status', 'encounter'],
  DeviceRequest: ['_id', 'patient', 'code', 'status', 'encounter'],
};

const SCOPES_SUPPORTED = [
  'openid', 'fhirUser', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access',
  'patient/*.read', 'patient/*.write', 'patient/*.*', 'patient/*.rs', 'patient/*.cruds',
  ...Object.keys(DECLARED).flatMap((t) => [`patient/${t}.rs`, `patient/${t}.read`]),
  'patient/ServiceRequest.c', 'patient/MedicationRequest.c', 'patient/DeviceRequest.c',
];

/** Whether a granted scope allows creating `type` in the patient compartment (SMART v1 and v2 syntax). */
function allowsCreate(scope: string, type: string): boolean {
  const m = /^(patient|user|system)\/([A-Za-z*]+)\.(.+)$/.exec(scope);
  if (!m || m[1] !== 'patient') return false;
  if (m[2] !== '*' && m[2] !== type) return false;
  const perm = m[3] ?? '';
  if (perm === '*' || perm === 'write') return true;
  return /^c?r?u?d?s?$/.test(perm) && perm.includes('c');
}

/** The requested scopes minus everything that would allow create/update/delete. */
function withoutWrite(scopes: string[]): string[] {
  const out: string[] = [];
  for (const s of scopes) {
    const m = /^((?:patient|user|system)\/[A-Za-z*]+)\.(.+)$/.exec(s);
    if (!m) { out.push(s); continue; }
    const [, base, perm = ''] = m;
    if (perm === 'read') out.push(s);
    else if (perm === '*') out.push(`${base ?? ''}.read`);
    else if (perm === 'write') continue;
    else if (/^c?r?u?d?s?$/.test(perm)) {
      const kept = perm.replace(/[cud]/g, '');
      if (kept) out.push(`${base ?? ''}.${kept}`);
    } else out.push(s);
  }
  return out;
}

interface Coding { system?: string; code?: string }
function codingsOf(r: Json): Coding[] {
  const concepts: Json[] = [r.code, r.codeCodeableConcept, r.medicationCodeableConcept, r.type].filter(Boolean);
  const out: Coding[] = [];
  for (const c of concepts.flatMap((x: Json): Json[] => (Array.isArray(x) ? x : [x]))) {
    if (Array.isArray(c?.coding)) out.push(...(c.coding as Coding[]));
  }
  return out;
}

function refMatches(ref: unknown, type: string, id: string): boolean {
  if (typeof ref !== 'string') return false;
  const want = id.includes('/') ? id : `${type}/${id}`;
  return ref === want || ref.endsWith(`/${want}`);
}

function patientRefs(r: Json): unknown[] {
  if (r.resourceType === 'Patient') return [`Patient/${String(r.id)}`];
  return [r.subject?.reference, r.patient?.reference, r.beneficiary?.reference];
}

function matchesSearch(r: Json, params: URLSearchParams): boolean {
  for (const [name, raw] of params) {
    const values = raw.split(',').map((v) => v.trim()).filter(Boolean);
    if (name === '_id') {
      if (!values.includes(String(r.id))) return false;
    } else if (name === 'patient' || name === 'subject' || name === 'beneficiary') {
      if (!values.some((v) => patientRefs(r).some((ref) => refMatches(ref, 'Patient', v)))) return false;
    } else if (name === 'encounter') {
      if (!values.some((v) => refMatches(r.encounter?.reference, 'Encounter', v))) return false;
    } else if (name === 'status') {
      if (!values.includes(String(r.status))) return false;
    } else if (name === 'code') {
      const codings = codingsOf(r);
      const hit = values.some((v) => {
        const bar = v.indexOf('|');
        if (bar < 0) return codings.some((c) => c.code === v);
        const system = v.slice(0, bar);
        const code = v.slice(bar + 1);
        return codings.some((c) => c.code === code && (system === '' ? !c.system : c.system === system));
      });
      if (!hit) return false;
    }
    // _count, _sort, _format and other result parameters are accepted and ignored, as lenient servers do.
  }
  return true;
}

function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the test EHR on 127.0.0.1:<random port>. */
export async function startTestEhr(options: TestEhrOptions): Promise<TestEhr> {
  const clientId = options.clientId ?? 'sacroplasty-cds-app';
  const redirectUris = new Set(options.redirectUris);
  let grantWrite = options.grantWrite ?? true;
  let denyNext = false;
  const store = seed(options);
  const created: Json[] = [];
  const requests: TestEhr['requests'] = [];
  const launches = new Map<string, LaunchContext>();
  const codes = new Map<string, PendingCode>();
  const tokens = new Map<string, IssuedToken>();
  const jwtSecret = randomBytes(32);
  let origin = '';
  let fhirBaseUrl = '';

  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': 'Authorization, Content-Type, Accept',
    'access-control-expose-headers': 'Location, Content-Location, ETag',
    'access-control-max-age': '600',
  };

  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json', headers: Record<string, string> = {}): void => {
    res.writeHead(status, { ...cors, 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const fhir = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => send(res, status, body, 'application/fhir+json', headers);
  const html = (res: ServerResponse, status: number, title: string, message: string): void =>
    send(res, status, `<!doctype html><html><head><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`, 'text/html');
  const redirect = (res: ServerResponse, target: string): void => {
    res.writeHead(302, { ...cors, location: target, 'cache-control': 'no-store' });
    res.end();
  };

  const smartConfiguration = (): Record<string, unknown> => ({
    issuer: fhirBaseUrl,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    grant_types_supported: ['authorization_code'],
    response_types_supported: ['code'],
    token_endpoint_auth_methods_supported: ['none'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: SCOPES_SUPPORTED,
    capabilities: ['launch-ehr', 'launch-standalone', 'client-public', 'context-ehr-patient', 'context-ehr-encounter',
      'context-standalone-patient', 'context-banner', 'permission-v2', 'permission-patient', 'sso-openid-connect'],
  });

  const capabilityStatement = (): Record<string, unknown> => ({
    resourceType: 'CapabilityStatement', status: 'active', date: '2026-11-01', kind: 'instance', fhirVersion: '4.0.1',
    format: ['json'], software: { name: 'Sacroplasty test EHR' }, implementation: { description: 'Test EHR', url: fhirBaseUrl },
    rest: [{
      mode: 'server',
      security: {
        cors: true,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
        extension: [{
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'authorize', valueUri: `${origin}/authorize` }, { url: 'token', valueUri: `${origin}/token` }],
        }],
      },
      resource: Object.entries(DECLARED).map(([type, params]) => ({
        type,
        interaction: [{ code: 'read' }, { code: 'search-type' }, { code: 'create' }],
        searchParam: params.map((name) => ({ name, type: name === 'patient' || name === 'encounter' ? 'reference' : name === '_id' ? 'token' : 'token' })),
      })),
    }],
  });

  function authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri') ?? '';
    if (q.get('client_id') !== clientId) return html(res, 400, 'Unknown client', `client_id "${q.get('client_id') ?? ''}" is not registered.`);
    if (!redirectUris.has(redirectUri)) return html(res, 400, 'Invalid redirect_uri', `redirect_uri "${redirectUri}" is not registered for this client.`);
    const state = q.get('state') ?? '';
    const fail = (error: string, description: string): void => {
      const target = new URL(redirectUri);
      target.searchParams.set('error', error);
      target.searchParams.set('error_description', description);
      if (state) target.searchParams.set('state', state);
      redirect(res, target.toString());
    };
    if (q.get('response_type') !== 'code') return fail('invalid_request', 'response_type must be code');
    if (state.length < 22) return fail('invalid_request', 'state is missing or too short');
    if (q.get('aud') !== fhirBaseUrl) return fail('invalid_request', `aud must be ${fhirBaseUrl}`);
    const codeChallenge = q.get('code_challenge') ?? '';
    if (!codeChallenge || q.get('code_challenge_method') !== 'S256') return fail('invalid_request', 'PKCE with code_challenge_method S256 is required');
    const scope = q.get('scope') ?? '';
    const scopes = scope.split(/\s+/).filter(Boolean);
    const launchId = q.get('launch');
    let context: LaunchContext | undefined;
    if (launchId !== null) {
      if (!scopes.includes('launch')) return fail('invalid_request', 'an EHR launch requires the launch scope');
      context = launches.get(launchId);
      if (!context) return fail('invalid_request', 'unknown launch');
    } else if (scopes.includes('launch/patient')) {
      // Standalone launch: the "user" picks the only patient on file.
      context = { patient: 'p1' };
    }
    if (denyNext) {
      denyNext = false;
      return fail('access_denied', 'The user denied access');
    }
    const code = b64url(randomBytes(32));
    codes.set(code, { clientId, redirectUri, codeChallenge, scope, context, issuedAt: Date.now(), used: false, tokens: [] });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    target.searchParams.set('state', state);
    redirect(res, target.toString());
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded')) return send(res, 400, { error: 'invalid_request', error_description: 'form-encoded body required' });
    const form = new URLSearchParams(await readBody(req));
    const bad = (error: string, description: string): void => send(res, 400, { error, error_description: description });
    if (form.get('grant_type') !== 'authorization_code') return bad('unsupported_grant_type', 'only authorization_code is supported');
    const code = form.get('code') ?? '';
    const pending = codes.get(code);
    if (!pending) return bad('invalid_grant', 'unknown code');
    if (pending.used) {
      for (const t of pending.tokens) {
        const issued = tokens.get(t);
        if (issued) issued.revoked = true;
      }
      return bad('invalid_grant', 'code already used');
    }
    pending.used = true;
    if (Date.now() - pending.issuedAt > CODE_TTL_MS) return bad('invalid_grant', 'code expired');
    if (form.get('redirect_uri') !== pending.redirectUri) return bad('invalid_grant', 'redirect_uri does not match');
    if (form.get('client_id') !== pending.clientId) return bad('invalid_grant', 'client_id does not match');
    const verifier = form.get('code_verifier') ?? '';
    if (!verifier || b64url(createHash('sha256').update(verifier).digest()) !== pending.codeChallenge) return bad('invalid_grant', 'PKCE verification failed');

    const requested = pending.scope.split(/\s+/).filter(Boolean);
    const granted = grantWrite ? requested : withoutWrite(requested);
    const accessToken = b64url(randomBytes(32));
    tokens.set(accessToken, { scopes: granted, expiresAt: Date.now() + TOKEN_TTL_S * 1000, revoked: false });
    pending.tokens.push(accessToken);
    const ctx = pending.context;
    const now = Math.floor(Date.now() / 1000);
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: TOKEN_TTL_S, scope: granted.join(' ') };
    if (ctx) {
      if (ctx.patient) body['patient'] = ctx.patient;
      if (ctx.encounter) body['encounter'] = ctx.encounter;
      body['need_patient_banner'] = ctx.needPatientBanner ?? true;
      if (ctx.appContext !== undefined) body['appContext'] = ctx.appContext;
      if (ctx.fhirContext) body['fhirContext'] = ctx.fhirContext;
    }
    if (requested.includes('openid')) {
      body['id_token'] = signJwt({ iss: fhirBaseUrl, sub: 'd1', aud: clientId, exp: now + TOKEN_TTL_S, iat: now, fhirUser: 'Practitioner/d1', name: 'Dr Alan Reyes' }, jwtSecret);
    }
    send(res, 200, body);
  }

  async function fhirApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    const issued = m ? tokens.get(m[1] ?? '') : undefined;
    if (!issued) return fhir(res, 401, outcome('error', 'login', 'A valid bearer token is required.'), { 'www-authenticate': 'Bearer realm="fhir", error="invalid_token"' });
    if (issued.revoked || issued.expiresAt <= Date.now()) {
      return fhir(res, 401, outcome('error', 'expired', 'The access token has expired.'), { 'www-authenticate': 'Bearer realm="fhir", error="invalid_token", error_description="The access token expired"' });
    }
    const parts = url.pathname.slice('/fhir/'.length).split('/').filter(Boolean).map(decodeURIComponent);
    const [type, id, ...rest] = parts;
    if (!type || !/^[A-Z][A-Za-z]+$/.test(type) || rest.length > 0) return fhir(res, 404, outcome('error', 'not-found', `Unknown path ${url.pathname}`));
    if (req.method === 'GET' && id !== undefined) {
      const r = store.get(`${type}/${id}`);
      if (!r) return fhir(res, 404, outcome('error', 'not-found', `${type}/${id} is not known`));
      return fhir(res, 200, r);
    }
    if (req.method === 'GET') {
      const matches = [...store.values()].filter((r) => r.resourceType === type && matchesSearch(r, url.searchParams));
      return fhir(res, 200, {
        resourceType: 'Bundle', id: randomUUID(), type: 'searchset', total: matches.length,
        link: [{ relation: 'self', url: `${fhirBaseUrl}/${type}${url.search}` }],
        entry: matches.map((resource) => ({ fullUrl: `${fhirBaseUrl}/${type}/${String(resource.id)}`, resource, search: { mode: 'match' } })),
      });
    }
    if (req.method === 'POST' && id === undefined) {
      if (!issued.scopes.some((s) => allowsCreate(s, type))) return fhir(res, 403, outcome('error', 'forbidden', `The granted scopes do not allow creating ${type}.`));
      let resource: Json;
      try {
        resource = JSON.parse(await readBody(req));
      } catch {
        return fhir(res, 400, outcome('error', 'invalid', 'The body is not JSON.'));
      }
      if (!resource || typeof resource !== 'object' || resource.resourceType !== type) return fhir(res, 400, outcome('error', 'invalid', `The body must be a ${type}.`));
      resource.id = randomUUID();
      resource.meta = { ...(resource.meta ?? {}), versionId: '1', lastUpdated: new Date().toISOString() };
      store.set(`${type}/${String(resource.id)}`, resource);
      created.push(resource);
      return fhir(res, 201, resource, { location: `${fhirBaseUrl}/${type}/${String(resource.id)}/_history/1`, etag: 'W/"1"' });
    }
    return fhir(res, 405, outcome('error', 'not-supported', `${req.method ?? ''} ${url.pathname} is not supported.`));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    const path = url.pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && path === '/fhir/.well-known/smart-configuration') return send(res, 200, smartConfiguration());
    if (req.method === 'GET' && path === '/fhir/metadata') return fhir(res, 200, capabilityStatement());
    if (req.method === 'GET' && path === '/authorize') return authorize(url, res);
    if (req.method === 'POST' && path === '/token') return token(req, res);
    if (path.startsWith('/fhir/')) return fhirApi(req, res, url);
    return send(res, 404, { error: 'not_found' });
  }

  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, outcome('fatal', 'exception', (e as Error).message));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  fhirBaseUrl = `${origin}/fhir`;

  return {
    origin,
    fhirBaseUrl,
    store,
    created,
    requests,
    createLaunch(ctx: LaunchContext): string {
      const id = b64url(randomBytes(16));
      launches.set(id, { ...ctx });
      return id;
    },
    denyNextAuthorization(): void {
      denyNext = true;
    },
    expireTokens(): void {
      for (const t of tokens.values()) t.expiresAt = 0;
    },
    setGrantWrite(v: boolean): void {
      grantWrite = v;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
