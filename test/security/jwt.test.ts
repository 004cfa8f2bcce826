/**
 * CDS Hooks 2.0 §Trusting CDS Clients, attacked: every way a bearer JWT can be wrong is refused with 401, a
 * `WWW-Authenticate: Bearer …` challenge and an OperationOutcome (code login) that says what was wrong without
 * echoing the token — and the service keeps serving valid callers afterwards. Keys come from a real JWKS on a
 * loopback port (and inline for a second EHR); the configuration rules and the dev-token helper are checked too.
 */
// startService opens the embedded PGlite: load it natively (see test/storage/native-pglite.ts).
import '../storage/native-pglite';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Response } from 'supertest';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { JSONWebKeySet, JWK, JWTPayload, KeyLike } from 'jose';
import { KeySets } from '../../src/auth/key-sets';
import { MemoryReplayStore } from '../../src/auth/replay-store';
import { loadTrustedClients } from '../../src/auth/clients';
import type { TrustedClient } from '../../src/auth/clients';
import { loadConfig } from '../../src/config';
import { startService } from '../../src/server';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import { KNOWLEDGE_DIR, NOW, SERVICES_DIR, hookRequest, sacroplasty, silentLogger, testApp } from '../helpers';

const PUBLIC = 'https://payer.example';
const SIGN = '/cds-services/order-sign-crd';
const SIGN_AUD = `${PUBLIC}${SIGN}`;
const ISS_A = 'https://ehr-a.example';
const ISS_B = 'https://ehr-b.example';
const NOW_SEC = Math.floor(NOW.getTime() / 1000);
const SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];

type Json = Record<string, unknown>;

interface Signer {
  key: KeyLike;
  alg: 'ES384' | 'RS384';
  kid: string;
}

/** A loopback HTTP server with a swappable handler that records every request it gets. */
interface LoopbackServer {
  url: string;
  requests: string[];
  handle: (handler: (req: IncomingMessage, res: ServerResponse) => void) => void;
  close: () => Promise<void>;
}

const servers: LoopbackServer[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function loopback(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<LoopbackServer> {
  const requests: string[] = [];
  let current = handler;
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    current(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const s: LoopbackServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle: (h) => {
      current = h;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  servers.push(s);
  return s;
}

/** A JWKS endpoint serving `jwks()` as it is at each request. */
const jwksServer = (jwks: () => JSONWebKeySet): Promise<LoopbackServer> => loopback((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(jwks()));
});

async function publicJwk(key: KeyLike, alg: string, kid: string): Promise<JWK> {
  return { ...(await exportJWK(key)), alg, kid, use: 'sig' };
}

/** Claims as CDS Hooks 2.0 describes them, around the pinned NOW: 5-minute life, fresh jti. */
function claims(overrides: JWTPayload = {}): JWTPayload {
  return { iss: ISS_A, aud: SIGN_AUD, iat: NOW_SEC - 10, exp: NOW_SEC + 290, jti: randomUUID(), ...overrides };
}

async function sign(signer: Signer, payload: JWTPayload = claims(), header: Json = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT', ...header }).sign(signer.key);
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** RFC 6750 §3: error_description may hold only %x20-21 / %x23-5B / %x5D-7E. */
const RFC6750_DESCRIPTION = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** The 401 every refusal must be: a Bearer challenge and a whole OperationOutcome, never quoting the token. */
function expectRefused(res: Response, diagnostics: string, token?: string): void {
  expect(res.status).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
  expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics }] });
  const challenge = String(res.headers['www-authenticate']);
  expect(challenge).toMatch(/^Bearer /);
  if (challenge !== 'Bearer realm="cds-services"') {
    const m = /^Bearer realm="cds-services", error="invalid_token", error_description="(.*)"$/.exec(challenge);
    expect(m).not.toBeNull();
    expect(m![1]).toMatch(RFC6750_DESCRIPTION);
    if (RFC6750_DESCRIPTION.test(diagnostics)) expect(m![1]).toBe(diagnostics);
  }
  if (token) {
    const everything = `${res.text}\n${JSON.stringify(res.headers)}`;
    expect(everything).not.toContain(token);
    // No part of it either (header, payload or signature segment).
    for (const part of token.split('.').filter((p) => p.length >= 8)) expect(everything).not.toContain(part);
  }
}

function expectCards(res: Response): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
}

describe('CDS client JWTs: every wrong token → 401, and the service keeps serving', () => {
  let esA: Signer;
  let rsA: Signer;
  let esB: Signer;
  let rsB: Signer;
  let attacker: Signer;
  let esPublicA: KeyLike;
  let jwks: LoopbackServer;
  let jkuSpy: LoopbackServer;
  let app: ReturnType<typeof testApp>['app'];

  beforeAll(async () => {
    const [es, rs, b1, b2, evil] = await Promise.all([
      generateKeyPair('ES384', { extractable: true }), generateKeyPair('RS384', { extractable: true }),
      generateKeyPair('ES384', { extractable: true }), generateKeyPair('RS384', { extractable: true }),
      generateKeyPair('ES384', { extractable: true }),
    ]);
    esA = { key: es.privateKey, alg: 'ES384', kid: 'a-es-1' };
    rsA = { key: rs.privateKey, alg: 'RS384', kid: 'a-rs-1' };
    esB = { key: b1.privateKey, alg: 'ES384', kid: 'b-es-1' };
    rsB = { key: b2.privateKey, alg: 'RS384', kid: 'b-rs-1' };
    attacker = { key: evil.privateKey, alg: 'ES384', kid: 'evil-1' };
    esPublicA = es.publicKey;
    const servedA: JSONWebKeySet = { keys: [await publicJwk(es.publicKey, 'ES384', 'a-es-1'), await publicJwk(rs.publicKey, 'RS384', 'a-rs-1')] };
    const inlineB: JSONWebKeySet = { keys: [await publicJwk(b1.publicKey, 'ES384', 'b-es-1'), await publicJwk(b2.publicKey, 'RS384', 'b-rs-1')] };
    jwks = await jwksServer(() => servedA);
    // What an attacker's jku would point at: it must never be contacted.
    jkuSpy = await jwksServer(() => ({ keys: [] }));
    const clients: TrustedClient[] = [
      { iss: ISS_A, jwks_uri: `${jwks.url}/jwks.json` },
      { iss: ISS_B, jwks: inlineB },
    ];
    app = testApp({
      env: { CDS_PUBLIC_URL: PUBLIC },
      // The replay store runs on the same pinned clock as token verification (jti entries expire at exp + skew).
      deps: { clients, replay: new MemoryReplayStore(() => NOW.getTime()), keySets: new KeySets({ timeoutMs: 2000, maxBytes: 64 * 1024, maxAgeMs: 10 * 60_000, cooldownMs: 30_000 }) },
    }).app;
  });

  const hook = (authorization?: string): request.Test => {
    const req = request(app).post(SIGN);
    if (authorization !== undefined) req.set('Authorization', authorization);
    return req.send(hookRequest('order-sign', [sacroplasty()]));
  };

  /** A valid ES384 call right after a refusal: still 200 with the three cards. */
  const expectStillServing = async (): Promise<void> => {
    expectCards(await hook(`Bearer ${await sign(esA)}`));
  };

  describe('valid tokens are accepted', () => {
    it('ES384 from the jwks_uri issuer → 200 with the three cards', async () => {
      expectCards(await hook(`Bearer ${await sign(esA)}`));
    });

    it('RS384 from the jwks_uri issuer → 200 with the three cards', async () => {
      expectCards(await hook(`Bearer ${await sign(rsA)}`));
    });

    it('ES384 from the inline-JWKS issuer → 200 with the three cards', async () => {
      expectCards(await hook(`Bearer ${await sign(esB, claims({ iss: ISS_B }))}`));
    });

    it('RS384 from the inline-JWKS issuer → 200 with the three cards', async () => {
      expectCards(await hook(`Bearer ${await sign(rsB, claims({ iss: ISS_B }))}`));
    });

    it('a jku equal to the issuer\'s registered jwks_uri (what the CDS Hooks sandbox sends) → 200', async () => {
      expectCards(await hook(`Bearer ${await sign(esA, claims(), { jku: `${jwks.url}/jwks.json` })}`));
    });

    it('discovery: GET /cds-services with aud …/cds-services → 200 with the services', async () => {
      const token = await sign(esA, claims({ aud: `${PUBLIC}/cds-services` }));
      const res = await request(app).get('/cds-services').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
      expect(res.body.services.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining(['order-sign-crd', 'order-select-crd']));
    });

    it('feedback: POST …/feedback with aud …/feedback → 200 {}', async () => {
      const token = await sign(rsA, claims({ aud: `${SIGN_AUD}/feedback` }));
      const res = await request(app).post(`${SIGN}/feedback`).set('Authorization', `Bearer ${token}`)
        .send({ feedback: [{ card: '00000000-0000-4000-8000-000000000002', outcome: 'accepted', outcomeTimestamp: '2026-11-23T11:58:00Z' }] });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    });

    it('a CORS preflight OPTIONS on /cds-services/x answers 204 without a token', async () => {
      const res = await request(app).options('/cds-services/x')
        .set('Origin', 'https://sandbox.cds-hooks.org')
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'authorization,content-type');
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
      expect(res.headers['www-authenticate']).toBeUndefined();
    });
  });

  describe('refused: 401 with a Bearer challenge and an OperationOutcome saying why', () => {
    it('no Authorization header', async () => {
      const res = await hook();
      expectRefused(res, 'This service requires Authorization: Bearer <JWT> from a registered CDS client.');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="cds-services"');
      await expectStillServing();
    });

    it('no Authorization header on discovery and on feedback either', async () => {
      const discovery = await request(app).get('/cds-services');
      expectRefused(discovery, 'This service requires Authorization: Bearer <JWT> from a registered CDS client.');
      const feedback = await request(app).post(`${SIGN}/feedback`).send({ feedback: [] });
      expectRefused(feedback, 'This service requires Authorization: Bearer <JWT> from a registered CDS client.');
      await expectStillServing();
    });

    it('a malformed bearer token ("Bearer not-a-jwt-q7z")', async () => {
      // A token no random request id can contain (a hex id may well contain "abc"): it must not be echoed.
      expectRefused(await hook('Bearer not-a-jwt-q7z'), 'The Authorization header does not carry a bearer JWT.', 'not-a-jwt-q7z');
      await expectStillServing();
    });

    it('another scheme ("Basic x")', async () => {
      expectRefused(await hook('Basic x'), 'The Authorization header does not carry a bearer JWT.');
      await expectStillServing();
    });

    it('three base64url segments that are not JSON', async () => {
      const token = 'bm90LWpzb24.bm90LWpzb24.c2ln';
      expectRefused(await hook(`Bearer ${token}`), 'The bearer token is not a well-formed JWT.', token);
      await expectStillServing();
    });

    it('alg "none" (an unsigned JWT)', async () => {
      const token = `${b64({ alg: 'none', typ: 'JWT', kid: esA.kid })}.${b64(claims())}.`;
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s signing algorithm is not accepted; use one of ES384, RS384.', token);
      await expectStillServing();
    });

    it('HS256 keyed with the issuer\'s public key as PEM (algorithm confusion)', async () => {
      const secret = new TextEncoder().encode(await exportSPKI(esPublicA));
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: esA.kid, typ: 'JWT' }).sign(secret);
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s signing algorithm is not accepted; use one of ES384, RS384.', token);
      await expectStillServing();
    });

    it('HS256 keyed with the issuer\'s public JWK JSON (algorithm confusion)', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(await publicJwk(esPublicA, 'ES384', esA.kid)));
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: esA.kid, typ: 'JWT' }).sign(secret);
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s signing algorithm is not accepted; use one of ES384, RS384.', token);
      await expectStillServing();
    });

    it('expired', async () => {
      const token = await sign(esA, claims({ iat: NOW_SEC - 400, exp: NOW_SEC - 120 }));
      expectRefused(await hook(`Bearer ${token}`), 'The token has expired.', token);
      await expectStillServing();
    });

    it('iat in the future beyond the allowed skew', async () => {
      const token = await sign(esA, claims({ iat: NOW_SEC + 120, exp: NOW_SEC + 300 }));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s iat is in the future.', token);
      await expectStillServing();
    });

    it('a lifetime longer than 5 minutes (exp − iat)', async () => {
      const token = await sign(esA, claims({ iat: NOW_SEC - 10, exp: NOW_SEC + 600 }));
      const res = await hook(`Bearer ${token}`);
      expectRefused(res, 'The token lives longer than 5 minutes (exp − iat).', token);
      // The header carries the same words in the characters RFC 6750 allows ("−" is not one of them).
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="cds-services", error="invalid_token", error_description="The token lives longer than 5 minutes \(exp . iat\)\."$/);
      await expectStillServing();
    });

    it('aud of another service of this payer', async () => {
      const token = await sign(esA, claims({ aud: `${PUBLIC}/cds-services/order-select-crd` }));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s aud is not the URL that was called.', token);
      await expectStillServing();
    });

    it('aud of the same path on another host', async () => {
      const token = await sign(esA, claims({ aud: `https://other-payer.example${SIGN}` }));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s aud is not the URL that was called.', token);
      await expectStillServing();
    });

    it('a discovery token (aud …/cds-services) used on a hook call', async () => {
      const token = await sign(esA, claims({ aud: `${PUBLIC}/cds-services` }));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s aud is not the URL that was called.', token);
      await expectStillServing();
    });

    it('an unknown iss (signed with a real key)', async () => {
      const token = await sign(esA, claims({ iss: 'https://unknown-ehr.example' }));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s issuer is not a registered CDS client.', token);
      await expectStillServing();
    });

    it('an unknown kid', async () => {
      const token = await sign({ ...esA, kid: 'no-such-kid' });
      expectRefused(await hook(`Bearer ${token}`), 'No key of the issuer matches the token\'s kid.', token);
      await expectStillServing();
    });

    it('no kid at all', async () => {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES384', typ: 'JWT' }).sign(esA.key);
      expectRefused(await hook(`Bearer ${token}`), 'The token header has no kid.', token);
      await expectStillServing();
    });

    it('signed by another key under a known kid', async () => {
      const token = await sign({ ...attacker, kid: esA.kid });
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s signature does not verify.', token);
      await expectStillServing();
    });

    it('signed by another key under the inline issuer\'s kid', async () => {
      const token = await sign({ ...attacker, kid: esB.kid }, claims({ iss: ISS_B }));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s signature does not verify.', token);
      await expectStillServing();
    });

    it('a tampered payload (re-encoded, original signature kept)', async () => {
      const [header, payload, signature] = (await sign(esA)).split('.') as [string, string, string];
      const altered = { ...(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Json), jti: randomUUID(), tenant: 'admin' };
      const token = `${header}.${b64(altered)}.${signature}`;
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s signature does not verify.', token);
      await expectStillServing();
    });

    it('no jti', async () => {
      const withoutJti = claims();
      delete withoutJti.jti;
      const token = await sign(esA, withoutJti);
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s jti claim is missing or invalid.', token);
      await expectStillServing();
    });

    it('a replayed jti: the same token twice → first 200, second 401', async () => {
      const token = await sign(esA);
      expectCards(await hook(`Bearer ${token}`));
      expectRefused(await hook(`Bearer ${token}`), 'The token\'s jti was already used (replay).', token);
      await expectStillServing();
    });

    it('a replayed jti in a new, validly signed token of the same issuer → 401', async () => {
      const jti = randomUUID();
      expectCards(await hook(`Bearer ${await sign(esA, claims({ jti }))}`));
      const again = await sign(rsA, claims({ jti }));
      expectRefused(await hook(`Bearer ${again}`), 'The token\'s jti was already used (replay).', again);
      await expectStillServing();
    });

    it('a jku pointing at an unregistered URL, on a token signed by another key → 401 (the registered keys decide) and that URL is never contacted', async () => {
      // The attacker's own key, under its own kid and under the registered key's kid: neither verifies.
      const token = await sign(attacker, claims(), { jku: `${jkuSpy.url}/attacker-jwks.json` });
      expectRefused(await hook(`Bearer ${token}`), 'No key of the issuer matches the token\'s kid.', token);
      const borrowedKid = await sign({ ...attacker, kid: esA.kid }, claims(), { jku: `${jkuSpy.url}/attacker-jwks.json` });
      expectRefused(await hook(`Bearer ${borrowedKid}`), 'The token\'s signature does not verify.', borrowedKid);
      await expectStillServing();
      expect(jkuSpy.requests).toEqual([]);
    });

    it('a jku on a token of the inline-JWKS issuer, signed with its registered key (the public CDS Hooks sandbox registered with its keys inline) → 200, and the jku is never contacted', async () => {
      const token = await sign(esB, claims({ iss: ISS_B }), { jku: `${jkuSpy.url}/b.json` });
      expectCards(await hook(`Bearer ${token}`));
      expect(jkuSpy.requests).toEqual([]);
    });

    it('a jku that differs from the registered jwks_uri, on a token signed with a registered key → 200; only the registered jwks_uri is fetched', async () => {
      const before = jkuSpy.requests.length;
      expectCards(await hook(`Bearer ${await sign(esA, claims(), { jku: `${jkuSpy.url}/elsewhere.json` })}`));
      expect(jkuSpy.requests).toHaveLength(before);
    });

    it('an invalid token on discovery → 401', async () => {
      const token = await sign(attacker, claims({ aud: `${PUBLIC}/cds-services` }), { kid: esA.kid });
      expectRefused(await request(app).get('/cds-services').set('Authorization', `Bearer ${token}`), 'The token\'s signature does not verify.', token);
      await expectStillServing();
    });
  });
});

describe('the issuer\'s JWKS: rotation, floods of unknown kids, hanging and oversized key sets', () => {
  const NOW_MS = NOW.getTime();

  /** An app trusting one jwks_uri issuer (A) and one inline issuer (B, for the "still serving" calls), with a settable clock. */
  async function setup(options: { timeoutMs?: number; maxBytes?: number; jwksHandler?: (req: IncomingMessage, res: ServerResponse) => void } = {}) {
    const a1 = await generateKeyPair('ES384', { extractable: true });
    const b = await generateKeyPair('ES384', { extractable: true });
    const served: JSONWebKeySet = { keys: [await publicJwk(a1.publicKey, 'ES384', 'a-1')] };
    const server = options.jwksHandler ? await loopback(options.jwksHandler) : await jwksServer(() => served);
    const clock = { ms: NOW_MS };
    const keySets = new KeySets({ timeoutMs: options.timeoutMs ?? 2000, maxBytes: options.maxBytes ?? 64 * 1024, maxAgeMs: 10 * 60_000, cooldownMs: 30_000, now: () => clock.ms });
    const { app } = testApp({
      env: { CDS_PUBLIC_URL: PUBLIC },
      deps: {
        clients: [{ iss: ISS_A, jwks_uri: `${server.url}/jwks` }, { iss: ISS_B, jwks: { keys: [await publicJwk(b.publicKey, 'ES384', 'b-1')] } }],
        replay: new MemoryReplayStore(() => NOW.getTime()),
        keySets,
      },
    });
    const signerA: Signer = { key: a1.privateKey, alg: 'ES384', kid: 'a-1' };
    const signerB: Signer = { key: b.privateKey, alg: 'ES384', kid: 'b-1' };
    const call = async (token: string): Promise<Response> => request(app).post(SIGN).set('Authorization', `Bearer ${token}`).send(hookRequest('order-sign', [sacroplasty()]));
    const stillServing = async (): Promise<void> => {
      expectCards(await call(await sign(signerB, claims({ iss: ISS_B }))));
    };
    return { server, served, clock, keySets, signerA, call, stillServing };
  }

  it('key rotation: a token signed with a newly published key (new kid) → 200, after exactly one more JWKS fetch', async () => {
    const s = await setup();
    expectCards(await s.call(await sign(s.signerA)));
    const before = s.server.requests.length;
    expect(before).toBe(1);
    // The EHR rotates: a new key under a new kid, published after the cool-down of the first fetch.
    const a2 = await generateKeyPair('ES384', { extractable: true });
    s.served.keys.push(await publicJwk(a2.publicKey, 'ES384', 'a-2'));
    s.clock.ms += 31_000;
    expectCards(await s.call(await sign({ key: a2.privateKey, alg: 'ES384', kid: 'a-2' })));
    expect(s.server.requests.length).toBe(before + 1);
    // Cached now: the next call with either key fetches nothing.
    expectCards(await s.call(await sign({ key: a2.privateKey, alg: 'ES384', kid: 'a-2' })));
    expectCards(await s.call(await sign(s.signerA)));
    expect(s.server.requests.length).toBe(before + 1);
  });

  it('a flood of 50 tokens with random unknown kids within the cool-down → all 401, at most one more JWKS fetch', async () => {
    const s = await setup();
    expectCards(await s.call(await sign(s.signerA)));
    const before = s.server.requests.length;
    // Past the first fetch's cool-down, so exactly one refetch is allowed; then the flood arrives all at once.
    s.clock.ms += 31_000;
    const tokens = await Promise.all(Array.from({ length: 50 }, () => sign({ ...s.signerA, kid: randomUUID() })));
    const answers = await Promise.all(tokens.map((t) => s.call(t)));
    answers.forEach((res, i) => expectRefused(res, 'No key of the issuer matches the token\'s kid.', tokens[i]));
    expect(s.server.requests.length - before).toBeLessThanOrEqual(1);
    // And a second wave, still within the cool-down, fetches nothing at all.
    const afterFirstWave = s.server.requests.length;
    const more = await Promise.all(Array.from({ length: 10 }, () => sign({ ...s.signerA, kid: randomUUID() })));
    for (const t of more) expectRefused(await s.call(t), 'No key of the issuer matches the token\'s kid.', t);
    expect(s.server.requests.length).toBe(afterFirstWave);
    expectCards(await s.call(await sign(s.signerA)));
    await s.stillServing();
  });

  it('a JWKS server that never answers → 401 within the key-set timeout', async () => {
    const hung: ServerResponse[] = [];
    const s = await setup({ timeoutMs: 300, jwksHandler: (_req, res) => hung.push(res) });
    const token = await sign(s.signerA);
    expectRefused(await s.call(token), 'The issuer\'s keys could not be obtained: the issuer\'s JWKS at its registered jwks_uri could not be fetched.', token);
    expect(s.server.requests).toHaveLength(1);
    await s.stillServing();
  }, 5000);

  it('a JWKS larger than maxBytes → 401', async () => {
    const s = await setup({
      maxBytes: 4096,
      jwksHandler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-384', kid: 'a-1', x: 'x'.repeat(64), y: 'y'.repeat(64) }], padding: 'x'.repeat(64 * 1024) }));
      },
    });
    const token = await sign(s.signerA);
    expectRefused(await s.call(token), 'The issuer\'s keys could not be obtained: the issuer\'s JWKS is larger than allowed.', token);
    await s.stillServing();
  });

  it('a JWKS answering HTTP 500 → 401', async () => {
    const s = await setup({
      jwksHandler: (_req, res) => {
        res.writeHead(500);
        res.end('oops');
      },
    });
    const token = await sign(s.signerA);
    expectRefused(await s.call(token), 'The issuer\'s keys could not be obtained: the issuer\'s JWKS answered HTTP 500.', token);
    await s.stillServing();
  });

  it('a JWKS that redirects is not followed → 401, and the redirect target is never contacted', async () => {
    const target = await jwksServer(() => ({ keys: [] }));
    const s = await setup({
      jwksHandler: (_req, res) => {
        res.writeHead(302, { location: `${target.url}/jwks` });
        res.end();
      },
    });
    const token = await sign(s.signerA);
    expectRefused(await s.call(token), 'The issuer\'s keys could not be obtained: the issuer\'s JWKS at its registered jwks_uri could not be fetched.', token);
    expect(target.requests).toEqual([]);
    await s.stillServing();
  });
});

describe('configuration rules (loadConfig)', () => {
  it('NODE_ENV=production without CDS_CLIENTS refuses to load', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/Refusing to start without client authentication in production/);
  });

  it('NODE_ENV=production with CDS_ALLOW_UNAUTHENTICATED=true loads, marked as such', () => {
    const config = loadConfig({ NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: 'true', CDS_PUBLIC_URL: 'https://payer.example' });
    expect(config.production).toBe(true);
    expect(config.allowUnauthenticated).toBe(true);
    expect(config.cdsClientsFile).toBeUndefined();
  });

  it('NODE_ENV=production with CDS_ALLOW_UNAUTHENTICATED set to anything but "true" still refuses', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: '1' })).toThrow(/Refusing to start/);
  });

  it('NODE_ENV=production with CDS_CLIENTS and CDS_PUBLIC_URL loads', () => {
    const config = loadConfig({ NODE_ENV: 'production', CDS_CLIENTS: 'clients.json', CDS_PUBLIC_URL: 'https://payer.example/' });
    expect(config.publicUrl).toBe('https://payer.example');
    expect(config.jwtAlgorithms).toEqual(['ES384', 'RS384']);
  });

  it('CDS_CLIENTS without CDS_PUBLIC_URL refuses to load', () => {
    expect(() => loadConfig({ CDS_CLIENTS: 'clients.json' })).toThrow('CDS_PUBLIC_URL is required when CDS_CLIENTS is set');
  });

  it.each([['HS256'], ['none'], ['ES384,HS512'], ['RS384, none'], [' , ']])('CDS_JWT_ALGORITHMS=%j refuses to load', (algorithms) => {
    expect(() => loadConfig({ CDS_JWT_ALGORITHMS: algorithms })).toThrow(/^CDS_JWT_ALGORITHMS may list only asymmetric algorithms/);
  });

  it('CDS_JWT_ALGORITHMS names the refused algorithm', () => {
    expect(() => loadConfig({ CDS_JWT_ALGORITHMS: 'ES384,HS256' })).toThrow('not "HS256"');
  });
});

describe('loadTrustedClients: a bad CDS_CLIENTS file is refused, naming the file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cds-clients-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['not JSON', 'not json at all', /cannot be read as JSON/],
    ['an object instead of a list', '{"iss":"https://ehr.example","jwks_uri":"https://ehr.example/jwks"}', /\(root\) must be array/],
    ['an entry without iss', '[{"jwks_uri":"https://ehr.example/jwks"}]', /must have required property 'iss'/],
    ['an entry with neither jwks_uri nor jwks', '[{"iss":"https://ehr.example"}]', /must have required property 'jwks_uri'/],
    ['a jwks_uri that is not http(s)', '[{"iss":"https://ehr.example","jwks_uri":"file:///etc/passwd"}]', /must match pattern/],
    ['an issuer listed twice', '[{"iss":"https://ehr.example","jwks_uri":"https://ehr.example/jwks"},{"iss":"https://ehr.example","jwks_uri":"https://ehr.example/jwks2"}]', /is listed twice/],
  ])('%s', (name, content, problem) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, content);
    expect(() => loadTrustedClients(file)).toThrow(`CDS_CLIENTS ${file}:`);
    expect(() => loadTrustedClients(file)).toThrow(problem);
  });

  it('a file that does not exist', () => {
    const file = join(dir, 'missing.json');
    expect(() => loadTrustedClients(file)).toThrow(`CDS_CLIENTS ${file}: cannot be read as JSON`);
  });
});

describe('the dev-token helper works against a real authenticated service', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dev-client-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('ensureDevClient + devToken → a service started with that CDS_CLIENTS file answers 200 (and 401 without the token)', async () => {
    const { privateJwk, clientsFile } = await ensureDevClient(join(dir, 'client'));
    // A second run keeps the same key and file.
    expect((await ensureDevClient(join(dir, 'client'))).privateJwk).toEqual(privateJwk);
    const config = loadConfig({
      CDS_CLIENTS: clientsFile, CDS_PUBLIC_URL: 'http://localhost:3000', PORT: '0', HOST: '127.0.0.1',
      KNOWLEDGE_DIR, CDS_SERVICES_DIR: SERVICES_DIR, DATA_DIR: join(dir, 'data'),
    });
    const running = await startService(config, silentLogger);
    try {
      // Until the used jtis of earlier runs are loaded, authenticated calls are 503 + Retry-After (issue 13).
      await running.storageReady;
      const body = JSON.stringify(hookRequest('order-sign', [sacroplasty()]));
      const token = await devToken(privateJwk, `http://localhost:3000${SIGN}`);
      const ok = await fetch(`${running.url}${SIGN}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
      expect(ok.status).toBe(200);
      const answer = (await ok.json()) as { cards: unknown[] };
      expect(answer.cards.length).toBeGreaterThan(0);

      const without = await fetch(`${running.url}${SIGN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(without.status).toBe(401);
      expect(without.headers.get('www-authenticate')).toMatch(/^Bearer /);
      await without.body?.cancel();

      const discoveryToken = await devToken(privateJwk, 'http://localhost:3000/cds-services');
      const discovery = await fetch(`${running.url}/cds-services`, { headers: { authorization: `Bearer ${discoveryToken}` } });
      expect(discovery.status).toBe(200);
      await discovery.body?.cancel();
    } finally {
      await running.stop();
    }
  }, 60_000);
});
