/**
 * A failing or hostile EHR FHIR server, beyond what test/prefetch.test.ts covers (slow, 401, down, garbage, 302,
 * 404): an endless response past FHIR_MAX_RESPONSE_BYTES, a server that accepts the connection and never answers,
 * one that stalls mid-body, 307/308 redirects to another host — and the EHR's access token, which goes to the
 * fhirServer host only and never appears in any answer or log line.
 */
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import type { Response } from 'supertest';
import { COVERAGE_INFO_URL, outcomeCoverageInformation, coverageBundle, hookRequest, patient, sacroplasty, sendFhir, fhirServersClosedAfterEach, testApp } from '../helpers';

const SIGN = '/cds-services/order-sign-crd';
const TOKEN = 'ehr-access-token-SECRET-91c2e7';
const COVERAGE_QUERY = '/fhir/Coverage?patient=p1&status=active';
const SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];
const fhirAuthorization = { access_token: TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/Coverage.read patient/Patient.read', subject: 'payer-cds' };

type Json = Record<string, unknown>;

/** An order-sign call without the coverage prefetch: the service must query `fhirServer` with the token. */
const withoutCoveragePrefetch = (fhirServer: string): Json =>
  hookRequest('order-sign', [sacroplasty()], { prefetch: { patient: patient() }, extra: { fhirServer, fhirAuthorization } });

/** Log lines the app writes (everything from debug up), to check the token never reaches them. */
const logLines: string[] = [];
const capturingLogger = pino({ level: 'debug' }, new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString('utf8'));
    done();
  },
}));

/** CRD's answer for data that could not be read: the three cards, coverage indeterminate with reason technical. */
function expectTechnical(res: Response, why: string): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
  expect(res.body.systemActions).toHaveLength(1);
  const ext = (res.body.systemActions[0].resource.extension as Json[]).filter((e) => e['url'] === COVERAGE_INFO_URL);
  const text = `Coverage could not be determined: ${why}.`;
  expect(ext).toEqual([outcomeCoverageInformation('indeterminate', 'technical', text)]);
}

/** The EHR's access token is in no part of the answer (body or headers) and in no log line. */
function expectNoToken(res: Response): void {
  expect(res.text).not.toContain(TOKEN);
  expect(JSON.stringify(res.headers)).not.toContain(TOKEN);
  expect(logLines.join('\n')).not.toContain(TOKEN);
}

describe('a failing EHR FHIR server (beyond test/prefetch.test.ts)', () => {
  const tcpServers: Array<{ server: TcpServer; sockets: Socket[] }> = [];
  const timers: NodeJS.Timeout[] = [];
  afterEach(async () => {
    for (const t of timers.splice(0)) clearInterval(t);
    await Promise.all(tcpServers.splice(0).map(({ server, sockets }) => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    })));
    logLines.splice(0);
  });
  const start = fhirServersClosedAfterEach();
  const app = (env: Record<string, string> = {}): ReturnType<typeof testApp>['app'] => testApp({ env, deps: { logger: capturingLogger } }).app;

  it('an endless response past FHIR_MAX_RESPONSE_BYTES → the response still comes, technical, and the download is abandoned', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((r) => {
      closed = r;
    });
    let sent = 0;
    const fhir = await start((_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.write('{"resourceType":"Bundle","type":"searchset","entry":[');
      const chunk = `{"resource":{"resourceType":"Coverage","id":"pad","status":"active","note":"${'x'.repeat(400)}"}},`;
      // Streams forever: only the service giving up ends this response.
      timers.push(setInterval(() => {
        sent += chunk.length;
        res.write(chunk);
      }, 2));
      res.on('close', () => closed());
    });
    const res = await request(app({ FHIR_MAX_RESPONSE_BYTES: '2048' })).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    await connectionClosed;
    expect(sent).toBeGreaterThan(2048);
    expect(fhir.requests).toEqual([{ method: 'GET', url: COVERAGE_QUERY, authorization: `Bearer ${TOKEN}` }]);
    expectNoToken(res);
  }, 10_000);

  it('a 100 kB response sent at once, past FHIR_MAX_RESPONSE_BYTES=2048 → technical', async () => {
    const fhir = await start((_req, res) => {
      const bundle = coverageBundle('big');
      sendFhir(res, 200, { ...bundle, padding: 'y'.repeat(100 * 1024) });
    });
    const res = await request(app({ FHIR_MAX_RESPONSE_BYTES: '2048' })).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expect(JSON.stringify(res.body)).not.toContain('Coverage/big');
    expectNoToken(res);
  });

  it('a server that accepts the connection and never answers → technical within FHIR_TIMEOUT_MS=300', async () => {
    const sockets: Socket[] = [];
    const server = createTcpServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    tcpServers.push({ server, sockets });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const res = await request(app({ FHIR_TIMEOUT_MS: '300' })).post(SIGN).send(withoutCoveragePrefetch(`http://127.0.0.1:${port}/fhir`));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expect(sockets.length).toBe(1);
    expectNoToken(res);
  }, 5000);

  it('a server that sends headers and half a body, then stalls → technical within FHIR_TIMEOUT_MS=300', async () => {
    const fhir = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': '5000' });
      res.write('{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Coverage","id":"half"');
    });
    const res = await request(app({ FHIR_TIMEOUT_MS: '300' })).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expectNoToken(res);
  }, 5000);

  it.each([[307], [308]])('a %i redirect to another host is not followed: technical, and the other host never receives a request', async (status) => {
    const elsewhere = await start((_req, res) => sendFhir(res, 200, coverageBundle('stolen')));
    const fhir = await start((_req, res) => {
      res.writeHead(status, { location: `${elsewhere.url}/Coverage?patient=p1&status=active` });
      res.end();
    });
    const res = await request(app()).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expect(fhir.requests).toEqual([{ method: 'GET', url: COVERAGE_QUERY, authorization: `Bearer ${TOKEN}` }]);
    expect(elsewhere.requests).toEqual([]);
    expect(JSON.stringify(res.body)).not.toContain('stolen');
    expectNoToken(res);
  });

  it('a server that echoes the token in an error body and header → technical, and the token is in no answer or log', async () => {
    const fhir = await start((req, res) => {
      res.writeHead(500, { 'content-type': 'application/fhir+json', 'x-echo': String(req.headers.authorization) });
      res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: `bad token ${String(req.headers.authorization)}` }] }));
    });
    const res = await request(app()).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expectNoToken(res);
  });

  it('a server that answers 200 with an OperationOutcome quoting the token → technical, and the token is in no answer or log', async () => {
    const fhir = await start((req, res) => sendFhir(res, 200, {
      resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'security', diagnostics: `token ${String(req.headers.authorization)} is not allowed` }],
    }));
    const res = await request(app()).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expectTechnical(res, 'the EHR\'s FHIR server could not be read');
    expectNoToken(res);
  });

  it('a successful read: the token goes to the fhirServer host only, once, and appears in no answer or log', async () => {
    const other = await start((_req, res) => sendFhir(res, 200, coverageBundle('other')));
    const fhir = await start((_req, res) => sendFhir(res, 200, coverageBundle('cov-ok')));
    const res = await request(app()).post(SIGN).send(withoutCoveragePrefetch(fhir.url));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
    expect(JSON.stringify(res.body.systemActions)).toContain('Coverage/cov-ok');
    expect(fhir.requests).toEqual([{ method: 'GET', url: COVERAGE_QUERY, authorization: `Bearer ${TOKEN}` }]);
    expect(other.requests).toEqual([]);
    expect(logLines.length).toBeGreaterThan(0);
    expectNoToken(res);
  });
});
