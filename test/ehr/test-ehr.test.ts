/**
 * The test EHR is itself a fixture other tests rely on: prove its authorization server enforces what a real one
 * does (PKCE S256, single-use codes, registered redirect URIs, user denial) and its FHIR server enforces tokens
 * and scopes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { startTestEhr } from './test-ehr';
import type { Json, LaunchContext, TestEhr } from './test-ehr';

const CLIENT = 'sacroplasty-cds-app';
const REDIRECT = 'http://127.0.0.1:9/smart/app';
const SCOPE = 'launch openid fhirUser patient/Patient.rs patient/ServiceRequest.rs patient/ServiceRequest.c patient/Coverage.rs';

const b64url = (b: Buffer): string => b.toString('base64url');
const json = (res: Response): Promise<Json> => res.json() as Promise<Json>;

interface Pkce { verifier: string; challenge: string }
function pkce(): Pkce {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

function authorizeUrl(ehr: TestEhr, p: Pkce, extra: Record<string, string | null> = {}): string {
  const params: Record<string, string | null> = {
    response_type: 'code', client_id: CLIENT, redirect_uri: REDIRECT, scope: SCOPE, aud: ehr.fhirBaseUrl,
    state: b64url(randomBytes(24)), code_challenge: p.challenge, code_challenge_method: 'S256', ...extra,
  };
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null) q.set(k, v);
  return `${ehr.origin}/authorize?${q.toString()}`;
}

/** GET /authorize without following the redirect. */
async function authorize(ehr: TestEhr, p: Pkce, extra: Record<string, string | null> = {}): Promise<{ status: number; location: URL | undefined; body: string }> {
  const res = await fetch(authorizeUrl(ehr, p, extra), { redirect: 'manual' });
  const loc = res.headers.get('location');
  return { status: res.status, location: loc ? new URL(loc) : undefined, body: await res.text() };
}

async function token(ehr: TestEhr, form: Record<string, string>): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${ehr.origin}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: await json(res) };
}

/** A full EHR launch: authorize (auto-approved) then exchange the code; returns the token response. */
async function launchAndToken(ehr: TestEhr, ctx: LaunchContext = { patient: 'p1', encounter: 'e1' }, scope = SCOPE): Promise<Json> {
  const p = pkce();
  const launch = ehr.createLaunch(ctx);
  const a = await authorize(ehr, p, { launch, scope });
  expect(a.status).toBe(302);
  const code = a.location?.searchParams.get('code');
  expect(code).toBeTruthy();
  const t = await token(ehr, { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: p.verifier });
  expect(t.status).toBe(200);
  return t.body;
}

const fhirGet = (ehr: TestEhr, path: string, accessToken?: string): Promise<Response> =>
  fetch(`${ehr.fhirBaseUrl}/${path}`, { headers: { accept: 'application/fhir+json', ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) } });

const fhirPost = (ehr: TestEhr, type: string, resource: unknown, accessToken: string): Promise<Response> =>
  fetch(`${ehr.fhirBaseUrl}/${type}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${accessToken}` }, body: JSON.stringify(resource) });

describe('test EHR', () => {
  let ehr: TestEhr;
  beforeEach(async () => {
    ehr = await startTestEhr({ redirectUris: [REDIRECT] });
  });
  afterEach(async () => {
    await ehr.close();
  });

  it('publishes a SMART configuration with PKCE S256 and EHR launch, with CORS', async () => {
    const res = await fetch(`${ehr.fhirBaseUrl}/.well-known/smart-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const body = await json(res);
    expect(body).toMatchObject({
      authorization_endpoint: `${ehr.origin}/authorize`,
      token_endpoint: `${ehr.origin}/token`,
      grant_types_supported: ['authorization_code'],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    });
    expect(body.capabilities).toEqual(expect.arrayContaining(['launch-ehr', 'launch-standalone', 'client-public', 'context-ehr-patient', 'context-banner', 'permission-v2', 'sso-openid-connect']));
    const pre = await fetch(`${ehr.fhirBaseUrl}/Patient/p1`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('Authorization');
  });

  it('publishes a CapabilityStatement with the OAuth URIs and the patient search parameters', async () => {
    const body = await json(await fhirGet(ehr, 'metadata'));
    expect(body.resourceType).toBe('CapabilityStatement');
    const oauth = body.rest[0].security.extension.find((e: Json) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    expect(oauth.extension).toEqual([{ url: 'authorize', valueUri: `${ehr.origin}/authorize` }, { url: 'token', valueUri: `${ehr.origin}/token` }]);
    const sr = body.rest[0].resource.find((r: Json) => r.type === 'ServiceRequest');
    expect(sr.searchParam.map((p: Json) => String(p.name))).toEqual(expect.arrayContaining(['patient', 'code', 'status']));
    expect(sr.interaction.map((i: Json) => String(i.code))).toEqual(['read', 'search-type', 'create']);
  });

  it('gives the launch context, including appContext and fhirContext, and an id_token naming the user', async () => {
    const appContext = JSON.stringify({ order: 'ServiceRequest/sr-sacro-1' });
    const body = await launchAndToken(ehr, { patient: 'p1', encounter: 'e1', appContext, fhirContext: [{ reference: 'ServiceRequest/sr-sacro-1' }] });
    expect(body).toMatchObject({
      token_type: 'Bearer', expires_in: 3600, scope: SCOPE, patient: 'p1', encounter: 'e1', need_patient_banner: true, appContext,
      fhirContext: [{ reference: 'ServiceRequest/sr-sacro-1' }],
    });
    expect(body.access_token).toMatch(/^[\w-]{20,}$/);
    const payload = JSON.parse(Buffer.from(String(body.id_token).split('.')[1]!, 'base64url').toString('utf8'));
    expect(payload).toMatchObject({ fhirUser: 'Practitioner/d1', iss: ehr.fhirBaseUrl, aud: CLIENT });
    expect(payload.exp).toBeGreaterThan(payload.iat);
    const banner = await launchAndToken(ehr, { patient: 'p1', needPatientBanner: false });
    expect(banner.need_patient_banner).toBe(false);
    expect(banner).not.toHaveProperty('appContext');
  });

  it('a standalone launch asking for launch/patient gets patient p1', async () => {
    const p = pkce();
    const a = await authorize(ehr, p, { scope: 'launch/patient openid fhirUser patient/*.rs' });
    const t = await token(ehr, { grant_type: 'authorization_code', code: a.location!.searchParams.get('code')!, redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: p.verifier });
    expect(t.status).toBe(200);
    expect(t.body.patient).toBe('p1');
  });

  it('rejects a token request whose PKCE code_verifier does not match the challenge', async () => {
    const p = pkce();
    const a = await authorize(ehr, p, { launch: ehr.createLaunch({ patient: 'p1' }) });
    const t = await token(ehr, { grant_type: 'authorization_code', code: a.location!.searchParams.get('code')!, redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: pkce().verifier });
    expect(t).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
  });

  it('rejects an authorization without PKCE S256 by redirecting with invalid_request', async () => {
    const a = await authorize(ehr, pkce(), { code_challenge_method: 'plain', launch: ehr.createLaunch({ patient: 'p1' }) });
    expect(a.status).toBe(302);
    expect(a.location?.searchParams.get('error')).toBe('invalid_request');
    expect(a.location?.searchParams.get('code')).toBeNull();
    const short = await authorize(ehr, pkce(), { state: 'abc', launch: ehr.createLaunch({ patient: 'p1' }) });
    expect(short.location?.searchParams.get('error')).toBe('invalid_request');
    const unknownLaunch = await authorize(ehr, pkce(), { launch: 'nope' });
    expect(unknownLaunch.location?.searchParams.get('error')).toBe('invalid_request');
    const wrongAud = await authorize(ehr, pkce(), { aud: 'http://elsewhere.example/fhir', launch: ehr.createLaunch({ patient: 'p1' }) });
    expect(wrongAud.location?.searchParams.get('error')).toBe('invalid_request');
  });

  it('rejects reuse of an authorization code, and revokes the token it issued', async () => {
    const p = pkce();
    const a = await authorize(ehr, p, { launch: ehr.createLaunch({ patient: 'p1' }) });
    const form = { grant_type: 'authorization_code', code: a.location!.searchParams.get('code')!, redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: p.verifier };
    const first = await token(ehr, form);
    expect(first.status).toBe(200);
    expect((await fhirGet(ehr, 'Patient/p1', first.body.access_token)).status).toBe(200);
    const again = await token(ehr, form);
    expect(again).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
    expect((await fhirGet(ehr, 'Patient/p1', first.body.access_token)).status).toBe(401);
  });

  it('rejects a token request whose redirect_uri differs from the authorization request', async () => {
    const p = pkce();
    const a = await authorize(ehr, p, { launch: ehr.createLaunch({ patient: 'p1' }) });
    const t = await token(ehr, { grant_type: 'authorization_code', code: a.location!.searchParams.get('code')!, redirect_uri: 'http://127.0.0.1:9/other', client_id: CLIENT, code_verifier: p.verifier });
    expect(t).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
  });

  it('answers an unregistered redirect_uri or client with a 400 page and never redirects', async () => {
    const launch = ehr.createLaunch({ patient: 'p1' });
    const a = await authorize(ehr, pkce(), { launch, redirect_uri: 'http://evil.example/cb' });
    expect(a.status).toBe(400);
    expect(a.location).toBeUndefined();
    expect(a.body).toContain('redirect_uri');
    const b = await authorize(ehr, pkce(), { launch, client_id: 'someone-else' });
    expect(b.status).toBe(400);
    expect(b.location).toBeUndefined();
  });

  it('in deny mode redirects once with error=access_denied and the state, then approves again', async () => {
    ehr.denyNextAuthorization();
    const state = b64url(randomBytes(24));
    const a = await authorize(ehr, pkce(), { launch: ehr.createLaunch({ patient: 'p1' }), state });
    expect(a.status).toBe(302);
    expect(`${a.location!.origin}${a.location!.pathname}`).toBe(REDIRECT);
    expect(Object.fromEntries(a.location!.searchParams)).toEqual({ error: 'access_denied', error_description: 'The user denied access', state });
    const b = await authorize(ehr, pkce(), { launch: ehr.createLaunch({ patient: 'p1' }) });
    expect(b.location?.searchParams.get('code')).toBeTruthy();
  });

  it('FHIR requires a bearer token: 401 OperationOutcome without one or with an unknown one', async () => {
    const none = await fhirGet(ehr, 'Patient/p1');
    expect(none.status).toBe(401);
    expect((await json(none)).resourceType).toBe('OperationOutcome');
    expect((await fhirGet(ehr, 'Patient/p1', 'made-up')).status).toBe(401);
  });

  it('reads and searches with the token: patient, code (system|code or bare, comma lists), status, _id', async () => {
    const { access_token: at } = await launchAndToken(ehr);
    const p = await json(await fhirGet(ehr, 'Patient/p1', at));
    expect(p.name[0]).toMatchObject({ given: ['Eleanor'], family: 'Whitfield' });
    expect((await fhirGet(ehr, 'Patient/nope', at)).status).toBe(404);
    const ids = async (q: string): Promise<string[]> => {
      const b = await json(await fhirGet(ehr, q, at));
      expect(b).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
      return ((b.entry ?? []) as Json[]).map((e: Json) => String(e.resource.id));
    };
    expect(await ids('ServiceRequest?patient=p1')).toEqual(['sr-sacro-1', 'sr-pt-1']);
    expect(await ids('ServiceRequest?patient=Patient/p1&code=http://www.ama-assn.org/go/cpt|0200T,http://www.ama-assn.org/go/cpt|0201T')).toEqual(['sr-sacro-1']);
    expect(await ids('ServiceRequest?code=0200T')).toEqual(['sr-sacro-1']);
    expect(await ids('ServiceRequest?code=http://snomed.info/sct|0200T')).toEqual([]);
    expect(await ids('ServiceRequest?patient=p1&status=active')).toEqual(['sr-pt-1']);
    expect(await ids('ServiceRequest?_id=sr-pt-1')).toEqual(['sr-pt-1']);
    expect(await ids('Coverage?patient=p1')).toEqual(['c1']);
    expect(await ids('ServiceRequest?patient=p2')).toEqual([]);
  });

  it('seeds a second sacroplasty order only when asked', async () => {
    await ehr.close();
    ehr = await startTestEhr({ redirectUris: [REDIRECT], secondSacroplasty: true });
    const { access_token: at } = await launchAndToken(ehr);
    const b = await json(await fhirGet(ehr, `ServiceRequest?patient=p1&code=${encodeURIComponent('http://www.ama-assn.org/go/cpt|0200T,http://www.ama-assn.org/go/cpt|0201T')}`, at));
    expect(b.entry.map((e: Json) => String(e.resource.id))).toEqual(['sr-sacro-1', 'sr-sacro-2']);
  });

  it('creates with a write scope (201, Location, recorded) and refuses without one (403)', async () => {
    const order = { resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '97161' }] } };
    const { access_token: writer } = await launchAndToken(ehr);
    const ok = await fhirPost(ehr, 'ServiceRequest', order, writer);
    expect(ok.status).toBe(201);
    const body = await json(ok);
    expect(ok.headers.get('location')).toBe(`${ehr.fhirBaseUrl}/ServiceRequest/${String(body.id)}/_history/1`);
    expect(ehr.created).toEqual([expect.objectContaining({ resourceType: 'ServiceRequest', id: body.id })]);
    expect(ehr.store.get(`ServiceRequest/${String(body.id)}`)).toBeDefined();
    // The write scope was granted, but not for DeviceRequest.
    expect((await fhirPost(ehr, 'DeviceRequest', { resourceType: 'DeviceRequest' }, writer)).status).toBe(403);

    ehr.setGrantWrite(false);
    const t = await launchAndToken(ehr);
    expect(t.scope).toBe('launch openid fhirUser patient/Patient.rs patient/ServiceRequest.rs patient/Coverage.rs');
    const denied = await fhirPost(ehr, 'ServiceRequest', order, t.access_token);
    expect(denied.status).toBe(403);
    expect((await json(denied)).resourceType).toBe('OperationOutcome');
    expect(ehr.created).toHaveLength(1);
  });

  it('strips v1 write scopes and v2 c/u/d permissions when write is not granted', async () => {
    ehr.setGrantWrite(false);
    const t = await launchAndToken(ehr, { patient: 'p1' }, 'launch openid patient/*.* patient/ServiceRequest.write patient/MedicationRequest.cruds patient/DeviceRequest.c');
    expect(t.scope).toBe('launch openid patient/*.read patient/MedicationRequest.rs');
  });

  it('expired tokens get 401', async () => {
    const { access_token: at } = await launchAndToken(ehr);
    expect((await fhirGet(ehr, 'Patient/p1', at)).status).toBe(200);
    ehr.expireTokens();
    const res = await fhirGet(ehr, 'Patient/p1', at);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await json(res)).issue[0].diagnostics).toMatch(/expired/i);
  });

  it('records every request with its Authorization header', async () => {
    const { access_token: at } = await launchAndToken(ehr);
    await fhirGet(ehr, 'Coverage/c1', at);
    expect(ehr.requests.at(-1)).toEqual({ method: 'GET', path: '/fhir/Coverage/c1', authorization: `Bearer ${String(at)}` });
    expect(ehr.requests.some((r) => r.path.startsWith('/authorize?') && r.path.includes('code_challenge_method=S256'))).toBe(true);
  });
});
