/**
 * "A payer adds the next policy by adding resources, not code": a made-up, test-only VIP Care policy (TEST.0001,
 * genicular nerve RFA, CPT 64624) is added to the real catalog as FHIR JSON only — no service file, no code — with
 * Evidence on a different outcome measure (the Oswestry Disability Index) and its own SMART card. The same
 * order-sign call decides each order under its own policy. Also the catalog's rules: lifecycle (status,
 * effectivePeriod, drafts), precedence between overlapping policies, and a policy limited to a plan by its Coverage.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { MemoryAssertionStore } from '../src/cds/assertion-store';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import type { KnowledgeBase } from '../src/knowledge/knowledge-base';
import {
  CARD_TYPE, COVERAGE_INFO_URL, CPT, KNOWLEDGE_DIR, NOW, SERVICES_DIR, SIGN, UUID_PATTERN, defaultDecisionAction, hookRequest, patient, sacroplasty, serviceRequest, testApp,
} from './helpers';

type Json = Record<string, unknown>;
const FIXTURE = resolve(__dirname, 'fixtures/second-policy');
const TEST_POLICY = 'https://knowledge.testhealth.example/fhir/PlanDefinition/test-0001|2026.01';
const CCP_POLICY = 'https://knowledge.vipcare.example/fhir/PlanDefinition/ccp-1247|2025.07';
const RFA_CODING = { system: CPT, code: '64624', display: 'Destruction by neurolytic agent, genicular nerve branches' };
const rfaOrder = (id = 'sr-rfa'): Json => serviceRequest(id, { coding: [RFA_CODING], text: 'Genicular nerve RFA, right knee' });
const pt = (): Json => serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] });

interface Card { uuid: string; summary: string; detail?: string; source: { label: string; topic: { code: string } }; links?: Array<{ url: string; type: string; appContext?: string; label: string }>; extension: Record<string, Array<{ reference: string }>> }
interface Action { resource: Json & { id: string; extension: Array<{ url: string; extension: Array<{ url: string; valueCode?: string; valueString?: string; valueReference?: Json }> }> } }

const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The real knowledge plus the test policy, with `change` applied to the test policy's PlanDefinition, and extra files. */
function catalogWith(options: { change?: (pd: Json) => void; extra?: Record<string, Json>; env?: { allowDraft?: boolean } } = {}): KnowledgeBase {
  const dir = mkdtempSync(join(tmpdir(), 'second-policy-'));
  dirs.push(dir);
  const knowledgeDir = join(dir, 'fhir-resources');
  cpSync(KNOWLEDGE_DIR, knowledgeDir, { recursive: true });
  cpSync(FIXTURE, join(knowledgeDir, 'test-0001'), { recursive: true });
  const pdFile = join(knowledgeDir, 'test-0001', 'PlanDefinition-test-0001.json');
  const pd = readJson(pdFile);
  options.change?.(pd);
  writeFileSync(pdFile, JSON.stringify(pd, null, 2));
  for (const [name, json] of Object.entries(options.extra ?? {})) writeFileSync(join(knowledgeDir, 'test-0001', name), JSON.stringify(json, null, 2));
  return loadKnowledge({ knowledgeDir, servicesDir: SERVICES_DIR, now: NOW, ...(options.env?.allowDraft ? { allowDraft: true } : {}) });
}

const coveredOf = (a: Action | undefined): string | undefined => a?.resource.extension.at(-1)?.extension.find((e) => e.url === 'covered')?.valueCode;
const actionFor = (body: { systemActions: Action[] }, id: string): Action | undefined => body.systemActions.find((a) => a.resource.id === id);

describe('a second policy added as FHIR resources only', () => {
  let knowledge: KnowledgeBase;
  let app: Express;
  let assertions: MemoryAssertionStore;
  beforeAll(() => {
    knowledge = catalogWith();
    assertions = new MemoryAssertionStore();
    app = testApp({ knowledge, deps: { assertions } }).app;
  });

  it('joins the catalog without warnings; the services stay one per hook', async () => {
    expect([...knowledge.policies.keys()].sort()).toEqual(['PlanDefinition/ccp-1247', 'PlanDefinition/payer-default', 'PlanDefinition/test-0001']);
    expect(knowledge.warnings).toEqual([]);
    const res = await request(app).get('/cds-services');
    const alone = await request(testApp().app).get('/cds-services');
    expect(res.body).toEqual(alone.body);
    expect(res.body.services.map((s: Json) => s['id'])).toEqual(['appointment-book-crd', 'order-dispatch-crd', 'order-select-crd', 'order-sign-crd']);
  });

  it('one order-sign call decides each order under its own policy, each with its own stored assertion', async () => {
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty('sr-sacro'), rfaOrder(), pt()]));
    expect(res.status).toBe(200);
    const body = res.body as { cards: Card[]; systemActions: Action[] };
    expect(body.systemActions.map((a) => [a.resource.id, coveredOf(a)])).toEqual([['sr-sacro', 'not-covered'], ['sr-rfa', 'not-covered'], ['sr-pt', 'covered']]);
    expect(actionFor(body, 'sr-pt')).toEqual(defaultDecisionAction(pt()));
    const ids = body.systemActions.map((a) => a.resource.extension.at(-1)?.extension.find((e) => e.url === 'coverage-assertion-id')?.valueString ?? '');
    const stored = await Promise.all(ids.map((id) => assertions.get(id)));
    expect(stored.map((s) => [s?.orderReference, s?.policy, s?.covered])).toEqual([
      ['ServiceRequest/sr-sacro', CCP_POLICY, 'not-covered'],
      ['ServiceRequest/sr-rfa', TEST_POLICY, 'not-covered'],
      ['ServiceRequest/sr-pt', 'https://knowledge.vipcare.example/fhir/PlanDefinition/payer-default|2026.12', 'covered'],
    ]);
    // Cards: each policy's, about its own order, from the same payer.
    const about = (c: Card): string[] => c.extension['davinci-crd.associated-resource']!.map((r) => r.reference);
    expect(body.cards.map((c) => [c.summary, about(c)])).toEqual([
      ['Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below', ['ServiceRequest/sr-sacro']],
      ['VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence', ['ServiceRequest/sr-sacro']],
      ['Open the VIP Care policy app: decision, evidence and covered alternatives', ['ServiceRequest/sr-sacro']],
      ['Genicular nerve RFA not covered by VIP Care (TEST.0001); therapeutic exercise is covered', ['ServiceRequest/sr-rfa']],
      ['VIP Care test policy TEST.0001: why genicular nerve RFA is not covered', ['ServiceRequest/sr-rfa']],
      ['Open the VIP Care policy app for TEST.0001', ['ServiceRequest/sr-rfa']],
    ]);
    for (const c of body.cards) expect(c.source.label).toBe('AmeriHealth Caritas VIP Care');
  });

  it('the test policy\'s cards speak its own evidence: the Oswestry Disability Index, not pain', async () => {
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [rfaOrder()]));
    const [warning, reference, smart] = res.body.cards as Card[];
    expect(warning?.detail).toBe('**Genicular nerve RFA, right knee** (ServiceRequest/sr-rfa) is not covered: AmeriHealth Caritas VIP Care test policy **TEST.0001** considers genicular nerve '
      + 'radiofrequency ablation investigational (evidence: Doe 2024 (120 patients): Oswestry Disability Index 48 → 22 points at 12 mo (radiofrequency ablation); '
      + 'no serious adverse events (radiofrequency ablation)). Therapeutic exercise is covered; choose it below to replace the order.');
    expect(reference?.detail).toBe('Test policy **TEST.0001** applies to **Genicular nerve RFA, right knee** (ServiceRequest/sr-rfa).\n\n**The evidence** (certainty: moderate):\n'
      + '- Doe 2024 (120 patients): Oswestry Disability Index 48 → 22 points at 12 mo (radiofrequency ablation); no serious adverse events (radiofrequency ablation)');
    expect(reference?.links).toEqual([
      { label: 'Test policy TEST.0001', url: 'https://payer.example/policies/test-0001', type: 'absolute' },
      { label: 'Doe 2024: a made-up trial of genicular nerve radiofrequency ablation', url: 'https://example.org/test/doe-2024', type: 'absolute' },
    ]);
    expect(smart?.links).toEqual([{
      label: 'Open the TEST.0001 details app', url: 'https://payer.example/smart/launch', type: 'smart',
      appContext: JSON.stringify({ decision: JSON.parse(smart?.links?.[0]?.appContext ?? '{}').decision, order: 'ServiceRequest/sr-rfa', planDefinition: 'test-0001' }),
    }]);
    expect(JSON.parse(smart?.links?.[0]?.appContext ?? '{}').decision).toMatch(UUID_PATTERN);
    expect(JSON.stringify(res.body.cards)).not.toMatch(/VAS|sacroplast|CCP\.1247/i);
  });

  it('the test policy\'s page shows its evidence table with its own measure', async () => {
    const res = await request(app).get('/policies/test-0001');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Genicular nerve radiofrequency ablation (test policy TEST.0001)');
    expect(res.text).toContain('<td>Oswestry Disability Index 48 → 22 points at 12 mo (radiofrequency ablation); no serious adverse events (radiofrequency ablation)</td>');
    expect(res.text).toContain('Certainty: moderate.');
    expect(res.text).toContain('Therapeutic exercise');
    expect(res.text).toContain('in force');
    expect(res.text).not.toMatch(/VAS|sacroplast/i);
  });

  it('CCP.1247 answers exactly as it does without the test policy', async () => {
    for (const body of [hookRequest('order-sign', [sacroplasty()]), hookRequest('order-select', [sacroplasty()])]) {
      const path = body['hook'] === 'order-sign' ? SIGN : '/cds-services/order-select-crd';
      const withSecond = await request(testApp({ knowledge }).app).post(path).send(body);
      const alone = await request(testApp().app).post(path).send(body);
      expect(withSecond.status).toBe(200);
      expect(withSecond.body).toEqual(alone.body);
    }
  });
});

describe('policy lifecycle: only active policies in their effective period fire', () => {
  const rfaDecision = async (knowledge: KnowledgeBase, env: Record<string, string> = {}): Promise<{ covered?: string; cards: number }> => {
    const res = await request(testApp({ knowledge, env }).app).post(SIGN).send(hookRequest('order-sign', [rfaOrder()]));
    expect(res.status).toBe(200);
    return { covered: coveredOf(actionFor(res.body as { systemActions: Action[] }, 'sr-rfa')), cards: (res.body.cards as Card[]).length };
  };

  it('active, in its period: fires', async () => {
    expect(await rfaDecision(catalogWith())).toEqual({ covered: 'not-covered', cards: 3 });
  });

  it('retired: does not fire; the order gets the default decision; its page says it is not in force', async () => {
    const knowledge = catalogWith({ change: (pd) => { pd['status'] = 'retired'; } });
    expect(await rfaDecision(knowledge)).toEqual({ covered: 'covered', cards: 0 });
    const page = await request(testApp({ knowledge }).app).get('/policies/test-0001');
    expect(page.text).toContain('not in force (status retired');
  });

  it('not yet effective (effectivePeriod starting 2030): does not fire', async () => {
    expect(await rfaDecision(catalogWith({ change: (pd) => { pd['effectivePeriod'] = { start: '2030-01' }; } }))).toEqual({ covered: 'covered', cards: 0 });
  });

  it('no longer effective (effectivePeriod ended 2025-12): does not fire', async () => {
    expect(await rfaDecision(catalogWith({ change: (pd) => { pd['effectivePeriod'] = { start: '2020-01', end: '2025-12' }; } }))).toEqual({ covered: 'covered', cards: 0 });
  });

  it('draft: does not fire, unless POLICY_ALLOW_DRAFT=true lets drafts fire for testing', async () => {
    const draft = (pd: Json): void => { pd['status'] = 'draft'; };
    expect(await rfaDecision(catalogWith({ change: draft }))).toEqual({ covered: 'covered', cards: 0 });
    expect(await rfaDecision(catalogWith({ change: draft, env: { allowDraft: true } }), { POLICY_ALLOW_DRAFT: 'true' })).toEqual({ covered: 'not-covered', cards: 3 });
  });
});

describe('precedence: two active policies governing the same order', () => {
  /** A second PlanDefinition governing CPT 0200T with a `covered` decision and no cards. */
  const overlapping = (precedence?: number): Json => {
    const pd = readJson(join(FIXTURE, 'PlanDefinition-test-0001.json'));
    const action = (pd['action'] as Json[])[0] as { condition: Array<{ expression: { expression: string } }>; action: Json[] };
    action.condition[0]!.expression.expression = `%order.code.coding.where(system = '${CPT}' and code = '0200T').exists()`;
    action.action = [action.action[3]!];
    const template = (action.action[0] as { extension: Array<{ extension: Json[] }> }).extension[0]!;
    template.extension = [{ url: 'covered', valueCode: 'covered' }, { url: 'pa-needed', valueCode: 'auth-needed' }, { url: 'reason', valueCodeableConcept: { text: 'Covered with prior authorization (test policy TEST.0002)' } }];
    return {
      ...pd, id: 'test-0002', url: 'https://knowledge.testhealth.example/fhir/PlanDefinition/test-0002', relatedArtifact: [(pd['relatedArtifact'] as Json[])[0]],
      extension: [...(pd['extension'] as Json[]), ...(precedence === undefined ? [] : [{ url: 'http://payer-cds.example.org/fhir/StructureDefinition/policy-precedence', valueInteger: precedence }])],
      action: [action],
    };
  };

  it('the load warns, naming both policies and the codes they share', () => {
    const knowledge = catalogWith({ extra: { 'PlanDefinition-test-0002.json': overlapping() } });
    expect(knowledge.warnings).toEqual([expect.objectContaining({
      message: 'PlanDefinition/ccp-1247 and PlanDefinition/test-0002 both govern http://www.ama-assn.org/go/cpt|0200T: an order with these codes is decided by the higher policy-precedence, then by the more restrictive decision',
    })]);
  });

  it('by default the most restrictive decision wins: CCP.1247 (not-covered) over a covered one', async () => {
    const knowledge = catalogWith({ extra: { 'PlanDefinition-test-0002.json': overlapping() } });
    const res = await request(testApp({ knowledge }).app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
    expect(coveredOf(actionFor(res.body as { systemActions: Action[] }, 'sr1'))).toBe('not-covered');
    expect((res.body.cards as Card[])).toHaveLength(3);
  });

  it('a higher policy-precedence (data, on the PlanDefinition) wins over restrictiveness', async () => {
    const knowledge = catalogWith({ extra: { 'PlanDefinition-test-0002.json': overlapping(5) } });
    const res = await request(testApp({ knowledge }).app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
    const subs = actionFor(res.body as { systemActions: Action[] }, 'sr1')?.resource.extension.at(-1)?.extension ?? [];
    expect(subs.filter((e) => ['covered', 'pa-needed'].includes(e.url))).toEqual([{ url: 'covered', valueCode: 'covered' }, { url: 'pa-needed', valueCode: 'auth-needed' }]);
    expect(res.body.cards).toEqual([]);
  });
});

describe('a policy limited to one plan, as data: a condition on the member\'s Coverage', () => {
  const limited = catalogWith({
    change: (pd) => {
      const action = (pd['action'] as Json[])[0] as { condition: Json[] };
      action.condition.push({ kind: 'applicability', expression: { language: 'text/fhirpath', expression: "%coverage.class.where(type.coding.code = 'plan' and value = 'VIP-DSNP').exists()" } });
    },
  });
  const coverage = (id: string, plan: string): Json => ({
    resourceType: 'Coverage', id, status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }],
    class: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'plan' }] }, value: plan }],
  });
  const sign = (coverages: Json[]): Promise<request.Response> => request(testApp({ knowledge: limited }).app).post(SIGN)
    .send(hookRequest('order-sign', [rfaOrder()], { prefetch: { patient: patient(), coverage: { resourceType: 'Bundle', type: 'searchset', entry: coverages.map((resource) => ({ resource })) } } }));

  it('fires for a member of that plan', async () => {
    const res = await sign([coverage('c-dsnp', 'VIP-DSNP')]);
    expect(coveredOf(actionFor(res.body as { systemActions: Action[] }, 'sr-rfa'))).toBe('not-covered');
    expect(res.body.cards).toHaveLength(3);
  });

  it('does not fire for another plan of the same payer: the default decision applies', async () => {
    const res = await sign([coverage('c-medicaid', 'VIP-MEDICAID')]);
    expect(coveredOf(actionFor(res.body as { systemActions: Action[] }, 'sr-rfa'))).toBe('covered');
    expect(res.body.cards).toEqual([]);
  });

  it('with both plans, each Coverage gets its own decision on the order (CRD resp-29: one per order and coverage)', async () => {
    const res = await sign([coverage('c-dsnp', 'VIP-DSNP'), coverage('c-medicaid', 'VIP-MEDICAID')]);
    const exts = actionFor(res.body as { systemActions: Action[] }, 'sr-rfa')?.resource.extension.filter((e) => e.url === COVERAGE_INFO_URL) ?? [];
    expect(exts.map((e) => [e.extension.find((x) => x.url === 'coverage')?.valueReference, e.extension.find((x) => x.url === 'covered')?.valueCode])).toEqual([
      [{ reference: 'Coverage/c-dsnp' }, 'not-covered'],
      [{ reference: 'Coverage/c-medicaid' }, 'covered'],
    ]);
    expect((res.body.cards as Card[]).map((c) => c.source.topic.code)).toEqual(['therapy-alternatives-req', 'guideline', 'guideline']);
  });
});

describe('the real CCP.1247 topic codes stay as CRD names them', () => {
  it('every card topic is a cdshooks-card-type code', async () => {
    const res = await request(testApp({ knowledge: catalogWith() }).app).post(SIGN).send(hookRequest('order-sign', [rfaOrder(), sacroplasty()]));
    for (const c of res.body.cards as Array<{ source: { topic: { system: string } } }>) expect(c.source.topic.system).toBe(CARD_TYPE);
  });
});
