/**
 * Which draft orders CCP.1247 applies to (codes.md): the sacroplasty codes under every system EHRs send them with,
 * local codes and free text that name sacroplasty, and the look-alike procedures that must never fire.
 */
import request from 'supertest';
import { CPT, CPT_OID, HCPCS, ICD10PCS, SELECT, SIGN, defaultDecisionAction, hookRequest, sacroplasty, serviceRequest, testApp } from './helpers';

type Json = Record<string, unknown>;

const HCPCS_HTTPS = 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets';
const BLUE_BUTTON_HCPCS = 'https://bluebutton.cms.gov/resources/codesystem/hcpcs';
const HCPCS_OID = 'urn:oid:2.16.840.1.113883.6.285';
const EPIC_LOCAL = 'urn:oid:1.2.840.114350.1.13.0.1.7.2.696580';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/** The three card summaries a sacroplasty order gets. */
const FIRED_SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];

const order = (code: { coding?: Json[]; text?: string }, extra: Json = {}): Json => serviceRequest('sr1', code, extra);

/** Posts one order to a fresh app and returns the response. */
async function post(path: string, hook: 'order-select' | 'order-sign', resource: Json): Promise<request.Response> {
  const { app } = testApp();
  return request(app).post(path).send(hookRequest(hook, [resource]));
}

/** What "fired" means: the three cards, all about this order, and one coverage decision for it. */
function expectFired(res: request.Response, reference = 'ServiceRequest/sr1'): void {
  expect(res.status).toBe(200);
  expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(FIRED_SUMMARIES);
  for (const card of res.body.cards) expect(card.extension).toEqual({ 'davinci-crd.associated-resource': [{ reference }] });
  expect(res.body.cards[0].detail).toContain(`(${reference})`);
  const decided = (res.body.systemActions as Array<{ type: string; resource: { resourceType: string; id: string; extension: Array<{ extension: Array<{ url: string; valueCode?: string }> }> } }>)
    .find((a) => `${a.resource.resourceType}/${a.resource.id}` === reference);
  expect(decided?.type).toBe('update');
  expect(decided?.resource.extension.at(-1)?.extension.find((e) => e.url === 'covered')?.valueCode).toBe('not-covered');
}

/** The billingCode sub-extension of the order's coverage information. */
function billingCodes(res: request.Response): unknown[] {
  const subs = (res.body.systemActions[0].resource.extension.at(-1) as { extension: Array<{ url: string; valueCoding?: unknown }> }).extension;
  return subs.filter((e) => e.url === 'billingCode').map((e) => e.valueCoding);
}

describe('billingCode: spelled as CRD\'s value sets spell the system (the NamingSystems\' preferred URI), whatever the EHR sent', () => {
  it.each([
    ['the Blue Button HCPCS URI', BLUE_BUTTON_HCPCS, { system: HCPCS_HTTPS, code: '0200T' }],
    ['CMS\'s HCPCS URI with http', HCPCS, { system: HCPCS_HTTPS, code: '0200T' }],
    ['the CPT OID', CPT_OID, { system: CPT, code: '0200T' }],
    ['the CPT URI in capitals with a trailing slash', 'HTTP://WWW.AMA-ASSN.ORG/go/cpt/', { system: CPT, code: '0200T' }],
  ])('0200T under %s → %j', async (_name, system, billed) => {
    const res = await post(SIGN, 'order-sign', order({ coding: [{ system, code: '0200T' }] }));
    expect(res.status).toBe(200);
    expect(billingCodes(res)).toEqual([billed]);
  });

  it('one code sent under two spellings of one system is billed once', async () => {
    const res = await post(SIGN, 'order-sign', order({ coding: [{ system: CPT, code: '0201T' }, { system: CPT_OID, code: '0201T' }] }));
    expect(billingCodes(res)).toEqual([{ system: CPT, code: '0201T' }]);
  });
});

describe('detection: sacroplasty orders fire', () => {
  const codedCases: Array<[string, string, string]> = [
    ['CPT 0200T under the CPT URI', CPT, '0200T'],
    ['CPT 0201T under the CPT URI', CPT, '0201T'],
    ['CPT 0200T under the HCPCS URI (http)', HCPCS, '0200T'],
    ['CPT 0201T under the HCPCS URI (http)', HCPCS, '0201T'],
    ['CPT 0200T under the HCPCS URI (https)', HCPCS_HTTPS, '0200T'],
    ['CPT 0201T under the HCPCS URI (https)', HCPCS_HTTPS, '0201T'],
    ['CPT 0200T under the CPT OID', CPT_OID, '0200T'],
    ['CPT 0201T under the CPT OID', CPT_OID, '0201T'],
    ['CPT 0200T under the Blue Button HCPCS URI (the CRD test kit\'s system)', BLUE_BUTTON_HCPCS, '0200T'],
    ['CPT 0201T under the HCPCS OID', HCPCS_OID, '0201T'],
    ['ICD-10-PCS 0QU13JZ (supplement sacrum, percutaneous)', ICD10PCS, '0QU13JZ'],
    ['ICD-10-PCS 0QU14JZ (supplement sacrum, percutaneous endoscopic)', ICD10PCS, '0QU14JZ'],
  ];

  // No display and no text: the code alone must be enough.
  it.each(codedCases)('when the order is coded %s (code only, no text) then order-sign fires', async (_name, system, code) => {
    expectFired(await post(SIGN, 'order-sign', order({ coding: [{ system, code }] })));
  });

  it.each(codedCases)('when the order is coded %s then order-select fires on the selected order', async (_name, system, code) => {
    const res = await post(SELECT, 'order-select', order({ coding: [{ system, code }] }));
    expectFired(res);
  });

  it('when the CPT code is sent next to a local coding then it still fires', async () => {
    const res = await post(SIGN, 'order-sign', order({ coding: [{ system: EPIC_LOCAL, code: 'IMG1234' }, { system: CPT, code: '0201T' }] }));
    expectFired(res);
  });

  it('when a local EHR code carries only the display "IR SACROPLASTY" then it fires', async () => {
    const res = await post(SIGN, 'order-sign', order({ coding: [{ system: EPIC_LOCAL, code: 'IMG1234', display: 'IR SACROPLASTY' }] }));
    expectFired(res);
    expect(res.body.cards[0].detail).toContain('**IR SACROPLASTY** (ServiceRequest/sr1)');
  });

  it('when the order has only code.text naming sacroplasty then it fires', async () => {
    const res = await post(SIGN, 'order-sign', order({ text: 'Sacroplasty, left' }));
    expectFired(res);
    expect(res.body.cards[0].detail).toContain('**Sacroplasty, left** (ServiceRequest/sr1)');
  });

  it('when a local code without display carries code.text naming sacroplasty then it fires', async () => {
    expectFired(await post(SIGN, 'order-sign', order({ coding: [{ system: EPIC_LOCAL, code: 'IMG1234' }], text: 'IR SACROPLASTY' })));
  });

  const synonyms = [
    'Percutaneous sacroplasty',
    'Balloon sacroplasty',
    'Sacral augmentation',
    'Percutaneous sacral augmentation',
    'Sacral vertebroplasty',
    'Vertebroplasty of the sacrum',
    'Cement augmentation of the sacrum',
    'Sacral cementoplasty',
    'Radiofrequency sacroplasty',
    'Sacral cement augmentation',
    'Short-axis sacroplasty',
  ];

  it.each(synonyms)('when code.text is "%s" then it fires', async (text) => {
    expectFired(await post(SIGN, 'order-sign', order({ text })));
  });

  it.each(synonyms)('when a local coding\'s display is "%s" then it fires', async (display) => {
    expectFired(await post(SIGN, 'order-sign', order({ coding: [{ system: EPIC_LOCAL, code: 'IMG1234', display }] })));
  });

  it.each(synonyms.map((s) => s.toUpperCase()))('when code.text is in capitals ("%s") then it fires', async (text) => {
    expectFired(await post(SIGN, 'order-sign', order({ text })));
  });

  it('when CPT 22511 (lumbosacral vertebroplasty) carries the text "Sacral vertebroplasty" then it fires (codes.md)', async () => {
    const res = await post(SIGN, 'order-sign', order({ coding: [{ system: CPT, code: '22511' }], text: 'Sacral vertebroplasty' }));
    expectFired(res);
  });

  it('when the sacroplasty order is one of several drafts then only it fires; the other gets the default decision', async () => {
    const { app } = testApp();
    const pt = serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] });
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', [pt, sacroplasty('sr2')]));
    expectFired(res, 'ServiceRequest/sr2');
    expect(res.body.systemActions).toHaveLength(2);
    expect(res.body.systemActions[0]).toEqual(defaultDecisionAction(pt));
  });

  it.each(['active', 'on-hold', 'draft'])('when the sacroplasty order has status %s then it fires (order-sign 1.1 revisions)', async (status) => {
    expectFired(await post(SIGN, 'order-sign', sacroplasty('sr1', { status })));
  });
});

describe('detection: look-alike orders do not fire', () => {
  const codedNegatives: Array<[string, string, string, string]> = [
    ['vertebroplasty 22510', CPT, '22510', 'Percutaneous vertebroplasty (bone biopsy included when performed), 1 vertebral body, unilateral or bilateral injection, inclusive of all imaging guidance; cervicothoracic'],
    ['vertebroplasty 22511', CPT, '22511', 'Percutaneous vertebroplasty (bone biopsy included when performed), 1 vertebral body, unilateral or bilateral injection, inclusive of all imaging guidance; lumbosacral'],
    ['vertebroplasty 22512', CPT, '22512', 'Percutaneous vertebroplasty (bone biopsy included when performed), 1 vertebral body, unilateral or bilateral injection, inclusive of all imaging guidance; each additional cervicothoracic or lumbosacral vertebral body'],
    ['kyphoplasty 22513', CPT, '22513', 'Percutaneous vertebral augmentation, including cavity creation (fracture reduction and bone biopsy included when performed) using mechanical device (eg, kyphoplasty), 1 vertebral body, unilateral or bilateral cannulation, inclusive of all imaging guidance; thoracic'],
    ['kyphoplasty 22514', CPT, '22514', 'Percutaneous vertebral augmentation, including cavity creation (fracture reduction and bone biopsy included when performed) using mechanical device (eg, kyphoplasty), 1 vertebral body, unilateral or bilateral cannulation, inclusive of all imaging guidance; lumbar'],
    ['kyphoplasty 22515', CPT, '22515', 'Percutaneous vertebral augmentation, including cavity creation (fracture reduction and bone biopsy included when performed) using mechanical device (eg, kyphoplasty), 1 vertebral body, unilateral or bilateral cannulation, inclusive of all imaging guidance; each additional thoracic or lumbar vertebral body'],
    ['SI-joint fusion 27278', CPT, '27278', 'Arthrodesis, sacroiliac joint, percutaneous, with image guidance, including placement of intra-articular implant(s), without placement of transfixation device'],
    ['SI-joint fusion 27279', CPT, '27279', 'Arthrodesis, sacroiliac joint, percutaneous or minimally invasive (indirect visualization), with image guidance, includes obtaining bone graft when performed, and placement of transfixing device'],
    ['SI-joint fusion 27280', CPT, '27280', 'Arthrodesis, sacroiliac joint, open, includes obtaining bone graft, including instrumentation, when performed'],
    ['SI-joint injection 27096', CPT, '27096', 'Injection procedure for sacroiliac joint, anesthetic/steroid, with image guidance (fluoroscopy or CT) including arthrography when performed'],
    ['SI-joint injection HCPCS G0259', HCPCS, 'G0259', 'Injection procedure for sacroiliac joint; arthrography'],
    ['SI-joint injection HCPCS G0260', HCPCS, 'G0260', 'Injection procedure for sacroiliac joint; provision of anesthetic, steroid and/or other therapeutic agent, with or without arthrography'],
    ['sacral nerve stimulation 64561', CPT, '64561', 'Percutaneous implantation of neurostimulator electrode array; sacral nerve (transforaminal placement) including image guidance, if performed'],
    ['sacral nerve stimulation 64581', CPT, '64581', 'Open implantation of neurostimulator electrode array; sacral nerve (transforaminal placement)'],
    ['ICD-10-PCS 0QU03JZ (supplement lumbar vertebra)', ICD10PCS, '0QU03JZ', 'Supplement Lumbar Vertebra with Synthetic Substitute, Percutaneous Approach'],
    ['ICD-10-PCS 0SG704Z (fusion right SI joint, open)', ICD10PCS, '0SG704Z', 'Fusion of Right Sacroiliac Joint with Internal Fixation Device, Open Approach'],
    ['ICD-10-PCS 0SG734Z (fusion right SI joint, percutaneous)', ICD10PCS, '0SG734Z', 'Fusion of Right Sacroiliac Joint with Internal Fixation Device, Percutaneous Approach'],
    ['ICD-10-PCS 0SG737Z (fusion right SI joint, autologous tissue)', ICD10PCS, '0SG737Z', 'Fusion of Right Sacroiliac Joint with Autologous Tissue Substitute, Percutaneous Approach'],
    ['ICD-10-PCS 0SG834Z (fusion left SI joint, percutaneous)', ICD10PCS, '0SG834Z', 'Fusion of Left Sacroiliac Joint with Internal Fixation Device, Percutaneous Approach'],
  ];

  const textNegatives = [
    'Sacroiliac joint injection',
    'SI joint fusion',
    'Sacral nerve stimulation',
    'Caudal epidural',
    'Sacrectomy',
    'Kyphoplasty L1',
    'CT pelvis - evaluate sacral insufficiency fracture',
    'Lumbosacral vertebroplasty',
  ];

  const medicationRequest: Json = {
    resourceType: 'MedicationRequest', id: 'mr1', status: 'draft', intent: 'order',
    medicationCodeableConcept: { coding: [{ system: RXNORM, code: '161', display: 'acetaminophen' }], text: 'Acetaminophen for sacral fracture pain before sacroplasty' },
    subject: { reference: 'Patient/p1' }, requester: { reference: 'Practitioner/d1' }, authoredOn: '2026-11-23T11:00:00Z',
    reasonCode: [{ coding: [{ system: ICD10CM, code: 'M84.48XA' }] }],
  };
  const noCode = (): Json => {
    const sr = serviceRequest('sr1', {});
    delete sr['code'];
    return sr;
  };

  const negatives: Array<[string, Json]> = [
    ...codedNegatives.map(([name, system, code, display]): [string, Json] => [`${name} with its display`, order({ coding: [{ system, code, display }] })]),
    ...codedNegatives.map(([name, system, code]): [string, Json] => [`${name} code only`, order({ coding: [{ system, code }] })]),
    ...textNegatives.map((text): [string, Json] => [`code.text "${text}"`, order({ text })]),
    ...textNegatives.map((text): [string, Json] => [`a local coding displayed "${text}"`, order({ coding: [{ system: EPIC_LOCAL, code: 'IMG9999', display: text }] })]),
    ['a MedicationRequest (even one whose text mentions sacroplasty)', medicationRequest],
    ['a ServiceRequest with code {coding: [{}]}', order({ coding: [{}] })],
    ['a ServiceRequest with no code at all', noCode()],
    ['a ServiceRequest coded [{system: CPT}] with no code', order({ coding: [{ system: CPT }] })],
    ['a ServiceRequest with code 0200T but no system', order({ coding: [{ code: '0200T' }] })],
    ['0200T under an unrelated system', order({ coding: [{ system: 'http://snomed.info/sct', code: '0200T' }] })],
  ];
  /** Orders that are not orders to decide on: no cards and no decision at all. */
  const notDecided: Array<[string, Json]> = [
    ['a sacroplasty order with status revoked', sacroplasty('sr1', { status: 'revoked' })],
    ['a sacroplasty order with status entered-in-error', sacroplasty('sr1', { status: 'entered-in-error' })],
    ['a sacroplasty order with status completed', sacroplasty('sr1', { status: 'completed' })],
    ['a sacroplasty order marked doNotPerform', sacroplasty('sr1', { doNotPerform: true })],
  ];

  it.each(negatives)('when the order is %s then order-sign gives no card, only the default decision', async (_name, resource) => {
    const res = await post(SIGN, 'order-sign', resource);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [defaultDecisionAction(resource)] });
  });

  it.each(notDecided)('when the order is %s then order-sign answers {cards: [], systemActions: []}', async (_name, resource) => {
    const res = await post(SIGN, 'order-sign', resource);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [], systemActions: [] });
  });

  it.each([...negatives, ...notDecided])('when the order is %s then order-select answers {cards: []}', async (_name, resource) => {
    const res = await post(SELECT, 'order-select', resource);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when nothing fires on order-select then no coverage is read (no prefetch and no fhirServer → still 200, no cards)', async () => {
    const { app } = testApp();
    const body = hookRequest('order-select', [order({ coding: [{ system: CPT, code: '22511' }] })], { prefetch: null });
    delete body['fhirServer'];
    const res = await request(app).post(SELECT).send(body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('when nothing fires on order-sign the default decision still needs the coverage: 412 without prefetch or fhirServer', async () => {
    const { app } = testApp();
    const body = hookRequest('order-sign', [order({ coding: [{ system: CPT, code: '22511' }] })], { prefetch: null });
    delete body['fhirServer'];
    const res = await request(app).post(SIGN).send(body);
    expect(res.status).toBe(412);
    expect(res.body.issue[0].code).toBe('incomplete');
  });
});
