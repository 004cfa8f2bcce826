/**
 * Issue 13, item 10: card links (the SMART launch URL, the policy page) and the FHIR endpoint's own URLs were built
 * on the request's Host header when CDS_PUBLIC_URL was unset, so `Host: evil.example` made the service hand out
 * links to evil.example. Now production refuses to start without CDS_PUBLIC_URL, and outside production links are
 * built only on a trusted Host (CDS_TRUSTED_HOSTS; default localhost, 127.0.0.1, [::1], HOST), else on the first
 * trusted host on the port the request came in on.
 */
import request from 'supertest';
import type { Response } from 'supertest';
import { loadConfig } from '../../src/config';
import { hookRequest, sacroplasty, testApp } from '../helpers';

const SIGN = '/cds-services/order-sign-crd';

type Link = { label: string; url: string; type: string };

/** Every card link URL, in order. */
const linkUrls = (res: Response): string[] => (res.body.cards as Array<{ links?: Link[] }>).flatMap((c) => (c.links ?? []).map((l) => l.url));

/** The links the service builds on its own base: the policy page and the SMART launch. */
const ownLinks = (base: string): string[] => [`${base}/policies/ccp-1247`, `${base}/smart/launch`];

const sign = (app: ReturnType<typeof testApp>['app'], host?: string, extra: Record<string, string> = {}): Promise<Response> => {
  const req = request(app).post(SIGN);
  if (host !== undefined) req.set('Host', host);
  for (const [k, v] of Object.entries(extra)) req.set(k, v);
  return req.send(hookRequest('order-sign', [sacroplasty()]));
};

/** The links that are the service's own (not the evidence DOIs). */
const own = (res: Response): string[] => linkUrls(res).filter((u) => /\/(policies|smart)\//.test(u));

describe('production needs CDS_PUBLIC_URL', () => {
  it('NODE_ENV=production without CDS_PUBLIC_URL refuses to load, naming the variable (open on purpose)', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: 'true' }))
      .toThrow('CDS_PUBLIC_URL is required with NODE_ENV=production: card and app links are built on it, never on a request\'s Host header');
  });

  it('NODE_ENV=production with CDS_CLIENTS but no CDS_PUBLIC_URL refuses too', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', CDS_CLIENTS: 'clients.json' })).toThrow(/CDS_PUBLIC_URL is required/);
  });

  it('NODE_ENV=production with CDS_PUBLIC_URL loads, and links are built on it whatever the Host', async () => {
    const { app } = testApp({ env: { NODE_ENV: 'production', CDS_ALLOW_UNAUTHENTICATED: 'true', CDS_PUBLIC_URL: 'https://crd.payer.example' } });
    const res = await sign(app, 'evil.example');
    expect(res.status).toBe(200);
    expect(own(res)).toEqual(ownLinks('https://crd.payer.example'));
  });

  it('a bad CDS_TRUSTED_HOSTS value is refused, naming the variable', () => {
    expect(() => loadConfig({ CDS_TRUSTED_HOSTS: 'localhost,http://evil.example/' })).toThrow('CDS_TRUSTED_HOSTS must list host or host:port values, not "http://evil.example/"');
  });

  it('the defaults: localhost, 127.0.0.1, [::1], plus HOST when it names one address', () => {
    expect(loadConfig({}).trustedHosts).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(loadConfig({ HOST: '10.0.0.5' }).trustedHosts).toEqual(['localhost', '127.0.0.1', '[::1]', '10.0.0.5']);
    expect(loadConfig({ CDS_TRUSTED_HOSTS: 'crd.local:8080, Payer.Test' }).trustedHosts).toEqual(['crd.local:8080', 'payer.test']);
  });
});

describe('without CDS_PUBLIC_URL (outside production): links only on a trusted Host', () => {
  const app = testApp({ env: { CDS_PUBLIC_URL: '' } }).app;

  it('Host: evil.example → links on http://localhost:<the port called>, never on evil.example', async () => {
    const res = await sign(app, 'evil.example');
    expect(res.status).toBe(200);
    const links = own(res);
    expect(links).toHaveLength(2);
    const port = /^http:\/\/localhost:(\d+)\/policies\//.exec(links[0]!)?.[1];
    expect(port).toBeDefined();
    expect(links).toEqual(ownLinks(`http://localhost:${port}`));
    expect(res.text).not.toContain('evil.example');
  });

  it.each([
    ['evil.example:3000'], ['localhost.evil.example'], ['127.0.0.1.evil.example'], ['evil.example@localhost'], ['localhost/evil'], ['[::1].evil'],
  ])('Host: %s → not trusted, links on localhost', async (host) => {
    const res = await sign(app, host);
    expect(res.status).toBe(200);
    for (const url of own(res)) expect(url).toMatch(/^http:\/\/localhost:\d+\/(policies|smart)\//);
  });

  it('X-Forwarded-Host is never used (only Host decides)', async () => {
    const res = await sign(app, undefined, { 'X-Forwarded-Host': 'evil.example' });
    expect(res.text).not.toContain('evil.example');
  });

  it.each([['127.0.0.1:3000'], ['localhost:8080'], ['[::1]:3000'], ['localhost']])('Host: %s (trusted, any port) → links built on it', async (host) => {
    const res = await sign(app, host);
    expect(own(res)).toEqual(ownLinks(`http://${host}`));
  });

  it('supertest\'s own Host (127.0.0.1:<random port>) is trusted, as before', async () => {
    const res = await sign(app);
    expect(own(res)[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/policies\/ccp-1247$/);
  });

  it('the FHIR endpoint\'s capability statement and search links follow the same rule', async () => {
    const cap = await request(app).get('/fhir/metadata').set('Host', 'evil.example');
    expect(cap.status).toBe(200);
    expect(cap.body.implementation.url).toMatch(/^http:\/\/localhost:\d+\/fhir$/);
    const search = await request(app).get('/fhir/PlanDefinition').set('Host', 'evil.example');
    expect(search.status).toBe(200);
    expect(search.text).not.toContain('evil.example');
  });

  it('CDS_TRUSTED_HOSTS replaces the defaults: its hosts are trusted, an untrusted Host gets its first entry', async () => {
    const custom = testApp({ env: { CDS_PUBLIC_URL: '', CDS_TRUSTED_HOSTS: 'crd.local:8080,payer.test' } }).app;
    expect(own(await sign(custom, 'crd.local:8080'))).toEqual(ownLinks('http://crd.local:8080'));
    expect(own(await sign(custom, 'payer.test:9000'))).toEqual(ownLinks('http://payer.test:9000'));
    expect(own(await sign(custom, 'crd.local:9999'))).toEqual(ownLinks('http://crd.local:8080'));
    expect(own(await sign(custom, 'evil.example'))).toEqual(ownLinks('http://crd.local:8080'));
    expect(own(await sign(custom, 'localhost:3000'))).toEqual(ownLinks('http://crd.local:8080'));
  });
});
