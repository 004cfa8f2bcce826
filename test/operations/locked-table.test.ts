/**
 * Issue 13, case 4: the `feedback` table locked (an operator's LOCK TABLE, a long migration) while EHRs call.
 * Before, feedback calls hung ~14 s (no statement or lock timeout), the pool of 10 was exhausted and /admin
 * answered 500. Now every connection has lock_timeout, so a feedback call blocked by the lock is answered 503
 * with Retry-After within about DATABASE_LOCK_TIMEOUT_MS; the hook path commits on its own pool and keeps
 * answering 200; the admin API answers what does not need the locked table and 503s what does — never a 500.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  SIGN, agent, buildOnce, createSchema, decisionsOf, describePg, hookBody, http, removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas,
} from './harness';
import type { HookResponse, TestSchema } from './harness';

jest.setTimeout(120_000);

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const FEEDBACK = '/cds-services/sacroplasty-order-sign/feedback';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

const item = (n: number): Record<string, unknown> => ({ card: randomUUID(), outcome: 'accepted', outcomeTimestamp: `2026-11-23T10:${String(n % 60).padStart(2, '0')}:00Z` });

describePg('a locked feedback table', () => {
  let schema: TestSchema | undefined;
  let locker: Client | undefined;

  beforeAll(async () => {
    await buildOnce();
    schema = await createSchema('locked');
  });
  afterAll(async () => {
    await locker?.end().catch(() => undefined);
    await stopAllReplicas();
    agent.destroy();
    await schema?.drop();
    removeTempDirs();
  });

  it('feedback gets 503 + Retry-After instead of hanging; hooks keep committing on their own pool; /admin never answers 500', async () => {
    const replica = await startReplica({ name: 'locked', env: { DATABASE_URL: schema!.url, ADMIN_TOKEN, DATABASE_LOCK_TIMEOUT_MS: '500' } });
    locker = new Client({ connectionString: schema!.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE');
    try {
      // More feedback calls than the general pool has connections, all at once.
      const feedback = await Promise.all(Array.from({ length: 12 }, (_, i) => http('POST', `${replica.url}${FEEDBACK}`, { body: { feedback: [item(i)] }, timeoutMs: 5000 })));
      for (const res of feedback) {
        expect({ status: res.status, retryAfter: res.headers['retry-after'] }).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
        expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
      }
      // The hook path commits its assertions meanwhile (coverage_assertions is not locked, and its pool is its own).
      const hooks = await Promise.all(Array.from({ length: 10 }, () => http('POST', `${replica.url}${SIGN}`, { body: hookBody('order-sign', [sacroplastyOrder()]) })));
      expect(hooks.map((h) => h.status)).toEqual(Array.from({ length: 10 }, () => 200));
      const id = decisionsOf(hooks[0]!.json<HookResponse>())[0]!.id;
      // The admin API: a decision lookup works; the report, which reads feedback, is a 503 with Retry-After.
      const lookup = await http('GET', `${replica.url}/admin/assertions/${id}`, { headers: admin });
      expect(lookup.status).toBe(200);
      const report = await http('GET', `${replica.url}/admin/report?format=json`, { headers: admin });
      expect({ status: report.status, retryAfter: report.headers['retry-after'] }).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
    } finally {
      await locker.query('COMMIT');
    }
    const after = await http('POST', `${replica.url}${FEEDBACK}`, { body: { feedback: [item(59)] } });
    expect(after.status).toBe(200);
    expect(replica.logs.some((l) => l.msg === 'unhandled error')).toBe(false);
  });
});
