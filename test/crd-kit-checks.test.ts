/**
 * The oracle of test/crd-kit.test.ts is test/crd-kit/checks.ts: these tests show that each check rejects what the
 * kit rejects (and accepts what it accepts), on hand-made responses, so a passing kit suite is not a vacuous one.
 */
import {
  COVERAGE_INFO_URL, allResponsesIncludeCoverageInformation, alternateRequestErrors, cardBaseErrors, coverageInfoConfiguration, coverageInfoReason,
  coverageInfoSystemActionValidation, coverageInformationCardAbsence, coverageInformationExtensionErrors, coverageInformationMustSupport, discoveryConfiguration,
  discoveryServicesValidation, discoveryStandardPrefetch, identifyActionType, identifyCardType, instructionsErrors, launchSmartErrors, onlyCoverageInformationChanged,
  requestErrors, unknownElementFollowUp,
} from './crd-kit/checks';
import type { Exchange, Json } from './crd-kit/checks';
import { prepareHookRequest } from './crd-kit/harness';
import * as presets from './crd-kit/presets';

const UUID1 = '0f4b8a52-3c1d-4e7a-9b6f-2d8c1e5a7b90';
const UUID2 = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const topic = { system: 'http://terminology.hl7.org/CodeSystem/cdshooks-card-type', code: 'guideline' };
const card = (extra: Json = {}): Json => ({ uuid: UUID1, summary: 'A card', indicator: 'info', source: { label: 'Payer', topic }, ...extra });
const ci = (subs: Json[]): Json => ({ url: COVERAGE_INFO_URL, extension: subs });
const base = (extra: Json[] = []): Json[] => [
  { url: 'coverage', valueReference: { reference: 'Coverage/c1' } }, { url: 'covered', valueCode: 'covered' }, { url: 'pa-needed', valueCode: 'no-auth' },
  { url: 'date', valueDate: '2026-11-23' }, { url: 'coverage-assertion-id', valueString: 'a1' }, ...extra,
];
const order = (): Json => presets.sacroplastyOrder('sr1', 'cpt');
const update = (resource: Json): Json => ({ type: 'update', description: 'Record the decision', resource });
const exchange = (request: Json, response: unknown, tags: string[] = [String(request['hook'])], status = 200): Exchange =>
  ({ hook: String(request['hook']), tags, request, status, response, text: JSON.stringify(response) });

describe('crd-kit checks reject what the kit rejects', () => {
  it('discovery: a version other than major.minor, a missing default, duplicate names and no coverage-info option on a primary hook', () => {
    const service = (extension: Json): Json => ({ hook: 'order-sign', id: 's', description: 'd', extension });
    expect(discoveryServicesValidation({ services: [service({ 'davinci-crd.version': ['2.2.1'] })] }).result).toBe('fail');
    expect(discoveryServicesValidation({ services: [service({ 'davinci-crd.version': ['2.2'] })] }).result).toBe('pass');
    const option = { code: 'coverage-info', type: 'boolean', name: 'n', description: 'd', default: true };
    expect(discoveryConfiguration({ services: [service({ 'davinci-crd.configuration-options': [option] })] }).result).toBe('pass');
    const noDefault = Object.fromEntries(Object.entries(option).filter(([k]) => k !== 'default'));
    expect(discoveryConfiguration({ services: [service({ 'davinci-crd.configuration-options': [noDefault] })] }).result).toBe('fail');
    expect(discoveryConfiguration({ services: [service({ 'davinci-crd.configuration-options': [option, { ...option, code: 'x', description: 'e' }] })] }).errors).toEqual([
      's: duplicate configuration option name `n`',
    ]);
    expect(discoveryConfiguration({ services: [service({ 'davinci-crd.configuration-options': [{ ...option, code: 'guideline' }] })] }).errors).toEqual([
      'Service `s` does not contain a `coverage-info` configuration option',
    ]);
  });

  it('discovery: a prefetch template that is not the standard expression is a warning', () => {
    const o = discoveryStandardPrefetch({ services: [{ hook: 'order-sign', id: 's', prefetch: { patient: 'Patient/{{context.patientId}}', coverage: 'Coverage?patient={{context.patientId}}' } }] });
    expect(o.result).toBe('pass');
    expect(o.notes).toEqual(['s: prefetch `coverage` (Coverage?patient={{context.patientId}}) is not a standard order-sign expression']);
  });

  it('coverage-information: cardinalities, value types and the invariants q2, q3, q5, q9', () => {
    expect(coverageInformationExtensionErrors(ci(base()))).toEqual([]);
    expect(coverageInformationExtensionErrors(ci(base().filter((s) => s['url'] !== 'coverage-assertion-id')))).toEqual(['sub-extension `coverage-assertion-id` occurs 0 times (allowed 1..1)']);
    expect(coverageInformationExtensionErrors(ci(base().map((s) => (s['url'] === 'covered' ? { url: 'covered', valueCode: 'not-covered' } : s))))).toEqual([
      'crd-ci-q2: covered is not-covered, so pa-needed must not exist',
    ]);
    expect(coverageInformationExtensionErrors(ci(base().map((s) => (s['url'] === 'covered' ? { url: 'covered', valueCode: 'indeterminate' } : s))))).toEqual([
      'crd-ci-q9: indeterminate needs a reason',
    ]);
    expect(coverageInformationExtensionErrors(ci(base().map((s) => (s['url'] === 'pa-needed' ? { url: 'pa-needed', valueCode: 'conditional' } : s))))).toEqual([
      'crd-ci-q3: a conditional covered / pa-needed / doc-needed needs info-needed',
    ]);
    expect(coverageInformationExtensionErrors(ci(base().map((s) => (s['url'] === 'pa-needed' ? { url: 'pa-needed', valueCode: 'satisfied' } : s))))).toEqual([
      'crd-ci-q5: satisfied-pa-id exists if and only if pa-needed is satisfied',
    ]);
    expect(coverageInformationExtensionErrors(ci(base().map((s) => (s['url'] === 'date' ? { url: 'date', valueDateTime: '2026-11-23T10:00:00Z' } : s))))).toEqual([
      '`date` needs exactly one valueDate, has valueDateTime',
    ]);
    expect(coverageInformationExtensionErrors(ci(base().map((s) => (s['url'] === 'pa-needed' ? { url: 'pa-needed', valueCode: 'no' } : s))))).toEqual([
      '`pa-needed` "no" is not in its required value set',
    ]);
  });

  it('only coverage information changed: array order is ignored, any other change is not, a bare payload passes', () => {
    const source = { ...order(), identifier: [{ value: 'a' }, { value: 'b' }] };
    const updated = { ...source, identifier: [{ value: 'b' }, { value: 'a' }], extension: [ci(base())] };
    expect(onlyCoverageInformationChanged(source, updated)).toBe(true);
    expect(onlyCoverageInformationChanged(source, { ...updated, status: 'active' })).toBe(false);
    expect(onlyCoverageInformationChanged(source, { resourceType: 'ServiceRequest', id: 'sr1', extension: [ci(base())] })).toBe(true);
  });

  it('classification and card models: instructions need detail, Launch SMART suggestions by generation, crd-respar-1', () => {
    expect(identifyCardType(card())).toBe('instructions');
    expect(instructionsErrors(card(), 'c')).toEqual(['c: detail 1..1 (CRDHooksResponse-instructions)']);
    const smart = card({ links: [{ label: 'App', url: 'https://app.example/launch', type: 'smart' }], selectionBehavior: 'at-most-one', suggestions: [{ label: 'Open', uuid: UUID2 }] });
    expect(identifyCardType(smart)).toBe('launch_smart_app');
    expect(launchSmartErrors(smart, 'c', 'ig-model')).toEqual([]);
    expect(launchSmartErrors(smart, 'c', 'kit-newest')).toEqual(['c: Suggestions are prohibited in Launch SMART App cards (kit correction FHIR-57471)']);
    const both = card({
      selectionBehavior: 'any',
      suggestions: [{ label: 'Replace', uuid: UUID2, actions: [update(order()), { type: 'create', description: 'new', resource: order() }] }],
    });
    expect(identifyCardType(both)).toBe('propose_alternate_request');
    expect(alternateRequestErrors(both, 'c')).toEqual(['c.suggestions[0]: crd-respar-1 needs exactly one update, or one create plus one delete']);
    expect(identifyActionType(update({ ...order(), extension: [ci(base())] }))).toBe('coverage_information');
  });

  it('CRDHooksResponseBase: summary of 140 characters, no topic, a suggestion without uuid, an action without description', () => {
    const bad = card({ summary: 'x'.repeat(140), source: { label: 'Payer' }, selectionBehavior: 'any', suggestions: [{ label: 'S', actions: [{ type: 'create', resource: order() }] }] });
    expect(cardBaseErrors(bad, 'c')).toEqual([
      'c.summary has 140 characters (must be < 140)',
      'c.source.topic is required (CRDHooksResponseBase)',
      'c.suggestions[0].uuid is required and must be a UUID (resp-3)',
      'c.suggestions[0].actions[0].description is required (CRDHooksResponseBase, cds-resp-5)',
    ]);
  });

  it('coverage-information actions: an update that changes the order fails; every primary-hook call needs one', () => {
    const request = presets.orderSignBodies()[0]!;
    const dr = presets.deviceRequestE0250();
    const changed = exchange(request, { cards: [], systemActions: [update({ ...dr, status: 'active', extension: [ci(base())] })] });
    expect(coverageInfoSystemActionValidation([changed], undefined).errors).toEqual([
      `request 1 (order-sign, hookInstance ${String(request['hookInstance'])}) systemActions[0]: DeviceRequest/${String(dr['id'])}: resource content changed outside the coverage-information extension.`,
    ]);
    const none = exchange(request, { cards: [] });
    expect(allResponsesIncludeCoverageInformation([none], undefined).result).toBe('fail');
    const bare = exchange(request, { cards: [], systemActions: [update(dr)] });
    expect(allResponsesIncludeCoverageInformation([bare], undefined).result).toBe('fail');
  });

  it('follow-ups: a coverage-info card when disabled, a 400 to an unknown key, coverage info in a card suggestion', () => {
    const request = presets.orderSignBodies()[0]!;
    const infoCard = card({ source: { label: 'Payer', topic: { ...topic, code: 'coverage-info' } } });
    expect(coverageInfoConfiguration([exchange(request, { cards: [infoCard] }, ['order-sign', 'coverage-info-disabled'])], 'order-sign').result).toBe('fail');
    expect(coverageInfoConfiguration([exchange(request, { cards: [] })], 'order-sign').result).toBe('skip');
    expect(coverageInfoConfiguration([exchange(request, { cards: [] })], 'order-select').result).toBe('omit');
    expect(unknownElementFollowUp([exchange(request, {}, ['order-sign', 'unknown-context'], 400)], 'order-sign', 'unknown-context').result).toBe('fail');
    const viaCard = card({ selectionBehavior: 'any', suggestions: [{ label: 'Record', uuid: UUID2, actions: [update({ ...presets.deviceRequestE0250(), extension: [ci(base())] })] }] });
    expect(coverageInformationCardAbsence([exchange(request, { cards: [viaCard] })], undefined).result).toBe('fail');
  });

  it('must support and scenarios: missing sub-extensions are listed; a wrong covered code or reason fails', () => {
    const request = presets.orderSignBodies()[0]!;
    const response = { cards: [], systemActions: [update({ ...presets.deviceRequestE0250(), extension: [ci(base())] })] };
    expect(coverageInformationMustSupport([exchange(request, response)]).missing).toEqual(['doc-needed', 'doc-purpose', 'info-needed', 'billingCode', 'reason', 'detail', 'dependency', 'questionnaire', 'satisfied-pa-id', 'contact', 'expiry-date']);
    expect(coverageInfoReason([exchange(request, response)], 'not-covered', 'no-member-found', false).errors).toEqual([
      `DeviceRequest/${presets.ID.deviceRequest}: covered is "covered", expected not-covered`,
      `DeviceRequest/${presets.ID.deviceRequest}: the first reason has codes [], expected no-member-found`,
    ]);
  });

  it('requests: the order-dispatch context has no userId; fulfillment Tasks need a ServiceRequest focus', () => {
    const dispatch = presets.orderDispatchBodies()[0]!;
    expect(requestErrors('order-dispatch', dispatch)).toEqual([]);
    const context = structuredClone(dispatch['context']) as Json;
    context['userId'] = 'Practitioner/x';
    (context['fulfillmentTasks'] as Json[])[0]!['focus'] = { reference: 'DeviceRequest/x' };
    expect(requestErrors('order-dispatch', { ...dispatch, context })).toEqual([
      'Unrecognized property \'context.userId\'',
      'context.fulfillmentTasks[0].focus is required (Reference(CRDServiceRequest))',
    ]);
  });

  it('the harness prepares bodies as the kit does: new hookInstance, the mock EHR, a new token, expires_in kept', () => {
    const body = presets.orderSignBodies()[0]!;
    const a = prepareHookRequest(body, 'http://127.0.0.1:1/fhir', 'token-a');
    const b = prepareHookRequest(a, 'http://127.0.0.1:1/fhir', 'token-b');
    expect(a['hookInstance']).not.toBe(b['hookInstance']);
    expect(a['fhirServer']).toBe('http://127.0.0.1:1/fhir');
    expect(b['fhirAuthorization']).toEqual({ ...(body['fhirAuthorization'] as Json), access_token: 'token-b' });
    expect(body['fhirAuthorization']).toMatchObject({ access_token: 'SAMPLE_TOKEN' });
  });
});
