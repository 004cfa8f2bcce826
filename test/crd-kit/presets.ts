/**
 * Request bodies shaped like the Da Vinci CRD server test kit's v2.2.1 preset
 * (`server_v221_against_inferno_crd_client_suite.json.erb`, described in /work/notes/crd-kit.md §8), written here
 * from that description — not copied — plus sacroplasty variants of every hook's bodies and the four scenario bodies
 * of the kit's "Specific Coverage Responses" group.
 *
 * What matters is the shape the kit sends: the same hooks, context keys and prefetch keys (keys without data are
 * present with JSON null), a Coverage whose payor is only an `Organization/<id>` reference, that Organization only on
 * the mock EHR (with an NPI), HCPCS under the Blue Button system, appointments with and without `basedOn` (one
 * `basedOn` holding only an alternate-reference extension), and order-dispatch without `userId` / `encounterId`.
 * `hookInstance`, `fhirServer` and `fhirAuthorization.access_token` are placeholders: the harness rewrites them on
 * every call the way the kit's invoke job does (harness.ts).
 */

export type Json = Record<string, unknown>;

export const HCPCS_BLUE_BUTTON = 'https://bluebutton.cms.gov/resources/codesystem/hcpcs';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const ALTERNATE_REFERENCE = 'http://hl7.org/fhir/StructureDefinition/alternate-reference';
/** The kit's mock EHR base (rewritten to the loopback mock EHR at send time). */
const PLACEHOLDER_FHIR_SERVER = 'https://inferno.example/custom/crd_server_v221/fhir';
const PLACEHOLDER_HOOK_INSTANCE = 'a3c1e6f0-7b1d-4c55-9e0a-2f4b8d6c1e01';

/** Every id the bodies use, kit-style (`crd221-demo-…`) so a reader can map them onto the kit's preset. */
export const ID = {
  patient: 'crd221-demo-patient',
  unmatchedPatient: 'crd221-demo-unmatched-patient',
  coverage: 'crd221-demo-coverage-complete-prefetch',
  unmatchedCoverage: 'crd221-demo-unmatched-coverage',
  inactiveCoverage: 'crd221-demo-inactive-coverage',
  payer: 'crd221-demo-payer-complete-prefetch',
  orderer: 'crd221-demo-practitioner-orderer',
  performer: 'crd221-demo-practitioner-performer',
  encounter: 'crd221-demo-encounter-no-performer',
  room: 'crd221-demo-location-room',
  building: 'crd221-demo-location-building',
  orgPerformer: 'crd221-demo-org-performer',
  deviceRequest: 'crd221-demo-devicerequest-different-orderer-vs-performer',
  serviceRequest: 'crd221-demo-servicerequest-no-orderer',
  communicationRequest: 'crd221-demo-communicationrequest',
  nutritionOrder: 'crd221-demo-nutritionorder',
  visionPrescription: 'crd221-demo-visionprescription',
  medicationRequest: 'crd221-demo-medicationrequest',
  appointmentNoPractitioners: 'crd221-demo-appointment-no-practitioners',
  appointmentNoOrder: 'crd221-demo-appointment-no-order',
  appointmentWithOrder: 'crd221-demo-appointment-with-order',
  /** Sacroplasty variants (this suite's own). */
  sacroplastyCpt: 'crd221-sacro-servicerequest-cpt',
  sacroplastyHcpcs: 'crd221-sacro-servicerequest-hcpcs',
  sacroplastyEhrOnly: 'crd221-sacro-servicerequest-ehr-only',
  sacroplastyAppointmentWithOrder: 'crd221-sacro-appointment-with-order',
  sacroplastyAppointmentWithEhrOrder: 'crd221-sacro-appointment-with-ehr-order',
  sacroplastyAppointmentNoOrder: 'crd221-sacro-appointment-no-order',
} as const;

const ref = (type: string, id: string): Json => ({ reference: `${type}/${id}` });
const fullUrl = (r: Json): string => `http://inferno.example/fhir/${String(r['resourceType'])}/${String(r['id'])}`;

/** A Bundle of type collection with fullUrls (the shape of draftOrders, appointments and prefetch of related data). */
export function collection(resources: Json[]): Json {
  return { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ fullUrl: fullUrl(resource), resource })) };
}

/** A searchset Bundle, as a FHIR search (and so a search prefetch) returns it. */
export function searchset(resources: Json[], self: string): Json {
  return {
    resourceType: 'Bundle', type: 'searchset', total: resources.length,
    link: [{ relation: 'self', url: `http://inferno.example/fhir/${self}` }],
    entry: resources.map((resource) => ({ fullUrl: fullUrl(resource), resource, search: { mode: 'match' } })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Shared resources
// ---------------------------------------------------------------------------------------------------------------

export function patient(id: string = ID.patient, identifier?: Json): Json {
  return {
    resourceType: 'Patient', id,
    meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] },
    identifier: [identifier ?? { type: { coding: [{ system: V2_0203, code: 'MR' }] }, system: 'http://hl7.org/fhir/sid/us-medicare', value: '0M34355006FW' }],
    name: [{ use: 'official', family: 'Oster', given: ['William', 'Hale'] }],
    gender: 'male',
    birthDate: '2015-02-23',
    address: [{ use: 'home', line: ['1003 Main Street'], city: 'Buffalo', state: 'NY', postalCode: '14210', country: 'US' }],
  };
}

export function coverage(options: { id?: string; beneficiary?: string; subscriberId?: string; status?: string; plan?: string } = {}): Json {
  return {
    resourceType: 'Coverage', id: options.id ?? ID.coverage,
    status: options.status ?? 'active',
    subscriberId: options.subscriberId ?? '10A3D58WH456',
    beneficiary: ref('Patient', options.beneficiary ?? ID.patient),
    relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self' }] },
    // The payor only as a reference: the Organization is on the EHR, not in any prefetch.
    payor: [ref('Organization', ID.payer)],
    class: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'plan' }] }, value: options.plan ?? 'Medicare Part A' }],
  };
}

export const coveragePrefetch = (c: Json = coverage()): Json =>
  searchset([c], `Coverage?patient=${String((c['beneficiary'] as { reference: string }).reference.split('/')[1])}`);

export const payerOrganization = (): Json => ({
  resourceType: 'Organization', id: ID.payer, active: true,
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }],
  name: 'Inferno Simulated Payer (complete standard prefetch)',
});

const practitioner = (id: string, given: string[], family: string): Json => ({
  resourceType: 'Practitioner', id,
  meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitioner'] },
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1122334455' }],
  name: [{ family, given }],
});
export const orderer = (): Json => practitioner(ID.orderer, ['Jane', 'Betty'], 'Doe');
export const performer = (): Json => practitioner(ID.performer, ['Bob'], 'Doe');

export const encounter = (): Json => ({
  resourceType: 'Encounter', id: ID.encounter, status: 'in-progress',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
  type: [{ coding: [{ system: CPT, code: '99211', display: 'Office or other outpatient visit' }], text: 'Office Visit' }],
  subject: ref('Patient', ID.patient),
});

export const room = (): Json => ({
  resourceType: 'Location', id: ID.room, status: 'active', name: 'Exam room 3',
  managingOrganization: ref('Organization', ID.orgPerformer), partOf: ref('Location', ID.building),
});
export const building = (): Json => ({ resourceType: 'Location', id: ID.building, status: 'active', name: 'Outpatient building' });
export const orgPerformer = (): Json => ({
  resourceType: 'Organization', id: ID.orgPerformer, active: true, name: 'Performing clinic',
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1334567892' }],
});

// ---------------------------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------------------------

const placerIdentifier = (value: string): Json[] => [{ type: { coding: [{ system: V2_0203, code: 'PLAC' }] }, value }];

export const deviceRequestE0250 = (): Json => ({
  resourceType: 'DeviceRequest', id: ID.deviceRequest,
  identifier: placerIdentifier('6a1f2d0e-33c4-4c9a-a1a5-0b3a4e8f7c21'),
  status: 'draft', intent: 'original-order',
  codeCodeableConcept: { coding: [{ system: HCPCS_BLUE_BUTTON, code: 'E0250', display: 'Hospital bed fixed height with any type of side rails, mattress' }] },
  subject: ref('Patient', ID.patient),
  authoredOn: '2023-01-01T00:00:00Z',
  requester: ref('Practitioner', ID.orderer),
  performer: ref('Practitioner', ID.performer),
});

/** The kit's G0180 ServiceRequest: status draft, a requester given only by display. */
export const serviceRequestG0180 = (): Json => ({
  resourceType: 'ServiceRequest', id: ID.serviceRequest,
  identifier: placerIdentifier('0f7c3d3b-1e5e-4f55-8f4c-7b2d9d1a6e42'),
  status: 'draft', intent: 'order',
  code: { coding: [{ system: HCPCS_BLUE_BUTTON, code: 'G0180', display: 'Medicare-covered home health services under a home health plan of care' }] },
  subject: ref('Patient', ID.patient),
  authoredOn: '2017-10-04',
  requester: { display: 'Smythe Juliette, MD' },
  performer: [ref('Practitioner', ID.performer)],
});

export const communicationRequest = (): Json => ({
  resourceType: 'CommunicationRequest', id: ID.communicationRequest, status: 'draft',
  basedOn: [{ display: 'EligibilityRequest' }],
  subject: ref('Patient', ID.patient),
  payload: [{
    extension: [{
      url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-CommunicationRequest.payload.content',
      valueCodeableConcept: { coding: [{ system: LOINC, code: '65752-8', display: 'Liver Pathology biopsy report' }] },
    }],
    contentString: 'Liver pathology biopsy report',
  }],
  authoredOn: '2017-10-04',
  requester: ref('Practitioner', ID.orderer),
});

export const nutritionOrder = (): Json => ({
  resourceType: 'NutritionOrder', id: ID.nutritionOrder, status: 'draft', intent: 'order',
  patient: ref('Patient', ID.patient), dateTime: '2014-09-17', orderer: ref('Practitioner', ID.orderer),
  allergyIntolerance: [{ display: 'Cashew Nuts' }],
  foodPreferenceModifier: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/diet', code: 'dairy-free' }] }],
  excludeFoodModifier: [{ coding: [{ system: SNOMED, code: '227493005', display: 'Cashew nuts' }] }],
  oralDiet: {
    type: [
      { coding: [{ system: SNOMED, code: '15108003', display: 'Restricted fiber diet' }] },
      { coding: [{ system: SNOMED, code: '16208003', display: 'Low fat diet' }] },
    ],
    schedule: [{ repeat: { boundsPeriod: { start: '2015-02-10' }, frequency: 3, period: 1, periodUnit: 'd' } }],
    nutrient: [{ modifier: { coding: [{ system: SNOMED, code: '256674009', display: 'Fat' }] }, amount: { value: 50, unit: 'grams', system: 'http://unitsofmeasure.org', code: 'g' } }],
  },
});

export const visionPrescription = (): Json => ({
  resourceType: 'VisionPrescription', id: ID.visionPrescription, status: 'draft',
  created: '2014-06-15', patient: ref('Patient', ID.patient), dateWritten: '2014-06-15', prescriber: ref('Practitioner', ID.orderer),
  lensSpecification: ['right', 'left'].map((eye) => ({
    product: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ex-visionprescriptionproduct', code: 'lens' }] },
    eye, sphere: -2, prism: [{ amount: 0.5, base: 'down' }], add: 2,
  })),
});

export const medicationRequest = (): Json => ({
  resourceType: 'MedicationRequest', id: ID.medicationRequest, status: 'active', intent: 'order',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category', code: 'outpatient' }] }],
  medicationCodeableConcept: { coding: [{ system: RXNORM, code: '1085754', display: 'Triamcinolone Acetonide 40 MG/ML Injectable Suspension' }] },
  subject: ref('Patient', ID.patient),
  authoredOn: '2026-05-14',
  requester: ref('Practitioner', ID.orderer),
  reasonCode: [{ coding: [{ system: SNOMED, code: '57676002', display: 'Pain in joint' }, { system: ICD10CM, code: 'M17.11', display: 'Unilateral primary osteoarthritis, right knee' }] }],
  dosageInstruction: [{ text: '40 mg intra-articular injection, right knee, once' }],
});

/** A sacroplasty order: CPT 0200T, or the same code under the Blue Button HCPCS system the kit's preset uses. */
export function sacroplastyOrder(id: string, system: 'cpt' | 'hcpcs', status = 'draft'): Json {
  return {
    resourceType: 'ServiceRequest', id,
    identifier: placerIdentifier(`${id}-placer`),
    status, intent: 'order',
    code: { coding: [{ system: system === 'cpt' ? CPT : HCPCS_BLUE_BUTTON, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] },
    subject: ref('Patient', ID.patient),
    authoredOn: '2026-05-14',
    requester: ref('Practitioner', ID.orderer),
    performer: [ref('Practitioner', ID.performer)],
    reasonCode: [{ coding: [{ system: ICD10CM, code: 'M80.08XA', display: 'Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter for fracture' }] }],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Appointments
// ---------------------------------------------------------------------------------------------------------------

const patientParticipant = (status: string): Json => ({ actor: ref('Patient', ID.patient), required: 'required', status });
const primaryPerformer = (actor: Json): Json => ({
  type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF' }] }], actor, required: 'required', status: 'accepted',
});

function appointment(id: string, extra: Json, performerRef: Json, patientStatus = 'accepted'): Json {
  return {
    resourceType: 'Appointment', id, status: 'proposed',
    ...extra,
    start: '2013-12-10T09:00:00Z', end: '2013-12-10T11:00:00Z',
    requestedPeriod: [{ start: '2013-12-08T09:00:00Z', end: '2013-12-15T17:00:00Z' }],
    participant: [patientParticipant(patientStatus), primaryPerformer(performerRef)],
  };
}

export const appointmentNoPractitioners = (): Json => appointment(ID.appointmentNoPractitioners, {
  serviceCategory: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-category', code: '17', display: 'General Practice' }] }],
  serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '124', display: 'General Practice' }] }],
  specialty: [{ coding: [{ system: SNOMED, code: '394814009', display: 'General practice' }] }],
  appointmentType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0276', code: 'FOLLOWUP', display: 'A follow up visit from a previous appointment' }] },
  reasonReference: [{ reference: 'Condition/cond015a' }],
  description: 'Discussion on the results of your recent MRI',
}, ref('Location', ID.room));

export const appointmentNoOrder = (): Json => appointment(ID.appointmentNoOrder, {
  serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '183', display: 'Sleep Medicine' }] }],
  description: 'CPAP adjustments',
}, ref('Practitioner', ID.performer), 'tentative');

/** `basedOn` with no `reference`: only the alternate-reference extension naming a MedicationRequest (R5 style). */
export const appointmentWithMedicationOrder = (): Json => appointment(ID.appointmentWithOrder, {
  basedOn: [{ extension: [{ url: ALTERNATE_REFERENCE, valueReference: ref('MedicationRequest', ID.medicationRequest) }] }],
  description: 'Knee injection',
}, ref('Practitioner', ID.performer));

export const sacroplastyAppointmentWithOrder = (orderId: string, id: string = ID.sacroplastyAppointmentWithOrder): Json => appointment(id, {
  basedOn: [ref('ServiceRequest', orderId)],
  description: 'Sacroplasty',
}, ref('Practitioner', ID.performer));

export const sacroplastyAppointmentNoOrder = (): Json => appointment(ID.sacroplastyAppointmentNoOrder, {
  serviceType: [{ coding: [{ system: HCPCS_BLUE_BUTTON, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] }],
  description: 'Sacroplasty (no order yet)',
}, ref('Practitioner', ID.performer));

// ---------------------------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------------------------

const SCOPE = ['Patient', 'Encounter', 'Coverage', 'Organization', 'Practitioner', 'PractitionerRole', 'Location', 'Device', 'Medication',
  'ServiceRequest', 'DeviceRequest', 'MedicationRequest', 'CommunicationRequest', 'NutritionOrder', 'VisionPrescription', 'Appointment']
  .map((t) => `user/${t}.rs`).join(' ');

export interface BodyOptions {
  /** `davinci-crd.configuration`; undefined: no configuration at all (order-dispatch, encounter hooks). */
  config?: Json;
  subject?: string;
  /** false: the preset has no fhirAuthorization (the kit then creates one with only access_token and expires_in). */
  fhirAuthorization?: boolean;
}

export function body(hook: string, context: Json, prefetch: Json, options: BodyOptions = {}): Json {
  return {
    hookInstance: PLACEHOLDER_HOOK_INSTANCE,
    fhirServer: PLACEHOLDER_FHIR_SERVER,
    hook,
    ...(options.fhirAuthorization === false ? {} : {
      fhirAuthorization: { access_token: 'SAMPLE_TOKEN', token_type: 'Bearer', expires_in: 300, scope: SCOPE, subject: options.subject ?? 'cds-service4' },
    }),
    context,
    prefetch,
    extension: { ...(options.config ? { 'davinci-crd.configuration': options.config } : {}), 'davinci-crd.requestedVersion': '2.2' },
  };
}

const practitioners = (...ps: Json[]): Json => collection(ps);

/** The order-select / order-sign prefetch: keys the tester has no data for are present with null. */
function orderPrefetch(extra: Json = {}): Json {
  return {
    patient: patient(), encounter: encounter(), coverage: coveragePrefetch(),
    practitioners: practitioners(orderer(), performer()),
    devices: null, medications: null, practitionerRoles: null, organizations: null, locations: null,
    ...extra,
  };
}

const orderContext = (drafts: Json[], extra: Json = {}): Json => ({
  userId: `Practitioner/${ID.orderer}`, patientId: ID.patient, encounterId: ID.encounter, draftOrders: collection(drafts), ...extra,
});

const reference = (r: Json): string => `${String(r['resourceType'])}/${String(r['id'])}`;

// order-sign ------------------------------------------------------------------------------------------------------

export function orderSignBodies(): Json[] {
  return [
    body('order-sign', orderContext([deviceRequestE0250()]), orderPrefetch(), { config: { 'alt-drug': true } }),
    body('order-sign', orderContext([serviceRequestG0180(), communicationRequest()]), orderPrefetch(),
      { config: { 'alt-drug': true, coverage: true, 'dtr-clin': true, 'max-cards': 10 } }),
  ];
}

export function orderSignSacroplastyBodies(): Json[] {
  return [
    // A sacroplasty order signed together with the kit's E0250 bed.
    body('order-sign', orderContext([sacroplastyOrder(ID.sacroplastyCpt, 'cpt'), deviceRequestE0250()]), orderPrefetch(), { config: { 'alt-drug': true } }),
    body('order-sign', orderContext([sacroplastyOrder(ID.sacroplastyHcpcs, 'hcpcs')]), orderPrefetch(),
      { config: { 'alt-drug': true, coverage: true, 'dtr-clin': true, 'max-cards': 10 } }),
  ];
}

// order-select ----------------------------------------------------------------------------------------------------

function orderSelectBody(drafts: Json[], selected: Json[]): Json {
  return body('order-select', orderContext(drafts, { selections: selected.map(reference) }), orderPrefetch({ practitioners: practitioners(orderer()) }),
    { config: { coverage: true, 'max-cards': 10 } });
}

export function orderSelectBodies(): Json[] {
  return [
    orderSelectBody([nutritionOrder()], [nutritionOrder()]),
    orderSelectBody([visionPrescription()], [visionPrescription()]),
  ];
}

export function orderSelectSacroplastyBodies(): Json[] {
  const cpt = sacroplastyOrder(ID.sacroplastyCpt, 'cpt');
  const hcpcs = sacroplastyOrder(ID.sacroplastyHcpcs, 'hcpcs');
  return [
    orderSelectBody([nutritionOrder(), cpt], [cpt]),
    orderSelectBody([hcpcs], [hcpcs]),
  ];
}

// appointment-book ------------------------------------------------------------------------------------------------

function appointmentPrefetch(extra: Json): Json {
  return {
    patient: patient(), encounter: encounter(), coverage: coveragePrefetch(),
    deviceRequests: null, serviceRequests: null, medicationRequests: null, devices: null, medications: null,
    practitionerRoles: null, practitioners: null, organizations: null, locations: null,
    ...extra,
  };
}

function appointmentBody(appointments: Json[], prefetch: Json): Json {
  return body('appointment-book', {
    userId: `Practitioner/${ID.orderer}`, patientId: ID.patient, encounterId: ID.encounter, appointments: collection(appointments),
  }, prefetch, { config: { coverage: true, 'max-cards': 10 }, subject: 'cds-service' });
}

export function appointmentBookBodies(): Json[] {
  return [
    appointmentBody([appointmentNoPractitioners()], appointmentPrefetch({ locations: searchset([room()], `Location?_id=${ID.room}`) })),
    appointmentBody([appointmentNoOrder(), appointmentWithMedicationOrder()], appointmentPrefetch({
      medicationRequests: searchset([medicationRequest()], `MedicationRequest?_id=${ID.medicationRequest}`),
      practitioners: searchset([orderer(), performer()], `Practitioner?_id=${ID.orderer},${ID.performer}`),
    })),
  ];
}

export function appointmentBookSacroplastyBodies(): Json[] {
  const inPrefetch = sacroplastyOrder(ID.sacroplastyCpt, 'cpt');
  return [
    // basedOn a sacroplasty ServiceRequest that comes in the serviceRequests prefetch.
    appointmentBody([sacroplastyAppointmentWithOrder(ID.sacroplastyCpt)], appointmentPrefetch({
      serviceRequests: searchset([inPrefetch], `ServiceRequest?_id=${ID.sacroplastyCpt}`),
      practitioners: searchset([orderer(), performer()], `Practitioner?_id=${ID.orderer},${ID.performer}`),
    })),
    // basedOn a sacroplasty ServiceRequest (Blue Button HCPCS) the EHR did not prefetch: only on the EHR; plus an
    // appointment without an order whose serviceType is the sacroplasty code.
    body('appointment-book', {
      userId: `Practitioner/${ID.orderer}`, patientId: ID.patient, encounterId: ID.encounter,
      appointments: collection([sacroplastyAppointmentWithOrder(ID.sacroplastyEhrOnly, ID.sacroplastyAppointmentWithEhrOrder), sacroplastyAppointmentNoOrder()]),
    }, (() => {
      const p = appointmentPrefetch({ practitioners: searchset([orderer(), performer()], `Practitioner?_id=${ID.orderer},${ID.performer}`) });
      delete p['serviceRequests'];
      return p;
    })(), { config: { coverage: true, 'max-cards': 10 }, subject: 'cds-service' }),
  ];
}

// order-dispatch --------------------------------------------------------------------------------------------------

function dispatchPrefetch(extra: Json): Json {
  return {
    patient: patient(), encounter: null, coverage: coveragePrefetch(),
    communicationRequests: null, deviceRequests: null, medicationRequests: null, nutritionOrders: null, serviceRequests: null, visionPrescriptions: null,
    devices: null, medications: null, practitionerRoles: null, practitioners: null, organizations: null, locations: null,
    ...extra,
  };
}

const dispatchTask = (order: Json): Json => ({
  resourceType: 'Task', id: 'example-schedule-task', status: 'draft', intent: 'order',
  focus: ref('ServiceRequest', String(order['id'])), for: ref('Patient', ID.patient),
  requester: ref('Practitioner', ID.orderer), owner: ref('Practitioner', ID.orderer),
});

/** No userId, no encounterId: the order-dispatch context is patientId, dispatchedOrders, performer, fulfillmentTasks. */
function dispatchBody(orders: Json[], prefetch: Json, tasks?: Json[]): Json {
  return body('order-dispatch', {
    patientId: ID.patient,
    dispatchedOrders: orders.map(reference),
    performer: `Practitioner/${ID.orderer}`,
    ...(tasks ? { fulfillmentTasks: tasks } : {}),
  }, prefetch, { subject: 'cds-service' });
}

export function orderDispatchBodies(): Json[] {
  const sr = serviceRequestG0180();
  const dr = deviceRequestE0250();
  return [
    dispatchBody([sr], dispatchPrefetch({
      serviceRequests: searchset([sr], `ServiceRequest?_id=${ID.serviceRequest}`),
      practitioners: searchset([performer()], `Practitioner?_id=${ID.performer}`),
    }), [dispatchTask(sr)]),
    dispatchBody([dr], dispatchPrefetch({
      deviceRequests: searchset([dr], `DeviceRequest?_id=${ID.deviceRequest}`),
      practitioners: searchset([orderer(), performer()], `Practitioner?_id=${ID.orderer},${ID.performer}`),
    })),
  ];
}

export function orderDispatchSacroplastyBodies(): Json[] {
  // Dispatched orders are signed orders: active, no longer draft.
  const cpt = sacroplastyOrder(ID.sacroplastyCpt, 'cpt', 'active');
  return [
    dispatchBody([cpt], dispatchPrefetch({
      serviceRequests: searchset([cpt], `ServiceRequest?_id=${ID.sacroplastyCpt}`),
      practitioners: searchset([orderer(), performer()], `Practitioner?_id=${ID.orderer},${ID.performer}`),
    }), [dispatchTask(cpt)]),
    // The dispatched sacroplasty order (Blue Button HCPCS) is only on the EHR: the serviceRequests key is not sent.
    (() => {
      const b = dispatchBody([sacroplastyOrder(ID.sacroplastyEhrOnly, 'hcpcs', 'active')], dispatchPrefetch({
        practitioners: searchset([orderer(), performer()], `Practitioner?_id=${ID.orderer},${ID.performer}`),
      }));
      delete (b['prefetch'] as Json)['serviceRequests'];
      return b;
    })(),
  ];
}

// Demonstrate a hook (group 2) --------------------------------------------------------------------------------------

/** `any_hook_request_body`: one order-sign body like body 1 (E0250 authored 2026-05-14). */
export function anyHookBody(): Json {
  return body('order-sign', orderContext([{ ...deviceRequestE0250(), authoredOn: '2026-05-14T00:00:00Z' }]), orderPrefetch(), { config: { 'alt-drug': true } });
}

// Specific coverage responses (group 4): order-sign bodies with the E0250 DeviceRequest ---------------------------------

const NO_MEMBER_SYSTEM = 'http://inferno.healthit.gov/davinci-crd-test-kit/identifier/no-member-found';

export type Scenario = 'technical_issues' | 'no_member_found' | 'coverage_not_found' | 'no_active_coverage';

/** The scenario body: the kit's default input, or (sacroplasty) the same with a CPT 0200T order instead of E0250. */
export function scenarioBody(scenario: Scenario, order: 'preset' | 'sacroplasty' = 'preset'): Json {
  const drafts = [order === 'preset' ? deviceRequestE0250() : sacroplastyOrder(ID.sacroplastyCpt, 'cpt')];
  switch (scenario) {
    case 'technical_issues':
      return body('order-sign', orderContext(drafts), orderPrefetch(), { config: { 'alt-drug': true } });
    case 'coverage_not_found': {
      const c = coverage({ id: ID.unmatchedCoverage, subscriberId: 'UNKNOWN-COVERAGE', plan: 'Unknown Coverage' });
      return body('order-sign', orderContext(drafts), orderPrefetch({ coverage: coveragePrefetch(c) }), { config: { 'alt-drug': true } });
    }
    case 'no_active_coverage': {
      const c = coverage({ id: ID.inactiveCoverage, subscriberId: 'INACTIVE-COVERAGE', status: 'cancelled', plan: 'Inactive Coverage' });
      return body('order-sign', orderContext(drafts), orderPrefetch({ coverage: coveragePrefetch(c) }), { config: { 'alt-drug': true } });
    }
    case 'no_member_found': {
      const p = patient(ID.unmatchedPatient, { type: { coding: [{ system: V2_0203, code: 'MB' }], text: 'Member Number' }, system: NO_MEMBER_SYSTEM, value: 'UNKNOWN-MEMBER' });
      const c = coverage({ beneficiary: ID.unmatchedPatient });
      const unmatched = drafts.map((d) => ({ ...d, subject: ref('Patient', ID.unmatchedPatient) }));
      return body('order-sign', orderContext(unmatched, { patientId: ID.unmatchedPatient }), orderPrefetch({ patient: p, coverage: coveragePrefetch(c), encounter: { ...encounter(), subject: ref('Patient', ID.unmatchedPatient) } }), { config: { 'alt-drug': true } });
    }
  }
}

// Mock EHR ----------------------------------------------------------------------------------------------------------

/**
 * The mock EHR's data (the kit's `mock_ehr_bundle`): what the bodies reference but do not prefetch — the payer
 * Organization, the building — and the orders, patients and coverages, so reads of anything a body names succeed.
 */
export function mockEhrBundle(): Json {
  return collection([
    payerOrganization(), orgPerformer(), building(), room(), patient(), orderer(), performer(), encounter(), coverage(),
    deviceRequestE0250(), serviceRequestG0180(), communicationRequest(), nutritionOrder(), visionPrescription(), medicationRequest(),
    sacroplastyOrder(ID.sacroplastyCpt, 'cpt'), sacroplastyOrder(ID.sacroplastyHcpcs, 'hcpcs'), sacroplastyOrder(ID.sacroplastyEhrOnly, 'hcpcs', 'active'),
  ]);
}
