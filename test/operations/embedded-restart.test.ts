/**
 * The embedded default (PGlite in DATA_DIR, no DATABASE_URL) survives a restart: a decision made before a SIGTERM
 * is readable after the service starts again on the same DATA_DIR, and SIGTERM alone ends the process (PGlite,
 * which otherwise holds the event loop, is closed by the graceful stop).
 */
import {
  SIGN, agent, buildOnce, decisionsOf, hookBody, http, removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, tempDir,
} from './harness';
import type { HookResponse, Replica } from './harness';

jest.setTimeout(240_000);

const ADMIN_TOKEN = `admin-${Math.random().toString(36).slice(2)}`;
const EXIT_DEADLINE_MS = 15_000;

let dataDir: string;
let first: Replica;
let assertionId: string;

beforeAll(async () => {
  await buildOnce();
  dataDir = tempDir('embedded');
}, 200_000);

afterAll(async () => {
  await stopAllReplicas();
  agent.destroy();
  removeTempDirs();
});

describe('the embedded database (PGlite) across a graceful restart', () => {
  it('answers an order-sign and records its decision', async () => {
    first = await startReplica({ name: 'embedded-1', dataDir, env: { ADMIN_TOKEN } });
    expect(first.logs.find((l) => l.msg === 'storage ready')?.['backend']).toBe('pglite');
    const res = await http('POST', `${first.url}${SIGN}`, { body: hookBody('order-sign', [sacroplastyOrder()]) });
    expect(res.status).toBe(200);
    const decisions = decisionsOf(res.json<HookResponse>());
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ covered: 'not-covered', code: '0200T' });
    assertionId = decisions[0]!.id;
  });

  it('exits by itself on SIGTERM (queue flushed, PGlite closed)', async () => {
    expect(assertionId).toBeDefined();
    // Sent at once: whatever is still queued must be flushed by the graceful stop.
    const stopped = await first.stop(EXIT_DEADLINE_MS);
    expect({ killed: stopped.killed, code: stopped.code, signal: stopped.signal }).toEqual({ killed: false, code: 0, signal: null });
    expect(first.logs.some((l) => l.msg === 'shutting down: finishing in-flight requests')).toBe(true);
    expect(first.logs.filter((l) => /not fully drained|unwritten items/.test(String(l.msg)))).toEqual([]);
  });

  it('starts again on the same DATA_DIR and finds the decision', async () => {
    const second = await startReplica({ name: 'embedded-2', dataDir, env: { ADMIN_TOKEN } });
    // The data directory was initialised by the first start: no migration is applied again.
    expect(second.logs.find((l) => l.msg === 'database ready')?.['applied']).toEqual([]);
    const res = await http('GET', `${second.url}/admin/assertions/${assertionId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({
      assertionId,
      covered: 'not-covered',
      orderReference: 'ServiceRequest/sr-sacro-1',
      serviceId: 'order-sign-crd',
      billingCodes: [expect.objectContaining({ code: '0200T' })],
    });
    const stopped = await second.stop(EXIT_DEADLINE_MS);
    expect(stopped).toEqual({ killed: false, code: 0, signal: null });
  });
});
