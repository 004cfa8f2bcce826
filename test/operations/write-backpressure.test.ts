/**
 * Issue 13, case 5: one order-sign carrying far more decisions than storage takes from one call (60,000 in the
 * report) filled the 50,000-row queue, and the queue then dropped 10,003 writes — another caller's acknowledged
 * assertion among them. Now a call over STORAGE_MAX_ROWS_PER_CALL is refused whole with 413 before anything is
 * queued, and every other caller's acknowledged id is stored. Runs on PostgreSQL when TEST_DATABASE_URL is set,
 * else on the embedded PGlite.
 */
import { randomUUID } from 'node:crypto';
import {
  SIGN, agent, buildOnce, hookBody, http, pollUntil, removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, storageFor,
} from './harness';
import { parsePrometheus, valueOf } from './prometheus';
import { startLoad } from './ledger-load';

jest.setTimeout(240_000);

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const MAX_ROWS_PER_CALL = 1_000;

let cleanup: () => Promise<void> = () => Promise.resolve();

afterAll(async () => {
  await stopAllReplicas();
  agent.destroy();
  await cleanup();
  removeTempDirs();
});

describe('write backpressure', () => {
  it('a call with more decisions than one call may store gets 413, and no other caller loses an acknowledged id', async () => {
    await buildOnce();
    const storage = await storageFor('backpressure');
    cleanup = storage.cleanup;
    const replica = await startReplica({ name: 'backpressure', env: { ...storage.env, ADMIN_TOKEN, STORAGE_MAX_ROWS_PER_CALL: String(MAX_ROWS_PER_CALL) } });
    const load = startLoad(replica.url, { workers: 4 });
    await pollUntil('50 acknowledged calls', () => Promise.resolve(load.result.acknowledged.length >= 50 ? true : undefined), 30_000, 5);

    // 1,200 sacroplasty orders: one coverage decision each, over the per-call limit.
    const orders = Array.from({ length: 1_200 }, (_, i) => sacroplastyOrder(`sr-sacro-${i}`));
    const big = await http('POST', `${replica.url}${SIGN}`, { body: hookBody('order-sign', orders), timeoutMs: 30_000 });
    expect(big.status).toBe(413);
    expect(big.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'too-costly', diagnostics: expect.stringContaining(`at most ${MAX_ROWS_PER_CALL}`) }] });

    const before = load.result.acknowledged.length;
    await pollUntil('50 more acknowledged calls', () => Promise.resolve(load.result.acknowledged.length >= before + 50 ? true : undefined), 30_000, 5);
    const result = await load.stop();
    // Under load a call may wait past STORAGE_COMMIT_WAIT_MS: then it is a 503 with Retry-After and no id — never
    // a 200 whose id is missing, never another status.
    expect(Object.keys(result.statuses).filter((s) => s !== '200' && s !== '503')).toEqual([]);
    expect(result.withoutRetryAfter).toBe(0);
    for (const { id } of result.acknowledged) {
      const res = await http('GET', `${replica.url}/admin/assertions/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect({ id, status: res.status }).toEqual({ id, status: 200 });
    }
    const metrics = parsePrometheus((await http('GET', `${replica.url}/metrics`)).text);
    expect(valueOf(metrics, 'cds_storage_queue_dropped')).toBe(0);
  });
});
