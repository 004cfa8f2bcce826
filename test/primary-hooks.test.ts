/**
 * The CRD primary hooks beyond order-sign (CRD 2.2 hooks.md hook-16, hook-26, hook-33; resp-26): appointment-book
 * and order-dispatch, end to end through the HTTP service, with the orders that are not prefetched read from a real
 * FHIR server on a loopback port.
 */
import request from 'supertest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CARD_TYPE, COVERAGE_INFO_URL, CPT, DEFAULT_REASON, UUID_PATTERN, coverageBundle, fhirServersClosedAfterEach, patient, sacroplasty, sendFhir,
  serviceRequest, testApp,
} from './helpers';

type Json = Record<string, unknown>;

const BOOK = '/cds-services/appointment-book-crd';
const DISPATCH = '/cds-services/order-dispatch-crd';
const SOURCE = 'AmeriHealth Caritas VIP Care';
const REASON_TEXT = 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)';
const SACROPLASTY_DISPLAY = 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)';
const NOTICE = 'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247)';
const POLICY = 'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence';
const APP = 'Open the VIP Care policy app: decision, evidence and covered alternatives';
const TOKEN = { access_token: 'ehr-token', token_type: 'Bearer', expires_in: 300, scope: 'user/*.read', subject: 'cds-service' };
const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A proposed Appointment for the member; `extra` adds serviceType, basedOn, description … */
function appointment(id: string, extra: Json = {}): Json {
  return {
    resourceType: 'Appointment', id, status: 'proposed',
    start: '2026-12-10T09:00:00Z', end: '2026-12-10T10:00:00Z',
    participant: [
      { actor: { reference: 'Patient/p1' }, required: 'required', status: 'accepted' },
      { type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF' }] }], actor: { reference: 'Practitioner/ir1' }, status: 'accepted' },
    ],
    ...extra,
  };
}

const GENERAL_PRACTICE = { serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '124', display: 'General Practice' }] }] };
const SACROPLASTY_SERVICE = { serviceType: [{ coding: [{ system: CPT, code: '0200T', display: SACROPLASTY_DISPLAY }] }] };

function bookRequest(appointments: Json[], options: { prefetch?: Json; extra?: Json } = {}): Json {
  return {
    hook: 'appointment-book', hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', fhirServer: 'http://127.0.0.1:9/fhir',
    context: { userId: 'PractitionerRole/scheduler1', patientId: 'p1', appointments: { resourceType: 'Bundle', type: 'collection', entry: appointments.map((resource) => ({ fullUrl: `urn:uuid:${String(resource['id'])}`, resource })) } },
    prefetch: options.prefetch ?? { patient: patient(), coverage: coverageBundle() },
    ...options.extra,
  };
}

function dispatchRequest(dispatched: string[], options: { prefetch?: Json; extra?: Json; context?: Json } = {}): Json {
  return {
    hook: 'order-dispatch', hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', fhirServer: 'http://127.0.0.1:9/fhir',
    context: { patientId: 'p1', dispatchedOrders: dispatched, performer: 'Organization/ir-center', ...options.context },
    prefetch: options.prefetch ?? { patient: patient(), coverage: coverageBundle() },
    ...options.extra,
  };
}

const searchset = (...resources: Json[]): Json => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) });

/** The coverage-information update for a resource: the resource unchanged plus one extension. */
function coverageUpdate(resource: Json, subs: Json[]): Json {
  const reference = `${String(resource['resourceType'])}/${String(resource['id'])}`;
  return {
    type: 'update',
    description: `Record ${SOURCE}'s coverage decision on ${reference} (Da Vinci CRD coverage-information)`,
    resource: { ...resource, extension: [...((resource['extension'] as Json[] | undefined) ?? []), { url: COVERAGE_INFO_URL, extension: subs }] },
  };
}

const notCovered = (assertion: string, billing?: Json): Json[] => [
  { url: 'coverage', valueReference: { reference: 'Coverage/c1' } },
  { url: 'covered', valueCode: 'not-covered' },
  ...(billing ? [{ url: 'billingCode', valueCoding: billing }] : []),
  { url: 'reason', valueCodeableConcept: { text: REASON_TEXT } },
  { url: 'date', valueDate: '2026-11-23' },
  { url: 'coverage-assertion-id', valueString: assertion },
];

const defaultDecision = (): Json[] => [
  { url: 'coverage', valueReference: { reference: 'Coverage/c1' } },
  { url: 'covered', valueCode: 'covered' },
  { url: 'pa-needed', valueCode: 'no-auth' },
  { url: 'reason', valueCodeableConcept: { text: DEFAULT_REASON } },
  { url: 'date', valueDate: '2026-11-23' },
  { url: 'coverage-assertion-id', valueString: expect.stringMatching(UUID_PATTERN) },
];

/** The three cards a sacroplasty gets on appointment-book and order-dispatch: the notice, the policy, the app. */
function sacroplastyCards(named: string, reference: string, hook: 'appointment-book' | 'order-dispatch', ids: { notice: string; policy: string; app: string; decision: string }): Json[] {
  const associated = { 'davinci-crd.associated-resource': [{ reference }] };
  const orderNames = `${named} (${reference})`;
  return [
    {
      uuid: ids.notice,
      summary: NOTICE,
      indicator: 'warning',
      source: { label: SOURCE, topic: { system: CARD_TYPE, code: 'therapy-alternatives-req', display: 'Therapy alternatives required' } },
      detail: `${orderNames}: not covered. AmeriHealth Caritas VIP Care clinical policy **CCP.1247** (last reviewed 7/2025) considers percutaneous sacroplasty (sacral augmentation) investigational / not clinically proven, and therefore not medically necessary.\n\n`
        + '**Covered alternatives** the ordering clinician can order instead: physical therapy and an exercise program; heat and cold for home use; low-impact exercise as tolerated; non-narcotic analgesics or NSAIDs; injection therapy; surgical fixation when indicated.\n\n'
        + `Before this is ${hook === 'appointment-book' ? 'booked' : 'performed'}, confirm the plan with the ordering clinician; the policy card and the details app give the policy and its evidence.`,
      extension: associated,
    },
    {
      uuid: ids.policy,
      summary: POLICY,
      indicator: 'info',
      source: { label: SOURCE, topic: { system: CARD_TYPE, code: 'guideline', display: 'Guideline' } },
      detail: expect.stringMatching(new RegExp(`^Policy \\*\\*CCP\\.1247\\*\\* \\(AmeriHealth Caritas VIP Care\\) applies to ${orderNames.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: percutaneous sacroplasty is investigational`)),
      links: expect.arrayContaining([{ label: 'Clinical policy CCP.1247: summary, evidence and references', url: 'https://payer.example/policies/ccp-1247', type: 'absolute' }]),
      extension: associated,
    },
    {
      uuid: ids.app,
      summary: APP,
      indicator: 'info',
      source: { label: SOURCE, topic: { system: CARD_TYPE, code: 'guideline', display: 'Guideline' } },
      detail: `Opens the plan's details app inside the EHR for ${orderNames}: the coverage decision, the policy, the evidence and the covered alternatives.`,
      suggestions: [{ label: 'Review the coverage decision and alternatives in the app', uuid: expect.stringMatching(UUID_PATTERN) }],
      selectionBehavior: 'at-most-one',
      links: [{
        label: 'Open the CCP.1247 details app', url: 'https://payer.example/smart/launch', type: 'smart',
        appContext: JSON.stringify({ decision: ids.decision, order: reference, planDefinition: 'ccp-1247' }),
      }],
      extension: associated,
    },
  ];
}

/** A loopback FHIR server answering reads of the given resources (404 for others), recording every request. */
function serving(resources: Json[]): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const found = resources.find((r) => req.url === `/fhir/${String(r['resourceType'])}/${String(r['id'])}`);
    sendFhir(res, found ? 200 : 404, found ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  };
}

describe('appointment-book (CRD hook-26: coverage information for every appointment)', () => {
  const fhirServer = fhirServersClosedAfterEach();

  it('a sacroplasty appointment by its service type (based on no order): the notice, policy and app cards, and not-covered on the Appointment', async () => {
    const appt = appointment('apt1', SACROPLASTY_SERVICE);
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appt]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      cards: sacroplastyCards(`**${SACROPLASTY_DISPLAY.replace(/[()]/g, '\\$&')}**`, 'Appointment/apt1', 'appointment-book', { notice: uuid(2), policy: uuid(4), app: uuid(6), decision: uuid(1) }),
      systemActions: [coverageUpdate(appt, notCovered(uuid(1), { system: CPT, code: '0200T', display: SACROPLASTY_DISPLAY }))],
    });
  });

  it('a sacroplasty appointment named only in its description (a local scheduling code) is recognised too', async () => {
    const appt = appointment('apt1', { serviceType: [{ coding: [{ system: 'urn:oid:1.2.3.4.5', code: 'IR77', display: 'IR procedure' }] }], description: 'Percutaneous sacroplasty, left' });
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appt]));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: Json) => c['summary'])).toEqual([NOTICE, POLICY, APP]);
    expect(res.body.systemActions).toEqual([coverageUpdate(appt, notCovered(uuid(1)))]);
  });

  it('an appointment based on a prefetched sacroplasty ServiceRequest: the decision goes on the ServiceRequest, not the Appointment (FHIR-50318)', async () => {
    const order = sacroplasty('sr1', { status: 'active' });
    const appt = appointment('apt1', { basedOn: [{ reference: 'ServiceRequest/sr1' }] });
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appt], { prefetch: { patient: patient(), coverage: coverageBundle(), serviceRequests: searchset(order) } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      cards: sacroplastyCards(`**${SACROPLASTY_DISPLAY.replace(/[()]/g, '\\$&')}**`, 'ServiceRequest/sr1', 'appointment-book', { notice: uuid(2), policy: uuid(4), app: uuid(6), decision: uuid(1) }),
      systemActions: [coverageUpdate(order, notCovered(uuid(1), { system: CPT, code: '0200T', display: SACROPLASTY_DISPLAY }))],
    });
  });

  it('an appointment based on a ServiceRequest the EHR did not prefetch: read from fhirServer with the token, then decided on', async () => {
    const order = sacroplasty('sr9', { status: 'active' });
    const ehr = await fhirServer(serving([order]));
    const appt = appointment('apt1', { basedOn: [{ reference: 'ServiceRequest/sr9' }] });
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appt], { extra: { fhirServer: ehr.url, fhirAuthorization: TOKEN } }));
    expect(res.status).toBe(200);
    expect(ehr.requests).toEqual([{ method: 'GET', url: '/fhir/ServiceRequest/sr9', authorization: 'Bearer ehr-token' }]);
    expect(res.body.systemActions).toEqual([coverageUpdate(order, notCovered(expect.stringMatching(UUID_PATTERN), { system: CPT, code: '0200T', display: SACROPLASTY_DISPLAY }))]);
    expect(res.body.cards.map((c: Json) => c['summary'])).toEqual([NOTICE, POLICY, APP]);
  });

  it('an ordinary appointment gets the payer\'s default decision on the Appointment and no cards', async () => {
    const appt = appointment('apt2', GENERAL_PRACTICE);
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appt]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [coverageUpdate(appt, defaultDecision())] });
  });

  it('an appointment based on a MedicationRequest through alternate-reference (R4 Appointment, as the CRD test kit sends it): the default decision on the MedicationRequest', async () => {
    const med = {
      resourceType: 'MedicationRequest', id: 'mr1', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' },
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1085754', display: 'Triamcinolone Acetonide 40 MG/ML Injectable Suspension' }] },
    };
    const appt = appointment('apt3', { basedOn: [{ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/alternate-reference', valueReference: { reference: 'MedicationRequest/mr1' } }] }] });
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appt], { prefetch: { patient: patient(), coverage: coverageBundle(), medicationRequests: searchset(med), deviceRequests: null } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [coverageUpdate(med, defaultDecision())] });
  });

  it('two appointments based on the same order: one decision for the order; a cancelled appointment: none', async () => {
    const order = sacroplasty('sr1', { status: 'active' });
    const first = appointment('apt1', { basedOn: [{ reference: 'ServiceRequest/sr1' }] });
    const second = appointment('apt2', { basedOn: [{ reference: 'ServiceRequest/sr1' }] });
    const cancelled = appointment('apt3', { ...GENERAL_PRACTICE, status: 'cancelled' });
    const res = await request(testApp().app).post(BOOK).send(bookRequest([first, second, cancelled], { prefetch: { patient: patient(), coverage: coverageBundle(), serviceRequests: searchset(order) } }));
    expect(res.status).toBe(200);
    expect(res.body.systemActions.map((a: { resource: Json }) => `${String(a.resource['resourceType'])}/${String(a.resource['id'])}`)).toEqual(['ServiceRequest/sr1']);
  });

  describe('an order the appointment is based on that cannot be had: 412 with an OperationOutcome (CDS Hooks §HTTP Response; CRD found-32)', () => {
    it.each([
      ['the EHR failing (HTTP 500)', 500, 'ServiceRequest/sr9 (the order Appointment/apt1 is based on) was not in prefetch and could not be read: the EHR\'s FHIR server could not be read. Send it in prefetch, or fhirServer with fhirAuthorization.'],
      ['the EHR not having it (HTTP 404)', 404, 'ServiceRequest/sr9 (the order Appointment/apt1 is based on) was not in prefetch and could not be read: the EHR\'s FHIR server has no such resource. Send it in prefetch, or fhirServer with fhirAuthorization.'],
    ])('%s', async (_name, status, diagnostics) => {
      const ehr = await fhirServer((_req, res) => sendFhir(res, status, { resourceType: 'OperationOutcome', issue: [] }));
      const appt = appointment('apt1', { basedOn: [{ reference: 'ServiceRequest/sr9' }] });
      const res = await request(testApp().app).post(BOOK).send(bookRequest([appt], { extra: { fhirServer: ehr.url, fhirAuthorization: TOKEN } }));
      expect(res.status).toBe(412);
      expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'incomplete', diagnostics, expression: ['context.appointments.entry[0].resource.basedOn'] }] });
    });

    it('the EHR answering a read with another resource', async () => {
      const ehr = await fhirServer((_req, res) => sendFhir(res, 200, sacroplasty('other')));
      const appt = appointment('apt1', { basedOn: [{ reference: 'ServiceRequest/sr9' }] });
      const res = await request(testApp().app).post(BOOK).send(bookRequest([appt], { extra: { fhirServer: ehr.url, fhirAuthorization: TOKEN } }));
      expect(res.status).toBe(412);
      expect(res.body.issue[0].diagnostics).toContain('could not be read: the EHR\'s FHIR server could not be read.');
    });
  });

  it('appointments holding anything but Appointments: 400 naming the entry', async () => {
    const res = await request(testApp().app).post(BOOK).send(bookRequest([sacroplasty()]));
    expect(res.status).toBe(400);
    expect(res.body.issue[0]).toEqual({ severity: 'error', code: 'invalid', diagnostics: 'context.appointments.entry[0].resource.resourceType must be "Appointment"', expression: ['context.appointments.entry[0].resource.resourceType'] });
  });

  it('coverage-info switched off (CRD configuration): the cards, no coverage information', async () => {
    const res = await request(testApp().app).post(BOOK).send(bookRequest([appointment('apt1', SACROPLASTY_SERVICE)], { extra: { extension: { 'davinci-crd.configuration': { 'coverage-info': false } } } }));
    expect(res.status).toBe(200);
    expect(res.body.systemActions).toEqual([]);
    expect(res.body.cards.map((c: Json) => c['summary'])).toEqual([NOTICE, POLICY, APP]);
  });
});

describe('order-dispatch (CRD hook-33: coverage information for every dispatched order; hook-30: only those)', () => {
  const fhirServer = fhirServersClosedAfterEach();

  it('a prefetched sacroplasty order dispatched: the notice, policy and app cards, and not-covered on the order', async () => {
    const order = sacroplasty('sr1', { status: 'active' });
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ServiceRequest/sr1'], { prefetch: { patient: patient(), coverage: coverageBundle(), serviceRequests: searchset(order) } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      cards: sacroplastyCards(`**${SACROPLASTY_DISPLAY.replace(/[()]/g, '\\$&')}**`, 'ServiceRequest/sr1', 'order-dispatch', { notice: uuid(2), policy: uuid(4), app: uuid(6), decision: uuid(1) }),
      systemActions: [coverageUpdate(order, notCovered(uuid(1), { system: CPT, code: '0200T', display: SACROPLASTY_DISPLAY }))],
    });
  });

  it('orders not prefetched are read from the EHR; other orders in prefetch that were not dispatched get no decision', async () => {
    const dispatched = sacroplasty('sr1', { status: 'active' });
    const ordinary = serviceRequest('sr2', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] }, { status: 'active' });
    const notDispatched = serviceRequest('sr3', { coding: [{ system: CPT, code: '97161' }] }, { status: 'active' });
    const ehr = await fhirServer(serving([dispatched]));
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ServiceRequest/sr1', 'ServiceRequest/sr2'], {
      prefetch: { patient: patient(), coverage: coverageBundle(), serviceRequests: searchset(ordinary, notDispatched) },
      extra: { fhirServer: ehr.url, fhirAuthorization: TOKEN },
    }));
    expect(res.status).toBe(200);
    expect(ehr.requests).toEqual([{ method: 'GET', url: '/fhir/ServiceRequest/sr1', authorization: 'Bearer ehr-token' }]);
    expect(res.body.systemActions).toEqual([
      coverageUpdate(dispatched, notCovered(expect.stringMatching(UUID_PATTERN), { system: CPT, code: '0200T', display: SACROPLASTY_DISPLAY })),
      coverageUpdate(ordinary, defaultDecision()),
    ]);
    expect(res.body.cards.map((c: Json) => c['summary'])).toEqual([NOTICE, POLICY, APP]);
  });

  it('an ordinary dispatched order (Blue Button HCPCS G0180, as the CRD test kit sends it) gets the default decision and no cards; fulfillmentTasks are accepted', async () => {
    const order = {
      resourceType: 'ServiceRequest', id: 'sr-hh', status: 'draft', intent: 'order', subject: { reference: 'Patient/p1' },
      code: { coding: [{ system: 'https://bluebutton.cms.gov/resources/codesystem/hcpcs', code: 'G0180', display: 'Medicare-covered home health services under a home health plan of care' }] },
      requester: { display: 'Smythe Juliette, MD' },
    };
    const task = { resourceType: 'Task', id: 't1', status: 'draft', intent: 'order', focus: { reference: 'ServiceRequest/sr-hh' }, for: { reference: 'Patient/p1' }, owner: { reference: 'Organization/ir-center' } };
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ServiceRequest/sr-hh'], {
      prefetch: { patient: patient(), coverage: coverageBundle(), serviceRequests: searchset(order), deviceRequests: null },
      context: { fulfillmentTasks: [task] },
    }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [coverageUpdate(order, defaultDecision())] });
  });

  it('a dispatched order marked doNotPerform is not decided on', async () => {
    const order = sacroplasty('sr1', { status: 'active', doNotPerform: true });
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ServiceRequest/sr1'], { prefetch: { patient: patient(), coverage: coverageBundle(), serviceRequests: searchset(order) } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [] });
  });

  it('a dispatched order that cannot be had (no fhirServer to read it from): 412 with an OperationOutcome', async () => {
    const body = dispatchRequest(['ServiceRequest/sr1']);
    delete body['fhirServer'];
    const res = await request(testApp().app).post(DISPATCH).send(body);
    expect(res.status).toBe(412);
    expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{
      severity: 'error', code: 'incomplete', expression: ['context.dispatchedOrders[0]'],
      diagnostics: 'ServiceRequest/sr1 (a dispatched order) was not in prefetch and could not be read: the request names no fhirServer to read it from. Send it in prefetch, or fhirServer with fhirAuthorization.',
    }] });
  });

  it('the order-dispatch context is checked: dispatchedOrders must be references, performer is required', async () => {
    const bad = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['not a reference']));
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].diagnostics).toBe('context.dispatchedOrders[0] must hold FHIR references such as ServiceRequest/123');
    const body = dispatchRequest(['ServiceRequest/sr1']);
    delete (body['context'] as Json)['performer'];
    const missing = await request(testApp().app).post(DISPATCH).send(body);
    expect(missing.status).toBe(400);
    expect(missing.body.issue[0].diagnostics).toBe('context.performer is required');
  });
});

describe('requests CRD clients send in the wild (CRD test kit)', () => {
  const fhirServer = fhirServersClosedAfterEach();

  it('fhirAuthorization with only access_token and expires_in (no token_type, scope, subject): accepted, and the token is sent as Bearer', async () => {
    const order = sacroplasty('sr1', { status: 'active' });
    const ehr = await fhirServer(serving([order]));
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ServiceRequest/sr1'], { extra: { fhirServer: ehr.url, fhirAuthorization: { access_token: 'kit-token', expires_in: 300 } } }));
    expect(res.status).toBe(200);
    expect(ehr.requests).toEqual([{ method: 'GET', url: '/fhir/ServiceRequest/sr1', authorization: 'Bearer kit-token' }]);
  });

  it('a token_type other than Bearer: 400 (the service could not present the token as the EHR asks)', async () => {
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ServiceRequest/sr1'], { extra: { fhirAuthorization: { access_token: 't', token_type: 'MAC', expires_in: 300 } } }));
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toBe('fhirAuthorization.token_type must be "Bearer"');
  });

  it('an STU3 ProcedureRequest among the draft orders: 400 naming the R4 type to send (not a silent empty answer)', async () => {
    const stu3 = { resourceType: 'ProcedureRequest', id: 'pr1', status: 'draft', intent: 'order', code: { coding: [{ system: CPT, code: '0200T' }] }, subject: { reference: 'Patient/p1' } };
    const body = {
      hook: 'order-sign', hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', fhirServer: 'http://127.0.0.1:9/fhir',
      context: { userId: 'Practitioner/d1', patientId: 'p1', draftOrders: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: stu3 }] } },
      prefetch: { patient: patient(), coverage: coverageBundle() },
    };
    const res = await request(testApp().app).post('/cds-services/order-sign-crd').send(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{
      severity: 'error', code: 'invalid', expression: ['context.draftOrders.entry[0].resource.resourceType'],
      diagnostics: 'context.draftOrders.entry[0].resource.resourceType is ProcedureRequest: this service speaks FHIR R4 (CRD 2.2); send ServiceRequest (ProcedureRequest is FHIR STU3)',
    }] });
  });

  it('an STU3 ProcedureRequest dispatched: 400 too', async () => {
    const res = await request(testApp().app).post(DISPATCH).send(dispatchRequest(['ProcedureRequest/pr1']));
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toBe('context.dispatchedOrders[0] is ProcedureRequest: this service speaks FHIR R4 (CRD 2.2); send ServiceRequest (ProcedureRequest is FHIR STU3)');
  });
});
