import request from 'supertest';
import type { Response } from 'supertest';
import { COVERAGE_INFO_URL, CPT, outcomeCoverageInformation, coverageBundle, hookRequest, patient, sacroplasty, sendFhir, serviceRequest, fhirServersClosedAfterEach, startFhirServer, testApp } from './helpers';
import type { FhirTestServer } from './helpers';

const SIGN = '/cds-services/order-sign-crd';
const SELECT = '/cds-services/order-select-crd';
const TOKEN = 'ehr-access-token-7f3a';
const COVERAGE_QUERY = '/fhir/Coverage?patient=p1&status=active';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];
const BILLING = { url: 'billingCode', valueCoding: { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' } };

type Json = Record<string, unknown>;

const fhirAuthorization = { access_token: TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/Coverage.read patient/Patient.read', subject: 'payer-cds' };

/** An order-sign call whose prefetch lacks `coverage`, pointing the service at `fhirServer` with a token. */
function withoutCoveragePrefetch(fhirServer: string, orders: Json[] = [sacroplasty()]): Json {
  return hookRequest('order-sign', orders, { prefetch: { patient: patient() }, extra: { fhirServer, fhirAuthorization } });
}

/** The coverage-information extension on the one system action. */
function coverageInformation(res: Response): Json {
  expect(res.body.systemActions).toHaveLength(1);
  const ext = (res.body.systemActions[0].resource.extension as Json[]).filter((e) => e['url'] === COVERAGE_INFO_URL);
  expect(ext).toHaveLength(1);
  return ext[0]!;
}

/** What CRD says for data that could not be read: indeterminate, reason `technical`, with the reason in text. */
function expectTechnical(res: Response, why: string): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
  const text = `Coverage could not be determined: ${why}.`;
  expect(coverageInformation(res)).toEqual(outcomeCoverageInformation('indeterminate', 'technical', text));
}

function expectCoverageNotFound(res: Response): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
  const text = 'No coverage for this patient was found for this plan.';
  expect(coverageInformation(res)).toEqual(outcomeCoverageInformation('not-covered', 'coverage-not-found', text));
}

/** The one request the service made: the coverage search, with the EHR's token and nothing else. */
function expectOneCoverageQuery(server: FhirTestServer): void {
  expect(server.requests).toEqual([{ method: 'GET', url: COVERAGE_QUERY, authorization: `Bearer ${TOKEN}` }]);
}

describe('coverage prefetch missing: the service queries the EHR FHIR server itself', () => {
  const timers: NodeJS.Timeout[] = [];
  afterEach(() => {
    for (const t of timers.splice(0)) clearTimeout(t);
  });
  const start = fhirServersClosedAfterEach();

  it('uses the Coverage the FHIR server returns, read with the EHR bearer token and exactly the prefetch query', async () => {
    const fhir = await start((req, res) => {
      if (req.url === COVERAGE_QUERY) sendFhir(res, 200, coverageBundle('cov-from-ehr'));
      else sendFhir(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    });
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
    expect(coverageInformation(res)).toEqual({
      url: COVERAGE_INFO_URL,
      extension: [
        { url: 'coverage', valueReference: { reference: 'Coverage/cov-from-ehr' } },
        { url: 'covered', valueCode: 'not-covered' },
        BILLING,
        { url: 'reason', valueCodeableConcept: { text: 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)' } },
        { url: 'date', valueDate: '2026-11-23' },
        { url: 'coverage-assertion-id', valueString: expect.stringMatching(UUID) },
      ],
    });
    expectOneCoverageQuery(fhir);
    expect(res.text).not.toContain(TOKEN);
    const [path, query] = fhir.requests[0]!.url.split('?');
    expect(path).toBe('/fhir/Coverage');
    expect(query).toBe('patient=p1&status=active');
  });

  it('order-select also reads Coverage from the FHIR server when the prefetch lacks it', async () => {
    const fhir = await start((_req, res) => sendFhir(res, 200, coverageBundle('cov-select')));
    const { app } = testApp();
    const body = hookRequest('order-select', [sacroplasty()], { prefetch: { patient: patient() }, extra: { fhirServer: fhir.url, fhirAuthorization } });
    const res = await request(app).post(SELECT).send(body);
    expect(res.status).toBe(200);
    expect(coverageInformation(res)['extension']).toContainEqual({ url: 'coverage', valueReference: { reference: 'Coverage/cov-select' } });
    expectOneCoverageQuery(fhir);
  });

  it('a FHIR server slower than FHIR_TIMEOUT_MS → 200 with the cards and indeterminate/technical coverage', async () => {
    const fhir = await start((_req, res) => {
      timers.push(setTimeout(() => sendFhir(res, 200, coverageBundle('too-late')), 1000));
    });
    const { app } = testApp({ env: { FHIR_TIMEOUT_MS: '200' } });
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expect(JSON.stringify(res.body)).not.toContain('too-late');
    expectOneCoverageQuery(fhir);
  });

  it('a FHIR server refusing the token (401) → indeterminate/technical', async () => {
    const fhir = await start((_req, res) => sendFhir(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }));
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expectOneCoverageQuery(fhir);
  });

  it('a FHIR server that is down → indeterminate/technical', async () => {
    const gone = await startFhirServer((_req, res) => sendFhir(res, 200, coverageBundle()));
    const url = gone.url;
    await gone.close();
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expect(gone.requests).toEqual([]);
  });

  it('a FHIR server answering non-JSON garbage → indeterminate/technical', async () => {
    const fhir = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Gateway login</body></html>');
    });
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expectOneCoverageQuery(fhir);
  });

  it('a 302 redirect to another host is not followed: technical, and the other host never sees the token', async () => {
    const elsewhere = await start((_req, res) => sendFhir(res, 200, coverageBundle('stolen')));
    const fhir = await start((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/Coverage?patient=p1&status=active` });
      res.end();
    });
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expect(JSON.stringify(res.body)).not.toContain('stolen');
    expectOneCoverageQuery(fhir);
    expect(elsewhere.requests).toEqual([]);
  });

  it('a 404 from the FHIR server → not-covered with reason coverage-not-found', async () => {
    const fhir = await start((_req, res) => sendFhir(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] }));
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectCoverageNotFound(res);
    expectOneCoverageQuery(fhir);
  });

  it('a slow FHIR server does not hold the response past the timeout (the call completes)', async () => {
    const fhir = await start((_req, res) => {
      timers.push(setTimeout(() => sendFhir(res, 200, coverageBundle()), 15_000));
    });
    const { app } = testApp({ env: { FHIR_TIMEOUT_MS: '200' } });
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expect(res.status).toBe(200);
    expect(coverageInformation(res)['extension']).toContainEqual({ url: 'covered', valueCode: 'indeterminate' });
  });
});

describe('when the service needs no data or already has it, it does not query', () => {
  const start = fhirServersClosedAfterEach();
  const countingServer = (): Promise<FhirTestServer> => start((_req, res) => sendFhir(res, 200, coverageBundle('should-not-be-read')));

  it('no coverage prefetch and no fhirServer → 412 OperationOutcome naming prefetch.coverage', async () => {
    const { app } = testApp();
    const body = hookRequest('order-sign', [sacroplasty()], { prefetch: { patient: patient() } });
    delete body['fhirServer'];
    const res = await request(app).post(SIGN).send(body);
    expect(res.status).toBe(412);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{
        severity: 'error',
        code: 'incomplete',
        diagnostics: 'Prefetch "coverage" was not sent and the service cannot query the EHR for it (no fhirServer); send the prefetch or fhirServer with fhirAuthorization.',
        expression: ['prefetch.coverage'],
      }],
    });
  });

  it('no prefetch at all and no fhirServer → 412', async () => {
    const { app } = testApp();
    const body = hookRequest('order-sign', [sacroplasty()], { prefetch: null });
    delete body['fhirServer'];
    const res = await request(app).post(SIGN).send(body);
    expect(res.status).toBe(412);
    expect(res.body.issue[0].expression).toEqual(['prefetch.coverage']);
  });

  it('order-select with no order a policy applies to (only a PT order): no query, and no 412 even without fhirServer', async () => {
    const pt = serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] });
    const fhir = await countingServer();
    const { app } = testApp();

    const queried = await request(app).post(SELECT).send(hookRequest('order-select', [pt], { prefetch: { patient: patient() }, extra: { fhirServer: fhir.url, fhirAuthorization } }));
    expect(queried.status).toBe(200);
    expect(queried.body).toEqual({ cards: [] });
    expect(fhir.requests).toEqual([]);

    const body = hookRequest('order-select', [pt], { prefetch: null });
    delete body['fhirServer'];
    const res = await request(app).post(SELECT).send(body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('order-sign with only a PT order still decides (the payer\'s default), so it reads the coverage: one query', async () => {
    const pt = serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] });
    const fhir = await start((_req, res) => sendFhir(res, 200, coverageBundle('cov-ehr')));
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(withoutCoveragePrefetch(fhir.url, [pt]));
    expect(res.status).toBe(200);
    expect(res.body.cards).toEqual([]);
    expect(JSON.stringify(res.body.systemActions)).toContain('"valueReference":{"reference":"Coverage/cov-ehr"}');
    expectOneCoverageQuery(fhir);
  });

  it('prefetch coverage: null means "no data": coverage-not-found without any fetch', async () => {
    const fhir = await countingServer();
    const { app } = testApp();
    const body = hookRequest('order-sign', [sacroplasty()], { prefetch: { patient: patient(), coverage: null }, extra: { fhirServer: fhir.url, fhirAuthorization } });
    const res = await request(app).post(SIGN).send(body);
    expectCoverageNotFound(res);
    expect(fhir.requests).toEqual([]);
  });

  it('coverage in the prefetch is used as sent, without a fetch', async () => {
    const fhir = await countingServer();
    const { app } = testApp();
    const body = hookRequest('order-sign', [sacroplasty()], { prefetch: { patient: patient(), coverage: coverageBundle('cov-prefetched') }, extra: { fhirServer: fhir.url, fhirAuthorization } });
    const res = await request(app).post(SIGN).send(body);
    expect(res.status).toBe(200);
    expect(coverageInformation(res)['extension']).toContainEqual({ url: 'coverage', valueReference: { reference: 'Coverage/cov-prefetched' } });
    expect(fhir.requests).toEqual([]);
  });
});
