/**
 * The cards and coverage information a sacroplasty order gets: one response asserted whole, then the CDS Hooks 2.0
 * and Da Vinci CRD constraints (crd.md "Cards", "Response types") checked on every card of several responses.
 */
import request from 'supertest';
import { childId } from '../src/engine/ids';
import { CARD_TYPE, COVERAGE_INFO_URL, CPT, HCPCS_CRD, SELECT, SIGN, hookRequest, sacroplasty, serviceRequest, testApp } from './helpers';

type Json = Record<string, unknown>;

const SNOMED = 'http://snomed.info/sct';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const AD = 'https://knowledge.vipcare.example/fhir/ActivityDefinition/';
const OVERRIDE = 'https://knowledge.vipcare.example/fhir/CodeSystem/ccp-override-reason';
const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('cards: the whole order-sign response for one sacroplasty order', () => {
  const associated = { 'davinci-crd.associated-resource': [{ reference: 'ServiceRequest/sr1' }] };
  const removeSacroplasty = { type: 'delete', description: 'Remove the sacroplasty order (not covered under CCP.1247)', resourceId: 'ServiceRequest/sr1' };
  const common = {
    status: 'draft',
    subject: { reference: 'Patient/p1' },
    encounter: { reference: 'Encounter/e1' },
    authoredOn: '2026-11-23T12:00:00.000Z',
    requester: { reference: 'Practitioner/d1' },
  };

  const expected = {
    cards: [
      {
        uuid: uuid(2),
        summary: 'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
        indicator: 'warning',
        source: {
          label: 'AmeriHealth Caritas VIP Care',
          topic: { system: CARD_TYPE, code: 'therapy-alternatives-req', display: 'Therapy alternatives required' },
        },
        detail: '**Percutaneous sacral augmentation \\(sacroplasty\\), unilateral injection\\(s\\)** (ServiceRequest/sr1) is not covered: '
          + 'AmeriHealth Caritas VIP Care clinical policy **CCP.1247** (last reviewed 7/2025, next review 11/2026) considers percutaneous '
          + 'sacroplasty (sacral augmentation) investigational / not clinically proven, and therefore not medically necessary.\n\n'
          + '**Evidence in brief:** 6 studies, rated low certainty: case series and small uncontrolled cohorts of highly selected patients '
          + 'report short-term pain relief (e.g. Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.923 points at 12 mo; major complications 0.3%); '
          + 'no randomized trial compares sacroplasty with conservative care.\n\n'
          + '**Covered alternatives:** physical therapy/exercise programs, heat and cold modalities for home use, low-impact exercise, '
          + 'non-narcotic analgesics or NSAIDs, injection therapy, surgical fixation. Choose one below to replace the order, or give an override reason.',
        suggestions: [
          {
            label: 'Replace with physical therapy and an exercise program',
            uuid: childId(uuid(2), 'replace-with-physical-therapy'),
            actions: [
              removeSacroplasty,
              {
                type: 'create',
                description: 'Order: Physical therapy evaluation and exercise program',
                resource: {
                  resourceType: 'ServiceRequest',
                  id: uuid(3),
                  instantiatesCanonical: [`${AD}ccp-1247-physical-therapy|2025.07`],
                  intent: 'order',
                  priority: 'routine',
                  code: {
                    coding: [
                      { system: CPT, code: '97161', display: 'Physical therapy evaluation: low complexity' },
                      { system: SNOMED, code: '91251008', display: 'Physical therapy procedure' },
                    ],
                    text: 'Physical therapy evaluation and exercise program',
                  },
                  ...common,
                  patientInstruction: 'Physical therapy evaluation, then a supervised exercise program for strength, range of motion and flexibility.',
                },
              },
            ],
          },
          {
            label: 'Replace with heat and cold for home use (electric heat pad)',
            uuid: childId(uuid(2), 'replace-with-home-heat-cold'),
            actions: [
              removeSacroplasty,
              {
                type: 'create',
                description: 'Order: Heat and cold modalities for home use (electric heat pad)',
                resource: {
                  resourceType: 'DeviceRequest',
                  id: uuid(4),
                  instantiatesCanonical: [`${AD}ccp-1247-home-heat-cold|2025.07`],
                  intent: 'order',
                  priority: 'routine',
                  codeCodeableConcept: {
                    coding: [{ system: HCPCS_CRD, code: 'E0210', display: 'Electric heat pad, standard' }],
                    text: 'Electric heat pad, standard, for home use',
                  },
                  ...common,
                },
              },
            ],
          },
          {
            label: 'Replace with low-impact exercise as tolerated',
            uuid: childId(uuid(2), 'replace-with-low-impact-exercise'),
            actions: [
              removeSacroplasty,
              {
                type: 'create',
                description: 'Order: Low-impact exercise as tolerated',
                resource: {
                  resourceType: 'ServiceRequest',
                  id: uuid(5),
                  instantiatesCanonical: [`${AD}ccp-1247-low-impact-exercise|2025.07`],
                  intent: 'order',
                  priority: 'routine',
                  code: { coding: [{ system: SNOMED, code: '229065009', display: 'Exercise therapy' }], text: 'Low-impact exercise program' },
                  ...common,
                  patientInstruction: 'Low-impact exercise as tolerated: stationary bike, swimming or walking.',
                },
              },
            ],
          },
          {
            label: 'Replace with a non-narcotic analgesic or NSAID',
            uuid: childId(uuid(2), 'replace-with-non-narcotic-analgesic'),
            actions: [
              removeSacroplasty,
              {
                type: 'create',
                description: 'Order: Non-narcotic analgesic or NSAID',
                resource: {
                  resourceType: 'MedicationRequest',
                  id: uuid(6),
                  instantiatesCanonical: [`${AD}ccp-1247-non-narcotic-analgesic|2025.07`],
                  intent: 'proposal',
                  priority: 'routine',
                  medicationCodeableConcept: {
                    coding: [{ system: RXNORM, code: '161', display: 'acetaminophen' }],
                    text: 'Acetaminophen (non-narcotic analgesic); or an NSAID such as ibuprofen or naproxen',
                  },
                  ...common,
                  dosageInstruction: [{ text: 'Prescriber to choose product, strength and dose.' }],
                },
              },
            ],
          },
          {
            label: 'Replace with injection therapy (transforaminal epidural)',
            uuid: childId(uuid(2), 'replace-with-injection-therapy'),
            actions: [
              removeSacroplasty,
              {
                type: 'create',
                description: 'Order: Injection therapy (transforaminal epidural, lumbar or sacral)',
                resource: {
                  resourceType: 'ServiceRequest',
                  id: uuid(7),
                  instantiatesCanonical: [`${AD}ccp-1247-injection-therapy|2025.07`],
                  intent: 'order',
                  priority: 'routine',
                  code: {
                    coding: [{
                      system: CPT,
                      code: '64483',
                      display: 'Injection(s), anesthetic agent(s) and/or steroid; transforaminal epidural, with imaging guidance (fluoroscopy or CT), lumbar or sacral; single level',
                    }],
                    text: 'Transforaminal epidural steroid injection, lumbar or sacral',
                  },
                  ...common,
                },
              },
            ],
          },
          {
            label: 'Replace with surgical fixation (posterior pelvic ring)',
            uuid: childId(uuid(2), 'replace-with-surgical-fixation'),
            actions: [
              removeSacroplasty,
              {
                type: 'create',
                description: 'Order: Surgical fixation of the posterior pelvic ring (including sacrum)',
                resource: {
                  resourceType: 'ServiceRequest',
                  id: uuid(8),
                  instantiatesCanonical: [`${AD}ccp-1247-surgical-fixation|2025.07`],
                  intent: 'order',
                  priority: 'routine',
                  code: {
                    coding: [{
                      system: CPT,
                      code: '27216',
                      display: 'Percutaneous skeletal fixation of posterior pelvic bone fracture and/or dislocation, for fracture patterns which disrupt the pelvic ring, unilateral (includes ilium, sacroiliac joint and/or sacrum)',
                    }],
                    text: 'Percutaneous fixation of posterior pelvic ring fracture (sacrum)',
                  },
                  ...common,
                },
              },
            ],
          },
        ],
        selectionBehavior: 'at-most-one',
        overrideReasons: [
          { system: OVERRIDE, code: 'conservative-therapy-failed', display: 'Conservative therapy tried and failed' },
          { system: OVERRIDE, code: 'malignant-sacral-lesion', display: 'Painful sacral lesion from malignancy' },
          { system: OVERRIDE, code: 'patient-accepts-financial-responsibility', display: 'Patient informed; accepts financial responsibility' },
          { system: OVERRIDE, code: 'coverage-exception-requested', display: 'Will request a coverage exception or appeal' },
        ],
        extension: associated,
      },
      {
        uuid: uuid(10),
        summary: 'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
        indicator: 'info',
        source: { label: 'AmeriHealth Caritas VIP Care', topic: { system: CARD_TYPE, code: 'guideline', display: 'Guideline' } },
        detail: 'Policy **CCP.1247** (AmeriHealth Caritas VIP Care) applies to **Percutaneous sacral augmentation \\(sacroplasty\\), unilateral injection\\(s\\)** (ServiceRequest/sr1): '
          + 'percutaneous sacroplasty is investigational and not medically necessary. Last reviewed 7/2025; next review 11/2026.\n\n'
          + '**The evidence the policy weighs** (certainty: low):\n'
          + '- Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.923 points at 12 mo; major complications 0.3%\n'
          + '- Mahmood 2019 (31 studies, 1,155 patients): mean VAS reduction 5.8 points\n'
          + '- Kortman 2013 (243 patients): pain (VAS) 9.2 → 1.9 points (painful sacral insufficiency fractures); no major complications\n'
          + '- Frey 2017 (244 patients): reduction in pain (P < 0.0001 at 2 years)\n'
          + '- Tarawneh 2020 (7 studies, 107 patients): pain (VAS) 8.38 → 3.01 points; cement leakage 25.4%\n'
          + '- Briggs 2023 (35 studies): mean VAS reduction 5.83 points (sacroplasty); cement leakage 3.3% (sacroplasty)',
        links: [
          { label: 'Clinical policy CCP.1247: summary, evidence and references', url: 'https://payer.example/policies/ccp-1247', type: 'absolute' },
          { label: 'Chandra 2019: systematic review and meta-analysis of sacroplasty for sacral fractures', url: 'https://doi.org/10.1016/j.jvir.2019.06.013', type: 'absolute' },
          { label: 'Mahmood 2019: systematic review of percutaneous sacroplasty for sacral insufficiency fractures', url: 'https://doi.org/10.21037/jss.2019.06.05', type: 'absolute' },
          { label: 'Kortman 2013: multicenter study of sacroplasty for sacral insufficiency fractures and sacral lesions', url: 'https://doi.org/10.1136/neurintsurg-2012-010347', type: 'absolute' },
          {
            label: 'Frey 2017: ten-year analysis of prospective patients treated with percutaneous sacroplasty',
            url: 'https://www.painphysicianjournal.com/current/pdf?article=NDcxMw%3D%3D&journal=108',
            type: 'absolute',
          },
          { label: 'Tarawneh 2020: systematic review and meta-analysis of sacroplasty for metastatic sacral tumours', url: 'https://doi.org/10.1007/s00586-020-06562-w', type: 'absolute' },
          { label: 'Briggs 2023: systematic review of treatments for sacral insufficiency fractures', url: 'https://doi.org/10.7759/cureus.41745', type: 'absolute' },
        ],
        extension: associated,
      },
      {
        uuid: uuid(12),
        summary: 'Open the VIP Care policy app: decision, evidence and covered alternatives',
        indicator: 'info',
        source: { label: 'AmeriHealth Caritas VIP Care', topic: { system: CARD_TYPE, code: 'guideline', display: 'Guideline' } },
        detail: 'Opens the plan\'s details app inside the EHR for **Percutaneous sacral augmentation \\(sacroplasty\\), unilateral injection\\(s\\)** (ServiceRequest/sr1): '
          + 'the coverage decision, the policy, the evidence and the covered alternatives.',
        suggestions: [{ label: 'Review the coverage decision and alternatives in the app', uuid: childId(uuid(12), 'open-details-app') }],
        selectionBehavior: 'at-most-one',
        links: [{
          label: 'Open the CCP.1247 details app',
          url: 'https://payer.example/smart/launch',
          type: 'smart',
          appContext: `{"decision":"${uuid(1)}","order":"ServiceRequest/sr1","planDefinition":"ccp-1247"}`,
        }],
        extension: associated,
      },
    ],
    systemActions: [
      {
        type: 'update',
        description: 'Record AmeriHealth Caritas VIP Care\'s coverage decision on ServiceRequest/sr1 (Da Vinci CRD coverage-information)',
        resource: {
          resourceType: 'ServiceRequest',
          id: 'sr1',
          status: 'draft',
          intent: 'order',
          code: { coding: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] },
          subject: { reference: 'Patient/p1' },
          requester: { reference: 'Practitioner/d1' },
          authoredOn: '2026-11-23T11:00:00Z',
          extension: [{
            url: COVERAGE_INFO_URL,
            extension: [
              { url: 'coverage', valueReference: { reference: 'Coverage/c1' } },
              { url: 'covered', valueCode: 'not-covered' },
              { url: 'billingCode', valueCoding: { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' } },
              { url: 'reason', valueCodeableConcept: { text: 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)' } },
              { url: 'date', valueDate: '2026-11-23' },
              { url: 'coverage-assertion-id', valueString: uuid(1) },
            ],
          }],
        },
      },
    ],
  };

  it('when one sacroplasty order is signed then the response is exactly the three cards and one coverage-information update', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual(expected);
  });

  it('when the same request is sent twice to one app then the second answer differs only in fresh ids (no state carried over)', async () => {
    const { app } = testApp();
    const first = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
    const second = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
    // Fresh ids: sequential ones from the app's id source, and suggestion ids derived from their fresh card ids.
    const ids = (s: string): string => s.replace(/00000000-0000-4000-8000-\d{12}|[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g, '<id>');
    expect(first.body).toEqual(expected);
    expect(JSON.parse(ids(JSON.stringify(second.body)))).toEqual(JSON.parse(ids(JSON.stringify(expected))));
    expect(JSON.stringify(second.body)).not.toContain(uuid(2));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property checks over several responses.

interface Card {
  uuid: string;
  summary: string;
  detail?: string;
  indicator: string;
  source: { label: string; topic?: { system: string; code: string } };
  suggestions?: Array<{ label: string; uuid: string; actions?: Array<{ type: string; description: string; resource?: Json; resourceId?: string }> }>;
  selectionBehavior?: string;
  overrideReasons?: Array<Record<string, string>>;
  links?: Array<{ label: string; url: string; type: string; appContext?: string }>;
  extension?: Record<string, unknown>;
}
interface Body { cards: Card[]; systemActions?: Array<{ type: string; description: string; resource: Json }> }

/** Paths of every null, "", [] or {} in a JSON value (CDS Hooks: optional fields with no value are omitted). */
function emptyValues(value: unknown, path = '$'): string[] {
  if (value === null || value === '') return [path];
  if (Array.isArray(value)) return value.length === 0 ? [path] : value.flatMap((v, i) => emptyValues(v, `${path}[${i}]`));
  if (typeof value === 'object') {
    const entries = Object.entries(value as Json);
    return entries.length === 0 ? [path] : entries.flatMap(([k, v]) => emptyValues(v, `${path}.${k}`));
  }
  return [];
}

const reasonCode = [{ coding: [{ system: ICD10CM, code: 'M84.48XA', display: 'Pathological fracture, other site, initial encounter for fracture' }], text: 'Sacral insufficiency fracture' }];
const bilateral = (id: string): Json => serviceRequest(id, { coding: [{ system: CPT, code: '0201T', display: 'Percutaneous sacral augmentation (sacroplasty), bilateral injections' }] }, { reasonCode });

const scenarios: Array<{ name: string; path: string; body: Json; orders: string[] }> = [
  { name: 'order-sign, one sacroplasty order', path: SIGN, body: hookRequest('order-sign', [sacroplasty('sr1', { reasonCode })]), orders: ['sr1'] },
  { name: 'order-sign, two sacroplasty orders', path: SIGN, body: hookRequest('order-sign', [sacroplasty('sr1', { reasonCode }), bilateral('sr2')]), orders: ['sr1', 'sr2'] },
  { name: 'order-select, two sacroplasty orders selected', path: SELECT, body: hookRequest('order-select', [sacroplasty('sr1', { reasonCode }), bilateral('sr2')]), orders: ['sr1', 'sr2'] },
];

const isPropose = (c: Card): boolean => c.source.topic?.code === 'therapy-alternatives-req';
const isSmart = (c: Card): boolean => (c.links ?? []).some((l) => l.type === 'smart');
const isReference = (c: Card): boolean => !isSmart(c) && (c.links ?? []).length > 0;

describe.each(scenarios)('cards: CRD card constraints ($name)', ({ path, body, orders }) => {
  let res: request.Response;
  let b: Body;
  beforeAll(async () => {
    const { app } = testApp();
    res = await request(app).post(path).send(body);
    b = res.body as Body;
  });

  it('answers 200 with a not-covered card per sacroplasty order, and the policy and app cards once for all of them (CRD dev-24)', () => {
    expect(res.status).toBe(200);
    expect(b.cards).toHaveLength(orders.length + 2);
    expect(b.cards.filter(isPropose)).toHaveLength(orders.length);
  });

  it('every summary is shorter than 140 characters and not empty', () => {
    for (const c of b.cards) {
      expect(c.summary.length).toBeGreaterThan(0);
      expect(c.summary.length).toBeLessThan(140);
    }
  });

  it('every card has a uuid, a valid indicator, the plan as source.label and a cdshooks-card-type topic', () => {
    const uuids = b.cards.map((c) => c.uuid);
    expect(new Set(uuids).size).toBe(uuids.length);
    for (const c of b.cards) {
      expect(c.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(['info', 'warning', 'critical']).toContain(c.indicator);
      expect(c.source.label).toBe('AmeriHealth Caritas VIP Care');
      expect(c.source.topic?.system).toBe(CARD_TYPE);
      expect(typeof c.source.topic?.code).toBe('string');
    }
  });

  it('the not-covered card is a warning, the guideline cards are info (no card is critical: no clinical danger)', () => {
    for (const c of b.cards) expect(c.indicator).toBe(isPropose(c) ? 'warning' : 'info');
  });

  it('every override reason has system, code and display', () => {
    const withReasons = b.cards.filter((c) => c.overrideReasons);
    expect(withReasons).toHaveLength(orders.length);
    for (const c of withReasons) {
      for (const r of c.overrideReasons ?? []) {
        expect(Object.keys(r).sort()).toEqual(['code', 'display', 'system']);
        for (const v of Object.values(r)) expect(v.length).toBeGreaterThan(0);
      }
    }
  });

  it('links on one card are never a mix of absolute and smart, and every link has label, url and type', () => {
    for (const c of b.cards) {
      const types = new Set((c.links ?? []).map((l) => l.type));
      expect(types.size).toBeLessThanOrEqual(1);
      for (const l of c.links ?? []) {
        expect(l.label.length).toBeGreaterThan(0);
        expect(l.url).toMatch(/^https:\/\//);
        expect(['absolute', 'smart']).toContain(l.type);
        if (l.type === 'absolute') expect(l.appContext).toBeUndefined();
      }
    }
  });

  it('the SMART card has at least one suggestion, no actions, and an appContext naming the decisions without the patient id', () => {
    const smart = b.cards.filter(isSmart);
    expect(smart).toHaveLength(1);
    for (const c of smart) {
      expect(c.suggestions?.length).toBeGreaterThanOrEqual(1);
      for (const s of c.suggestions ?? []) expect(s.actions).toBeUndefined();
      for (const l of c.links ?? []) {
        expect(typeof l.appContext).toBe('string');
        const ctx = JSON.parse(l.appContext ?? '') as Record<string, string | string[]>;
        // One order: its decision and the order; several: every decision and order the card covers.
        const pairs = orders.length === 1 ? [[ctx['decision'], ctx['order']]] : (ctx['orders'] as string[]).map((o, i) => [(ctx['decisions'] as string[])[i], o]);
        expect(Object.keys(ctx).sort()).toEqual(orders.length === 1 ? ['decision', 'order', 'planDefinition'] : ['decisions', 'orders', 'planDefinition']);
        expect(pairs.map((p) => p[1])).toEqual(orders.map((o) => `ServiceRequest/${o}`));
        // The decision named is the coverage assertion issued for the same order in the same response.
        for (const [decision, order] of pairs) {
          const update = (b.systemActions ?? []).find((a) => `ServiceRequest/${String(a.resource?.['id'])}` === order);
          expect(JSON.stringify(update)).toContain(`"valueString":"${String(decision)}"`);
        }
        expect(JSON.stringify(ctx)).not.toMatch(/Patient\/|"p1"/);
      }
    }
  });

  it('the External Reference card has only absolute links, no suggestions and no appContext', () => {
    const refs = b.cards.filter(isReference);
    expect(refs).toHaveLength(1);
    for (const c of refs) {
      expect(c.suggestions).toBeUndefined();
      expect(c.selectionBehavior).toBeUndefined();
      expect(c.links?.length).toBeGreaterThanOrEqual(1);
      for (const l of c.links ?? []) {
        expect(l.type).toBe('absolute');
        expect(l).not.toHaveProperty('appContext');
      }
    }
  });

  it('Propose Alternate cards: six suggestions, each exactly one delete of the sacroplasty order plus one create, at-most-one, no links', () => {
    const propose = b.cards.filter(isPropose);
    expect(propose).toHaveLength(orders.length);
    propose.forEach((c, i) => {
      const ref = `ServiceRequest/${orders[i] ?? ''}`;
      expect(c.selectionBehavior).toBe('at-most-one');
      expect(c.links).toBeUndefined();
      expect(c.suggestions).toHaveLength(6);
      for (const s of c.suggestions ?? []) {
        expect(s.actions?.map((a) => a.type)).toEqual(['delete', 'create']);
        expect(s.actions?.[0]).toEqual({ type: 'delete', description: 'Remove the sacroplasty order (not covered under CCP.1247)', resourceId: ref });
        expect(s.actions?.[1]?.resourceId).toBeUndefined();
      }
    });
  });

  it('the six suggestions create the six covered alternatives with their codes', () => {
    for (const c of b.cards.filter(isPropose)) {
      const created = (c.suggestions ?? []).map((s) => s.actions?.[1]?.resource as Json);
      const summary = created.map((r) => {
        const cc = (r['code'] ?? r['codeCodeableConcept'] ?? r['medicationCodeableConcept']) as { coding: Array<{ system: string; code: string }> };
        return [r['resourceType'], r['intent'], cc.coding[0]?.system, cc.coding[0]?.code];
      });
      expect(summary).toEqual([
        ['ServiceRequest', 'order', CPT, '97161'],
        ['DeviceRequest', 'order', HCPCS_CRD, 'E0210'],
        ['ServiceRequest', 'order', SNOMED, '229065009'],
        ['MedicationRequest', 'proposal', RXNORM, '161'],
        ['ServiceRequest', 'order', CPT, '64483'],
        ['ServiceRequest', 'order', CPT, '27216'],
      ]);
      expect(created[2]?.['patientInstruction']).toBe('Low-impact exercise as tolerated: stationary bike, swimming or walking.');
    }
  });

  it('created orders carry status draft, intent, code, subject, authoredOn = now, requester and the replaced order\'s reasonCode', () => {
    const created = b.cards.filter(isPropose).flatMap((c) => (c.suggestions ?? []).map((s) => s.actions?.[1]?.resource as Json));
    expect(created).toHaveLength(6 * orders.length);
    const ids = created.map((r) => r['id']);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of created) {
      expect(r['status']).toBe('draft');
      expect(['order', 'proposal']).toContain(r['intent']);
      expect(r['code'] ?? r['codeCodeableConcept'] ?? r['medicationCodeableConcept']).toBeDefined();
      expect(r['subject']).toEqual({ reference: 'Patient/p1' });
      expect(r['authoredOn']).toBe('2026-11-23T12:00:00.000Z');
      expect(r['requester']).toEqual({ reference: 'Practitioner/d1' });
      expect(r['reasonCode']).toEqual(reasonCode);
    }
  });

  it('every card carries the davinci-crd.associated-resource extension; every suggestion a uuid; every action a description', () => {
    const suggestionIds: string[] = [];
    for (const c of b.cards) {
      // A not-covered card is about its order; the policy and app cards about every order the policy governs.
      expect(c.extension).toEqual({ 'davinci-crd.associated-resource': isPropose(c) ? [{ reference: expect.stringMatching(/^ServiceRequest\/sr[12]$/) }] : orders.map((o) => ({ reference: `ServiceRequest/${o}` })) });
      for (const s of c.suggestions ?? []) {
        expect(s.uuid).toMatch(/^[0-9a-f-]{36}$/);
        expect(s.label.length).toBeGreaterThan(0);
        suggestionIds.push(s.uuid);
        for (const a of s.actions ?? []) expect(a.description.length).toBeGreaterThan(0);
      }
    }
    expect(new Set(suggestionIds).size).toBe(suggestionIds.length);
    for (const a of b.systemActions ?? []) expect(a.description.length).toBeGreaterThan(0);
  });

  it('no null, "", [] or {} anywhere in the response', () => {
    // The top-level arrays may be empty; everything inside them may not.
    const inside = Object.entries(b).flatMap(([key, list]) => (Array.isArray(list) ? list.flatMap((v, i) => emptyValues(v, `$.${key}[${i}]`)) : [`$.${key}`]));
    expect(inside).toEqual([]);
  });

  it('each order gets its own not-covered card naming it and its own coverage-information update; the policy and app cards name every order', () => {
    orders.forEach((id, i) => {
      const warning = b.cards.filter(isPropose)[i];
      const others = orders.filter((o) => o !== id);
      expect(warning?.extension).toEqual({ 'davinci-crd.associated-resource': [{ reference: `ServiceRequest/${id}` }] });
      expect(warning?.detail).toContain(`(ServiceRequest/${id})`);
      for (const o of others) expect(warning?.detail).not.toContain(`ServiceRequest/${o}`);
      for (const c of b.cards.filter((x) => !isPropose(x))) expect(c.detail).toContain(`(ServiceRequest/${id})`);
    });
    expect(b.systemActions?.map((a) => `${String(a.resource['resourceType'])}/${String(a.resource['id'])}`)).toEqual(orders.map((o) => `ServiceRequest/${o}`));
  });
});

describe('cards: two sacroplasty orders', () => {
  it('when two sacroplasty orders are signed then each has its own coverage decision with its own billing code and assertion id', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty('sr1'), bilateral('sr2')]));
    const actions = res.body.systemActions as Array<{ resource: { id: string; extension: Array<{ extension: Array<{ url: string; valueCoding?: { code: string }; valueString?: string }> }> } }>;
    expect(actions.map((a) => a.resource.id)).toEqual(['sr1', 'sr2']);
    const subs = actions.map((a) => a.resource.extension[0]?.extension ?? []);
    expect(subs.map((s) => s.find((x) => x.url === 'billingCode')?.valueCoding?.code)).toEqual(['0200T', '0201T']);
    const assertionIds = subs.map((s) => s.find((x) => x.url === 'coverage-assertion-id')?.valueString);
    expect(new Set(assertionIds).size).toBe(2);
  });

  it('when two sacroplasty orders are signed then the delete actions of each card remove that card\'s order only', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty('sr1'), bilateral('sr2')]));
    const deleted = (res.body.cards as Card[]).filter(isPropose).map((c) => [...new Set((c.suggestions ?? []).map((s) => s.actions?.[0]?.resourceId))]);
    expect(deleted).toEqual([['ServiceRequest/sr1'], ['ServiceRequest/sr2']]);
  });
});

describe('cards: order text is escaped in Markdown detail', () => {
  const evil = '[click](http://evil.example) <img src=x onerror=alert(1)> **bold**';

  it.each([
    ['code.text', { coding: [{ system: CPT, code: '0200T' }], text: evil }],
    ['the coding display', { coding: [{ system: CPT, code: '0200T', display: evil }] }],
  ])('when %s carries Markdown and HTML then detail shows it as literal text', async (_where, code) => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [serviceRequest('sr1', code)]));
    expect(res.status).toBe(200);
    const detail = (res.body.cards as Card[])[0]?.detail ?? '';
    expect(detail.startsWith('**\\[click\\]\\(http\\://evil\\.example\\) \\<img src\\=x onerror\\=alert\\(1\\)\\> \\*\\*bold\\*\\*** (ServiceRequest/sr1)')).toBe(true);
    expect(detail).not.toContain('](');
    expect(detail).not.toMatch(/(?<!\\)<img/);
    expect(detail).not.toMatch(/(?<!\\)\*\*bold/);
    for (const c of res.body.cards as Card[]) {
      expect(c.summary).not.toContain('<img');
      expect(c.detail ?? '').not.toMatch(/(?<!\\)<img/);
    }
  });

  it('when the order name has line breaks then they are folded so it cannot start a Markdown block', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [serviceRequest('sr1', { text: 'Sacroplasty\n\n# Approved\n- covered' })]));
    const detail = (res.body.cards as Card[])[0]?.detail ?? '';
    expect(detail.startsWith('**Sacroplasty \\# Approved \\- covered** (ServiceRequest/sr1)')).toBe(true);
  });
});
