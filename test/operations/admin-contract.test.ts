/**
 * The payer staff API gives the same record whichever database the service runs on: a decision made on the embedded
 * default (PGlite) and the same decision made on PostgreSQL read back from GET /admin/assertions/{id} as the same
 * JSON, field for field (only the ids and times of the two calls differ). Claims and appeals staff read this record;
 * moving a deployment from one backend to the other must not change what they see.
 */
import { randomUUID } from 'node:crypto';
import {
  PG_URL, SIGN, agent, buildOnce, createSchema, decisionsOf, diagnostics, hookBody, http, physicalTherapyOrder, removeTempDirs,
  sacroplastyOrder, startReplica, stopAllReplicas,
} from './harness';
import type { HookResponse, Replica, TestSchema } from './harness';

jest.setTimeout(240_000);

type Json = Record<string, unknown>;
const ADMIN_TOKEN = `admin-${randomUUID()}`;
/** One member-hash key for both deployments (as replicas share one): the member is the same keyed hash on both. */
const MEMBER_HASH_KEY = `member-key-${randomUUID()}`;
/** The member's keyed hash (HMAC-SHA-256 of the Coverage reference): 64 hex digits, never the reference itself. */
const MEMBER = expect.stringMatching(/^[0-9a-f]{64}$/);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** What staff read for each order of one order-sign call: the not-covered sacroplasty, then the default decision. */
async function recordsOf(replica: Replica): Promise<Json[]> {
  const hookInstance = randomUUID();
  const res = await http('POST', `${replica.url}${SIGN}`, { body: hookBody('order-sign', [sacroplastyOrder(), physicalTherapyOrder()], { hookInstance }) });
  expect({ status: res.status, why: res.status === 200 ? '' : diagnostics(res) }).toEqual({ status: 200, why: '' });
  const records: Json[] = [];
  for (const d of decisionsOf(res.json<HookResponse>())) {
    const read = await http('GET', `${replica.url}/admin/assertions/${d.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(read.status).toBe(200);
    records.push(read.json<Json>());
  }
  // The call's own ids and time, replaced so two calls compare: everything else must be equal.
  return records.map((r) => ({ ...r, assertionId: UUID.test(String(r['assertionId'])) ? '<id>' : r['assertionId'], hookInstance: r['hookInstance'] === hookInstance ? '<hookInstance>' : r['hookInstance'], decidedAt: ISO.test(String(r['decidedAt'])) ? '<time>' : r['decidedAt'] }));
}

const EXPECTED: Json[] = [
  {
    assertionId: '<id>', hookInstance: '<hookInstance>', decidedAt: '<time>',
    serviceId: 'order-sign-crd', orderReference: 'ServiceRequest/sr-sacro-1', covered: 'not-covered', plan: 'AmeriHealth Caritas VIP Care', memberHash: MEMBER,
    reasonText: 'Investigational / not medically necessary per AmeriHealth Caritas VIP Care clinical policy CCP.1247 (percutaneous sacroplasty)',
    billingCodes: [{ system: 'http://www.ama-assn.org/go/cpt', code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }],
    policy: 'https://knowledge.vipcare.example/fhir/PlanDefinition/ccp-1247|2025.07',
  },
  {
    assertionId: '<id>', hookInstance: '<hookInstance>', decidedAt: '<time>',
    serviceId: 'order-sign-crd', orderReference: 'ServiceRequest/sr-pt-1', covered: 'covered', paNeeded: 'no-auth', plan: 'AmeriHealth Caritas VIP Care', memberHash: MEMBER,
    reasonText: 'No AmeriHealth Caritas VIP Care clinical policy restricts this service: regular plan benefits, limits and cost sharing apply, and no prior authorization is required.',
    billingCodes: [],
    policy: 'https://knowledge.vipcare.example/fhir/PlanDefinition/payer-default|2026.12',
  },
];

describe('GET /admin/assertions/{id}: one record, whichever database', () => {
  let embedded: Replica;
  let postgres: Replica | undefined;
  let schema: TestSchema | undefined;

  beforeAll(async () => {
    await buildOnce();
    embedded = await startReplica({ name: 'admin-pglite', env: { ADMIN_TOKEN, MEMBER_HASH_KEY } });
    if (PG_URL) {
      schema = await createSchema('admin_contract');
      postgres = await startReplica({ name: 'admin-postgres', env: { ADMIN_TOKEN, MEMBER_HASH_KEY, DATABASE_URL: schema.url } });
    }
  }, 230_000);

  afterAll(async () => {
    await stopAllReplicas();
    agent.destroy();
    await schema?.drop();
    removeTempDirs();
  });

  it('on the embedded default: exactly the decision as made (with pa-needed), its policy version, service and call, the member only as a keyed hash', async () => {
    const records = await recordsOf(embedded);
    expect(records).toEqual(EXPECTED);
    expect(JSON.stringify(records)).not.toContain('cov-p1');
  });

  (PG_URL ? it : it.skip)(`on PostgreSQL: the same record, field for field${PG_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, async () => {
    expect(await recordsOf(postgres!)).toEqual(await recordsOf(embedded));
  });
});
