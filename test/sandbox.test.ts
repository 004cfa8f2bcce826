/**
 * What the public CDS Hooks sandbox sends (cds-hooks.md "What real clients send"): order-select from its imaging
 * screen with intent "plan", `reasonCode: []`, no encounterId, no fhirAuthorization, a draftOrders Bundle without
 * `type`, only a `patient` prefetch, and a first call on page load with `code.coding: [{}]`.
 */
import request from 'supertest';
import { CPT, coverageBundle, hookRequest, sacroplasty, serviceRequest, testApp } from './helpers';

type Json = Record<string, unknown>;

const SELECT = '/cds-services/order-select-crd';
const ORDER_ID = 'example-MRI-59879846';
const PATIENT_ID = 'smart-1288992';

const sandboxPatient = (): Json => ({
  resourceType: 'Patient', id: PATIENT_ID, active: true, gender: 'male', birthDate: '1925-12-23',
  name: [{ use: 'official', family: 'Lakin', given: ['Daniel', 'X.'] }],
});

/** The sandbox's draft ServiceRequest: no requester, no authoredOn, no encounter, `reasonCode: []`. */
const sandboxOrder = (code: Json): Json => ({
  resourceType: 'ServiceRequest', id: ORDER_ID, status: 'draft', intent: 'plan', code,
  subject: { reference: `Patient/${PATIENT_ID}` }, reasonCode: [],
});

/** An order-select request exactly as the sandbox builds it. */
const sandboxRequest = (code: Json, prefetch: Json = { patient: sandboxPatient() }): Json => ({
  hookInstance: '6e8a1d2b-5c3f-4f0a-9e1b-7d2c4a5b6c7d',
  fhirServer: 'https://launch.smarthealthit.org/v/r4/fhir',
  hook: 'order-select',
  context: {
    userId: 'Practitioner/COREPRACTITIONER1',
    patientId: PATIENT_ID,
    selections: [`ServiceRequest/${ORDER_ID}`],
    draftOrders: { resourceType: 'Bundle', entry: [{ resource: sandboxOrder(code) }] },
  },
  prefetch,
});

const sacroplastyCode = { coding: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] };
const sandboxCoverage = (): Json => ({
  resourceType: 'Bundle', type: 'searchset',
  entry: [{ resource: { resourceType: 'Coverage', id: 'cov-1', status: 'active', beneficiary: { reference: `Patient/${PATIENT_ID}` }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] } }],
});

describe('sandbox: the CDS Hooks sandbox\'s order-select', () => {
  it('when the page loads with code.coding [{}] then 200 {cards: []} (no systemActions key on order-select)', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(sandboxRequest({ coding: [{}] }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when the page loads with an empty code object then 200 {cards: []}', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(sandboxRequest({}));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when a non-sacroplasty imaging order is chosen then 200 {cards: []} without needing a coverage prefetch', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(sandboxRequest({ coding: [{ system: CPT, code: '72197', display: 'MRI pelvis without and with contrast' }] }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when a sacroplasty is chosen and coverage is prefetched then the three cards and the coverage decision come back', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(sandboxRequest(sacroplastyCode, { patient: sandboxPatient(), coverage: sandboxCoverage() }));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual([
      'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
      'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
      'Open the VIP Care policy app: decision, evidence and covered alternatives',
    ]);
    for (const c of res.body.cards) expect(c.extension).toEqual({ 'davinci-crd.associated-resource': [{ reference: `ServiceRequest/${ORDER_ID}` }] });
    expect(res.body.cards[0].detail).toContain(`(ServiceRequest/${ORDER_ID})`);
    expect(res.body.systemActions).toHaveLength(1);
    const coverageInfo = res.body.systemActions[0].resource.extension[0].extension as Array<{ url: string }>;
    expect(coverageInfo.find((s) => s.url === 'coverage')).toEqual({ url: 'coverage', valueReference: { reference: 'Coverage/cov-1' } });
  });

  it('when a sacroplasty is chosen then the replacement orders are complete without encounter, requester or reasonCode in the draft', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(sandboxRequest(sacroplastyCode, { patient: sandboxPatient(), coverage: sandboxCoverage() }));
    const created = (res.body.cards[0].suggestions as Array<{ actions: Array<{ type: string; resource?: Json; resourceId?: string }> }>)
      .map((s) => s.actions.find((a) => a.type === 'create')?.resource as Json);
    expect(created).toHaveLength(6);
    for (const r of created) {
      expect(r['subject']).toEqual({ reference: `Patient/${PATIENT_ID}` });
      expect(r['requester']).toEqual({ reference: 'Practitioner/COREPRACTITIONER1' });
      expect(r['authoredOn']).toBe('2026-11-23T12:00:00.000Z');
      expect(r['status']).toBe('draft');
      // No encounterId in the context and none on the draft: no encounter, and the draft's empty reasonCode is not copied.
      expect(r).not.toHaveProperty('encounter');
      expect(r).not.toHaveProperty('reasonCode');
    }
    for (const s of res.body.cards[0].suggestions as Array<{ actions: Array<{ type: string; resourceId?: string }> }>) {
      expect(s.actions[0]).toEqual({ type: 'delete', description: 'Remove the sacroplasty order (not covered under CCP.1247)', resourceId: `ServiceRequest/${ORDER_ID}` });
    }
  });

  it('when a sacroplasty is chosen then the coverage update returns the sandbox order as sent (intent plan, reasonCode [] kept)', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(sandboxRequest(sacroplastyCode, { patient: sandboxPatient(), coverage: sandboxCoverage() }));
    const { extension, ...rest } = res.body.systemActions[0].resource as Json;
    expect(rest).toEqual(sandboxOrder(sacroplastyCode));
    expect(extension).toHaveLength(1);
  });
});

describe('sandbox: order-select decides on the selections only', () => {
  const pt = (): Json => serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] });

  it('when the sacroplasty is a draft but only the PT order is selected then {cards: []}', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(hookRequest('order-select', [sacroplasty('sr1'), pt()], { selections: ['ServiceRequest/sr-pt'] }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when the sacroplasty is selected next to an unselected PT draft then cards and coverage information are for the sacroplasty only', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(hookRequest('order-select', [sacroplasty('sr1'), pt()], { selections: ['ServiceRequest/sr1'] }));
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
    for (const c of res.body.cards) expect(c.extension).toEqual({ 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr1' }] });
    expect(JSON.stringify(res.body.cards)).not.toContain('sr-pt');
    expect(res.body.systemActions.map((a: { resource: { id: string } }) => a.resource.id)).toEqual(['sr1']);
  });

  it('when a selection names an order that is not in draftOrders then it is ignored', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(hookRequest('order-select', [sacroplasty('sr1'), pt()], { selections: ['ServiceRequest/sr-pt', 'ServiceRequest/not-there'] }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when two sacroplasty drafts exist and one is selected then only that one gets cards', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(hookRequest('order-select', [sacroplasty('sr1'), sacroplasty('sr2')], { selections: ['ServiceRequest/sr2'] }));
    expect(res.body.cards).toHaveLength(3);
    for (const c of res.body.cards) expect(c.extension).toEqual({ 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr2' }] });
    expect(res.body.systemActions.map((a: { resource: { id: string } }) => a.resource.id)).toEqual(['sr2']);
  });

  it('when draftOrders has no Bundle.type, no encounterId and only a coverage prefetch then a selected sacroplasty still fires', async () => {
    const { app } = testApp();
    const body = hookRequest('order-select', [sacroplasty('sr1')], { prefetch: { coverage: coverageBundle() } });
    delete (body['context'] as { draftOrders: Json }).draftOrders['type'];
    delete (body['context'] as Json)['encounterId'];
    const res = await request(app).post(SELECT).send(body);
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
  });
});
