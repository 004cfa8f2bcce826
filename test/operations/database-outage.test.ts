/**
 * PostgreSQL goes away under a running replica: a TCP proxy between the replica and PostgreSQL is cut (listener
 * closed, every connection destroyed) in the middle of a run of order-sign calls. The EHR must not notice — every
 * call is answered with its cards and coverage information — while /readyz and /metrics tell operations what is
 * wrong; when the database is back the write queue delivers what it held, and a graceful stop right after the
 * database returns loses nothing. With authentication on, the jti replay check falls back to the replica's memory
 * (FallbackReplayStore) so hooks keep answering.
 */
import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import {
  PG_URL, SIGN, agent, buildOnce, createSchema, decisionsOf, describePg, diagnostics, hookBody, http, newHookInstance, pollUntil,
  removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, tempDir,
} from './harness';
import type { HookResponse, Replica, TestSchema } from './harness';
import { parsePrometheus, valueOf } from './prometheus';
import { startTcpProxy } from './tcp-proxy';
import type { TcpProxy } from './tcp-proxy';

jest.setTimeout(240_000);

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const PUBLIC_URL = 'http://payer.test';
/** How long the write queue may take to deliver once the database is back (its backoff is short for a short outage). */
const RECOVERY_MS = 15_000;

let schema: TestSchema | undefined;
let proxy: TcpProxy | undefined;
let proxiedUrl: string;
let dataDir: string;
let open: Replica;

interface Made {
  id: string;
  hookInstance: string;
}

/** One order-sign on a sacroplasty: answered 200 within the request timeout, with cards and a coverage decision. */
async function sign(replica: Replica, headers: Record<string, string> = {}): Promise<Made> {
  const hookInstance = newHookInstance();
  const res = await http('POST', `${replica.url}${SIGN}`, { headers, body: hookBody('order-sign', [sacroplastyOrder()], { hookInstance }), timeoutMs: 5000 });
  expect(res.status).toBe(200);
  const body = res.json<HookResponse>();
  expect(body.cards.map((c) => c.source.topic?.code)).toEqual(['therapy-alternatives-req', 'guideline', 'guideline']);
  const decisions = decisionsOf(body);
  expect(decisions).toEqual([expect.objectContaining({ covered: 'not-covered', code: '0200T' })]);
  return { id: decisions[0]!.id, hookInstance };
}

async function storedAssertions(ids: string[]): Promise<string[]> {
  const rows = await schema!.query<{ assertion_id: string }>('SELECT assertion_id FROM coverage_assertions WHERE assertion_id = ANY($1::text[])', [ids]);
  return rows.map((r) => r.assertion_id).sort();
}

/** Audit rows per hookInstance (each call must be audited exactly once). */
async function auditCounts(hookInstances: string[]): Promise<Record<string, number>> {
  const rows = await schema!.query<{ hook_instance: string; n: number }>(
    'SELECT hook_instance, count(*)::int AS n FROM invocation_audit WHERE hook_instance = ANY($1::text[]) GROUP BY hook_instance', [hookInstances]);
  return Object.fromEntries(rows.map((r) => [r.hook_instance, r.n]));
}

const once = (made: Made[]): Record<string, number> => Object.fromEntries(made.map((m) => [m.hookInstance, 1]));
const sorted = (made: Made[]): string[] => made.map((m) => m.id).sort();

/** Waits until every decision and its audit row is in PostgreSQL. */
async function waitLanded(made: Made[], deadlineMs = RECOVERY_MS): Promise<void> {
  await pollUntil(`${made.length} assertions and audit rows in PostgreSQL`, async () => {
    const ids = await storedAssertions(made.map((m) => m.id));
    const audits = await auditCounts(made.map((m) => m.hookInstance));
    return ids.length === made.length && Object.keys(audits).length === made.length ? true : undefined;
  }, deadlineMs, 200);
  expect(await storedAssertions(made.map((m) => m.id))).toEqual(sorted(made));
  expect(await auditCounts(made.map((m) => m.hookInstance))).toEqual(once(made));
}

async function metrics(replica: Replica): Promise<ReturnType<typeof parsePrometheus>> {
  const res = await http('GET', `${replica.url}/metrics`);
  expect(res.status).toBe(200);
  return parsePrometheus(res.text);
}

/** Polls /metrics until the write queue has failed at least `n` flush attempts in all. */
async function waitFailedAttempts(replica: Replica, n: number): Promise<void> {
  await pollUntil(`the write queue to fail ${n} flush attempts`, async () => (valueOf(await metrics(replica), 'cds_storage_queue_failed_attempts') >= n ? true : undefined), 10_000, 100);
}

describePg('a PostgreSQL outage under a running replica', () => {
  beforeAll(async () => {
    await buildOnce();
    schema = await createSchema('outage');
    const target = new URL(PG_URL!);
    proxy = await startTcpProxy({ host: target.hostname || '127.0.0.1', port: Number(target.port || 5432) });
    const url = new URL(schema.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    proxiedUrl = url.toString();
    dataDir = tempDir('outage');
    open = await startReplica({ name: 'outage-open', dataDir, env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN } });
    expect(proxy.accepted()).toBeGreaterThan(0);
  }, 230_000);

  afterAll(async () => {
    await proxy?.restore();
    await stopAllReplicas();
    await proxy?.close();
    agent.destroy();
    await schema?.drop();
    removeTempDirs();
  });

  it('keeps answering order-sign while the database is cut, reports it, and delivers the queued writes when it is back', async () => {
    const before: Made[] = [];
    for (let i = 0; i < 5; i++) before.push(await sign(open));
    // Settled before the cut, so no write is caught mid-commit (which could be retried and audited twice).
    await waitLanded(before);

    await proxy!.cut();
    const during: Made[] = [];
    for (let i = 0; i < 10; i++) during.push(await sign(open));
    // Discovery, which needs no database, answers too.
    expect((await http('GET', `${open.url}/cds-services`)).status).toBe(200);

    const ready = await http('GET', `${open.url}/readyz`);
    expect(ready.status).toBe(503);
    const checks = ready.json<{ status: string; checks: Record<string, string> }>();
    expect(checks.status).toBe('not ready');
    expect(checks.checks['knowledge']).toBe('ok');
    expect(checks.checks['database']).not.toBe('ok');

    const m = await metrics(open);
    const depth = valueOf(m, 'cds_storage_queue_depth');
    const failedAttempts = valueOf(m, 'cds_storage_queue_failed_attempts');
    expect({ depth, failedAttempts, some: depth > 0 || failedAttempts > 0 }).toMatchObject({ some: true });
    expect(valueOf(m, 'cds_storage_queue_dropped')).toBe(0);
    // Let the queue try (and fail) at least once before the database returns, so recovery is from a retry.
    await waitFailedAttempts(open, failedAttempts + 1);
    // Nothing of the outage can have reached PostgreSQL.
    expect(await storedAssertions(during.map((d) => d.id))).toEqual([]);
    // The admin API still finds the decisions this replica holds in its queue.
    const pending = await http('GET', `${open.url}/admin/assertions/${during[0]!.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(pending.status).toBe(200);

    await proxy!.restore();
    const after: Made[] = [];
    for (let i = 0; i < 5; i++) after.push(await sign(open));
    await waitLanded([...during, ...after]);
    await pollUntil('/readyz 200 after the outage', async () => ((await http('GET', `${open.url}/readyz`)).status === 200 ? true : undefined), RECOVERY_MS);
    expect(open.logs.some((l) => l.msg === 'write queue flush failed; will retry')).toBe(true);
    expect(open.logs.some((l) => l.msg === 'write queue recovered')).toBe(true);
    const recovered = await metrics(open);
    expect(valueOf(recovered, 'cds_storage_queue_depth')).toBe(0);
    expect(valueOf(recovered, 'cds_storage_queue_failed_attempts')).toBeGreaterThan(0);
  });

  it('loses nothing queued during an outage when SIGTERM arrives right after the database returns', async () => {
    await proxy!.cut();
    const queued: Made[] = [];
    for (let i = 0; i < 8; i++) queued.push(await sign(open));
    expect(await storedAssertions(queued.map((q) => q.id))).toEqual([]);
    const m = await metrics(open);
    expect(valueOf(m, 'cds_storage_queue_depth')).toBeGreaterThan(0);
    // The queue is backing off after a failed flush when the database returns and SIGTERM arrives.
    await waitFailedAttempts(open, valueOf(m, 'cds_storage_queue_failed_attempts') + 1);

    await proxy!.restore();
    const stopped = await open.stop(20_000);
    expect(stopped).toEqual({ killed: false, code: 0, signal: null });
    expect(open.logs.filter((l) => /not fully drained|unwritten items/.test(String(l.msg)))).toEqual([]);
    // After exit: every assertion id the EHR was given, and every audit row, is in PostgreSQL.
    expect(await storedAssertions(queued.map((q) => q.id))).toEqual(sorted(queued));
    expect(await auditCounts(queued.map((q) => q.hookInstance))).toEqual(once(queued));

    // The restarted replica serves them.
    open = await startReplica({ name: 'outage-open-restarted', dataDir, env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN } });
    for (const q of queued) {
      const res = await http('GET', `${open.url}/admin/assertions/${q.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect({ id: q.id, status: res.status }).toEqual({ id: q.id, status: 200 });
    }
  });

  it('with authentication on, keeps answering hooks when the shared replay store is unreachable, and still refuses replays', async () => {
    const client = await ensureDevClient(tempDir('dev-client'));
    const privateJwk: JWK = client.privateJwk;
    const bearer = async (): Promise<Record<string, string>> => ({ authorization: `Bearer ${await devToken(privateJwk, `${PUBLIC_URL}${SIGN}`)}` });
    const secured = await startReplica({
      name: 'outage-auth',
      env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN, CDS_CLIENTS: client.clientsFile, CDS_PUBLIC_URL: PUBLIC_URL },
    });
    await sign(secured, await bearer());

    await proxy!.cut();
    const made: Made[] = [];
    const used: Array<Record<string, string>> = [];
    for (let i = 0; i < 5; i++) {
      const headers = await bearer();
      made.push(await sign(secured, headers));
      used.push(headers);
    }
    // A token replayed to this replica during the outage is still refused, from its own memory.
    const replay = await http('POST', `${secured.url}${SIGN}`, { headers: used[0]!, body: hookBody('order-sign', [sacroplastyOrder()]) });
    expect(replay.status).toBe(401);
    expect(diagnostics(replay)).toMatch(/replay/i);
    const m = await metrics(secured);
    expect(valueOf(m, 'cds_storage_write_failures_total', { what: 'replay' })).toBeGreaterThanOrEqual(5);
    expect(secured.logs.some((l) => /jti replay store unavailable/.test(String(l.msg)))).toBe(true);
    expect((await http('GET', `${secured.url}/readyz`)).status).toBe(503);

    await proxy!.restore();
    await pollUntil('/readyz 200 after the outage', async () => ((await http('GET', `${secured.url}/readyz`)).status === 200 ? true : undefined), RECOVERY_MS);
    made.push(await sign(secured, await bearer()));
    await waitLanded(made);
    // With the database back, the shared store answers again: a fresh token's jti is recorded there.
    const headers = await bearer();
    await sign(secured, headers);
    const { jti } = JSON.parse(Buffer.from(headers['authorization']!.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
    expect(await schema!.query('SELECT iss FROM jti_replay WHERE jti = $1', [jti])).toEqual([{ iss: 'https://dev-ehr.localhost' }]);
  });
});
