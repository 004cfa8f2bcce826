/**
 * The catalog as a running service sees it: old service ids still answer (deprecated), and a knowledge expression
 * that fails at run time is counted, logged once with the policy and where it is (never patient data), and never
 * turns a call into a 500.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import { Metrics } from '../src/observability/metrics';
import { KNOWLEDGE_DIR, NOW, SERVICES_DIR, SIGN, hookRequest, sacroplasty, serviceRequest, testApp } from './helpers';

type Json = Record<string, unknown>;

describe('service ids: one per hook; the old per-policy ids still answer while EHRs move', () => {
  it('POST /cds-services/sacroplasty-order-sign answers as order-sign-crd, marked deprecated with its successor', async () => {
    const body = hookRequest('order-sign', [sacroplasty()]);
    const old = await request(testApp().app).post('/cds-services/sacroplasty-order-sign').send(body);
    const current = await request(testApp().app).post(SIGN).send(body);
    expect(old.status).toBe(200);
    expect(old.body).toEqual(current.body);
    expect(old.headers['deprecation']).toBe('true');
    expect(old.headers['link']).toBe('</cds-services/order-sign-crd>; rel="successor-version"');
    expect(current.headers['deprecation']).toBeUndefined();
  });

  it('the old ids are not listed in discovery; feedback to an old id is recorded under the current service', async () => {
    const { app, feedback } = testApp();
    const discovery = await request(app).get('/cds-services');
    expect(discovery.body.services.map((s: Json) => s['id'])).toEqual(['appointment-book-crd', 'order-dispatch-crd', 'order-select-crd', 'order-sign-crd']);
    const res = await request(app).post('/cds-services/sacroplasty-order-select/feedback')
      .send({ feedback: [{ card: '00000000-0000-4000-8000-000000000009', outcome: 'overridden', outcomeTimestamp: '2026-11-23T11:00:00Z' }] });
    expect(res.status).toBe(200);
    expect((await feedback.list()).map((r) => r.serviceId)).toEqual(['order-select-crd']);
  });

  it('an unknown id is a 404 OperationOutcome', async () => {
    const res = await request(testApp().app).post('/cds-services/genicular-rfa-order-sign').send(hookRequest('order-sign', [sacroplasty()]));
    expect(res.status).toBe(404);
    expect(res.body.issue[0].code).toBe('not-found');
  });
});

describe('a knowledge expression failing at run time', () => {
  let dir: string;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the card\'s written text, answers 200, counts it in /metrics and logs it once without patient data', async () => {
    dir = mkdtempSync(join(tmpdir(), 'expression-error-'));
    const knowledgeDir = join(dir, 'fhir-resources');
    cpSync(KNOWLEDGE_DIR, knowledgeDir, { recursive: true });
    const planFile = join(knowledgeDir, 'ccp-1247', 'PlanDefinition-ccp-1247.json');
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as { action: Array<{ action: Array<{ dynamicValue: Array<{ expression: { expression: string } }> }> }> };
    // `&` takes one string per operand (FHIRPath §6.6.7): an order with two displays makes this fail.
    plan.action[0]!.action[0]!.dynamicValue[0]!.expression.expression = "'Ordered: ' & %order.code.coding.display";
    writeFileSync(planFile, JSON.stringify(plan));
    const knowledge = loadKnowledge({ knowledgeDir, servicesDir: SERVICES_DIR, now: NOW });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString()); done(); } }));
    const metrics = new Metrics({ defaultMetrics: false });
    const { app } = testApp({ knowledge, deps: { logger, metrics } });
    const twoDisplays = serviceRequest('sr1', { coding: [
      { system: 'http://www.ama-assn.org/go/cpt', code: '0200T', display: 'Sacroplasty of Mrs Whitfield' },
      { system: 'urn:local', code: 'IMG1234', display: 'IR SACROPLASTY' },
    ] });
    for (let i = 0; i < 3; i++) {
      const res = await request(app).post(SIGN).send(hookRequest('order-sign', [twoDisplays]));
      expect(res.status).toBe(200);
      expect(res.body.cards[0].detail).toBe('Percutaneous sacroplasty is not covered under clinical policy CCP.1247. Choose a covered alternative below, or give an override reason.');
    }
    const scraped = await metrics.registry.metrics();
    expect(scraped).toContain('cds_knowledge_expression_errors_total{policy="PlanDefinition/ccp-1247"} 3');
    const logged = lines.map((l) => JSON.parse(l) as Json).filter((l) => l['msg'] === 'a knowledge expression failed at run time; the card keeps its written text');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 50, policy: 'PlanDefinition/ccp-1247', path: 'PlanDefinition.action[0].action[0].dynamicValue[0]' });
    expect(lines.join('\n')).not.toMatch(/Whitfield|IMG1234|p1/);
  });
});
