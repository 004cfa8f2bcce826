/**
 * PostgreSQL goes away under a running replica: a TCP proxy between the replica and PostgreSQL is cut (listener
 * closed, every connection destroyed), as a failover or a network partition looks to the client. Issue 13:
 * - case 2: the cut under traffic never crashes the process (pg clients emit 'error' on a dead socket);
 * - durable before acknowledged: while the database cannot commit, an order-sign is answered 503 with
 *   Retry-After and an OperationOutcome — never a coverage-assertion id that may vanish; every id answered 200
 *   is in PostgreSQL afterwards;
 * - case 3: SIGTERM during the outage waits the bounded drain and logs exactly which rows were not written
 *   (none of them acknowledged), and exits non-zero;
 * - case 7: with authentication on, a jti that cannot be decided against the shared store is refused with 503,
 *   not accepted from one replica's memory.
 */
import { randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import {
  PG_URL, SIGN, agent, buildOnce, createSchema, decisionsOf, describePg, diagnostics, hookBody, http, newHookInstance, pollUntil,
  removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, tempDir,
} from './harness';
import type { HookResponse, HttpResponse, Replica, TestSchema } from './harness';
import { startLoad } from './ledger-load';
import { startTcpProxy } from './tcp-proxy';
import type { TcpProxy } from './tcp-proxy';

jest.setTimeout(240_000);

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const PUBLIC_URL = 'http://payer.test';
/** How long the service may take to use the database again once it is back (its retry backoff is at most 1 s). */
const RECOVERY_MS = 15_000;
const DRAIN_MS = 1_500;

let schema: TestSchema | undefined;
let proxy: TcpProxy | undefined;
let proxiedUrl: string;

async function sign(replica: Replica, headers: Record<string, string> = {}): Promise<HttpResponse & { hookInstance: string }> {
  const hookInstance = newHookInstance();
  const res = await http('POST', `${replica.url}${SIGN}`, { headers, body: hookBody('order-sign', [sacroplastyOrder()], { hookInstance }), timeoutMs: 5000 });
  return { ...res, hookInstance };
}

/** An order-sign answered 200 with its coverage decision; returns the assertion id. */
async function signed(replica: Replica, headers: Record<string, string> = {}): Promise<string> {
  const res = await sign(replica, headers);
  expect(res.status).toBe(200);
  const decisions = decisionsOf(res.json<HookResponse>());
  expect(decisions).toEqual([expect.objectContaining({ covered: 'not-covered', code: '0200T' })]);
  return decisions[0]!.id;
}

/** An order-sign refused because storage cannot commit: 503, Retry-After, an OperationOutcome and no decision. */
async function refused(replica: Replica, headers: Record<string, string> = {}): Promise<void> {
  const res = await sign(replica, headers);
  expect({ status: res.status, retryAfter: res.headers['retry-after'] }).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
  expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] });
  expect(res.text).not.toMatch(/coverage-assertion-id/);
}

async function missing(ids: string[]): Promise<string[]> {
  const rows = await schema!.query<{ assertion_id: string }>('SELECT assertion_id FROM coverage_assertions WHERE assertion_id = ANY($1::text[])', [ids]);
  const stored = new Set(rows.map((r) => r.assertion_id));
  return ids.filter((id) => !stored.has(id));
}

const waitReady = (replica: Replica): Promise<boolean> =>
  pollUntil('/readyz 200 after the outage', async () => ((await http('GET', `${replica.url}/readyz`)).status === 200 ? true : undefined), RECOVERY_MS);

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
  }, 230_000);

  afterEach(() => proxy?.restore());
  afterAll(async () => {
    await proxy?.restore();
    await stopAllReplicas();
    await proxy?.close();
    agent.destroy();
    await schema?.drop();
    removeTempDirs();
  });

  it('a connection cut under traffic never crashes the process: every call is 200 (committed) or 503 with Retry-After', async () => {
    const replica = await startReplica({ name: 'outage-cut', env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN } });
    const load = startLoad(replica.url, { workers: 8 });
    await pollUntil('100 acknowledged calls before the cut', () => Promise.resolve(load.result.acknowledged.length >= 100 ? true : undefined), 30_000, 5);
    await proxy!.cut();
    await pollUntil('calls refused during the cut', () => Promise.resolve((load.result.statuses[503] ?? 0) >= 20 ? true : undefined), 30_000, 20);
    expect(replica.running()).toBe(true);
    const ready = await http('GET', `${replica.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.json<{ checks: Record<string, string> }>().checks['database']).not.toBe('ok');

    await proxy!.restore();
    const before = load.result.acknowledged.length;
    await pollUntil('calls acknowledged again after the cut', () => Promise.resolve(load.result.acknowledged.length >= before + 100 ? true : undefined), RECOVERY_MS, 20);
    const result = await load.stop();

    expect(replica.running()).toBe(true);
    // 200 or 503, nothing else: no connection dropped by a crash (0), no 500.
    expect(Object.keys(result.statuses).sort()).toEqual(['200', '503']);
    expect(result.withoutRetryAfter).toBe(0);
    expect(await missing(result.acknowledged.map((a) => a.id))).toEqual([]);
    await pollUntil('"PostgreSQL connection lost" in the log', () => Promise.resolve(replica.logs.some((l) => /PostgreSQL connection lost/.test(String(l.msg))) ? true : undefined), 10_000);
    await waitReady(replica);
  });

  it('while the database is cut an order-sign is refused with 503 + Retry-After, never given an id; it answers 200 again once the database is back', async () => {
    const replica = await startReplica({ name: 'outage-refuse', env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN } });
    const before = await signed(replica);
    await proxy!.cut();
    for (let i = 0; i < 3; i++) await refused(replica);
    // Discovery needs no database.
    expect((await http('GET', `${replica.url}/cds-services`)).status).toBe(200);
    await proxy!.restore();
    await waitReady(replica);
    const after = await signed(replica);
    expect(await missing([before, after])).toEqual([]);
    // The log line may still be on its way through the child's stdout pipe.
    await pollUntil('"write queue recovered" in the log', () => Promise.resolve(replica.logs.some((l) => l.msg === 'write queue recovered') ? true : undefined), 10_000);
  });

  it('SIGTERM during the outage waits the bounded drain, logs exactly which rows were not written (none acknowledged), and exits 1', async () => {
    const replica = await startReplica({ name: 'outage-sigterm', env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN, SHUTDOWN_DRAIN_MS: String(DRAIN_MS) } });
    const acknowledged = [await signed(replica), await signed(replica)];
    await proxy!.cut();
    for (let i = 0; i < 4; i++) await refused(replica);
    const stopped = await replica.stop(30_000);
    if (stopped.code !== 1) process.stderr.write(replica.output());
    expect(stopped).toEqual({ killed: false, code: 1, signal: null });
    const report = replica.logs.find((l) => /^shutdown: rows not written/.test(String(l.msg)));
    // The four refused calls' audit rows (written behind, after their 503) are what could not be written.
    expect(report).toMatchObject({ unwritten: { invocation_audit: 4 }, remaining: 4, acknowledged: 0, drainMs: DRAIN_MS });
    await proxy!.restore();
    expect(await missing(acknowledged)).toEqual([]);
  });

  it('with authentication on, a jti that cannot be decided against the shared store is refused with 503, and a replayed token stays refused', async () => {
    const client = await ensureDevClient(tempDir('dev-client'));
    const privateJwk: JWK = client.privateJwk;
    const bearer = async (): Promise<Record<string, string>> => ({ authorization: `Bearer ${await devToken(privateJwk, `${PUBLIC_URL}${SIGN}`)}` });
    const secured = await startReplica({ name: 'outage-auth', env: { DATABASE_URL: proxiedUrl, ADMIN_TOKEN, CDS_CLIENTS: client.clientsFile, CDS_PUBLIC_URL: PUBLIC_URL } });
    const used = await bearer();
    await signed(secured, used);

    await proxy!.cut();
    const during = await bearer();
    const res = await sign(secured, during);
    expect({ status: res.status, retryAfter: res.headers['retry-after'] }).toEqual({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });

    await proxy!.restore();
    await waitReady(secured);
    const replay = await sign(secured, used);
    expect(replay.status).toBe(401);
    expect(diagnostics(replay)).toMatch(/replay/i);
    await signed(secured, await bearer());
  });
});
