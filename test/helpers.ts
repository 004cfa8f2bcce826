/**
 * Shared test fixtures: the app built on the real knowledge with a pinned clock and deterministic ids, request
 * builders shaped like what EHRs send, and a real HTTP FHIR server on a loopback port.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import pino from 'pino';
import type { Express } from 'express';
import { createApp } from '../src/app';
import type { AppDeps } from '../src/app';
import { loadConfig } from '../src/config';
import type { AppConfig } from '../src/config';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import type { KnowledgeBase } from '../src/knowledge/knowledge-base';
import { MemoryFeedbackStore } from '../src/cds/feedback-store';

export const ROOT = resolve(__dirname, '..');
export const KNOWLEDGE_DIR = resolve(ROOT, 'fhir-resources');
export const SERVICES_DIR = resolve(ROOT, 'cds-services');
/** "Today" in tests: before the policy's next review (11/2026 → overdue from 2026-12-01). */
export const NOW = new Date('2026-11-23T12:00:00.000Z');

export const CPT = 'http://www.ama-assn.org/go/cpt';
export const HCPCS = 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets';
/** HCPCS as Da Vinci CRD's value sets spell it (the NamingSystem's preferred URI): what the service sends. */
export const HCPCS_CRD = 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets';
export const CPT_OID = 'urn:oid:2.16.840.1.113883.6.12';
export const ICD10PCS = 'http://www.cms.gov/Medicare/Coding/ICD10';
export const COVERAGE_INFO_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
/** The payer's CRD services: one per hook for the whole catalog (cds-services/). */
export const SIGN = '/cds-services/order-sign-crd';
export const SELECT = '/cds-services/order-select-crd';
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const CARD_TYPE = 'http://terminology.hl7.org/CodeSystem/cdshooks-card-type';

let cached: KnowledgeBase | undefined;
/** The real knowledge in fhir-resources/ and cds-services/, loaded once per test file. */
export function realKnowledge(): KnowledgeBase {
  cached ??= loadKnowledge({ knowledgeDir: KNOWLEDGE_DIR, servicesDir: SERVICES_DIR, now: NOW });
  return cached;
}

/** Deterministic UUIDs: 00000000-0000-4000-8000-000000000001, …002, … */
export function sequentialIds(): () => string {
  let n = 0;
  return () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

export const silentLogger = pino({ level: 'silent' });

export interface TestApp {
  app: Express;
  feedback: MemoryFeedbackStore;
  config: AppConfig;
}

/** The app as `npm start` builds it, with a pinned clock and sequential ids. */
export function testApp(options: { env?: Record<string, string>; knowledge?: KnowledgeBase; deps?: Partial<AppDeps> } = {}): TestApp {
  const config = loadConfig({ CDS_PUBLIC_URL: 'https://payer.example', ...options.env });
  const feedback = new MemoryFeedbackStore();
  // PAYER_IDENTIFIERS add to the payer Organization of the knowledge, as the server's start does.
  const knowledge = options.knowledge ?? (config.payerIdentifiers.length > 0 || config.allowDraft
    ? loadKnowledge({ knowledgeDir: KNOWLEDGE_DIR, servicesDir: SERVICES_DIR, now: NOW, payerIdentifiers: config.payerIdentifiers, allowDraft: config.allowDraft })
    : realKnowledge());
  const app = createApp({
    config,
    knowledge,
    logger: silentLogger,
    feedback,
    now: () => NOW,
    newId: sequentialIds(),
    ...options.deps,
  });
  return { app, feedback, config };
}

type Json = Record<string, unknown>;

/** A draft ServiceRequest with the given codings and/or text. */
export function serviceRequest(id: string, code: { coding?: Json[]; text?: string }, extra: Json = {}): Json {
  return {
    resourceType: 'ServiceRequest', id, status: 'draft', intent: 'order', code,
    subject: { reference: 'Patient/p1' }, requester: { reference: 'Practitioner/d1' }, authoredOn: '2026-11-23T11:00:00Z', ...extra,
  };
}

/** A sacroplasty order coded CPT 0200T. */
export const sacroplasty = (id = 'sr1', extra: Json = {}): Json =>
  serviceRequest(id, { coding: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] }, extra);

/** The member's active Coverage with this plan, as a searchset Bundle (the CRD `coverage` prefetch). */
export function coverageBundle(id = 'c1', payor: Json[] = [{ display: 'AmeriHealth Caritas VIP Care' }]): Json {
  return { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Coverage', id, status: 'active', beneficiary: { reference: 'Patient/p1' }, payor } }] };
}

export const patient = (): Json => ({ resourceType: 'Patient', id: 'p1', birthDate: '1948-03-02', gender: 'female' });

/** A hook request as an EHR sends it; order-select selects every order unless `selections` is given. */
export function hookRequest(hook: 'order-select' | 'order-sign', orders: Json[], options: { selections?: string[]; prefetch?: Json | null; extra?: Json; context?: Json } = {}): Json {
  const context: Json = {
    userId: 'Practitioner/d1', patientId: 'p1', encounterId: 'e1',
    draftOrders: { resourceType: 'Bundle', type: 'collection', entry: orders.map((resource) => ({ resource })) },
    ...(hook === 'order-select' ? { selections: options.selections ?? orders.map((o) => `${String(o['resourceType'])}/${String(o['id'])}`) } : {}),
    ...options.context,
  };
  const req: Json = {
    hook, hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', fhirServer: 'http://127.0.0.1:9/fhir', context,
    ...options.extra,
  };
  if (options.prefetch !== null) req['prefetch'] = options.prefetch ?? { patient: patient(), coverage: coverageBundle() };
  return req;
}

export interface FhirTestServer {
  url: string;
  /** Every request the server saw: method, url and the Authorization header. */
  requests: Array<{ method: string; url: string; authorization?: string }>;
  close: () => Promise<void>;
}

/** A real HTTP server on 127.0.0.1:<random port> that answers with `handler` (a small FHIR server for tests). */
export async function startFhirServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<FhirTestServer> {
  const requests: FhirTestServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/fhir`,
    requests,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/**
 * Starts loopback FHIR servers for the tests of the enclosing describe and closes them after each test. Call it
 * after the describe's own afterEach hooks: jest runs a block's afterEach hooks in the order they are declared.
 */
export function fhirServersClosedAfterEach(): (handler: Parameters<typeof startFhirServer>[0]) => Promise<FhirTestServer> {
  const servers: FhirTestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (handler) => {
    const s = await startFhirServer(handler);
    servers.push(s);
    return s;
  };
}

/** Answers FHIR JSON. */
export function sendFhir(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

/** The payer's default decision (fhir-resources/payer/PlanDefinition-payer-default.json) for orders no policy governs. */
export const DEFAULT_REASON = 'No AmeriHealth Caritas VIP Care clinical policy restricts this service: regular plan benefits, limits and cost sharing apply, and no prior authorization is required.';

/**
 * The system action an order no policy governs gets on order-sign: the order unchanged, plus the default decision
 * (covered, no prior authorization) under the member's Coverage, decided on NOW.
 */
export function defaultDecisionAction(order: Json, coverage = 'Coverage/c1'): Json {
  const reference = `${String(order['resourceType'])}/${String(order['id'])}`;
  return {
    type: 'update',
    description: `Record AmeriHealth Caritas VIP Care's coverage decision on ${reference} (Da Vinci CRD coverage-information)`,
    resource: {
      ...order,
      extension: [...((order['extension'] as Json[] | undefined) ?? []), {
        url: COVERAGE_INFO_URL,
        extension: [
          { url: 'coverage', valueReference: { reference: coverage } },
          { url: 'covered', valueCode: 'covered' },
          { url: 'pa-needed', valueCode: 'no-auth' },
          { url: 'reason', valueCodeableConcept: { text: DEFAULT_REASON } },
          { url: 'date', valueDate: '2026-11-23' },
          { url: 'coverage-assertion-id', valueString: expect.stringMatching(UUID_PATTERN) },
        ],
      }],
    },
  };
}

/**
 * The coverage-information extension for the CRD outcomes that are not a policy decision (no Coverage to point
 * at): `covered` with a reason coded in CRD's temp code system, for a 0200T sacroplasty order decided on NOW.
 */
export function outcomeCoverageInformation(covered: 'not-covered' | 'indeterminate', reasonCode: string, text: string): Json {
  return {
    url: COVERAGE_INFO_URL,
    extension: [
      { url: 'coverage', valueReference: { display: text } },
      { url: 'covered', valueCode: covered },
      { url: 'billingCode', valueCoding: { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' } },
      { url: 'reason', valueCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp', code: reasonCode }], text } },
      { url: 'date', valueDate: '2026-11-23' },
      { url: 'coverage-assertion-id', valueString: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/) },
    ],
  };
}
