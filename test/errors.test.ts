import request from 'supertest';
import type { Response } from 'supertest';
import type { Express } from 'express';
import { hookRequest, sacroplasty, testApp } from './helpers';

const SIGN = '/cds-services/order-sign-crd';
const SELECT = '/cds-services/order-select-crd';

type Json = Record<string, unknown>;

/** A stack trace line ("    at fn (file.ts:12:5)"), a source path or the word "stack" must never reach a client. */
function expectNoStack(res: Response): void {
  expect(res.text).not.toMatch(/\bat [^\n]*:\d+:\d+|node_modules|\/src\/|\.ts:\d+|"stack"/);
}

/** The response is exactly this single-issue OperationOutcome, as application/fhir+json, with no stack trace. */
function expectOutcome(res: Response, status: number, code: string, diagnostics: string, expression?: string[]): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
  expect(res.headers['x-powered-by']).toBeUndefined();
  expect(res.body).toEqual({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics, ...(expression ? { expression } : {}) }],
  });
  expectNoStack(res);
}

/** After an error the same app still answers a valid order-sign call with the sacroplasty cards. */
async function expectStillServing(app: Express): Promise<void> {
  const res = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
  expect(res.status).toBe(200);
  expect(res.headers['x-powered-by']).toBeUndefined();
  expect(res.body.cards).toHaveLength(3);
  expect(res.body.cards[0].summary).toBe('Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below');
  expect(res.body.systemActions).toHaveLength(1);
}

const signBody = (): Json => hookRequest('order-sign', [sacroplasty()]);
const without = (body: Json, key: string): Json => {
  const copy = structuredClone(body);
  delete copy[key];
  return copy;
};

describe('invalid hook requests are answered with 400 OperationOutcomes and the service keeps serving', () => {
  const { app } = testApp();

  it('malformed JSON → 400 structure "not valid JSON"', async () => {
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send('{"hook": "order-sign", ');
    expectOutcome(res, 400, 'structure', 'The request body is not valid JSON.');
    await expectStillServing(app);
  });

  it('a JSON array body → 400 "must be a JSON object"', async () => {
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(JSON.stringify([signBody()]));
    expectOutcome(res, 400, 'invalid', 'The request body must be a JSON object.');
    await expectStillServing(app);
  });

  it('a JSON string body → 400 saying a JSON object is needed (it is valid JSON, just not an object)', async () => {
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send('"order-sign"');
    expectOutcome(res, 400, 'invalid', 'The request body must be a JSON object.');
    await expectStillServing(app);
  });

  it.each(['hook', 'hookInstance', 'context'])('a request without %s → 400 naming that field', async (field) => {
    const res = await request(app).post(SIGN).send(without(signBody(), field));
    expectOutcome(res, 400, 'invalid', `${field} is required`, [field]);
    await expectStillServing(app);
  });

  it('a hookInstance that is not a UUID → 400 naming hookInstance', async () => {
    const res = await request(app).post(SIGN).send({ ...signBody(), hookInstance: 'call-42' });
    expectOutcome(res, 400, 'invalid', 'hookInstance must be a UUID (e.g. d1577c69-dfbe-44ad-ba6d-3e05e953b2ea)', ['hookInstance']);
    await expectStillServing(app);
  });

  it('an order-select request posted to the order-sign service → 400 naming both hooks', async () => {
    const res = await request(app).post(SIGN).send(hookRequest('order-select', [sacroplasty()]));
    expectOutcome(res, 400, 'invalid', 'Service order-sign-crd answers the order-sign hook; the request is for order-select.', ['hook']);
    await expectStillServing(app);
  });

  it('order-select without selections → 400 naming context.selections', async () => {
    const body = hookRequest('order-select', [sacroplasty()]);
    delete (body['context'] as Json)['selections'];
    const res = await request(app).post(SELECT).send(body);
    expectOutcome(res, 400, 'invalid', 'context.selections is required', ['context.selections']);
    await expectStillServing(app);
  });

  it('draftOrders that is a Patient rather than a Bundle → 400 naming context.draftOrders.resourceType', async () => {
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [], { context: { draftOrders: { resourceType: 'Patient', id: 'p1' } } }));
    expectOutcome(res, 400, 'invalid', 'context.draftOrders.resourceType must be "Bundle"', ['context.draftOrders.resourceType']);
    await expectStillServing(app);
  });

  it('a draft order without an id → 400 naming the entry', async () => {
    const order = sacroplasty();
    delete order['id'];
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [order]));
    expectOutcome(res, 400, 'invalid', 'context.draftOrders.entry[0].resource.id is required', ['context.draftOrders.entry[0].resource.id']);
    await expectStillServing(app);
  });

  it('fhirAuthorization without fhirServer → 400 naming fhirServer', async () => {
    const body = without(signBody(), 'fhirServer');
    body['fhirAuthorization'] = { access_token: 'secret-token', token_type: 'Bearer', expires_in: 300, scope: 'patient/Coverage.read', subject: 'cds-service' };
    const res = await request(app).post(SIGN).send(body);
    expectOutcome(res, 400, 'invalid', 'fhirServer is required when fhirAuthorization is present', ['fhirServer']);
    expect(res.text).not.toContain('secret-token');
    await expectStillServing(app);
  });
});

describe('unknown services and routes are 404 OperationOutcomes', () => {
  const { app } = testApp();

  it('POST to an unknown service id → 404 naming the id', async () => {
    const res = await request(app).post('/cds-services/knee-arthroscopy').send(signBody());
    expectOutcome(res, 404, 'not-found', 'No CDS service with id "knee-arthroscopy". GET /cds-services lists them.');
    await expectStillServing(app);
  });

  it('an unknown route → 404 naming method and path', async () => {
    const res = await request(app).get('/no-such-route');
    expectOutcome(res, 404, 'not-found', 'No route for GET /no-such-route');
    await expectStillServing(app);
  });

  it('feedback to an unknown service → 404', async () => {
    const res = await request(app).post('/cds-services/knee-arthroscopy/feedback')
      .send({ feedback: [{ card: '00000000-0000-4000-8000-000000000002', outcome: 'accepted', outcomeTimestamp: '2026-11-23T12:00:00Z' }] });
    expectOutcome(res, 404, 'not-found', 'No CDS service with id "knee-arthroscopy". GET /cds-services lists them.');
    await expectStillServing(app);
  });

  it('GET on a service (a POST-only route) → 404', async () => {
    const res = await request(app).get(SIGN);
    expectOutcome(res, 404, 'not-found', `No route for GET ${SIGN}`);
    await expectStillServing(app);
  });
});

describe('body size and media type', () => {
  it('a body larger than MAX_BODY_BYTES → 413 too-long', async () => {
    const { app, config } = testApp({ env: { MAX_BODY_BYTES: '2048' } });
    expect(config.maxBodyBytes).toBe(2048);
    // A valid-looking request made big by a long clinical note on the order.
    const body = hookRequest('order-sign', [sacroplasty('sr1', { note: [{ text: 'Sacral insufficiency fracture. '.repeat(100) }] })]);
    expect(JSON.stringify(body).length).toBeGreaterThan(2048);
    const res = await request(app).post(SIGN).send(body);
    expectOutcome(res, 413, 'too-long', 'The request body is larger than this service accepts.');
    await expectStillServing(app);
  });

  it('content-type text/plain → 415 and the body is not parsed', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).set('Content-Type', 'text/plain').send(JSON.stringify(signBody()));
    expectOutcome(res, 415, 'not-supported', 'Send the request as application/json.');
    await expectStillServing(app);
  });
});

describe('CORS and headers', () => {
  const { app } = testApp();

  it('answers a browser preflight with 204, any origin, and Authorization and Content-Type allowed', async () => {
    const res = await request(app).options(SIGN)
      .set('Origin', 'https://sandbox.cds-hooks.org')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const allowed = String(res.headers['access-control-allow-headers']).split(',').map((h) => h.trim().toLowerCase());
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    expect(String(res.headers['access-control-allow-methods']).split(',')).toEqual(expect.arrayContaining(['POST']));
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('sends no X-Powered-By header on discovery, hook, feedback, error and health responses', async () => {
    const responses = [
      await request(app).get('/cds-services'),
      await request(app).post(SIGN).set('Origin', 'https://sandbox.cds-hooks.org').send(signBody()),
      await request(app).post(`${SIGN}/feedback`).send({ feedback: [{ card: 'c', outcome: 'accepted', outcomeTimestamp: '2026-11-23T12:00:00Z' }] }),
      await request(app).post(SIGN).send({}),
      await request(app).get('/nowhere'),
      await request(app).get('/healthz'),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 400, 404, 200]);
    for (const r of responses) expect(r.headers['x-powered-by']).toBeUndefined();
    // A browser call (with Origin) is readable cross-origin.
    expect(responses[1]!.headers['access-control-allow-origin']).toBe('*');
  });
});
