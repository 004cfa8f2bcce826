/**
 * "A second policy needs only new resources and a service entry": a made-up, test-only policy (TEST.0001,
 * genicular nerve RFA, CPT 64624) is added next to the real CCP.1247 knowledge as FHIR JSON plus one service file,
 * and the unchanged engine serves it.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import type { Response } from 'supertest';
import type { Express } from 'express';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import type { KnowledgeBase } from '../src/knowledge/knowledge-base';
import { CARD_TYPE, COVERAGE_INFO_URL, CPT, KNOWLEDGE_DIR, NOW, SERVICES_DIR, hookRequest, sacroplasty, serviceRequest, testApp } from './helpers';

const FIXTURE_RESOURCES = resolve(__dirname, 'fixtures/second-policy');
const FIXTURE_SERVICES = resolve(__dirname, 'fixtures/second-policy-services');
const RFA_SERVICE = '/cds-services/genicular-rfa-order-sign';
const SACRO_SIGN = '/cds-services/sacroplasty-order-sign';
const SACRO_SELECT = '/cds-services/sacroplasty-order-select';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SACRO_SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];

const RFA_CODING = { system: CPT, code: '64624', display: 'Destruction by neurolytic agent, genicular nerve branches' };
const rfaOrder = (id = 'sr-rfa'): Record<string, unknown> => serviceRequest(id, { coding: [RFA_CODING], text: 'Genicular nerve RFA, right knee' });

type Json = Record<string, unknown>;
interface CardLike { summary: string; source: { label: string }; extension: { 'davinci-crd.associated-resource': Array<{ reference: string }> } }

describe('a second, test-only policy added as FHIR resources plus one service entry', () => {
  let tmp: string;
  let knowledge: KnowledgeBase;
  let app: Express;
  let baseline: Express;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'second-policy-'));
    const knowledgeDir = join(tmp, 'fhir-resources');
    const servicesDir = join(tmp, 'cds-services');
    cpSync(KNOWLEDGE_DIR, knowledgeDir, { recursive: true });
    cpSync(FIXTURE_RESOURCES, join(knowledgeDir, 'test-0001'), { recursive: true });
    cpSync(SERVICES_DIR, servicesDir, { recursive: true });
    cpSync(FIXTURE_SERVICES, servicesDir, { recursive: true });
    knowledge = loadKnowledge({ knowledgeDir, servicesDir, now: NOW });
    app = testApp({ knowledge }).app;
    baseline = testApp().app;
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('loads both plans without warnings', () => {
    expect([...knowledge.plans.keys()].sort()).toEqual(['PlanDefinition/ccp-1247', 'PlanDefinition/test-0001']);
    expect(knowledge.warnings).toEqual([]);
  });

  it('discovery lists three services, the new one with its own hook, prefetch and CRD options', async () => {
    const res = await request(app).get('/cds-services');
    expect(res.status).toBe(200);
    expect(res.body.services.map((s: Json) => s['id']).sort()).toEqual(['genicular-rfa-order-sign', 'sacroplasty-order-select', 'sacroplasty-order-sign']);
    const rfa = res.body.services.find((s: Json) => s['id'] === 'genicular-rfa-order-sign');
    expect(rfa).toEqual({
      hook: 'order-sign',
      id: 'genicular-rfa-order-sign',
      title: 'Test Health Plan coverage: genicular nerve radiofrequency ablation (TEST.0001)',
      description: 'Warns that genicular nerve radiofrequency ablation is investigational under test policy TEST.0001, offers therapeutic exercise as a replacement order, and returns Da Vinci CRD coverage information.',
      prefetch: {
        patient: 'Patient/{{context.patientId}}',
        coverage: 'Coverage?patient={{context.patientId}}&status=active',
        encounter: 'Encounter/{{context.encounterId}}',
      },
      usageRequirements: 'For members of Test Health Plan. Send the patient\'s active Coverage in prefetch.',
      extension: {
        'davinci-crd.version': expect.any(Array),
        'davinci-crd.configuration-options': [
          expect.objectContaining({ code: 'coverage-info', type: 'boolean', default: true }),
          expect.objectContaining({ code: 'therapy-alternatives-req', type: 'boolean', default: true }),
          expect.objectContaining({ code: 'guideline', type: 'boolean', default: true }),
          expect.objectContaining({ code: 'max-cards', type: 'integer' }),
        ],
      },
    });
    // The sacroplasty entries are exactly what the real knowledge alone produces.
    const alone = await request(baseline).get('/cds-services');
    expect(res.body.services.filter((s: Json) => s['id'] !== 'genicular-rfa-order-sign')).toEqual(alone.body.services);
  });

  it('the new service answers a 64624 order with its own cards (source "Test Health Plan") and its own alternative', async () => {
    const res = await request(app).post(RFA_SERVICE).send(hookRequest('order-sign', [rfaOrder()]));
    expect(res.status).toBe(200);
    const cards = res.body.cards as CardLike[];
    expect(cards).toHaveLength(2);
    for (const c of cards) {
      expect(c.source.label).toBe('Test Health Plan');
      expect(c.extension).toEqual({ 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr-rfa' }] });
      expect(JSON.stringify(c)).not.toMatch(/AmeriHealth|VIP Care|CCP\.1247|sacroplast/i);
    }

    expect(cards[0]).toEqual({
      uuid: expect.stringMatching(UUID),
      summary: 'Genicular nerve RFA not covered by Test Health Plan (TEST.0001); therapeutic exercise is covered',
      indicator: 'warning',
      source: { label: 'Test Health Plan', topic: { system: CARD_TYPE, code: 'therapy-alternatives-req', display: 'Therapy alternatives required' } },
      detail: '**Genicular nerve RFA, right knee** (ServiceRequest/sr-rfa) is not covered: Test Health Plan policy **TEST.0001** considers genicular nerve radiofrequency ablation investigational. Therapeutic exercise is covered; choose it below to replace the order.',
      suggestions: [{
        label: 'Replace with therapeutic exercise',
        uuid: expect.stringMatching(UUID),
        actions: [
          { type: 'delete', description: 'Remove the genicular nerve RFA order (not covered under TEST.0001)', resourceId: 'ServiceRequest/sr-rfa' },
          {
            type: 'create',
            description: 'Order: Therapeutic exercise',
            resource: {
              resourceType: 'ServiceRequest',
              id: expect.stringMatching(UUID),
              instantiatesCanonical: ['https://knowledge.testhealth.example/fhir/ActivityDefinition/test-0001-therapeutic-exercise|2026.01'],
              status: 'draft',
              intent: 'order',
              priority: 'routine',
              code: { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }], text: 'Therapeutic exercise' },
              subject: { reference: 'Patient/p1' },
              encounter: { reference: 'Encounter/e1' },
              authoredOn: NOW.toISOString(),
              requester: { reference: 'Practitioner/d1' },
            },
          },
        ],
      }],
      selectionBehavior: 'at-most-one',
      extension: { 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr-rfa' }] },
    });

    expect(cards[1]).toEqual({
      uuid: expect.stringMatching(UUID),
      summary: 'Test Health Plan policy TEST.0001: why genicular nerve RFA is not covered',
      indicator: 'info',
      source: { label: 'Test Health Plan', topic: { system: CARD_TYPE, code: 'guideline', display: 'Guideline' } },
      detail: 'The test policy and its (made-up) evidence.',
      links: [{ label: 'Test policy TEST.0001', url: 'https://payer.example/policies/test-0001', type: 'absolute' }],
      extension: { 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr-rfa' }] },
    });
  });

  it('the new service returns coverage information from its own template, on the order unchanged otherwise', async () => {
    const order = rfaOrder();
    const res = await request(app).post(RFA_SERVICE).send(hookRequest('order-sign', [order]));
    expect(res.body.systemActions).toEqual([{
      type: 'update',
      description: 'Record the plan\'s coverage decision on the order (Da Vinci CRD coverage-information).',
      resource: {
        ...order,
        extension: [{
          url: COVERAGE_INFO_URL,
          extension: [
            { url: 'coverage', valueReference: { reference: 'Coverage/c1' } },
            { url: 'covered', valueCode: 'not-covered' },
            { url: 'billingCode', valueCoding: RFA_CODING },
            { url: 'reason', valueCodeableConcept: { text: 'Investigational per Test Health Plan test policy TEST.0001 (genicular nerve radiofrequency ablation)' } },
            { url: 'date', valueDate: '2026-11-23' },
            { url: 'coverage-assertion-id', valueString: expect.stringMatching(UUID) },
          ],
        }],
      },
    }]);
  });

  it('the new policy\'s page is rendered from its PlanDefinition', async () => {
    const res = await request(app).get('/policies/test-0001');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Genicular nerve radiofrequency ablation (test policy TEST.0001)');
    expect(res.text).toContain('Test Health Plan');
    expect(res.text).toContain('Therapeutic exercise');
  });

  it('the new service is silent on a sacroplasty order', async () => {
    const res = await request(app).post(RFA_SERVICE).send(hookRequest('order-sign', [sacroplasty()]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [] });
  });

  it('when both orders are signed, the new service decides only on the 64624 order', async () => {
    const res = await request(app).post(RFA_SERVICE).send(hookRequest('order-sign', [sacroplasty(), rfaOrder()]));
    expect(res.body.cards.map((c: CardLike) => c.extension['davinci-crd.associated-resource'][0]!.reference)).toEqual(['ServiceRequest/sr-rfa', 'ServiceRequest/sr-rfa']);
    expect(res.body.systemActions.map((a: { resource: { id: string } }) => a.resource.id)).toEqual(['sr-rfa']);
  });

  it('the sacroplasty services are silent on a 64624 order', async () => {
    const sign = await request(app).post(SACRO_SIGN).send(hookRequest('order-sign', [rfaOrder()]));
    expect(sign.status).toBe(200);
    expect(sign.body).toEqual({ cards: [], systemActions: [] });
    const select = await request(app).post(SACRO_SELECT).send(hookRequest('order-select', [rfaOrder()]));
    expect(select.status).toBe(200);
    expect(select.body).toEqual({ cards: [] });
  });

  it('the sacroplasty services answer exactly as they do with the real knowledge alone', async () => {
    const call = (target: Express, path: string, body: Json): Promise<Response> => request(target).post(path).send(body);
    for (const [path, body] of [
      [SACRO_SIGN, hookRequest('order-sign', [sacroplasty(), rfaOrder()])],
      [SACRO_SELECT, hookRequest('order-select', [sacroplasty()])],
    ] as Array<[string, Json]>) {
      // Fresh apps, so both number their ids from 1.
      const withSecond = await call(testApp({ knowledge }).app, path, body);
      const alone = await call(testApp().app, path, body);
      expect(withSecond.status).toBe(200);
      expect(withSecond.body.cards.map((c: CardLike) => c.summary)).toEqual(SACRO_SUMMARIES);
      expect(withSecond.body).toEqual(alone.body);
    }
  });
});
