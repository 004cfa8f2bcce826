/**
 * Da Vinci CRD coverage information (crd.md "Coverage Information extension", "Errors and missing data"): an `update`
 * system action per order decided, returning the draft order unchanged but for ext-coverage-information.
 */
import request from 'supertest';
import { COVERAGE_INFO_URL, CPT, SELECT, SIGN, defaultDecisionAction, fhirServersClosedAfterEach, hookRequest, patient, sacroplasty, sendFhir, serviceRequest, testApp } from './helpers';

type Json = Record<string, unknown>;
interface Sub { url: string; [value: string]: unknown }
interface CoverageExtension { url: string; extension: Sub[] }
interface UpdateAction { type: string; description: string; resource: Json & { extension: Array<{ url: string; extension?: Sub[] }> } }

const CRD_TEMP = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
const REASON_TEXT = 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)';
const DESCRIPTION = 'Record AmeriHealth Caritas VIP Care\'s coverage decision on ServiceRequest/sr1 (Da Vinci CRD coverage-information)';
const LOCAL = 'urn:oid:1.2.840.114350.1.13.0.1.7.2.696580';
const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function sign(orders: Json[], options: Parameters<typeof hookRequest>[2] = {}, env: Record<string, string> = {}): Promise<request.Response> {
  const { app } = testApp({ env });
  return request(app).post(SIGN).send(hookRequest('order-sign', orders, options));
}

const actionsOf = (res: request.Response): UpdateAction[] => res.body.systemActions as UpdateAction[];
const coverageExtensions = (action: UpdateAction | undefined): CoverageExtension[] =>
  (action?.resource.extension ?? []).filter((e): e is CoverageExtension => e.url === COVERAGE_INFO_URL);
const subs = (res: request.Response, i = 0): Sub[] => coverageExtensions(actionsOf(res)[i])[0]?.extension ?? [];
const sub = (res: request.Response, url: string): Sub[] => subs(res).filter((s) => s.url === url);

describe('coverage information: the update system action on order-sign', () => {
  it('when a sacroplasty order is signed then one update action returns the draft order deep-equal but for the added extension', async () => {
    const order = sacroplasty();
    const res = await sign([order]);
    expect(res.status).toBe(200);
    const actions = actionsOf(res);
    expect(actions).toHaveLength(1);
    expect(actions[0]?.type).toBe('update');
    expect(actions[0]?.description).toBe(DESCRIPTION);
    const { extension, ...rest } = actions[0]!.resource;
    expect(rest).toEqual(order);
    expect(extension).toEqual([{
      url: COVERAGE_INFO_URL,
      extension: [
        { url: 'coverage', valueReference: { reference: 'Coverage/c1' } },
        { url: 'covered', valueCode: 'not-covered' },
        { url: 'billingCode', valueCoding: { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' } },
        { url: 'reason', valueCodeableConcept: { text: REASON_TEXT } },
        { url: 'date', valueDate: '2026-11-23' },
        { url: 'coverage-assertion-id', valueString: uuid(1) },
      ],
    }]);
  });

  it('when the order already has other extensions then they are kept, in order, before the coverage information', async () => {
    const own = [
      { url: 'http://ehr.example/fhir/StructureDefinition/order-priority-reason', valueString: 'pain at rest' },
      { url: 'http://ehr.example/fhir/StructureDefinition/laterality', valueCodeableConcept: { text: 'bilateral' } },
    ];
    const order = sacroplasty('sr1', { extension: own, reasonCode: [{ text: 'Sacral insufficiency fracture' }], priority: 'routine', note: [{ text: 'Patient on anticoagulants' }] });
    const res = await sign([order]);
    const resource = actionsOf(res)[0]!.resource;
    const { extension, ...rest } = resource;
    const orderRest = { ...order };
    delete orderRest['extension'];
    expect(rest).toEqual(orderRest);
    expect(extension).toHaveLength(3);
    expect(extension.slice(0, 2)).toEqual(own);
    expect(extension[2]?.url).toBe(COVERAGE_INFO_URL);
  });

  it('coverage points at Coverage/c1, covered is not-covered and pa-needed is absent (CRD 2.2: not with not-covered)', async () => {
    const res = await sign([sacroplasty()]);
    expect(sub(res, 'coverage')).toEqual([{ url: 'coverage', valueReference: { reference: 'Coverage/c1' } }]);
    expect(sub(res, 'covered')).toEqual([{ url: 'covered', valueCode: 'not-covered' }]);
    expect(sub(res, 'pa-needed')).toEqual([]);
    expect(sub(res, 'doc-needed')).toEqual([]);
  });

  it('billingCode is the order\'s sacroplasty coding (0200T), not any other coding on the order', async () => {
    const order = serviceRequest('sr1', { coding: [{ system: LOCAL, code: 'IMG1234', display: 'IR SACROPLASTY' }, { system: CPT, code: '0200T' }] });
    const res = await sign([order]);
    expect(sub(res, 'billingCode')).toEqual([{ url: 'billingCode', valueCoding: { system: CPT, code: '0200T' } }]);
  });

  it('when the order carries only a local code with text then billingCode is absent and the rest of the decision is made', async () => {
    const res = await sign([serviceRequest('sr1', { coding: [{ system: LOCAL, code: 'IMG1234', display: 'IR SACROPLASTY' }] })]);
    expect(sub(res, 'billingCode')).toEqual([]);
    expect(subs(res).map((s) => s.url)).toEqual(['coverage', 'covered', 'reason', 'date', 'coverage-assertion-id']);
  });

  it('reason.text cites policy CCP.1247 and date is today (pinned clock)', async () => {
    const res = await sign([sacroplasty()]);
    const reason = sub(res, 'reason');
    expect(reason).toHaveLength(1);
    expect((reason[0]?.['valueCodeableConcept'] as { text: string }).text).toContain('CCP.1247');
    expect(sub(res, 'date')).toEqual([{ url: 'date', valueDate: '2026-11-23' }]);
  });

  it('exactly one coverage-assertion-id, a non-empty string', async () => {
    const res = await sign([sacroplasty()]);
    const ids = sub(res, 'coverage-assertion-id');
    expect(ids).toHaveLength(1);
    expect(ids[0]?.['valueString']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('when two sacroplasty orders are signed then each gets its own update with a different assertion id', async () => {
    const res = await sign([sacroplasty('sr1'), sacroplasty('sr2')]);
    const actions = actionsOf(res);
    expect(actions.map((a) => a.resource['id'])).toEqual(['sr1', 'sr2']);
    const ids = actions.map((a) => coverageExtensions(a)[0]?.extension.find((s) => s.url === 'coverage-assertion-id')?.['valueString']);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toEqual(ids[1]);
  });

  it('when a sacroplasty order is signed with other orders then every order gets its decision: the others the payer\'s default (CRD hook-16, resp-29)', async () => {
    const pt = serviceRequest('sr-pt', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] });
    const res = await sign([pt, sacroplasty('sr1')]);
    expect(actionsOf(res).map((a) => a.resource['id'])).toEqual(['sr-pt', 'sr1']);
    expect(actionsOf(res)[0]).toEqual(defaultDecisionAction(pt));
    expect(subs(res, 1).find((x) => x.url === 'covered')).toEqual({ url: 'covered', valueCode: 'not-covered' });
  });

  it('when the member has two active Coverages with the plan then the order gets two extensions, one per Coverage, each with its own assertion id', async () => {
    const coverage = {
      resourceType: 'Bundle', type: 'searchset',
      entry: [
        { resource: { resourceType: 'Coverage', id: 'c1', status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] } },
        { resource: { resourceType: 'Coverage', id: 'c2', status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] } },
      ],
    };
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage } });
    const actions = actionsOf(res);
    expect(actions).toHaveLength(1);
    const exts = coverageExtensions(actions[0]);
    expect(exts).toHaveLength(2);
    expect(exts.map((e) => e.extension.find((s) => s.url === 'coverage')?.['valueReference'])).toEqual([{ reference: 'Coverage/c1' }, { reference: 'Coverage/c2' }]);
    const ids = exts.map((e) => e.extension.filter((s) => s.url === 'coverage-assertion-id'));
    for (const one of ids) expect(one).toHaveLength(1);
    expect(ids[0]?.[0]?.['valueString']).not.toEqual(ids[1]?.[0]?.['valueString']);
    for (const e of exts) expect(e.extension.find((s) => s.url === 'covered')).toEqual({ url: 'covered', valueCode: 'not-covered' });
  });

  it('when the coverage prefetch is a single Coverage rather than a Bundle then it is used', async () => {
    const coverage = { resourceType: 'Coverage', id: 'c9', status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] };
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage } });
    expect(sub(res, 'coverage')).toEqual([{ url: 'coverage', valueReference: { reference: 'Coverage/c9' } }]);
  });
});

describe('coverage information on order-select', () => {
  it('when a sacroplasty order is selected then order-select also returns its coverage information', async () => {
    const { app } = testApp();
    const order = sacroplasty();
    const res = await request(app).post(SELECT).send(hookRequest('order-select', [order]));
    expect(res.status).toBe(200);
    const actions = actionsOf(res);
    expect(actions).toHaveLength(1);
    expect(actions[0]?.type).toBe('update');
    const { extension, ...rest } = actions[0]!.resource;
    expect(rest).toEqual(order);
    expect(extension).toHaveLength(1);
    expect(extension[0]?.extension?.find((s) => s.url === 'covered')).toEqual({ url: 'covered', valueCode: 'not-covered' });
  });
});

describe('an order that already carries coverage information (CRD resp-35, resp-37)', () => {
  /** One app for both calls of a test: its ids run on, so a new assertion id differs from the first call's. */
  let app: ReturnType<typeof testApp>['app'];
  beforeEach(() => {
    app = testApp().app;
  });
  const signOn = (orders: Json[]): Promise<request.Response> => request(app).post(SIGN).send(hookRequest('order-sign', orders));
  /** This payer's decision as a first call returned it: the sacroplasty order with its coverage information. */
  async function decidedOnce(): Promise<Json> {
    const first = await signOn([sacroplasty()]);
    expect(first.status).toBe(200);
    return actionsOf(first)[0]!.resource;
  }
  const appContext = (res: request.Response): Json => JSON.parse((res.body.cards as Array<{ links?: Array<{ type: string; appContext?: string }> }>)
    .flatMap((c) => c.links ?? []).find((l) => l.type === 'smart')?.appContext ?? '{}') as Json;

  it('this payer\'s identical decision already on the order: no new system action and no new assertion; the cards name the decision on record (resp-35)', async () => {
    const decided = await decidedOnce();
    const recorded = (decided['extension'] as CoverageExtension[])[0]!.extension.find((x) => x.url === 'coverage-assertion-id')?.['valueString'];
    const again = await signOn([decided]);
    expect(again.status).toBe(200);
    expect(again.body.systemActions).toEqual([]);
    expect(again.body.cards).toHaveLength(3);
    expect(appContext(again)).toEqual({ decision: recorded, order: 'ServiceRequest/sr1', planDefinition: 'ccp-1247' });
  });

  it('a decision of this payer that changed (the order carries "covered"): replaced, the order otherwise as sent', async () => {
    const decided = await decidedOnce();
    const stale = structuredClone(decided) as Json & { extension: CoverageExtension[] };
    stale.extension[0]!.extension = stale.extension[0]!.extension.map((x) => (x.url === 'covered' ? { url: 'covered', valueCode: 'covered' } : x));
    const res = await signOn([stale]);
    const [action] = actionsOf(res);
    expect(actionsOf(res)).toHaveLength(1);
    const exts = coverageExtensions(action);
    expect(exts).toHaveLength(1);
    expect(exts[0]!.extension.find((x) => x.url === 'covered')).toEqual({ url: 'covered', valueCode: 'not-covered' });
    expect(exts[0]!.extension.find((x) => x.url === 'coverage-assertion-id')?.['valueString']).not.toBe(stale.extension[0]!.extension.find((x) => x.url === 'coverage-assertion-id')?.['valueString']);
  });

  it('another payer\'s coverage information on the order is returned exactly as sent, before this payer\'s (resp-37)', async () => {
    const theirs = {
      url: COVERAGE_INFO_URL,
      extension: [
        { url: 'coverage', valueReference: { reference: 'Coverage/other-plan' } },
        { url: 'covered', valueCode: 'covered' },
        { url: 'pa-needed', valueCode: 'auth-needed' },
        { url: 'date', valueDate: '2026-11-20' },
        { url: 'coverage-assertion-id', valueString: 'other-payer-assertion-7' },
      ],
    };
    const order = sacroplasty('sr1', { extension: [theirs] });
    const res = await sign([order]);
    expect(res.status).toBe(200);
    const [action] = actionsOf(res);
    expect(action?.resource.extension[0]).toEqual(theirs);
    expect(coverageExtensions(action).map((e) => e.extension.find((x) => x.url === 'coverage')?.['valueReference'])).toEqual([
      { reference: 'Coverage/other-plan' }, { reference: 'Coverage/c1' },
    ]);
  });
});

describe('coverage information when the member\'s data says otherwise (CRD "Errors and missing data")', () => {
  /** The whole extension for an outcome that has no Coverage to point at. */
  const undecided = (covered: string, code: string, text: string): Json => ({
    url: COVERAGE_INFO_URL,
    extension: [
      { url: 'coverage', valueReference: { display: text } },
      { url: 'covered', valueCode: covered },
      { url: 'billingCode', valueCoding: { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' } },
      { url: 'reason', valueCodeableConcept: { coding: [{ system: CRD_TEMP, code }], text } },
      { url: 'date', valueDate: '2026-11-23' },
      { url: 'coverage-assertion-id', valueString: uuid(1) },
    ],
  });

  it('when the prefetch patient is null then 200, not-covered with reason no-member-found', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: null, coverage: { resourceType: 'Bundle', type: 'searchset', total: 0 } } });
    expect(res.status).toBe(200);
    expect(actionsOf(res)[0]?.resource.extension).toEqual([
      undecided('not-covered', 'no-member-found', 'The EHR reports no record of this patient; no member found for this plan.'),
    ]);
  });

  it.each([
    ['with no entry element', { resourceType: 'Bundle', type: 'searchset', total: 0 }],
    ['with an empty entry array', { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] }],
  ])('when the coverage Bundle has no entries (%s) then not-covered with reason coverage-not-found', async (_name, coverage) => {
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage } });
    expect(res.status).toBe(200);
    expect(actionsOf(res)[0]?.resource.extension).toEqual([
      undecided('not-covered', 'coverage-not-found', 'No coverage for this patient was found for this plan.'),
    ]);
  });

  it('when the only Coverage is cancelled then not-covered with reason no-active-coverage', async () => {
    const coverage = { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Coverage', id: 'c-old', status: 'cancelled', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] } }] };
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage } });
    expect(res.status).toBe(200);
    expect(actionsOf(res)[0]?.resource.extension).toEqual([
      undecided('not-covered', 'no-active-coverage', 'The patient has no active coverage with this plan.'),
    ]);
  });

  it('when the coverage prefetch is an OperationOutcome then covered is indeterminate with reason technical and a text', async () => {
    const coverage = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout', diagnostics: 'Coverage search timed out' }] };
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage } });
    expect(res.status).toBe(200);
    expect(actionsOf(res)[0]?.resource.extension).toEqual([
      undecided('indeterminate', 'technical', 'Coverage could not be determined: the EHR reported that it could not fetch this data.'),
    ]);
  });

  it('in each of these outcomes the cards are still returned (the policy applies whoever pays)', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: null, coverage: { resourceType: 'Bundle', type: 'searchset', total: 0 } } });
    expect(res.body.cards).toHaveLength(3);
  });

  describe('when the plan identifies itself with PAYER_IDENTIFIERS', () => {
    const env = { PAYER_IDENTIFIERS: 'http://hl7.org/fhir/sid/us-npi|1234567893' };
    const coverageWithPayor = (value: string): Json => ({
      resourceType: 'Bundle', type: 'searchset',
      entry: [{ resource: { resourceType: 'Coverage', id: 'c1', status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value } }] } }],
    });

    it('when the only Coverage is another payer\'s (different NPI) then 400 with an OperationOutcome (CRD hook-13)', async () => {
      const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: coverageWithPayor('1987654322') } }, env);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'business-rule', diagnostics: 'The patient\'s active coverage is with another payer (http://hl7.org/fhir/sid/us-npi|1987654322); this endpoint decides for its own members only (CRD hook-13).', expression: ['prefetch.coverage'] }],
      });
    });

    it('when the Coverage names this plan\'s NPI then the decision is made under it', async () => {
      const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: coverageWithPayor('1234567893') } }, env);
      expect(res.status).toBe(200);
      expect(res.body.cards).toHaveLength(3);
      expect(sub(res, 'coverage')).toEqual([{ url: 'coverage', valueReference: { reference: 'Coverage/c1' } }]);
      expect(sub(res, 'covered')).toEqual([{ url: 'covered', valueCode: 'not-covered' }]);
    });

    it('when the member has this plan\'s Coverage and another payer\'s then only this plan\'s is decided on', async () => {
      const coverage = {
        resourceType: 'Bundle', type: 'searchset',
        entry: [
          { resource: { resourceType: 'Coverage', id: 'c-other', status: 'active', payor: [{ identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1987654322' } }] } },
          { resource: { resourceType: 'Coverage', id: 'c-ours', status: 'active', payor: [{ identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' } }] } },
        ],
      };
      const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage } }, env);
      expect(coverageExtensions(actionsOf(res)[0]).map((e) => e.extension.find((s) => s.url === 'coverage')?.['valueReference'])).toEqual([{ reference: 'Coverage/c-ours' }]);
    });
  });
});

describe('whose Coverage it is: the payer Organization in the knowledge (CRD hook-13)', () => {
  const NAIC = 'urn:oid:2.16.840.1.113883.6.300';
  const coverage = (id: string, payor: Json[]): Json => ({ resourceType: 'Coverage', id, status: 'active', beneficiary: { reference: 'Patient/p1' }, payor });
  const bundle = (...entries: Json[]): Json => ({ resourceType: 'Bundle', type: 'searchset', entry: entries.map((resource) => ({ resource })) });
  const decidedUnder = (res: request.Response): unknown[] => coverageExtensions(actionsOf(res)[0]).map((e) => e.extension.find((x) => x.url === 'coverage')?.['valueReference']);

  it('a Coverage whose payor carries another payer\'s NAIC code (60054) is another payer\'s: 400, no decision', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: bundle(coverage('c-aetna', [{ identifier: { system: NAIC, value: '60054' }, display: 'Aetna Life Insurance Company' }])) } });
    expect(res.status).toBe(400);
    expect(res.body.issue[0]).toEqual({ severity: 'error', code: 'business-rule', diagnostics: expect.stringContaining('another payer (Aetna Life Insurance Company)'), expression: ['prefetch.coverage'] });
  });

  it('a Coverage whose payor carries this payer\'s identifier is decided under', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: bundle(coverage('c-ours', [{ identifier: { system: NAIC, value: '99999' } }])) } });
    expect(res.status).toBe(200);
    expect(decidedUnder(res)).toEqual([{ reference: 'Coverage/c-ours' }]);
  });

  it('two active Coverages of two payers: only this payer\'s is decided under, and the cards come once', async () => {
    const res = await sign([sacroplasty()], {
      prefetch: { patient: patient(), coverage: bundle(coverage('c-aetna', [{ identifier: { system: NAIC, value: '60054' } }]), coverage('c-ours', [{ identifier: { system: 'https://knowledge.vipcare.example/fhir/sid/payer-id', value: 'VIPCARE' } }])) },
    });
    expect(res.status).toBe(200);
    expect(decidedUnder(res)).toEqual([{ reference: 'Coverage/c-ours' }]);
    expect(res.body.cards).toHaveLength(3);
  });

  it('a Coverage whose payor has no identifier (as the CRD test kit\'s presets send) is answered as this payer\'s', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: bundle(coverage('c-kit', [{ display: 'Some plan' }])) } });
    expect(res.status).toBe(200);
    expect(decidedUnder(res)).toEqual([{ reference: 'Coverage/c-kit' }]);
  });

  it('an identified Coverage of this payer wins over an unidentified one: only it is decided under', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: bundle(coverage('c-unknown', [{ display: 'Some plan' }]), coverage('c-ours', [{ identifier: { system: NAIC, value: '99999' } }])) } });
    expect(decidedUnder(res)).toEqual([{ reference: 'Coverage/c-ours' }]);
  });

  it('an identifier in a system that does not identify payers (an NPI) says nothing either way: answered', async () => {
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: bundle(coverage('c-npi', [{ identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' } }])) } });
    expect(res.status).toBe(200);
    expect(decidedUnder(res)).toEqual([{ reference: 'Coverage/c-npi' }]);
  });

  it('a payor given as a reference is resolved from the coverage Bundle (_include): another payer\'s Organization → 400', async () => {
    const org = { resourceType: 'Organization', id: 'org-aetna', identifier: [{ system: NAIC, value: '60054' }], name: 'Aetna' };
    const res = await sign([sacroplasty()], { prefetch: { patient: patient(), coverage: bundle(coverage('c1', [{ reference: 'Organization/org-aetna' }]), org) } });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain('another payer (Aetna)');
  });

  describe('a payor reference not in prefetch is read from the EHR', () => {
    const fhirServer = fhirServersClosedAfterEach();

    it('this payer\'s Organization (read with the EHR token) → decided under', async () => {
      const ehr = await fhirServer((req, res) => (req.url === '/fhir/Organization/org-vip' ? sendFhir(res, 200, { resourceType: 'Organization', id: 'org-vip', identifier: [{ system: NAIC, value: '99999' }] }) : sendFhir(res, 404, {})));
      const res = await sign([sacroplasty()], {
        prefetch: { patient: patient(), coverage: bundle(coverage('c1', [{ reference: 'Organization/org-vip' }])) },
        extra: { fhirServer: ehr.url, fhirAuthorization: { access_token: 'tok', token_type: 'Bearer', expires_in: 300, scope: 'user/*.read', subject: 'cds' } },
      });
      expect(res.status).toBe(200);
      expect(decidedUnder(res)).toEqual([{ reference: 'Coverage/c1' }]);
      expect(ehr.requests).toEqual([{ method: 'GET', url: '/fhir/Organization/org-vip', authorization: 'Bearer tok' }]);
    });

    it('the EHR failing (HTTP 500, as the CRD test kit\'s technical-issue scenario does) → indeterminate, reason technical, with text', async () => {
      const ehr = await fhirServer((_req, res) => sendFhir(res, 500, { resourceType: 'OperationOutcome', issue: [] }));
      const res = await sign([sacroplasty()], {
        prefetch: { patient: patient(), coverage: bundle(coverage('c1', [{ reference: 'Organization/org-vip' }])) },
        extra: { fhirServer: ehr.url, fhirAuthorization: { access_token: 'tok', token_type: 'Bearer', expires_in: 300, scope: 'user/*.read', subject: 'cds' } },
      });
      expect(res.status).toBe(200);
      expect(sub(res, 'covered')).toEqual([{ url: 'covered', valueCode: 'indeterminate' }]);
      expect(sub(res, 'reason')).toEqual([{ url: 'reason', valueCodeableConcept: { coding: [{ system: CRD_TEMP, code: 'technical' }], text: 'The coverage\'s payer could not be determined: the EHR\'s FHIR server could not be read.' } }]);
    });
  });
});
