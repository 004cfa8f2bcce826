/**
 * Two replicas on one PostgreSQL, as docker-compose runs them: authentication on (the ES384 dev EHR), one public
 * URL, one member-hash key, one database schema. What one replica saw the other must honour: a jti used on A is
 * refused on B, feedback posted to both lands once per item, and a decision made on A is readable on B.
 */
import { randomUUID } from 'node:crypto';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import type { JWK } from 'jose';
import {
  SIGN, agent, buildOnce, createSchema, decisionsOf, describePg, diagnostics, hookBody, http, pollUntil, removeTempDirs,
  sacroplastyOrder, startReplica, stopAllReplicas, tempDir,
} from './harness';
import type { HookResponse, Replica, TestSchema } from './harness';

jest.setTimeout(240_000);

/** Both replicas are configured with this public URL: token audiences are checked against it, not the Host header. */
const PUBLIC_URL = 'http://payer.test';
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const MEMBER_HASH_KEY = randomUUID();
const FEEDBACK = `${SIGN}/feedback`;
const OVERRIDE_SYSTEM = 'https://knowledge.vipcare.example/fhir/CodeSystem/ccp-override-reason';

let schema: TestSchema | undefined;
let privateJwk: JWK;
let a: Replica;
let b: Replica;

const bearer = async (path: string): Promise<Record<string, string>> => ({ authorization: `Bearer ${await devToken(privateJwk, `${PUBLIC_URL}${path}`)}` });

describePg('two replicas on one PostgreSQL', () => {
  beforeAll(async () => {
    await buildOnce();
    schema = await createSchema('replicas');
    const client = await ensureDevClient(tempDir('dev-client'));
    privateJwk = client.privateJwk;
    const env = {
      DATABASE_URL: schema.url,
      CDS_CLIENTS: client.clientsFile,
      CDS_PUBLIC_URL: PUBLIC_URL,
      MEMBER_HASH_KEY,
      ADMIN_TOKEN,
    };
    [a, b] = await Promise.all([startReplica({ name: 'replica-a', env }), startReplica({ name: 'replica-b', env })]);
    for (const r of [a, b]) expect(r.logs.find((l) => l.msg === 'storage ready')?.['backend']).toBe('postgres');
  }, 230_000);

  afterAll(async () => {
    await stopAllReplicas();
    agent.destroy();
    await schema?.drop();
    removeTempDirs();
  });

  it('refuses on replica B a token whose jti was used on replica A', async () => {
    const headers = await bearer(SIGN);
    const body = hookBody('order-sign', [sacroplastyOrder()]);
    const onA = await http('POST', `${a.url}${SIGN}`, { headers, body });
    expect(onA.status).toBe(200);
    expect(onA.json<HookResponse>().cards.length).toBeGreaterThan(0);

    const onB = await http('POST', `${b.url}${SIGN}`, { headers, body });
    expect(onB.status).toBe(401);
    expect(onB.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(diagnostics(onB)).toMatch(/replay/i);
    // The refusal came from the shared store, not B's memory: the jti is in PostgreSQL.
    const { jti } = JSON.parse(Buffer.from(headers['authorization']!.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
    const rows = await schema!.query('SELECT iss FROM jti_replay WHERE jti = $1', [jti]);
    expect(rows).toEqual([{ iss: 'https://dev-ehr.localhost' }]);

    // And B itself is fine: the same call with a fresh token is answered.
    const fresh = await http('POST', `${b.url}${SIGN}`, { headers: await bearer(SIGN), body });
    expect(fresh.status).toBe(200);
  });

  it('stores 1,000 concurrent feedback items posted to both replicas exactly once, with 100 retried duplicates', async () => {
    const DISTINCT = 1000;
    const DUPLICATES = 100;
    const base = Date.now() - 60 * 60_000;
    const items = Array.from({ length: DISTINCT }, (_, i) => {
      const overridden = i % 3 === 0;
      return {
        card: randomUUID(),
        outcome: overridden ? 'overridden' : 'accepted',
        ...(overridden ? { overrideReason: { reason: { system: OVERRIDE_SYSTEM, code: 'conservative-therapy-failed', display: 'Conservative therapy tried and failed' } } } : {}),
        outcomeTimestamp: new Date(base + i * 1000).toISOString(),
      };
    });
    // Every 10th item is posted twice (a client retrying a POST it did not see answered), to the other replica.
    const posts = [
      ...items.map((item, i) => ({ item, replica: i % 2 === 0 ? a : b })),
      ...items.filter((_, i) => i % 10 === 0).slice(0, DUPLICATES).map((item, k) => ({ item, replica: k % 2 === 0 ? b : a })),
    ];
    expect(posts).toHaveLength(DISTINCT + DUPLICATES);
    // Tokens first (each jti once), then every POST at once.
    const prepared = await Promise.all(posts.map(async (p) => ({ ...p, headers: await bearer(FEEDBACK) })));
    // A burst this size may exceed a replica's pools: such a POST is answered 503 with Retry-After (backpressure,
    // README "Running it as a payer"), and the client retries it after that delay with a fresh token.
    const post = async (p: (typeof prepared)[number]): Promise<{ status: number; text: string }> => {
      let headers = p.headers;
      for (let attempt = 1; ; attempt++) {
        const res = await http('POST', `${p.replica.url}${FEEDBACK}`, { headers, body: { feedback: [p.item] }, timeoutMs: 60_000 })
          .then((r) => ({ status: r.status, text: r.text, retryAfter: r.headers['retry-after'] }), (err: Error) => ({ status: 0, text: err.message, retryAfter: undefined }));
        if (res.status !== 503 || !res.retryAfter || attempt === 3) return { status: res.status, text: res.text };
        await new Promise((r) => setTimeout(r, Number(res.retryAfter) * 1000));
        headers = await bearer(FEEDBACK);
      }
    };
    const results = await Promise.all(prepared.map(post));
    const failed = results.filter((r) => r.status !== 200);
    expect(failed.slice(0, 5)).toEqual([]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(DISTINCT + DUPLICATES);

    const rows = await schema!.query<{ card: string; outcome: string }>('SELECT card, outcome FROM feedback');
    expect(rows).toHaveLength(DISTINCT);
    expect(new Set(rows.map((r) => r.card))).toEqual(new Set(items.map((i) => i.card)));
    const overridden = await schema!.query<{ n: number }>(`SELECT count(*)::int AS n FROM feedback WHERE outcome = 'overridden' AND override_code = 'conservative-therapy-failed'`);
    expect(overridden[0]!.n).toBe(items.filter((i) => i.outcome === 'overridden').length);
  });

  it('makes a decision on replica A readable on replica B (admin API and the details app API)', async () => {
    const res = await http('POST', `${a.url}${SIGN}`, { headers: await bearer(SIGN), body: hookBody('order-sign', [sacroplastyOrder('sr-replicated')]) });
    expect(res.status).toBe(200);
    const decisions = decisionsOf(res.json<HookResponse>());
    expect(decisions).toEqual([expect.objectContaining({ covered: 'not-covered', code: '0200T' })]);
    const id = decisions[0]!.id;

    const admin = await pollUntil(`assertion ${id} on replica B`, async () => {
      const r = await http('GET', `${b.url}/admin/assertions/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return r.status === 200 ? r : undefined;
    }, 5_000);
    expect(admin.json()).toMatchObject({
      assertionId: id,
      covered: 'not-covered',
      orderReference: 'ServiceRequest/sr-replicated',
      serviceId: 'order-sign-crd',
      billingCodes: [expect.objectContaining({ code: '0200T' })],
      // The member hash is the same on both replicas (shared MEMBER_HASH_KEY), and never the reference itself.
      memberHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    const decision = await http('GET', `${b.url}/smart/api/decisions/${id}`);
    expect(decision.status).toBe(200);
    expect(decision.json()).toMatchObject({ assertionId: id, order: 'ServiceRequest/sr-replicated', covered: 'not-covered', billingCodes: [expect.objectContaining({ code: '0200T' })] });

    // The same member decided on B hashes to the same value: the replicas share MEMBER_HASH_KEY.
    const onB = await http('POST', `${b.url}${SIGN}`, { headers: await bearer(SIGN), body: hookBody('order-sign', [sacroplastyOrder('sr-replicated-b')]) });
    const idB = decisionsOf(onB.json<HookResponse>())[0]!.id;
    const fromA = await pollUntil(`assertion ${idB} on replica A`, async () => {
      const r = await http('GET', `${a.url}/admin/assertions/${idB}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return r.status === 200 ? r : undefined;
    }, 5_000);
    expect(fromA.json<{ memberHash: string }>().memberHash).toBe(admin.json<{ memberHash: string }>().memberHash);

    // The admin API still wants its own token on B.
    expect((await http('GET', `${b.url}/admin/assertions/${id}`)).status).toBe(401);
  });
});
