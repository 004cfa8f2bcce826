/* eslint-disable @typescript-eslint/explicit-module-boundary-types -- plain JavaScript modules of the bench harness, not part of the typed service */
// Request bodies for the benchmark, shaped like test/helpers.ts builds them (hookRequest, serviceRequest,
// sacroplasty, coverageBundle, patient): what an EHR sends on order-select / order-sign.

export const CPT = 'http://www.ama-assn.org/go/cpt';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/** A draft ServiceRequest with the given codings and/or text (test/helpers.ts serviceRequest). */
export function serviceRequest(id, code, extra = {}) {
  return {
    resourceType: 'ServiceRequest', id, status: 'draft', intent: 'order', code,
    subject: { reference: 'Patient/p1' }, requester: { reference: 'Practitioner/d1' }, authoredOn: '2026-11-23T11:00:00Z', ...extra,
  };
}

/** A sacroplasty order coded CPT 0200T (test/helpers.ts sacroplasty). */
export const sacroplasty = (id = 'sr1', extra = {}) =>
  serviceRequest(id, { coding: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] }, extra);

export const patient = () => ({ resourceType: 'Patient', id: 'p1', birthDate: '1948-03-02', gender: 'female' });

export function coverageBundle(id = 'c1', payor = [{ display: 'AmeriHealth Caritas VIP Care' }]) {
  return { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Coverage', id, status: 'active', beneficiary: { reference: 'Patient/p1' }, payor } }] };
}

/** A hook request as an EHR sends it (test/helpers.ts hookRequest). */
export function hookRequest(hook, orders, options = {}) {
  const context = {
    userId: 'Practitioner/d1', patientId: 'p1', encounterId: 'e1',
    draftOrders: { resourceType: 'Bundle', type: 'collection', entry: orders.map((resource) => ({ resource })) },
    ...(hook === 'order-select' ? { selections: options.selections ?? orders.map((o) => `${o.resourceType}/${o.id}`) } : {}),
    ...options.context,
  };
  const req = {
    hook, hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', fhirServer: options.fhirServer ?? 'http://127.0.0.1:9/fhir', context,
    ...options.extra,
  };
  if (options.prefetch !== null) req.prefetch = options.prefetch ?? { patient: patient(), coverage: coverageBundle() };
  return req;
}

const reason = { reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'M84.48XA', display: 'Pathological fracture, other site, initial encounter' }] }], encounter: { reference: 'Encounter/e1' } };

/** The five everyday orders signed next to the sacroplasty: labs, imaging, therapy, a referral and a medication. */
function companions() {
  return [
    serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] }, reason),
    serviceRequest('sr-mri', { coding: [{ system: CPT, code: '72195', display: 'MRI pelvis without contrast' }], text: 'MRI pelvis w/o contrast' }, reason),
    serviceRequest('sr-cbc', { coding: [{ system: LOINC, code: '58410-2', display: 'CBC panel - Blood by Automated count' }] }),
    serviceRequest('sr-dexa', { coding: [{ system: CPT, code: '77080', display: 'Dual-energy X-ray absorptiometry (DXA), bone density study, axial skeleton' }] }),
    {
      resourceType: 'MedicationRequest', id: 'mr-apap', status: 'draft', intent: 'order',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '313782', display: 'acetaminophen 325 MG Oral Tablet' }] },
      subject: { reference: 'Patient/p1' }, requester: { reference: 'Practitioner/d1' }, authoredOn: '2026-11-23T11:00:00Z',
      dosageInstruction: [{ text: '2 tablets every 6 hours as needed for pain, max 8 per day' }],
    },
  ];
}

/** The realistic order-sign: 6 draft orders, one of them a sacroplasty; patient and coverage prefetched. */
export const orderSignBody = (options = {}) => hookRequest('order-sign', [sacroplasty('sr-sacro', reason), ...companions()], options);

/** order-select with the same drafts, the sacroplasty selected. */
export const orderSelectBody = () => hookRequest('order-select', [sacroplasty('sr-sacro', reason), ...companions()], { selections: ['ServiceRequest/sr-sacro'] });

/** The same six orders with the sacroplasty replaced by a non-matching procedure (a transforaminal epidural injection). */
export const noSacroplastyBody = () => hookRequest('order-sign', [
  serviceRequest('sr-inj', { coding: [{ system: CPT, code: '64483', display: 'Injection, anesthetic agent and/or steroid, transforaminal epidural, lumbar or sacral, single level' }] }, reason),
  ...companions(),
]);

/** order-sign with n draft orders: one sacroplasty, the rest non-matching ServiceRequests (cost vs size). */
export function sizedOrderSignBody(n) {
  const orders = [sacroplasty('sr-sacro', reason)];
  const codes = [['97110', 'Therapeutic exercise'], ['72195', 'MRI pelvis without contrast'], ['77080', 'DXA bone density, axial'], ['97161', 'PT evaluation, low complexity'], ['64483', 'Transforaminal epidural injection, lumbar or sacral']];
  for (let i = 1; i < n; i++) {
    const [code, display] = codes[i % codes.length];
    orders.push(serviceRequest(`sr-${i}`, { coding: [{ system: CPT, code, display }] }));
  }
  return hookRequest('order-sign', orders);
}
