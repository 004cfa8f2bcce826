/**
 * Issue 13, item 9: `/smart/launch?iss=…` sends the browser to that server's authorize endpoint with the app's
 * client id and redirect URI. The server now checks `iss` (and fhirclient's other source of a server,
 * `fhirServiceUrl`) against the same allow-list as fhirServer — the registered clients' fhirServers with
 * CDS_CLIENTS, else FHIR_SERVER_ALLOWLIST — and answers anything else with a plain 400 page that loads no script,
 * so the browser is never sent anywhere. A real "SSRF listener" on 127.0.0.2 counts connections: none, even when
 * Chromium opens the launch URL.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Response } from 'supertest';
import type { TrustedClient } from '../../src/auth/clients';
import { testApp } from '../helpers';
import { describeWithBrowser, launchBrowser } from '../browser';

const REFUSED_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>AmeriHealth Caritas VIP Care policy details — cannot launch</title>
<style>${'STYLE'}</style></head>
<body><h1>This launch cannot continue</h1>
<p>The EHR this launch names is not registered with AmeriHealth Caritas VIP Care's coverage service, so the app was not opened and you were not sent anywhere.</p>
<p>Open the app again from the card in your EHR. If this keeps happening, tell your EHR support team.</p></body></html>`;

let spy: { server: Server; port: number; connections: number };

beforeAll(async () => {
  const server = createServer((_req, res) => res.end('{}'));
  spy = { server, port: 0, connections: 0 };
  server.on('connection', () => {
    spy.connections += 1;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  spy.port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => {
  spy.server.closeAllConnections();
  spy.server.close(() => r());
}));
beforeEach(() => {
  spy.connections = 0;
});

/** The whole refusal: 400, the plain page (no script, no redirect, no Location). */
function expectRefused(res: Response): void {
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  expect(res.headers['location']).toBeUndefined();
  expect(res.text.replace(/<style>[\s\S]*?<\/style>/, '<style>STYLE</style>')).toBe(REFUSED_PAGE);
  expect(res.text).not.toContain('<script');
  expect(res.text).not.toContain('127.0.0.2');
}

/** The launch page itself: 200 with launch.js. */
function expectLaunchPage(res: Response): void {
  expect(res.status).toBe(200);
  expect(res.text).toContain('<script src="/smart/assets/launch.js"></script>');
}

const launch = (app: ReturnType<typeof testApp>['app'], query: string): Promise<Response> => request(app).get(`/smart/launch?${query}`);
const q = (params: Record<string, string>): string => new URLSearchParams(params).toString();

describe('open (no CDS_CLIENTS): iss must be on FHIR_SERVER_ALLOWLIST', () => {
  const app = testApp({ env: { FHIR_SERVER_ALLOWLIST: 'https://ehr.example/fhir' } }).app;

  it.each([
    ['another loopback address', () => `http://127.0.0.2:${spy.port}/fhir`],
    ['127.0.0.2 in decimal', () => `http://2130706434:${spy.port}/fhir`],
    ['localhost', () => `http://localhost:${spy.port}/fhir`],
    ['an unknown https server', () => 'https://evil.example/fhir'],
    ['the registered host over http', () => 'http://ehr.example/fhir'],
    ['the registered origin, another path', () => 'https://ehr.example/admin'],
    ['the registered base escaped with ..', () => 'https://ehr.example/fhir/../admin'],
    ['userinfo before another host', () => 'https://ehr.example@evil.example/fhir'],
    ['not a URL', () => 'javascript:alert(1)'],
  ])('iss = %s → 400 page, no redirect, nothing contacted', async (_what, iss) => {
    expectRefused(await launch(app, q({ iss: iss(), launch: 'abc' })));
    expect(spy.connections).toBe(0);
  });

  it('a registered iss (or below it) launches', async () => {
    expectLaunchPage(await launch(app, q({ iss: 'https://ehr.example/fhir', launch: 'abc' })));
    expectLaunchPage(await launch(app, q({ iss: 'https://ehr.example/fhir/r4' })));
  });

  it('no iss: the launch page (it shows the "about" view)', async () => {
    expectLaunchPage(await launch(app, ''));
  });

  it('iss given twice, or an unregistered fhirServiceUrl (fhirclient reads it too) → 400', async () => {
    expectRefused(await launch(app, `iss=${encodeURIComponent('https://ehr.example/fhir')}&iss=${encodeURIComponent(`http://127.0.0.2:${spy.port}/`)}`));
    expectRefused(await launch(app, q({ iss: 'https://ehr.example/fhir', fhirServiceUrl: `http://127.0.0.2:${spy.port}/` })));
    expectRefused(await launch(app, q({ fhirServiceUrl: `http://127.0.0.2:${spy.port}/` })));
    expect(spy.connections).toBe(0);
  });

  it('the defaults allow the SMART sandbox and, outside production, loopback EHRs', async () => {
    const defaults = testApp().app;
    expectLaunchPage(await launch(defaults, q({ iss: 'https://launch.smarthealthit.org/v/r4/fhir', launch: 'x' })));
    expectLaunchPage(await launch(defaults, q({ iss: 'http://127.0.0.1:5555/fhir', launch: 'x' })));
    expectRefused(await launch(defaults, q({ iss: `http://127.0.0.2:${spy.port}/fhir`, launch: 'x' })));
    expectRefused(await launch(defaults, q({ iss: 'http://launch.smarthealthit.org/v/r4/fhir', launch: 'x' })));
  });

  it('production: https required even for an explicitly allowed server', async () => {
    const prod = testApp({ env: { NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: 'true', FHIR_SERVER_ALLOWLIST: 'https://ehr.example/fhir' } }).app;
    expectLaunchPage(await launch(prod, q({ iss: 'https://ehr.example/fhir', launch: 'x' })));
    expectRefused(await launch(prod, q({ iss: 'http://ehr.example/fhir', launch: 'x' })));
    expectRefused(await launch(prod, q({ iss: 'http://127.0.0.1:5555/fhir', launch: 'x' })));
  });
});

describe('with CDS_CLIENTS: iss must be one of the registered clients\' fhirServers', () => {
  const clients: TrustedClient[] = [
    { iss: 'https://ehr-a.example', jwks: { keys: [{ kty: 'EC' }] }, fhirServers: ['https://ehr-a.example/fhir'] },
    { iss: 'https://ehr-b.example', jwks: { keys: [{ kty: 'EC' }] } },
  ];
  const app = testApp({ env: { CDS_PUBLIC_URL: 'https://payer.example' }, deps: { clients } }).app;

  it('a registered fhirServer launches; the sandbox and loopback defaults do not apply', async () => {
    expectLaunchPage(await launch(app, q({ iss: 'https://ehr-a.example/fhir', launch: 'x' })));
    expectRefused(await launch(app, q({ iss: 'https://launch.smarthealthit.org/v/r4/fhir', launch: 'x' })));
    expectRefused(await launch(app, q({ iss: 'http://127.0.0.1:5555/fhir', launch: 'x' })));
    // A client's issuer is not a FHIR server it registered.
    expectRefused(await launch(app, q({ iss: 'https://ehr-b.example', launch: 'x' })));
    expectRefused(await launch(app, q({ iss: `http://127.0.0.2:${spy.port}/fhir`, launch: 'x' })));
    expect(spy.connections).toBe(0);
  });
});

describeWithBrowser('in Chromium: an unregistered iss never takes the browser anywhere', () => {
  it('opening /smart/launch?iss=<listener> shows the refusal and the listener gets no connection', async () => {
    const app = testApp({ env: { FHIR_SERVER_ALLOWLIST: 'https://ehr.example/fhir' } }).app;
    const server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      const res = await page.goto(`${base}/smart/launch?${q({ iss: `http://127.0.0.2:${spy.port}/fhir`, launch: 'abc' })}`);
      await page.waitForTimeout(500);
      expect(res?.status()).toBe(400);
      expect(page.url()).toBe(`${base}/smart/launch?${q({ iss: `http://127.0.0.2:${spy.port}/fhir`, launch: 'abc' })}`);
      expect(await page.textContent('h1')).toBe('This launch cannot continue');
      expect(requested.filter((u) => !u.startsWith(base))).toEqual([]);
      expect(spy.connections).toBe(0);
    } finally {
      await browser.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
