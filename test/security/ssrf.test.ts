/**
 * Issue 13, item 8: a hook call's `fhirServer` is where the service sends the EHR's access token, so it may only be
 * a base the caller registered (CDS_CLIENTS `fhirServers`) or, open, one on FHIR_SERVER_ALLOWLIST. Real loopback
 * "SSRF listeners" count every TCP connection they get: for each unregistered target — another loopback address,
 * 127.0.0.1 spelled as a decimal/hex/octal number, `localhost`, the service's own /admin, a path or scheme beside the
 * registered base, userinfo tricks — they must get none, and the answer must say only that the fhirServer is not
 * registered (never what a target said). A registered fhirServer keeps working, and one that fails is reported
 * only as "could not be read".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Response } from 'supertest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JWK, KeyLike } from 'jose';
import { loadTrustedClients } from '../../src/auth/clients';
import type { TrustedClient } from '../../src/auth/clients';
import { MemoryReplayStore } from '../../src/auth/replay-store';
import { loadConfig } from '../../src/config';
import { guardedGet } from '../../src/egress/guarded-get';
import { checkTarget, isSpecialAddress, parseRule } from '../../src/egress/target-policy';
import { COVERAGE_INFO_URL, CPT, NOW, coverageBundle, hookRequest, outcomeCoverageInformation, patient, sacroplasty, sendFhir, startFhirServer, testApp } from '../helpers';
import type { FhirTestServer } from '../helpers';

type Json = Record<string, unknown>;

const SIGN = '/cds-services/order-sign-crd';
const DISPATCH = '/cds-services/order-dispatch-crd';
const PUBLIC = 'https://payer.example';
const TOKEN = 'ehr-access-token-ssrf-5c1e';
const NOT_REGISTERED = 'Coverage could not be determined: the request\'s fhirServer is not registered for this client.';
const COULD_NOT_READ = 'Coverage could not be determined: the EHR\'s FHIR server could not be read.';
const SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];
const fhirAuthorization = { access_token: TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/Coverage.read', subject: 'payer-cds' };

/** A loopback server that answers everything 200 with a marker, counting every TCP connection it accepts. */
interface Listener {
  host: string;
  port: number;
  connections: number;
  close: () => Promise<void>;
}

async function listener(host: string, handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listener> {
  const server: Server = createServer(handler ?? ((_req, res) => sendFhir(res, 200, { resourceType: 'Bundle', type: 'searchset', entry: [], id: 'ssrf-listener-said-this' })));
  const l: Listener = {
    host, port: 0, connections: 0,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  server.on('connection', () => {
    l.connections += 1;
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  l.port = (server.address() as AddressInfo).port;
  return l;
}

/** An order-sign call without a coverage prefetch, naming `fhirServer` with the EHR's token. */
const signCall = (fhirServer: string): Json => hookRequest('order-sign', [sacroplasty()], { prefetch: { patient: patient() }, extra: { fhirServer, fhirAuthorization } });

/** The one system action's coverage-information extension. */
function coverageInformation(res: Response): Json {
  expect(res.body.systemActions).toHaveLength(1);
  const ext = (res.body.systemActions[0].resource.extension as Json[]).filter((e) => e['url'] === COVERAGE_INFO_URL);
  expect(ext).toHaveLength(1);
  return ext[0]!;
}

/** 200, the three cards, and coverage indeterminate/technical with exactly `text`; the token and target never echoed. */
function expectTechnical(res: Response, text: string): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
  expect(coverageInformation(res)).toEqual(outcomeCoverageInformation('indeterminate', 'technical', text));
  expect(res.text).not.toContain(TOKEN);
  expect(res.text).not.toContain('ssrf-listener-said-this');
}

/** The decision read from a registered server: the Coverage it returned, not covered under CCP.1247. */
function expectDecidedOn(res: Response, coverageId: string): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
  expect(coverageInformation(res)).toEqual({
    url: COVERAGE_INFO_URL,
    extension: [
      { url: 'coverage', valueReference: { reference: `Coverage/${coverageId}` } },
      { url: 'covered', valueCode: 'not-covered' },
      { url: 'billingCode', valueCoding: { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' } },
      { url: 'reason', valueCodeableConcept: { text: 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)' } },
      { url: 'date', valueDate: '2026-11-23' },
      { url: 'coverage-assertion-id', valueString: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    ],
  });
}

const COVERAGE_QUERY = '/fhir/Coverage?patient=p1&status=active';
const coverageServer = (id: string): Promise<FhirTestServer> => startFhirServer((req, res) => {
  if (req.url === COVERAGE_QUERY) sendFhir(res, 200, coverageBundle(id));
  else sendFhir(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
});

let other: Listener; // 127.0.0.2: another loopback address
let local: Listener; // 127.0.0.1 on a port nobody registered
let registered: FhirTestServer; // 127.0.0.1/fhir: the registered base
let registeredPort: number;
let service: Listener & { url: string }; // the service itself, listening (its /admin)
let all: () => number;

beforeAll(async () => {
  other = await listener('127.0.0.2');
  local = await listener('127.0.0.1');
  registered = await coverageServer('cov-registered');
  registeredPort = Number(new URL(registered.url).port);
  // The service itself on a real port: its /admin must not be reachable through fhirServer.
  const self = testApp({ env: { ADMIN_TOKEN: 'admin-secret-token-0123456789' } }).app;
  const server = createServer(self);
  const s = { host: '127.0.0.1', port: 0, connections: 0, url: '', close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  server.on('connection', () => {
    s.connections += 1;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.port = (server.address() as AddressInfo).port;
  s.url = `http://127.0.0.1:${s.port}`;
  service = s;
  all = () => other.connections + local.connections + service.connections + registered.requests.length;
});

afterAll(async () => {
  await Promise.all([other.close(), local.close(), registered.close(), service.close()]);
});

beforeEach(() => {
  other.connections = 0;
  local.connections = 0;
  service.connections = 0;
  registered.requests.splice(0);
});

/** Every unregistered target, as [what it is, the fhirServer]. Built lazily: the ports are known only at run time. */
const UNREGISTERED: Array<[string, () => string]> = [
  ['another loopback address (127.0.0.2) with a query', () => `http://127.0.0.2:${other.port}/x?`],
  ['127.0.0.1 written as a decimal number (2130706433)', () => `http://2130706433:${local.port}/fhir`],
  ['127.0.0.1 in hex (0x7f000001)', () => `http://0x7f000001:${local.port}/fhir`],
  ['127.0.0.1 in octal (0177.0.0.1)', () => `http://0177.0.0.1:${local.port}/fhir`],
  ['127.0.0.1 shortened (127.1)', () => `http://127.1:${local.port}/fhir`],
  ['the registered base in decimal (2130706433)', () => `http://2130706433:${registeredPort}/fhir`],
  ['localhost (a name resolving to loopback), not registered', () => `http://localhost:${local.port}/fhir`],
  ['127.0.0.2 as an IPv4-mapped IPv6 address', () => `http://[::ffff:127.0.0.2]:${other.port}/fhir`],
  ['the service\'s own /admin', () => `${service.url}/admin`],
  ['the registered origin, another path', () => `http://127.0.0.1:${registeredPort}/admin`],
  ['the registered origin, a path sharing its prefix', () => `http://127.0.0.1:${registeredPort}/fhir-admin`],
  ['the registered base escaped with ..', () => `http://127.0.0.1:${registeredPort}/fhir/../admin`],
  ['the registered base escaped with encoded dots (%2e%2e)', () => `http://127.0.0.1:${registeredPort}/fhir/%2e%2e/admin`],
  ['the registered base with encoded slashes', () => `http://127.0.0.1:${registeredPort}/fhir/x%2F..%2F..%2Fadmin`],
  ['the registered base with userinfo', () => `http://ehr:secret@127.0.0.1:${registeredPort}/fhir`],
  ['the registered host as userinfo before another host', () => `http://127.0.0.1:${registeredPort}@127.0.0.2:${other.port}/fhir`],
  ['the registered base over https (another scheme)', () => `https://127.0.0.1:${registeredPort}/fhir`],
  ['the registered host on another port', () => `http://127.0.0.1:${local.port}/fhir`],
];

describe('open (no CDS_CLIENTS), FHIR_SERVER_ALLOWLIST naming one test EHR: nothing else is ever contacted', () => {
  const app = (): ReturnType<typeof testApp>['app'] => testApp({ env: { FHIR_SERVER_ALLOWLIST: registered.url } }).app;

  it.each(UNREGISTERED)('%s → technical "not registered", no connection anywhere', async (_what, target) => {
    const res = await request(app()).post(SIGN).send(signCall(target()));
    expectTechnical(res, NOT_REGISTERED);
    expect({ other: other.connections, local: local.connections, service: service.connections, registered: registered.requests }).toEqual({ other: 0, local: 0, service: 0, registered: [] });
  });

  it('an order read from an unregistered fhirServer → 412 saying only that it is not registered; nothing contacted', async () => {
    const body = {
      hook: 'order-dispatch', hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', fhirServer: `http://2130706433:${local.port}/fhir`, fhirAuthorization,
      context: { patientId: 'p1', dispatchedOrders: ['ServiceRequest/sr1'], performer: 'Organization/ir-center' },
      prefetch: { patient: patient(), coverage: coverageBundle() },
    };
    const res = await request(app()).post(DISPATCH).send(body);
    expect(res.status).toBe(412);
    expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{
      severity: 'error', code: 'incomplete', expression: ['context.dispatchedOrders[0]'],
      diagnostics: 'ServiceRequest/sr1 (a dispatched order) was not in prefetch and could not be read: the request\'s fhirServer is not registered for this client. Send it in prefetch, or fhirServer with fhirAuthorization.',
    }] });
    expect(all()).toBe(0);
  });

  it('the registered fhirServer still works: the Coverage it returns decides, read once with the token', async () => {
    const res = await request(app()).post(SIGN).send(signCall(registered.url));
    expectDecidedOn(res, 'cov-registered');
    expect(registered.requests).toEqual([{ method: 'GET', url: COVERAGE_QUERY, authorization: `Bearer ${TOKEN}` }]);
    expect(other.connections + local.connections + service.connections).toBe(0);
  });

  it('the registered base with a trailing slash, or a base below it, works too', async () => {
    expectDecidedOn(await request(app()).post(SIGN).send(signCall(`${registered.url}/`)), 'cov-registered');
    expect(registered.requests).toHaveLength(1);
  });

  it('a registered server that fails says only "could not be read": not its status, headers, body or a redirect target', async () => {
    const failing = await startFhirServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="internal-ehr-7"' });
      res.end('secret-banner: internal EHR build 7.3');
    });
    const redirecting = await startFhirServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.2:${other.port}/steal` });
      res.end();
    });
    try {
      const open = testApp({ env: { FHIR_SERVER_ALLOWLIST: `${failing.url},${redirecting.url}` } }).app;
      for (const server of [failing, redirecting]) {
        const res = await request(open).post(SIGN).send(signCall(server.url));
        expectTechnical(res, COULD_NOT_READ);
        for (const leak of ['HTTP 401', 'HTTP 302', '(401)', 'internal-ehr-7', 'secret-banner', '/steal', 'realm=']) expect(res.text).not.toContain(leak);
        expect(server.requests).toHaveLength(1);
      }
      expect(other.connections).toBe(0);
    } finally {
      await Promise.all([failing.close(), redirecting.close()]);
    }
  });

  it('the defaults (no FHIR_SERVER_ALLOWLIST) still refuse 127.0.0.2, 127.0.0.1 in decimal and the sandbox host on http', async () => {
    const open = testApp().app;
    for (const target of [`http://127.0.0.2:${other.port}/fhir`, `http://2130706433:${local.port}/fhir`, 'http://launch.smarthealthit.org/v/r4/fhir', 'https://evil.example/fhir', 'https://smarthealthit.org.evil.example/fhir']) {
      expectTechnical(await request(open).post(SIGN).send(signCall(target)), NOT_REGISTERED);
    }
    expect(other.connections + local.connections).toBe(0);
    // …and keep loopback test EHRs on 127.0.0.1 working outside production.
    expectDecidedOn(await request(open).post(SIGN).send(signCall(registered.url)), 'cov-registered');
  });
});

describe('with CDS_CLIENTS: a client reads only its own registered fhirServers', () => {
  const ISS_A = 'https://ehr-a.example';
  const ISS_B = 'https://ehr-b.example';
  const ISS_C = 'https://ehr-c.example';
  let keyA: KeyLike;
  let keyB: KeyLike;
  let keyC: KeyLike;
  let fhirB: FhirTestServer;
  let app: ReturnType<typeof testApp>['app'];
  const nowSec = Math.floor(NOW.getTime() / 1000);

  const jwk = async (key: KeyLike, kid: string): Promise<JWK> => ({ ...(await exportJWK(key)), alg: 'ES384', kid, use: 'sig' });
  const token = (key: KeyLike, iss: string, kid: string): Promise<string> => new SignJWT({ iss, aud: `${PUBLIC}${SIGN}`, iat: nowSec - 10, exp: nowSec + 290, jti: `${iss}-${Math.random()}` })
    .setProtectedHeader({ alg: 'ES384', kid, typ: 'JWT' }).sign(key);
  const call = async (key: KeyLike, iss: string, kid: string, fhirServer: string): Promise<Response> => request(app).post(SIGN)
    .set('Authorization', `Bearer ${await token(key, iss, kid)}`).send(signCall(fhirServer));

  beforeAll(async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => generateKeyPair('ES384', { extractable: true })));
    keyA = a!.privateKey;
    keyB = b!.privateKey;
    keyC = c!.privateKey;
    fhirB = await coverageServer('cov-of-b');
    const clients: TrustedClient[] = [
      { iss: ISS_A, jwks: { keys: [await jwk(a!.publicKey, 'a')] }, fhirServers: [registered.url] },
      { iss: ISS_B, jwks: { keys: [await jwk(b!.publicKey, 'b')] }, fhirServers: [fhirB.url] },
      { iss: ISS_C, jwks: { keys: [await jwk(c!.publicKey, 'c')] } },
    ];
    app = testApp({ env: { CDS_PUBLIC_URL: PUBLIC }, deps: { clients, replay: new MemoryReplayStore(() => NOW.getTime()) } }).app;
  });
  afterAll(() => fhirB.close());
  beforeEach(() => {
    fhirB.requests.splice(0);
  });

  it('client A naming its own fhirServer → decided on the Coverage read from it', async () => {
    expectDecidedOn(await call(keyA, ISS_A, 'a', registered.url), 'cov-registered');
    expect(registered.requests).toEqual([{ method: 'GET', url: COVERAGE_QUERY, authorization: `Bearer ${TOKEN}` }]);
  });

  it('client B reads its own, not A\'s', async () => {
    expectDecidedOn(await call(keyB, ISS_B, 'b', fhirB.url), 'cov-of-b');
    expectTechnical(await call(keyB, ISS_B, 'b', registered.url), NOT_REGISTERED);
    expect(registered.requests).toEqual([]);
  });

  it('client A naming client B\'s fhirServer → not registered for this client; B\'s server never sees A\'s token', async () => {
    expectTechnical(await call(keyA, ISS_A, 'a', fhirB.url), NOT_REGISTERED);
    expect(fhirB.requests).toEqual([]);
  });

  it.each(UNREGISTERED)('client A naming %s → not registered, no connection anywhere', async (_what, target) => {
    expectTechnical(await call(keyA, ISS_A, 'a', target()), NOT_REGISTERED);
    expect(all()).toBe(0);
  });

  it('FHIR_SERVER_ALLOWLIST\'s loopback defaults do not apply to clients: 127.0.0.1 on another port is refused', async () => {
    expectTechnical(await call(keyA, ISS_A, 'a', `http://127.0.0.1:${local.port}/fhir`), NOT_REGISTERED);
    expect(local.connections).toBe(0);
  });

  it('a client with no fhirServers registered has no fhirServer read at all', async () => {
    expectTechnical(await call(keyC, ISS_C, 'c', registered.url), NOT_REGISTERED);
    expect(registered.requests).toEqual([]);
  });
});

describe('the target policy (src/egress)', () => {
  const rules = [parseRule('https://ehr.example/fhir/r4', { what: 'test', production: false, wildcards: false })];

  it.each([
    ['https://ehr.example/fhir/r4', true],
    ['https://ehr.example/fhir/r4/', true],
    ['https://EHR.example:443/fhir/r4/Patient/1', true],
    ['https://ehr.example/fhir/r4x', false],
    ['https://ehr.example/fhir', false],
    ['https://ehr.example/fhir/r4/../../admin', false],
    ['https://ehr.example:8443/fhir/r4', false],
    ['http://ehr.example/fhir/r4', false],
    ['https://ehr.example.evil.example/fhir/r4', false],
    ['https://user@ehr.example/fhir/r4', false],
    ['https://ehr.example\\@evil.example/fhir/r4', false],
    ['javascript:alert(1)', false],
    ['not a url', false],
  ])('%s → allowed %s', (target, allowed) => {
    expect(checkTarget(target, rules, { production: false }).allowed).toBe(allowed);
  });

  it('wildcard allow-list entries match subdomains only, and never reach private addresses by a literal', () => {
    const sandbox = [parseRule('https://*.smarthealthit.org', { what: 'test', production: true, wildcards: true })];
    expect(checkTarget('https://launch.smarthealthit.org/v/r4/fhir', sandbox, { production: true }).allowed).toBe(true);
    expect(checkTarget('https://smarthealthit.org/fhir', sandbox, { production: true }).allowed).toBe(false);
    expect(checkTarget('https://evilsmarthealthit.org/fhir', sandbox, { production: true }).allowed).toBe(false);
  });

  it('production: https only; an http registration is refused at load, naming it', () => {
    expect(checkTarget('http://127.0.0.1:8080/fhir', [parseRule('http://127.0.0.1:8080/fhir', { what: 't', production: false, wildcards: false })], { production: true })).toEqual({ allowed: false, refusal: 'not-https' });
    expect(() => parseRule('http://ehr.example/fhir', { what: 'fhirServers of x', production: true, wildcards: false })).toThrow('fhirServers of x: "http://ehr.example/fhir" is not https (required with NODE_ENV=production)');
    expect(() => loadConfig({ NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: 'true', CDS_PUBLIC_URL: PUBLIC, FHIR_SERVER_ALLOWLIST: 'http://ehr.example' })).toThrow('FHIR_SERVER_ALLOWLIST: "http://ehr.example" is not https');
    // In production the defaults keep the sandbox (https) and drop loopback.
    const config = loadConfig({ NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: 'true', CDS_PUBLIC_URL: PUBLIC });
    expect(config.fhirServerAllowlist.map((r) => r.source)).toEqual(['https://launch.smarthealthit.org', 'https://r4.smarthealthit.org', 'https://*.smarthealthit.org']);
  });

  it('client registrations: exact bases, no wildcards; http refused in production', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssrf-clients-'));
    try {
      const write = (clients: unknown): string => {
        const file = join(dir, `c${Math.random()}.json`);
        writeFileSync(file, JSON.stringify(clients));
        return file;
      };
      const jwks = { keys: [{ kty: 'EC' }] };
      const ok = write([{ iss: 'https://ehr.example', jwks, fhirServers: ['https://ehr.example/fhir', { url: 'https://ehr.internal/fhir', privateNetwork: true }] }]);
      expect(loadTrustedClients(ok, { production: true })[0]?.fhirServers).toHaveLength(2);
      const wildcard = write([{ iss: 'https://ehr.example', jwks, fhirServers: ['https://*.ehr.example/fhir'] }]);
      expect(() => loadTrustedClients(wildcard)).toThrow('may not use wildcards');
      const plain = write([{ iss: 'https://ehr.example', jwks, fhirServers: ['http://ehr.example/fhir'] }]);
      expect(() => loadTrustedClients(plain, { production: true })).toThrow(`CDS_CLIENTS ${plain}: fhirServers of https://ehr.example: "http://ehr.example/fhir" is not https`);
      expect(loadTrustedClients(plain)).toHaveLength(1);
      const query = write([{ iss: 'https://ehr.example', jwks, fhirServers: ['https://ehr.example/fhir?x=1'] }]);
      expect(() => loadTrustedClients(query)).toThrow('is not a base URL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['127.0.0.1', true], ['127.255.0.9', true], ['10.1.2.3', true], ['172.16.0.1', true], ['172.31.255.255', true], ['192.168.1.1', true],
    ['169.254.169.254', true], ['0.0.0.0', true], ['100.64.0.1', true], ['::1', true], ['::', true], ['fe80::1', true], ['fd00::1', true],
    ['::ffff:127.0.0.1', true], ['::ffff:7f00:1', true], ['64:ff9b::a9fe:a9fe', true],
    ['8.8.8.8', false], ['172.32.0.1', false], ['2606:4700::1111', false], ['::ffff:8.8.8.8', false],
  ])('isSpecialAddress(%s) → %s', (address, special) => {
    expect(isSpecialAddress(address)).toBe(special);
  });

  it('the guarded GET refuses a name resolving to loopback (localhost) under a rule without privateNetwork: no connection', async () => {
    await expect(guardedGet(new URL(`http://localhost:${local.port}/fhir`), false, {}, { timeoutMs: 1000, maxBytes: 1024 })).rejects.toMatchObject({ name: 'EgressRefusedError' });
    expect(local.connections).toBe(0);
    // Under a rule that names loopback, it connects.
    const ok = await guardedGet(new URL(`http://localhost:${local.port}/fhir`), true, {}, { timeoutMs: 1000, maxBytes: 1024 });
    expect(ok.status).toBe(200);
    expect(local.connections).toBe(1);
  });
});
