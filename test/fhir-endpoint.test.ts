/**
 * The read-only FHIR R4B endpoint at /fhir over the knowledge: the CapabilityStatement, read with ETag /
 * Last-Modified and conditional reads, search, ValueSet/$expand, the errors (always OperationOutcome) and
 * PlanDefinition/$apply, whose RequestGroup must say what the order-sign cards say for the same input.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Response } from 'supertest';
import type { Extension, RequestGroup, RequestGroupAction } from 'fhir/r4';
import type { HookResponse } from '../src/cds/types';
import { FhirSchemaValidator } from '../src/knowledge/fhir-schema';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import {
  COVERAGE_INFO_URL, CPT, HCPCS_CRD, ICD10PCS, KNOWLEDGE_DIR, NOW, SERVICES_DIR, coverageBundle, hookRequest, sacroplasty, serviceRequest, testApp,
} from './helpers';

type Json = Record<string, unknown>;

const BASE = 'https://payer.example/fhir';
const POLICY_DIR = join(KNOWLEDGE_DIR, 'ccp-1247');
const PLAN_URL = 'https://knowledge.vipcare.example/fhir/PlanDefinition/ccp-1247';
const VS_URL = 'https://knowledge.vipcare.example/fhir/ValueSet/ccp-1247-sacroplasty';
const ASSOCIATED = 'http://payer-cds.example.org/fhir/StructureDefinition/cds-associated-resource';
const CARD_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/cdshooks-card-type';
const ACTION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/action-type';
const EVIDENCE_IDS = [
  'ccp-1247-briggs-2023', 'ccp-1247-chandra-2019', 'ccp-1247-frey-2017', 'ccp-1247-kortman-2013', 'ccp-1247-mahmood-2019', 'ccp-1247-tarawneh-2020',
];

const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;

/** The file's modification time as the endpoint reports it (whole seconds). */
function lastModifiedOf(file: string): Date {
  const d = statSync(file).mtime;
  d.setMilliseconds(0);
  return d;
}

/** A served resource: the file's content with meta.versionId and meta.lastUpdated added. */
function served(file: string): Json {
  const json = readJson(file);
  return {
    ...json,
    meta: { ...(json['meta'] as Json | undefined), versionId: expect.stringMatching(/^[0-9a-f]{16}$/), lastUpdated: lastModifiedOf(file).toISOString() },
  };
}

function expectOutcome(res: Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: expect.any(String), ...(res.body.issue?.[0]?.expression ? { expression: expect.any(Array) } : {}) }] });
}

describe('GET /fhir/metadata', () => {
  it('answers the CapabilityStatement of a read-only FHIR 4.3.0 server listing exactly the knowledge types', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const searchParam = [
      { name: '_id', type: 'token', documentation: 'Logical id; comma-separated values match any' },
      { name: 'url', type: 'uri', documentation: 'Canonical URL, exact match' },
      { name: 'version', type: 'token', documentation: 'Business version, exact match' },
      { name: 'name', type: 'string', documentation: 'Computable name; case-insensitive, matches the start of the name' },
      { name: 'status', type: 'token', documentation: 'draft | active | retired | unknown' },
    ];
    const resource = (type: string, operation?: Json[]): Json => ({
      type,
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      versioning: 'versioned',
      readHistory: false,
      conditionalRead: 'full-support',
      searchParam,
      ...(operation ? { operation } : {}),
    });
    expect(res.body).toEqual({
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: expect.any(String),
      publisher: 'AmeriHealth Caritas VIP Care',
      kind: 'instance',
      software: { name: 'payer CRD service knowledge endpoint' },
      implementation: { description: 'Read-only FHIR endpoint over the clinical-policy catalog the CRD service applies', url: BASE },
      fhirVersion: '4.3.0',
      format: ['application/fhir+json', 'json'],
      rest: [{
        mode: 'server',
        documentation: 'Read-only: read, search-type, ValueSet/$expand and PlanDefinition/$apply. Writes answer 405.',
        resource: [
          resource('ActivityDefinition'),
          resource('Citation'),
          resource('CodeSystem'),
          resource('Evidence'),
          resource('NamingSystem'),
          resource('Organization'),
          resource('PlanDefinition', [{ name: 'apply', definition: 'http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply' }]),
          resource('ValueSet', [{ name: 'expand', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand' }]),
        ],
      }],
    });
  });
});

describe('read: GET /fhir/{type}/{id}', () => {
  const planFile = join(POLICY_DIR, 'PlanDefinition-ccp-1247.json');

  it.each([
    ['PlanDefinition', 'ccp-1247', planFile],
    ['Evidence', 'ccp-1247-chandra-2019', join(POLICY_DIR, 'evidence', 'Evidence-ccp-1247-chandra-2019.json')],
    ['Citation', 'chandra-2019', join(POLICY_DIR, 'citations', 'Citation-chandra-2019.json')],
  ])('answers %s/%s as its file plus meta, with an ETag of its version and Last-Modified', async (type, id, file) => {
    const { app } = testApp();
    const res = await request(app).get(`/fhir/${type}/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual(served(file));
    expect(res.headers['etag']).toBe(`W/"${String(res.body.meta.versionId)}"`);
    expect(res.headers['last-modified']).toBe(lastModifiedOf(file).toUTCString());
  });

  it('gives different resources different versions', async () => {
    const { app } = testApp();
    const a = await request(app).get('/fhir/Evidence/ccp-1247-chandra-2019');
    const b = await request(app).get('/fhir/Evidence/ccp-1247-briggs-2023');
    expect(a.body.meta.versionId).not.toBe(b.body.meta.versionId);
  });

  it('answers 304 with no body when If-None-Match carries the current ETag', async () => {
    const { app } = testApp();
    const first = await request(app).get('/fhir/PlanDefinition/ccp-1247');
    const etag = first.headers['etag'] as string;
    const res = await request(app).get('/fhir/PlanDefinition/ccp-1247').set('If-None-Match', etag);
    expect(res.status).toBe(304);
    expect(res.text ?? '').toBe('');
    expect(res.headers['etag']).toBe(etag);
  });

  it('answers 304 when If-None-Match lists the current ETag among others', async () => {
    const { app } = testApp();
    const etag = (await request(app).get('/fhir/PlanDefinition/ccp-1247')).headers['etag'] as string;
    const res = await request(app).get('/fhir/PlanDefinition/ccp-1247').set('If-None-Match', `W/"0000000000000000", ${etag}`);
    expect(res.status).toBe(304);
  });

  it('answers 200 with the resource when If-None-Match carries another ETag', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/PlanDefinition/ccp-1247').set('If-None-Match', 'W/"0123456789abcdef"');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(served(planFile));
  });

  it('answers 304 when If-Modified-Since is after the last modification', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/PlanDefinition/ccp-1247').set('If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT');
    expect(res.status).toBe(304);
    expect(res.text ?? '').toBe('');
  });

  it('answers 200 when If-Modified-Since is before the last modification', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/PlanDefinition/ccp-1247').set('If-Modified-Since', 'Fri, 01 Jan 1999 00:00:00 GMT');
    expect(res.status).toBe(200);
    expect(res.body.id).toBe('ccp-1247');
  });

  describe('when the resource changes', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'fhir-endpoint-'));
      cpSync(KNOWLEDGE_DIR, join(dir, 'fhir-resources'), { recursive: true });
      const file = join(dir, 'fhir-resources', 'ccp-1247', 'PlanDefinition-ccp-1247.json');
      const plan = readJson(file);
      plan['purpose'] = `${String(plan['purpose'])} (edited)`;
      writeFileSync(file, JSON.stringify(plan, null, 2));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('gets a new ETag, so the old one no longer answers 304', async () => {
      const before = await request(testApp().app).get('/fhir/PlanDefinition/ccp-1247');
      const knowledge = loadKnowledge({ knowledgeDir: join(dir, 'fhir-resources'), servicesDir: SERVICES_DIR, now: NOW });
      const { app } = testApp({ knowledge });
      const res = await request(app).get('/fhir/PlanDefinition/ccp-1247').set('If-None-Match', before.headers['etag'] as string);
      expect(res.status).toBe(200);
      expect(res.headers['etag']).not.toBe(before.headers['etag']);
      expect(res.body.purpose).toMatch(/\(edited\)$/);
    });
  });
});

describe('search: GET /fhir/{type}?…', () => {
  const ids = (res: Response): string[] => (res.body.entry as Array<{ resource: { id: string } }> | undefined ?? []).map((e) => e.resource.id).sort();

  it('answers every Evidence as a searchset Bundle with absolute fullUrls on the public URL', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/Evidence');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const entries = [...(res.body.entry as Json[])].sort((a, b) => String(a['fullUrl']).localeCompare(String(b['fullUrl'])));
    expect({ ...res.body, entry: entries }).toEqual({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 6,
      link: [{ relation: 'self', url: `${BASE}/Evidence` }],
      entry: EVIDENCE_IDS.map((id) => ({
        fullUrl: `${BASE}/Evidence/${id}`,
        resource: served(join(POLICY_DIR, 'evidence', `Evidence-${id}.json`)),
        search: { mode: 'match' },
      })),
    });
  });

  it('finds the PlanDefinition by canonical url, and by url and version', async () => {
    const { app } = testApp();
    const byUrl = await request(app).get('/fhir/PlanDefinition').query({ url: PLAN_URL });
    expect(byUrl.body.total).toBe(1);
    expect(ids(byUrl)).toEqual(['ccp-1247']);
    const byVersion = await request(app).get('/fhir/PlanDefinition').query({ url: PLAN_URL, version: '2025.07' });
    expect(byVersion.body.total).toBe(1);
    expect(ids(byVersion)).toEqual(['ccp-1247']);
    expect(byVersion.body.link).toEqual([{ relation: 'self', url: `${BASE}/PlanDefinition?url=${encodeURIComponent(PLAN_URL)}&version=2025.07` }]);
    const otherVersion = await request(app).get('/fhir/PlanDefinition').query({ url: PLAN_URL, version: '2016.07' });
    expect(otherVersion.body.total).toBe(0);
  });

  it('answers a search that matches nothing with total 0 and no entries', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/Evidence?version=1999');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 0,
      link: [{ relation: 'self', url: `${BASE}/Evidence?version=1999` }],
    });
  });

  it('matches name case-insensitively at the start of the name only', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/PlanDefinition?name=percutaneous');
    expect(res.body.total).toBe(1);
    expect(ids(res)).toEqual(['ccp-1247']);
    expect(res.body.entry[0].fullUrl).toBe(`${BASE}/PlanDefinition/ccp-1247`);
    expect(ids(await request(app).get('/fhir/PlanDefinition?name=PERCUTANEOUSSACRO'))).toEqual(['ccp-1247']);
    expect((await request(app).get('/fhir/PlanDefinition?name=sacroplasty')).body.total).toBe(0);
  });

  it('matches any of comma-separated _id values', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/Evidence?_id=ccp-1247-chandra-2019,ccp-1247-briggs-2023');
    expect(res.body.total).toBe(2);
    expect(ids(res)).toEqual(['ccp-1247-briggs-2023', 'ccp-1247-chandra-2019']);
  });

  it('filters by status', async () => {
    const { app } = testApp();
    const active = await request(app).get('/fhir/ActivityDefinition?status=active');
    expect(active.body.total).toBe(6);
    expect(ids(active)).toEqual([
      'ccp-1247-home-heat-cold', 'ccp-1247-injection-therapy', 'ccp-1247-low-impact-exercise',
      'ccp-1247-non-narcotic-analgesic', 'ccp-1247-physical-therapy', 'ccp-1247-surgical-fixation',
    ]);
    expect((await request(app).get('/fhir/ActivityDefinition?status=retired')).body.total).toBe(0);
  });

  it('ANDs different parameters together', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/Evidence?_id=ccp-1247-chandra-2019,ccp-1247-briggs-2023&status=retired');
    expect(res.body.total).toBe(0);
  });
});

describe('ValueSet/$expand', () => {
  const vsFile = join(POLICY_DIR, 'ValueSet-ccp-1247-sacroplasty.json');
  const codes = [
    { system: CPT, code: '0200T' }, { system: CPT, code: '0201T' },
    { system: HCPCS_CRD, code: '0200T' }, { system: HCPCS_CRD, code: '0201T' },
    { system: ICD10PCS, code: '0QU13JZ' }, { system: ICD10PCS, code: '0QU14JZ' },
  ];

  it('expands the sacroplasty ValueSet by id: 6 codes', async () => {
    const { app } = testApp();
    const res = await request(app).get('/fhir/ValueSet/ccp-1247-sacroplasty/$expand');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual(served(vsFile));
    expect(res.body.resourceType).toBe('ValueSet');
    expect(res.body.expansion.total).toBe(6);
    expect((res.body.expansion.contains as Json[]).map((c) => ({ system: c['system'], code: c['code'] }))).toEqual(codes);
  });

  it('expands by canonical url the same way', async () => {
    const { app } = testApp();
    const byId = await request(app).get('/fhir/ValueSet/ccp-1247-sacroplasty/$expand');
    const byUrl = await request(app).get('/fhir/ValueSet/$expand').query({ url: VS_URL });
    expect(byUrl.status).toBe(200);
    expect(byUrl.body).toEqual(byId.body);
  });

  it('answers 404 for a url no ValueSet has', async () => {
    const { app } = testApp();
    expectOutcome(await request(app).get('/fhir/ValueSet/$expand').query({ url: 'https://example.org/ValueSet/none' }), 404, 'not-found');
  });

  it('answers 400 for a parameter it does not support, and without a url', async () => {
    const { app } = testApp();
    expectOutcome(await request(app).get('/fhir/ValueSet/ccp-1247-sacroplasty/$expand?count=3'), 400, 'invalid');
    expectOutcome(await request(app).get('/fhir/ValueSet/$expand').query({ url: VS_URL, filter: '0200' }), 400, 'invalid');
    expectOutcome(await request(app).get('/fhir/ValueSet/$expand'), 400, 'invalid');
  });
});

describe('errors are OperationOutcomes', () => {
  it.each([
    ['an unknown type', '/fhir/Patient/1', 404, 'not-found'],
    ['an unknown id', '/fhir/PlanDefinition/no-such-plan', 404, 'not-found'],
    ['an unknown Evidence', '/fhir/Evidence/ccp-1247-nobody-2030', 404, 'not-found'],
    ['a search of an unknown type', '/fhir/Patient?name=x', 404, 'not-found'],
    ['an unknown search parameter', '/fhir/Evidence?subject=Patient/1', 400, 'invalid'],
    ['an empty search parameter', '/fhir/Evidence?status=', 400, 'invalid'],
    ['a read with parameters', '/fhir/PlanDefinition/ccp-1247?status=active', 400, 'invalid'],
  ])('GET for %s (%s) answers %d', async (_what, path, status, code) => {
    const { app } = testApp();
    expectOutcome(await request(app).get(path), status, code);
  });

  it.each([
    ['post', '/fhir/ValueSet'],
    ['put', '/fhir/ValueSet/x'],
    ['delete', '/fhir/PlanDefinition/ccp-1247'],
    ['patch', '/fhir/PlanDefinition/ccp-1247'],
  ] as const)('%s %s answers 405 with Allow: the endpoint is read-only', async (method, path) => {
    const { app } = testApp();
    const res = await request(app)[method](path).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ resourceType: 'ValueSet', id: 'x', status: 'draft' }));
    expectOutcome(res, 405, 'not-supported');
    expect(res.headers['allow']).toBe('GET, HEAD');
  });

  it('a write does not change what a read answers', async () => {
    const { app } = testApp();
    await request(app).put('/fhir/PlanDefinition/ccp-1247').send({ resourceType: 'PlanDefinition', id: 'ccp-1247', status: 'retired' });
    await request(app).delete('/fhir/PlanDefinition/ccp-1247');
    const res = await request(app).get('/fhir/PlanDefinition/ccp-1247');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('active');
  });
});

/** Parameters for $apply: subject, practitioner, encounter and a data Bundle of the given resources. */
function applyParameters(resources: Json[]): Json {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'subject', valueReference: { reference: 'Patient/p1' } },
      { name: 'practitioner', valueReference: { reference: 'Practitioner/d1' } },
      { name: 'encounter', valueReference: { reference: 'Encounter/e1' } },
      { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) } },
    ],
  };
}

const physicalTherapyOrder = (): Json => serviceRequest('pt1', { coding: [{ system: CPT, code: '97161', display: 'Physical therapy evaluation: low complexity' }] });
const bilateralSacroplasty = (): Json => sacroplasty('sr2', {
  code: { coding: [{ system: CPT, code: '0201T', display: 'Percutaneous sacral augmentation (sacroplasty), bilateral injections' }] },
});

describe('PlanDefinition/$apply: errors', () => {
  const post = (path: string, body: unknown): request.Test =>
    request(testApp().app).post(path).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
  const APPLY = '/fhir/PlanDefinition/ccp-1247/$apply';
  const data = { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: sacroplasty() }] } };
  const subject = { name: 'subject', valueString: 'Patient/p1' };

  it.each([
    ['a body that is not Parameters', { resourceType: 'Bundle', type: 'collection', entry: [] }],
    ['Parameters without a parameter list', { resourceType: 'Parameters' }],
    ['no subject', { resourceType: 'Parameters', parameter: [data] }],
    ['a subject that is not a Patient', { resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: 'Practitioner/d1' }, data] }],
    ['a subject that is not a reference', { resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: 'p1' }, data] }],
    ['no data', { resourceType: 'Parameters', parameter: [subject] }],
    ['data that is not a Bundle', { resourceType: 'Parameters', parameter: [subject, { name: 'data', resource: sacroplasty() }] }],
    ['a data order without an id', { resourceType: 'Parameters', parameter: [subject, { name: 'data', resource: { resourceType: 'Bundle', entry: [{ resource: { ...sacroplasty(), id: undefined } }] } }] }],
  ])('answers 400 for %s', async (_what, body) => {
    expectOutcome(await post(APPLY, body), 400, 'invalid');
  });

  it('answers 404 on an unknown PlanDefinition', async () => {
    expectOutcome(await post('/fhir/PlanDefinition/no-such-plan/$apply', applyParameters([sacroplasty()])), 404, 'not-found');
  });
});

/** One card's worth of decision, comparable between a RequestGroup and a CDS Hooks response. */
interface CardView {
  title: string | undefined;
  priority: string | undefined;
  suggestions: Array<{ title: string | undefined; creates: unknown[]; removes: Array<string | undefined> }>;
}
interface CoverageView { resource: string; covered: unknown; reason: unknown }
interface OrderView { order: string; cards: CardView[]; coverage: CoverageView[] }

/** CDS Hooks indicator → RequestGroup priority (the cdshooks-indicator ConceptMap read forwards). */
const PRIORITY: Record<string, string> = { info: 'routine', warning: 'urgent', critical: 'asap' };

/** What an order resource orders: code, codeCodeableConcept or medicationCodeableConcept. */
function orderedCode(resource: Json | undefined): unknown {
  return resource?.['code'] ?? resource?.['codeCodeableConcept'] ?? resource?.['medicationCodeableConcept'];
}

/** The CRD coverage-information extension's covered and reason. */
function coverageOf(resource: Json | undefined): { covered: unknown; reason: unknown } {
  const ext = (resource?.['extension'] as Extension[] | undefined)?.find((e) => e.url === COVERAGE_INFO_URL);
  const part = (url: string): Extension | undefined => ext?.extension?.find((e) => e.url === url);
  return { covered: part('covered')?.valueCode, reason: part('reason')?.valueCodeableConcept };
}

const actionType = (a: RequestGroupAction): string | undefined => a.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;
const isCoverageInfo = (a: RequestGroupAction): boolean => !!a.code?.some((c) => c.coding?.some((x) => x.system === CARD_TYPE_SYSTEM && x.code === 'coverage-info'));

/** Views by order; a card about several orders (a policy card) is in each of their views. */
function viewsOf(): { viewOf: (order: string) => OrderView; all: () => OrderView[] } {
  const byOrder = new Map<string, OrderView>();
  return {
    viewOf: (order) => byOrder.get(order) ?? byOrder.set(order, { order, cards: [], coverage: [] }).get(order) as OrderView,
    all: () => [...byOrder.values()].sort((a, b) => a.order.localeCompare(b.order)),
  };
}

function fromRequestGroup(rg: RequestGroup): OrderView[] {
  const contained = new Map((rg.contained ?? []).map((r) => [`#${r.id ?? ''}`, r as unknown as Json]));
  const views = viewsOf();
  for (const group of rg.action ?? []) {
    const orders = (group.extension ?? []).filter((e) => e.url === ASSOCIATED).map((e) => e.valueReference?.reference ?? '(none)');
    for (const child of group.action ?? []) {
      if (isCoverageInfo(child)) {
        const updated = contained.get(child.resource?.reference ?? '');
        for (const order of orders) views.viewOf(order).coverage.push({ resource: `${String(updated?.['resourceType'])}/${String(updated?.['id'])}`, ...coverageOf(updated) });
        continue;
      }
      for (const order of orders) views.viewOf(order).cards.push({
        title: child.title,
        priority: child.priority,
        suggestions: (child.action ?? []).map((s) => ({
          title: s.title,
          creates: (s.action ?? []).filter((a) => actionType(a) === 'create').map((a) => orderedCode(contained.get(a.resource?.reference ?? ''))),
          removes: (s.action ?? []).filter((a) => actionType(a) === 'remove').map((a) => a.resource?.reference),
        })),
      });
    }
  }
  return views.all();
}

function fromHookResponse(response: HookResponse): OrderView[] {
  const views = viewsOf();
  for (const card of response.cards) {
    const associated = (card.extension?.['davinci-crd.associated-resource'] as Array<{ reference: string }> | undefined) ?? [];
    for (const { reference } of associated) views.viewOf(reference).cards.push({
      title: card.summary,
      priority: PRIORITY[card.indicator],
      suggestions: (card.suggestions ?? []).map((s) => ({
        title: s.label,
        creates: (s.actions ?? []).filter((a) => a.type === 'create').map((a) => orderedCode(a.resource as unknown as Json)),
        removes: (s.actions ?? []).filter((a) => a.type === 'delete').map((a) => a.resourceId),
      })),
    });
  }
  for (const action of response.systemActions ?? []) {
    const updated = action.resource as unknown as Json;
    const reference = `${String(updated['resourceType'])}/${String(updated['id'])}`;
    views.viewOf(reference).coverage.push({ resource: reference, ...coverageOf(updated) });
  }
  return views.all();
}

describe('PlanDefinition/$apply agrees with the order-sign cards', () => {
  const orders = (): Json[] => [sacroplasty('sr1'), bilateralSacroplasty(), physicalTherapyOrder()];
  let fromApply: OrderView[];
  let fromCards: OrderView[];
  let requestGroup: RequestGroup;

  beforeAll(async () => {
    const hook = await request(testApp().app).post('/cds-services/order-sign-crd')
      .send(hookRequest('order-sign', orders(), { prefetch: { coverage: coverageBundle() } }));
    expect(hook.status).toBe(200);
    const coverage = (coverageBundle()['entry'] as Array<{ resource: Json }>)[0]!.resource;
    const applied = await request(testApp().app).post('/fhir/PlanDefinition/ccp-1247/$apply')
      .set('Content-Type', 'application/fhir+json').send(JSON.stringify(applyParameters([...orders(), coverage])));
    expect(applied.status).toBe(200);
    expect(applied.headers['content-type']).toMatch(/^application\/fhir\+json/);
    requestGroup = applied.body as RequestGroup;
    fromApply = fromRequestGroup(requestGroup);
    fromCards = fromHookResponse(hook.body as HookResponse);
  });

  it('answers a RequestGroup for the patient that instantiates the plan', () => {
    expect(requestGroup).toMatchObject({
      resourceType: 'RequestGroup',
      instantiatesCanonical: [`${PLAN_URL}|2025.07`],
      status: 'draft',
      intent: 'proposal',
      subject: { reference: 'Patient/p1' },
      authoredOn: NOW.toISOString(),
    });
  });

  it('decides on both sacroplasty orders and not on the physical therapy order', () => {
    expect(fromApply.map((v) => v.order)).toEqual(['ServiceRequest/sr1', 'ServiceRequest/sr2']);
    for (const view of fromApply) {
      expect(view.cards).toHaveLength(3);
      expect(view.cards[0]!.suggestions).toHaveLength(6);
      expect(view.coverage).toEqual([{
        resource: view.order,
        covered: 'not-covered',
        reason: { text: 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)' },
      }]);
    }
  });

  it('offers the same cards, suggestions, created orders and coverage decision as the hook (which also decides the PT order, under the default rule)', () => {
    expect(fromApply).toEqual(fromCards.filter((v) => v.order !== 'ServiceRequest/pt1'));
    expect(fromCards.find((v) => v.order === 'ServiceRequest/pt1')).toEqual({ order: 'ServiceRequest/pt1', cards: [], coverage: [{ resource: 'ServiceRequest/pt1', covered: 'covered', reason: expect.any(Object) }] });
  });

  it('creates the covered alternatives with their codes', () => {
    const creates = fromApply[0]!.cards[0]!.suggestions.map((s) => (s.creates[0] as { coding: Array<{ code: string }> }).coding[0]!.code);
    expect(creates).toEqual(['97161', 'E0210', '229065009', '161', '64483', '27216']);
    expect(fromApply[1]!.cards[0]!.suggestions.every((s) => s.removes.length === 1 && s.removes[0] === 'ServiceRequest/sr2')).toBe(true);
  });

  it('answers a RequestGroup with no action for an order that is not sacroplasty', async () => {
    const res = await request(testApp().app).post('/fhir/PlanDefinition/ccp-1247/$apply')
      .set('Content-Type', 'application/fhir+json').send(JSON.stringify(applyParameters([physicalTherapyOrder(), (coverageBundle()['entry'] as Array<{ resource: Json }>)[0]!.resource])));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      resourceType: 'RequestGroup',
      id: expect.any(String),
      instantiatesCanonical: [`${PLAN_URL}|2025.07`],
      status: 'draft',
      intent: 'proposal',
      subject: { reference: 'Patient/p1' },
      authoredOn: NOW.toISOString(),
    });
  });
});

describe('the R4 knowledge is also valid FHIR R4B (the endpoint declares 4.3.0)', () => {
  const validator = new FhirSchemaValidator();
  const r4Files = readdirSync(POLICY_DIR).filter((f) => /^(PlanDefinition|ValueSet|ActivityDefinition|CodeSystem)-.*\.json$/.test(f)).sort();

  it('covers every R4 type the knowledge holds', () => {
    expect(r4Files).toHaveLength(9);
    expect(new Set(r4Files.map((f) => f.split('-')[0]))).toEqual(new Set(['ActivityDefinition', 'CodeSystem', 'PlanDefinition', 'ValueSet']));
  });

  it.each(r4Files)('%s validates against the R4B schema', (file) => {
    const resource = readJson(join(POLICY_DIR, file)) as { resourceType: string };
    expect(validator.validate(resource, 'R4B')).toEqual([]);
  });

  it('rejects an element R4B does not have, so the check can fail', () => {
    const plan = readJson(join(POLICY_DIR, 'PlanDefinition-ccp-1247.json')) as { resourceType: string };
    expect(validator.validate({ ...plan, colour: 'red' } as { resourceType: string }, 'R4B')).toEqual([{ path: 'PlanDefinition', message: 'unknown element "colour"' }]);
  });

  it('serves a CapabilityStatement and $apply RequestGroup that are valid R4B', async () => {
    const { app } = testApp();
    const metadata = await request(app).get('/fhir/metadata');
    expect(validator.validate(metadata.body as { resourceType: string }, 'R4B')).toEqual([]);
    const applied = await request(app).post('/fhir/PlanDefinition/ccp-1247/$apply').set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify(applyParameters([sacroplasty('sr1'), (coverageBundle()['entry'] as Array<{ resource: Json }>)[0]!.resource])));
    expect(applied.body.resourceType).toBe('RequestGroup');
    expect(validator.validate(applied.body as { resourceType: string }, 'R4B')).toEqual([]);
  });
});
