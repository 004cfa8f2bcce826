/**
 * Issue 13, case 7, on the embedded database (where the process's memory decides jti claims): a token is accepted
 * only when its jti can be decided against every claim made before, across restarts.
 * - A jti used just before `kill -9` was accepted again after the restart (its claim was written behind). Now each
 *   claim is committed before the call is answered.
 * - After a graceful restart, a token used seconds earlier was accepted while the database was still opening (the
 *   check waited only 500 ms, then decided from an empty memory). Now the call is refused with 503 + Retry-After
 *   until the earlier claims are loaded, and the replay is refused (401) after.
 */
import type { JWK } from 'jose';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import {
  SIGN, agent, buildOnce, diagnostics, hookBody, http, removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, tempDir,
} from './harness';
import type { HttpResponse, Replica } from './harness';

jest.setTimeout(240_000);

const PUBLIC_URL = 'http://payer.test';

let privateJwk: JWK;
let env: Record<string, string>;

const bearer = async (): Promise<Record<string, string>> => ({ authorization: `Bearer ${await devToken(privateJwk, `${PUBLIC_URL}${SIGN}`)}` });
const sign = (replica: Replica, headers: Record<string, string>): Promise<HttpResponse> =>
  http('POST', `${replica.url}${SIGN}`, { headers, body: hookBody('order-sign', [sacroplastyOrder()]), timeoutMs: 10_000 });

beforeAll(async () => {
  await buildOnce();
  const client = await ensureDevClient(tempDir('replay-client'));
  privateJwk = client.privateJwk;
  env = { CDS_CLIENTS: client.clientsFile, CDS_PUBLIC_URL: PUBLIC_URL };
});

afterAll(async () => {
  await stopAllReplicas();
  agent.destroy();
  removeTempDirs();
});

describe('jti replay across restarts (embedded PGlite)', () => {
  it('a token used just before kill -9 is refused after the restart', async () => {
    const dataDir = tempDir('replay-kill');
    const first = await startReplica({ name: 'replay-kill-1', dataDir, env });
    const used = await Promise.all(Array.from({ length: 5 }, () => bearer()));
    const answers = await Promise.all(used.map((headers) => sign(first, headers)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    await first.kill9(); // at once: no drain, no close

    const second = await startReplica({ name: 'replay-kill-2', dataDir, env });
    for (const headers of used) {
      const replay = await sign(second, headers);
      expect(replay.status).toBe(401);
      expect(diagnostics(replay)).toMatch(/replay/i);
    }
    expect((await sign(second, await bearer())).status).toBe(200);
  });

  it('while the restarted service is still loading earlier claims, a used token is never accepted: 503 + Retry-After, then 401', async () => {
    const dataDir = tempDir('replay-reopen');
    const first = await startReplica({ name: 'replay-reopen-1', dataDir, env });
    const used = await bearer();
    expect((await sign(first, used)).status).toBe(200);
    expect((await first.stop()).code).toBe(0);

    // As soon as it listens, before /readyz: the database is still opening.
    const second = await startReplica({ name: 'replay-reopen-2', dataDir, env, waitReady: false });
    const early = await sign(second, used);
    expect([401, 503]).toContain(early.status);
    if (early.status === 503) {
      expect(early.headers['retry-after']).toMatch(/^\d+$/);
      expect(early.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
    }
    // Once loaded, the replay is refused as such.
    let late: HttpResponse;
    for (late = await sign(second, used); late.status === 503; late = await sign(second, used)) await new Promise((r) => setTimeout(r, 50));
    expect(late.status).toBe(401);
    expect(diagnostics(late)).toMatch(/replay/i);
  });

  it('/readyz is 200 only once authenticated calls can be decided: before, its checks say what is not ready yet', async () => {
    const dataDir = tempDir('replay-ready');
    const first = await startReplica({ name: 'replay-ready-1', dataDir, env });
    expect((await sign(first, await bearer())).status).toBe(200);
    expect((await first.stop()).code).toBe(0);

    const second = await startReplica({ name: 'replay-ready-2', dataDir, env, waitReady: false });
    const notReady: unknown[] = [];
    for (;;) {
      const ready = await http('GET', `${second.url}/readyz`, { timeoutMs: 10_000 });
      if (ready.status === 200) {
        expect(ready.json()).toEqual({ status: 'ready', checks: { knowledge: 'ok', database: 'ok' } });
        break;
      }
      expect(ready.status).toBe(503);
      notReady.push(ready.json<{ checks: unknown }>().checks);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Every not-ready answer named a check that is not ok (the database opening, or the jti memory loading).
    for (const checks of notReady) expect(Object.values(checks as Record<string, string>).some((v) => v !== 'ok')).toBe(true);
    // Ready means ready: the next authenticated call is decided, never a 503 for storage still loading.
    const answer = await sign(second, await bearer());
    expect(answer.status).toBe(200);
  });
});
