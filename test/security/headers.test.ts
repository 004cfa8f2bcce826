/**
 * Security headers on every kind of answer (hook, discovery, FHIR read, the SMART app page), and the request-size
 * limits: a URL over 4,096 characters, headers over Node's limit (answered by the server's clientError handler),
 * prototype keys, deep nesting and huge arrays — each refused with an OperationOutcome.
 */
// startService opens the embedded PGlite: load it natively (see test/storage/native-pglite.ts).
import '../storage/native-pglite';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import request from 'supertest';
import type { Response } from 'supertest';
import { loadConfig } from '../../src/config';
import { startService } from '../../src/server';
import type { RunningService } from '../../src/server';
import { KNOWLEDGE_DIR, SERVICES_DIR, hookRequest, sacroplasty, silentLogger, testApp } from '../helpers';
import { seededDataDir } from '../data-dir';

const SIGN = '/cds-services/order-sign-crd';
const ORIGIN = 'https://ehr.example';

function expectOutcome(res: Response, status: number, code: string, diagnostics: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
  expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] });
}

describe('security headers', () => {
  const { app } = testApp();
  const answers: Array<[string, () => request.Test]> = [
    ['a hook response', () => request(app).post(SIGN).set('Origin', ORIGIN).send(hookRequest('order-sign', [sacroplasty()]))],
    ['the discovery', () => request(app).get('/cds-services').set('Origin', ORIGIN)],
    ['a /fhir read', () => request(app).get('/fhir/PlanDefinition/ccp-1247').set('Origin', ORIGIN)],
    ['the SMART app page /smart/app', () => request(app).get('/smart/app').set('Origin', ORIGIN)],
    ['an error (404 OperationOutcome)', () => request(app).get('/fhir/PlanDefinition/no-such-plan').set('Origin', ORIGIN)],
  ];

  it.each(answers)('%s: no X-Powered-By, nosniff, CSP with frame-ancestors, no X-Frame-Options, CORP cross-origin, CORS', async (_what, call) => {
    const res = await call();
    expect(res.status).toBeLessThan(500);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const csp = String(res.headers['content-security-policy']);
    expect(csp.split(';').map((d) => d.trim())).toContain('frame-ancestors *');
    expect(csp).toMatch(/(^|;)\s*default-src 'self'/);
    expect(csp).toMatch(/(^|;)\s*object-src 'none'/);
    // The details app runs in an EHR iframe: framing is governed by CSP, never by a DENY/SAMEORIGIN X-Frame-Options.
    expect(res.headers['x-frame-options']).toBeUndefined();
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(String(res.headers['access-control-expose-headers']).toLowerCase()).toContain('x-request-id');
  });

  it('SMART_FRAME_ANCESTORS narrows frame-ancestors to the EHR origins configured', async () => {
    const narrowed = testApp({ env: { SMART_FRAME_ANCESTORS: 'https://ehr.example https://*.epic.example' } }).app;
    const res = await request(narrowed).get('/smart/app');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-security-policy']).split(';').map((d) => d.trim())).toContain('frame-ancestors https://ehr.example https://*.epic.example');
    expect(res.headers['x-frame-options']).toBeUndefined();
  });

  it('the SMART app page carries no inline script (the CSP allows scripts only from self)', async () => {
    const res = await request(app).get('/smart/app');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-security-policy'])).toMatch(/(^|;)\s*script-src 'self'(;|$)/);
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });
});

describe('request limits', () => {
  const { app } = testApp();

  it('a URL longer than 4,096 characters → 414 OperationOutcome', async () => {
    const res = await request(app).get(`/fhir/PlanDefinition?name=${'a'.repeat(4100)}`);
    expectOutcome(res, 414, 'too-long', 'The request URL is longer than 4096 characters.');
  });

  it('a hook URL longer than 4,096 characters → 414 OperationOutcome', async () => {
    const res = await request(app).post(`${SIGN}?x=${'b'.repeat(4100)}`).send(hookRequest('order-sign', [sacroplasty()]));
    expectOutcome(res, 414, 'too-long', 'The request URL is longer than 4096 characters.');
  });

  it.each([
    ['at the top', '{"__proto__":{"polluted":"yes"},"hook":"order-sign"}', '__proto__'],
    ['inside context', (): string => JSON.stringify(hookRequest('order-sign', [sacroplasty()])).replace('"context":{', '"context":{"__proto__":{"polluted":"yes"},'), '__proto__'],
    ['inside an order', (): string => JSON.stringify(hookRequest('order-sign', [sacroplasty()])).replace('"resourceType":"ServiceRequest"', '"resourceType":"ServiceRequest","constructor":{"prototype":{"polluted":"yes"}}'), 'constructor'],
    ['as "prototype"', '{"hook":"order-sign","context":{"prototype":{"polluted":"yes"}}}', 'prototype'],
  ])('a body with a reserved key %s (raw JSON text) → 400 naming the key', async (_where, body, key) => {
    const text = typeof body === 'function' ? body() : body;
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(text);
    expectOutcome(res, 400, 'invalid', `The request body uses the reserved key "${key}".`);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  /** The valid hook request with an `extension` whose innermost object sits at `level` (the body itself is level 0). */
  const nestedTo = (level: number): string => {
    const k = level - 1;
    return JSON.stringify(hookRequest('order-sign', [sacroplasty()])).replace(/}$/, `,"extension":${'{"a":'.repeat(k)}{}${'}'.repeat(k)}}`);
  };

  it('nesting deeper than 64 → 400', async () => {
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(nestedTo(65));
    expectOutcome(res, 400, 'invalid', 'The request body is nested deeper than 64 levels.');
  });

  it('nesting exactly 64 deep passes the limit (the hook answers with its three cards)', async () => {
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(nestedTo(64));
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
  });

  it('an array of 30,000 items → 413', async () => {
    const text = `{"hook":"order-sign","extension":{"items":[${Array.from({ length: 30_000 }, () => '0').join(',')}]}}`;
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(text);
    expectOutcome(res, 413, 'too-costly', 'A JSON array in the request body has more than 20000 items.');
  });
});

describe('headers larger than Node\'s limit (raw socket against startService)', () => {
  let running: RunningService;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = seededDataDir('headers-data');
    running = await startService(loadConfig({ PORT: '0', HOST: '127.0.0.1', KNOWLEDGE_DIR, CDS_SERVICES_DIR: SERVICES_DIR, DATA_DIR: dataDir }), silentLogger);
  }, 60_000);
  // stop() waits for the new data directory's initdb before closing it: as long as the start may take.
  afterAll(async () => {
    await running.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** Sends `raw` on a new TCP connection and resolves with everything the server wrote before closing. */
  function rawExchange(raw: string): Promise<string> {
    const { hostname, port } = new URL(running.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.write(raw);
    });
  }

  it('a 20 kB header → 431 with an OperationOutcome body, and the server keeps serving', async () => {
    const answer = await rawExchange(`GET /cds-services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'h'.repeat(20 * 1024)}\r\n\r\n`);
    const [head, body] = answer.split('\r\n\r\n') as [string, string];
    const lines = head.split('\r\n');
    expect(lines[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(lines).toContain('Content-Type: application/fhir+json');
    expect(JSON.parse(body)).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-long', diagnostics: 'The request headers are too large.' }] });

    const after = await fetch(`${running.url}/cds-services`);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { services: unknown[] }).services.length).toBeGreaterThan(0);
  });

  it('a malformed request line → 400 OperationOutcome, and the server keeps serving', async () => {
    const answer = await rawExchange('THIS IS NOT HTTP\r\n\r\n');
    const [head, body] = answer.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(body)).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', diagnostics: 'The HTTP request is malformed.' }] });
    const after = await fetch(`${running.url}/healthz`);
    expect(after.status).toBe(200);
    await after.body?.cancel();
  });
});
