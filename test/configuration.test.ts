/**
 * Discovery and the CRD configuration options (crd.md "Discovery extension and configuration"): what discovery
 * offers, that each option is honoured, that unknown elements are ignored and wrongly typed options are rejected.
 */
import request from 'supertest';
import { SELECT, SIGN, hookRequest, sacroplasty, testApp } from './helpers';

type Json = Record<string, unknown>;

const WARNING = 'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below';
const REFERENCE = 'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence';
const SMART = 'Open the VIP Care policy app: decision, evidence and covered alternatives';

const CONFIGURATION_OPTIONS = [
  {
    code: 'coverage-info',
    type: 'boolean',
    name: 'Coverage information',
    description: 'Return the coverage decision (covered, not covered, indeterminate) as a coverage-information system action on each order decided.',
    default: true,
  },
  {
    code: 'therapy-alternatives-req',
    type: 'boolean',
    name: 'Required therapy alternatives',
    description: 'Cards saying an ordered service is not covered and naming the covered alternatives (as replacement orders while the order is a draft).',
    default: true,
  },
  {
    code: 'guideline',
    type: 'boolean',
    name: 'Policy and evidence',
    description: 'Cards linking the plan\'s clinical policy, its evidence, and the details app.',
    default: true,
  },
  {
    code: 'max-cards',
    type: 'integer',
    name: 'Maximum cards',
    description: 'The most cards returned in one response; the most severe are kept.',
    default: 20,
  },
];

/** CRD's standard prefetch for order hooks. */
const PREFETCH = {
  patient: 'Patient/{{context.patientId}}',
  encounter: 'Encounter/{{context.encounterId}}',
  coverage: 'Coverage?patient={{context.patientId}}&status=active',
};
/** CRD's standard prefetch for appointment-book and order-dispatch (CRDServices.json), for the data a decision reads. */
const ALTERNATE = "extension('http://hl7.org/fhir/StructureDefinition/alternate-reference').value";
const APPOINTMENT_PREFETCH = {
  patient: 'Patient/{{context.patientId}}',
  coverage: 'Coverage?patient={{context.patientId}}&status=active',
  serviceRequests: 'ServiceRequest?_id={{context.appointments.entry.resource.basedOn.resolve().ofType(ServiceRequest).id}}',
  medicationRequests: `MedicationRequest?_id={{context.appointments.entry.resource.basedOn.${ALTERNATE}.resolve().ofType(MedicationRequest).id}}`,
  deviceRequests: `DeviceRequest?_id={{context.appointments.entry.resource.basedOn.${ALTERNATE}.resolve().ofType(DeviceRequest).id}}`,
};
const dispatched = (type: string): string => `${type}?_id={{context.dispatchedOrders.resolve().ofType(${type}).id}}`;
const DISPATCH_PREFETCH = {
  patient: 'Patient/{{context.patientId}}',
  coverage: 'Coverage?patient={{context.patientId}}&status=active',
  communicationRequests: dispatched('CommunicationRequest'),
  deviceRequests: dispatched('DeviceRequest'),
  medicationRequests: dispatched('MedicationRequest'),
  nutritionOrders: dispatched('NutritionOrder'),
  serviceRequests: dispatched('ServiceRequest'),
  visionPrescriptions: dispatched('VisionPrescription'),
};
const USAGE = 'For members of AmeriHealth Caritas VIP Care. Send the patient\'s active Coverage in prefetch (or fhirServer with fhirAuthorization so the service can read it).';

describe('discovery: GET /cds-services', () => {
  it('lists one service per hook for the whole catalog, with CRD standard prefetch, davinci-crd.version 2.2 and the configuration options', async () => {
    const { app } = testApp();
    const res = await request(app).get('/cds-services');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      services: [
        {
          hook: 'appointment-book',
          id: 'appointment-book-crd',
          title: 'AmeriHealth Caritas VIP Care coverage requirements (CRD) at appointment booking',
          description: expect.stringMatching(/^A Da Vinci CRD coverage decision for every appointment being booked/),
          prefetch: APPOINTMENT_PREFETCH,
          usageRequirements: 'For members of AmeriHealth Caritas VIP Care. Send the patient\'s active Coverage and the orders the appointments are based on in prefetch, or fhirServer with fhirAuthorization so the service can read them.',
          extension: { 'davinci-crd.version': ['2.2'], 'davinci-crd.configuration-options': CONFIGURATION_OPTIONS },
        },
        {
          hook: 'order-dispatch',
          id: 'order-dispatch-crd',
          title: 'AmeriHealth Caritas VIP Care coverage requirements (CRD) at order dispatch',
          description: expect.stringMatching(/^A Da Vinci CRD coverage decision for every order dispatched to a performer/),
          prefetch: DISPATCH_PREFETCH,
          usageRequirements: 'For members of AmeriHealth Caritas VIP Care. Send the patient\'s active Coverage and the dispatched orders in prefetch, or fhirServer with fhirAuthorization so the service can read them.',
          extension: { 'davinci-crd.version': ['2.2'], 'davinci-crd.configuration-options': CONFIGURATION_OPTIONS },
        },
        {
          hook: 'order-select',
          id: 'order-select-crd',
          title: 'AmeriHealth Caritas VIP Care coverage requirements (CRD) at order selection',
          description: expect.stringMatching(/^Coverage guidance from AmeriHealth Caritas VIP Care's clinical policies for the orders being selected/),
          prefetch: PREFETCH,
          usageRequirements: USAGE,
          extension: { 'davinci-crd.version': ['2.2'], 'davinci-crd.configuration-options': CONFIGURATION_OPTIONS },
        },
        {
          hook: 'order-sign',
          id: 'order-sign-crd',
          title: 'AmeriHealth Caritas VIP Care coverage requirements (CRD) at order signing',
          description: expect.stringMatching(/^A Da Vinci CRD coverage decision for every order being signed/),
          prefetch: PREFETCH,
          usageRequirements: USAGE,
          extension: { 'davinci-crd.version': ['2.2'], 'davinci-crd.configuration-options': CONFIGURATION_OPTIONS },
        },
      ],
    });
  });

  it('every configuration option code is unique and every version matches the CRD pattern', async () => {
    const { app } = testApp();
    const res = await request(app).get('/cds-services');
    for (const s of res.body.services as Array<{ extension: Record<string, unknown> }>) {
      const options = s.extension['davinci-crd.configuration-options'] as Array<{ code: string; name: string; description: string }>;
      for (const key of ['code', 'name', 'description'] as const) expect(new Set(options.map((o) => o[key])).size).toBe(options.length);
      for (const v of s.extension['davinci-crd.version'] as string[]) expect(v).toMatch(/^[1-9]\d*\.\d+$/);
    }
  });
});

/** Sends one request to a fresh app (ids restart at …001, so answers of separate calls compare equal). */
async function send(path: string, body: Json): Promise<request.Response> {
  const { app } = testApp();
  return request(app).post(path).send(body);
}

const signWith = (configuration?: Json, options: Parameters<typeof hookRequest>[2] = {}): Json => {
  const body = hookRequest('order-sign', [sacroplasty()], options);
  if (configuration) body['extension'] = { ...(body['extension'] as Json | undefined), 'davinci-crd.configuration': configuration };
  return body;
};
const summaries = (res: request.Response): string[] => (res.body.cards as Array<{ summary: string }>).map((c) => c.summary);
/**
 * Cards with their fresh ids blanked; `dropDecision` also takes the coverage-assertion id out of the app's
 * appContext (with coverage information off, no decision is issued for the app to name).
 */
function withoutIds(cards: unknown, dropDecision = false): unknown {
  let text = JSON.stringify(cards);
  if (dropDecision) text = text.replace(/\\"decision\\":\\"[^\\]*\\",/g, '');
  return JSON.parse(text.replace(/00000000-0000-4000-8000-\d{12}|[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g, '<id>'));
}

describe('configuration: each option is honoured', () => {
  let baseline: request.Response;
  beforeAll(async () => {
    baseline = await send(SIGN, signWith());
  });

  it('the baseline without configuration has three cards and one coverage-information action', () => {
    expect(baseline.status).toBe(200);
    expect(summaries(baseline)).toEqual([WARNING, REFERENCE, SMART]);
    expect(baseline.body.systemActions).toHaveLength(1);
  });

  it('when coverage-info is false then systemActions is present but empty and the cards are the same, the app naming no decision', async () => {
    const res = await send(SIGN, signWith({ 'coverage-info': false }));
    expect(res.status).toBe(200);
    expect(res.body.systemActions).toEqual([]);
    expect(withoutIds(res.body.cards)).toEqual(withoutIds(baseline.body.cards, true));
  });

  it('when coverage-info is false on order-select then no systemActions key and the same cards', async () => {
    const select = (configuration?: Json): Json => {
      const body = hookRequest('order-select', [sacroplasty()]);
      if (configuration) body['extension'] = { 'davinci-crd.configuration': configuration };
      return body;
    };
    const plain = await send(SELECT, select());
    const res = await send(SELECT, select({ 'coverage-info': false }));
    expect(plain.body.systemActions).toHaveLength(1);
    expect(Object.keys(res.body)).toEqual(['cards']);
    expect(withoutIds(res.body.cards)).toEqual(withoutIds(plain.body.cards, true));
  });

  it('when coverage-info is true then the answer is the default one', async () => {
    const res = await send(SIGN, signWith({ 'coverage-info': true }));
    expect(res.body).toEqual(baseline.body);
  });

  it('when therapy-alternatives-req is false then there is no warning card; the others and coverage information remain', async () => {
    const res = await send(SIGN, signWith({ 'therapy-alternatives-req': false }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: baseline.body.cards.slice(1), systemActions: baseline.body.systemActions });
  });

  it('when guideline is false then there is no reference and no SMART card', async () => {
    const res = await send(SIGN, signWith({ guideline: false }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: baseline.body.cards.slice(0, 1), systemActions: baseline.body.systemActions });
  });

  it('when every card type is off then no cards but coverage information remains', async () => {
    const res = await send(SIGN, signWith({ 'therapy-alternatives-req': false, guideline: false }));
    expect(res.body).toEqual({ cards: [], systemActions: baseline.body.systemActions });
  });

  it('when max-cards is 1 then only the warning card (the most severe) is kept', async () => {
    const res = await send(SIGN, signWith({ 'max-cards': 1 }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: baseline.body.cards.slice(0, 1), systemActions: baseline.body.systemActions });
  });

  it('when max-cards is 2 then the warning card and the first guideline card are kept, in order', async () => {
    const res = await send(SIGN, signWith({ 'max-cards': 2 }));
    expect(summaries(res)).toEqual([WARNING, REFERENCE]);
  });

  it('when max-cards is 0 then no cards, and coverage information is still returned', async () => {
    const res = await send(SIGN, signWith({ 'max-cards': 0 }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: baseline.body.systemActions });
  });

  it('when max-cards is 1 and two sacroplasty orders are signed then the first order\'s warning card is kept', async () => {
    const body = hookRequest('order-sign', [sacroplasty('sr1'), sacroplasty('sr2')]);
    body['extension'] = { 'davinci-crd.configuration': { 'max-cards': 1 } };
    const res = await send(SIGN, body);
    expect(summaries(res)).toEqual([WARNING]);
    expect(res.body.cards[0].extension).toEqual({ 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr1' }] });
    expect(res.body.systemActions).toHaveLength(2);
  });

  it('when max-cards is 0 and coverage-info is false then {cards: [], systemActions: []}', async () => {
    const res = await send(SIGN, signWith({ 'max-cards': 0, 'coverage-info': false }));
    expect(res.body).toEqual({ cards: [], systemActions: [] });
  });
});

describe('configuration: unknown elements are ignored (same answer)', () => {
  let baseline: request.Response;
  beforeAll(async () => {
    baseline = await send(SIGN, signWith());
  });

  it('when the configuration has an unknown key then 200 and the same answer', async () => {
    const res = await send(SIGN, signWith({ 'some-future-option': true, 'doc-purpose': 'x' }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(baseline.body);
  });

  it('when the configuration is an empty object then 200 and the same answer', async () => {
    const res = await send(SIGN, signWith({}));
    expect(res.body).toEqual(baseline.body);
  });

  it('when the request has another, unknown extension key then 200 and the same answer', async () => {
    const res = await send(SIGN, signWith(undefined, { extra: { extension: { 'com.example.trace': { id: 42 } } } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(baseline.body);
  });

  it('when the context has an unknown key then 200 and the same answer', async () => {
    const res = await send(SIGN, signWith(undefined, { context: { dispatchedOrders: ['ServiceRequest/x'], 'com.example.department': 'IR' } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(baseline.body);
  });

  it('when the request has an unknown top-level element then 200 and the same answer', async () => {
    const res = await send(SIGN, signWith(undefined, { extra: { futureElement: { a: 1 }, version: '3.0' } }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(baseline.body);
  });

  it('when the prefetch has an unknown key then 200 and the same answer', async () => {
    const base = hookRequest('order-sign', [sacroplasty()]);
    const body = { ...base, prefetch: { ...(base['prefetch'] as Json), practitioner: { resourceType: 'Practitioner', id: 'd1' } } };
    const res = await send(SIGN, body);
    expect(res.body).toEqual(baseline.body);
  });

  it('when the orders carry unknown keys then 200, the same cards, and the update returns the order with those keys untouched', async () => {
    const unknown = { futureElement: { nested: true }, _status: { extension: [{ url: 'http://ehr.example/x', valueString: 'y' }] } };
    const order = sacroplasty('sr1', unknown);
    const res = await send(SIGN, hookRequest('order-sign', [order]));
    expect(res.status).toBe(200);
    expect(res.body.cards).toEqual(baseline.body.cards);
    // CRD: the update returns the draft order unchanged but for the extension, so its unknown keys come back as sent.
    const updated = res.body.systemActions[0].resource as Json;
    expect(updated['futureElement']).toEqual(unknown.futureElement);
    expect(updated['_status']).toEqual(unknown._status);
    const rest = { ...updated };
    delete rest['futureElement'];
    delete rest['_status'];
    expect({ ...res.body, systemActions: [{ ...res.body.systemActions[0], resource: rest }] }).toEqual(baseline.body);
  });

  it('when the draftOrders entries carry unknown keys (fullUrl, request) then 200 and the same answer', async () => {
    const body = hookRequest('order-sign', [sacroplasty()]);
    const context = body['context'] as { draftOrders: { entry: Json[] } };
    context.draftOrders.entry = context.draftOrders.entry.map((e) => ({ ...e, fullUrl: 'urn:uuid:3b5f6c1e-0d0a-4a59-a0a1-5a4a0c2d7e11', futureKey: 1 }));
    const res = await send(SIGN, body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(baseline.body);
  });
});

describe('configuration: a known option with the wrong type is a 422 (valid JSON breaking a CRD rule: hooks.md hook-13)', () => {
  const outcome = (option: string, message: string): Json => ({
    resourceType: 'OperationOutcome',
    issue: [{
      severity: 'error',
      code: 'invalid',
      diagnostics: `extension.davinci-crd.configuration.${option} ${message}`,
      expression: [`extension.davinci-crd.configuration.${option}`],
    }],
  });

  it.each([
    ['"coverage-info": "no"', { 'coverage-info': 'no' }, 'coverage-info', 'must be a boolean (CRD configuration option of type boolean)'],
    ['"coverage-info": 0', { 'coverage-info': 0 }, 'coverage-info', 'must be a boolean (CRD configuration option of type boolean)'],
    ['"guideline": "false"', { guideline: 'false' }, 'guideline', 'must be a boolean (CRD configuration option of type boolean)'],
    ['"therapy-alternatives-req": null', { 'therapy-alternatives-req': null }, 'therapy-alternatives-req', 'must be a boolean (CRD configuration option of type boolean)'],
    ['"max-cards": -1', { 'max-cards': -1 }, 'max-cards', 'must be a non-negative integer (CRD configuration option of type integer)'],
    ['"max-cards": 1.5', { 'max-cards': 1.5 }, 'max-cards', 'must be a non-negative integer (CRD configuration option of type integer)'],
    ['"max-cards": "10"', { 'max-cards': '10' }, 'max-cards', 'must be a non-negative integer (CRD configuration option of type integer)'],
  ])('when the configuration says %s then 422 with an OperationOutcome naming the option', async (_name, configuration, option, message) => {
    const res = await send(SIGN, signWith(configuration));
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual(outcome(option, message));
  });

  it('when davinci-crd.configuration is not an object then 422 naming it', async () => {
    const body = hookRequest('order-sign', [sacroplasty()]);
    body['extension'] = { 'davinci-crd.configuration': ['coverage-info'] };
    const res = await send(SIGN, body);
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'invalid', diagnostics: 'extension.davinci-crd.configuration must be an object', expression: ['extension.davinci-crd.configuration'] }],
    });
  });

  it('when the order-select configuration has a wrong type then 422 as well', async () => {
    const body = hookRequest('order-select', [sacroplasty()]);
    body['extension'] = { 'davinci-crd.configuration': { 'max-cards': 1.5 } };
    const res = await send(SELECT, body);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(outcome('max-cards', 'must be a non-negative integer (CRD configuration option of type integer)'));
  });
});
