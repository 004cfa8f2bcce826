/**
 * What Prometheus scrapes from a running replica after real traffic (hook calls on both services, a feedback, a
 * refused token, the details app API): the request-duration histogram with its four labels, cards by type,
 * coverage decisions, feedback, the write queue, policies past review and the process metrics — and no label
 * value anywhere that carries a patient id, a token or another per-request value.
 */
import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import { loadKnowledge } from '../../src/knowledge/knowledge-base';
import { isPastReview } from '../../src/knowledge/policies';
import {
  ROOT, SELECT, SIGN, agent, buildOnce, decisionsOf, hookBody, http, physicalTherapyOrder, removeTempDirs, sacroplastyOrder, startReplica,
  stopAllReplicas, storageFor, tempDir,
} from './harness';
import type { HookResponse, Replica } from './harness';
import { parsePrometheus, samplesOf, valueOf } from './prometheus';
import type { Exposition } from './prometheus';

jest.setTimeout(240_000);

const PUBLIC_URL = 'http://payer.test';
/** A patient id nobody else uses, to look for in the exposition. */
const PATIENT = `pat-metrics-${randomUUID().slice(0, 8)}`;

let replica: Replica;
let privateJwk: JWK;
let cleanupStorage: () => Promise<void> = () => Promise.resolve();
let exposition: Exposition;
let scraped: string;
/** Per-request values that must never become label values. */
const secrets: string[] = [PATIENT];
const sent = { sign: 0, select: 0, signResponses: [] as HookResponse[], selectResponses: [] as HookResponse[] };

const bearer = async (path: string): Promise<Record<string, string>> => {
  const token = await devToken(privateJwk, `${PUBLIC_URL}${path}`);
  secrets.push(token, token.split('.')[2]!);
  return { authorization: `Bearer ${token}` };
};

function countTopics(responses: HookResponse[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of responses) for (const c of r.cards) out[c.source.topic?.code ?? 'untyped'] = (out[c.source.topic?.code ?? 'untyped'] ?? 0) + 1;
  return out;
}

beforeAll(async () => {
  await buildOnce();
  const storage = await storageFor('metrics');
  cleanupStorage = storage.cleanup;
  const client = await ensureDevClient(tempDir('dev-client'));
  privateJwk = client.privateJwk;
  replica = await startReplica({ name: 'metrics', env: { ...storage.env, CDS_CLIENTS: client.clientsFile, CDS_PUBLIC_URL: PUBLIC_URL } });

  for (let i = 0; i < 3; i++) {
    const hookInstance = randomUUID();
    secrets.push(hookInstance);
    const res = await http('POST', `${replica.url}${SIGN}`, { headers: await bearer(SIGN), body: hookBody('order-sign', [sacroplastyOrder(`sr-${i}`, PATIENT)], { patientId: PATIENT, hookInstance }) });
    expect(res.status).toBe(200);
    sent.sign++;
    sent.signResponses.push(res.json<HookResponse>());
  }
  // Nothing to say about physical therapy alone: 200, no cards.
  const pt = await http('POST', `${replica.url}${SIGN}`, { headers: await bearer(SIGN), body: hookBody('order-sign', [physicalTherapyOrder('sr-pt', PATIENT)], { patientId: PATIENT }) });
  expect(pt.status).toBe(200);
  expect(pt.json<HookResponse>().cards).toEqual([]);
  sent.sign++;
  sent.signResponses.push(pt.json<HookResponse>());
  for (let i = 0; i < 2; i++) {
    const res = await http('POST', `${replica.url}${SELECT}`, { headers: await bearer(SELECT), body: hookBody('order-select', [sacroplastyOrder(`sr-sel-${i}`, PATIENT)], { patientId: PATIENT }) });
    expect(res.status).toBe(200);
    sent.select++;
    sent.selectResponses.push(res.json<HookResponse>());
  }
  const card = sent.signResponses[0]!.cards[0]!;
  const feedback = await http('POST', `${replica.url}${SIGN}/feedback`, {
    headers: await bearer(`${SIGN}/feedback`),
    body: { feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: card.suggestions![0]!.uuid }], outcomeTimestamp: new Date().toISOString() }] },
  });
  expect(feedback.status).toBe(200);
  // A token minted for another URL is refused.
  const refused = await http('POST', `${replica.url}${SIGN}`, { headers: await bearer(SELECT), body: hookBody('order-sign', [sacroplastyOrder()], { patientId: PATIENT }) });
  expect(refused.status).toBe(401);
  // Paths with ids in them: the details app API, a FHIR read of a patient-like id, an unknown route.
  const id = decisionsOf(sent.signResponses[0]!)[0]!.id;
  secrets.push(id);
  expect((await http('GET', `${replica.url}/smart/api/decisions/${id}`)).status).toBe(200);
  expect((await http('GET', `${replica.url}/fhir/PlanDefinition/${PATIENT}`)).status).toBe(404);
  expect((await http('GET', `${replica.url}/no-such-route/${PATIENT}`)).status).toBe(404);

  const res = await http('GET', `${replica.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  scraped = res.text;
  exposition = parsePrometheus(scraped);
}, 230_000);

afterAll(async () => {
  await stopAllReplicas();
  agent.destroy();
  await cleanupStorage();
  removeTempDirs();
});

describe('/metrics of a running replica, scraped after real traffic', () => {
  it('has the request-duration histogram by route, service, hook and status, counting every call', () => {
    const name = 'cds_http_request_duration_seconds';
    expect(exposition.types.get(name)).toBe('histogram');
    const series = [...samplesOf(exposition, `${name}_bucket`), ...samplesOf(exposition, `${name}_sum`), ...samplesOf(exposition, `${name}_count`)];
    expect(series.length).toBeGreaterThan(0);
    for (const s of series) expect(Object.keys(s.labels).filter((k) => k !== 'le').sort()).toEqual(['hook', 'route', 'service', 'status']);

    const signLabels = { route: '/cds-services/:id', service: 'order-sign-crd', hook: 'order-sign', status: '200' };
    const selectLabels = { route: '/cds-services/:id', service: 'order-select-crd', hook: 'order-select', status: '200' };
    expect(valueOf(exposition, `${name}_count`, signLabels)).toBeGreaterThanOrEqual(sent.sign);
    expect(valueOf(exposition, `${name}_count`, selectLabels)).toBeGreaterThanOrEqual(sent.select);
    expect(valueOf(exposition, `${name}_count`, { route: '/cds-services/:id/feedback', service: 'order-sign-crd', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(exposition, `${name}_count`, { status: '401' })).toBeGreaterThanOrEqual(1);

    // A well-formed histogram: cumulative buckets, +Inf equal to the count.
    const buckets = samplesOf(exposition, `${name}_bucket`, signLabels);
    const values = buckets.map((b) => b.value);
    expect(values).toEqual([...values].sort((x, y) => x - y));
    expect(buckets.find((b) => b.labels['le'] === '+Inf')?.value).toBe(valueOf(exposition, `${name}_count`, signLabels));
    expect(valueOf(exposition, `${name}_sum`, signLabels)).toBeGreaterThan(0);
  });

  it('counts cards by type, coverage decisions and feedback', () => {
    expect(exposition.types.get('cds_cards_total')).toBe('counter');
    const signTopics = countTopics(sent.signResponses);
    expect(signTopics).toEqual({ 'therapy-alternatives-req': 3, guideline: 6 });
    expect(valueOf(exposition, 'cds_cards_total', { service: 'order-sign-crd', type: 'therapy-alternatives-req' })).toBe(signTopics['therapy-alternatives-req']);
    expect(valueOf(exposition, 'cds_cards_total', { service: 'order-sign-crd', type: 'guideline' })).toBe(signTopics['guideline']);
    for (const [type, n] of Object.entries(countTopics(sent.selectResponses))) {
      expect({ type, n: valueOf(exposition, 'cds_cards_total', { service: 'order-select-crd', type }) }).toEqual({ type, n });
    }

    const notCovered = sent.signResponses.flatMap(decisionsOf).filter((d) => d.covered === 'not-covered').length;
    expect(notCovered).toBe(3);
    expect(valueOf(exposition, 'cds_coverage_decisions_total', { service: 'order-sign-crd', covered: 'not-covered' })).toBe(notCovered);

    expect(valueOf(exposition, 'cds_feedback_total', { service: 'order-sign-crd', outcome: 'accepted' })).toBe(1);
    expect(samplesOf(exposition, 'cds_feedback_total', { outcome: 'overridden' }).reduce((n, s) => n + s.value, 0)).toBe(0);
    expect(valueOf(exposition, 'cds_auth_failures_total')).toBeGreaterThanOrEqual(1);
  });

  it('exposes the write queue, policies past review and the process metrics', () => {
    expect(exposition.types.get('cds_storage_queue_depth')).toBe('gauge');
    expect(valueOf(exposition, 'cds_storage_queue_depth')).toBeGreaterThanOrEqual(0);
    expect(valueOf(exposition, 'cds_storage_queue_dropped')).toBe(0);
    for (const name of ['cds_storage_queue_written', 'cds_storage_queue_failed_attempts']) expect(samplesOf(exposition, name)).toHaveLength(1);

    // The running service uses the real clock: the expected value is computed from the knowledge with the same
    // clock (0 until CCP.1247's next review, 11/2026, has passed; hard-coding 0 would break on 2026-12-01).
    const knowledge = loadKnowledge({ knowledgeDir: `${ROOT}/fhir-resources`, servicesDir: `${ROOT}/cds-services` });
    const pastReview = [...knowledge.policies.values()].filter((p) => isPastReview(p, new Date())).length;
    expect(valueOf(exposition, 'cds_knowledge_past_review')).toBe(pastReview);

    // prom-client's default process and Node.js metrics, under the service's prefix cds_.
    for (const name of ['cds_process_cpu_user_seconds_total', 'cds_process_resident_memory_bytes', 'cds_process_start_time_seconds', 'cds_process_open_fds', 'cds_nodejs_heap_size_used_bytes', 'cds_nodejs_eventloop_lag_seconds']) {
      expect({ name, present: samplesOf(exposition, name).length > 0 }).toEqual({ name, present: true });
    }
  });

  it('has no label value carrying a patient id, a token or any per-request value', () => {
    expect(secrets.length).toBeGreaterThan(10);
    const labelValues = new Set(exposition.samples.flatMap((s) => Object.values(s.labels)));
    const leaks = [...labelValues].filter((v) => secrets.some((secret) => v.includes(secret)) || /Bearer|eyJ|[0-9a-f]{8}-[0-9a-f]{4}-/.test(v));
    expect(leaks).toEqual([]);
    // Nor anywhere else in the exposition (help texts included).
    expect(secrets.filter((s) => scraped.includes(s))).toEqual([]);
    // Routes are patterns, never raw paths.
    const routes = new Set(exposition.samples.map((s) => s.labels['route']).filter((r): r is string => r !== undefined));
    expect([...routes].filter((r) => r !== 'unmatched' && !r.startsWith('/'))).toEqual([]);
    expect([...routes]).toEqual(expect.arrayContaining(['/cds-services/:id', '/cds-services/:id/feedback', '/smart/api/decisions/:id']));
  });
});
