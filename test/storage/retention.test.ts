import './native-pglite';
import type { Database } from '../../src/storage/database';
import { SqlFeedbackStore } from '../../src/storage/feedback-store';
import { SqlReplayStore } from '../../src/storage/replay-store';
import { purgeOlderThan, startRetentionJob } from '../../src/storage/retention';
import type { PurgeCounts } from '../../src/storage/retention';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll } from './backends';
import type { TestBackend } from './backends';
import { assertionRow, auditRow, insertAssertions, insertAudit } from './fixtures';

const NOW = new Date('2026-11-23T12:00:00.000Z');
const daysAgo = (d: number): string => new Date(NOW.getTime() - d * 86_400_000).toISOString();

async function count(db: Database, table: string): Promise<number> {
  return Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n);
}

describe.each(BACKENDS)('retention on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'retention');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  beforeEach(async () => {
    await truncateAll(db);
    await insertAudit(db, [auditRow(daysAgo(400), {}), auditRow(daysAgo(366), {}), auditRow(daysAgo(10), {})]);
    await insertAssertions(db, [assertionRow('old', daysAgo(500), 'covered', ['0200T']), assertionRow('new', daysAgo(1), 'covered', ['0200T'])]);
    const feedback = new SqlFeedbackStore({ db });
    await feedback.add([
      { serviceId: 's', card: 'old', outcome: 'accepted', acceptedSuggestions: [], outcomeTimestamp: daysAgo(370), receivedAt: daysAgo(370) },
      { serviceId: 's', card: 'new', outcome: 'accepted', acceptedSuggestions: [], outcomeTimestamp: daysAgo(2), receivedAt: daysAgo(2) },
    ]);
    const replay = new SqlReplayStore(db, () => NOW.getTime() - 3_600_000);
    await replay.claim('iss', 'expired', new Date(NOW.getTime() - 60_000));
    await replay.claim('iss', 'live', new Date(NOW.getTime() + 60_000));
  });
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('purges rows older than the cutoff and expired jtis, and keeps the rest', async () => {
    expect(await purgeOlderThan(db, 365, NOW)).toEqual({ audit: 2, feedback: 1, assertions: 1, replay: 1 });
    expect(await count(db, 'invocation_audit')).toBe(1);
    expect(await count(db, 'feedback')).toBe(1);
    expect((await db.query<{ assertion_id: string }>('SELECT assertion_id FROM coverage_assertions')).rows).toEqual([{ assertion_id: 'new' }]);
    expect((await db.query<{ jti: string }>('SELECT jti FROM jti_replay')).rows).toEqual([{ jti: 'live' }]);
    expect(await purgeOlderThan(db, 365, NOW)).toEqual({ audit: 0, feedback: 0, assertions: 0, replay: 0 });
  });

  it('refuses a retention that is not a positive number of days', async () => {
    await expect(purgeOlderThan(db, 0, NOW)).rejects.toThrow(/positive/);
    expect(() => startRetentionJob(db, Number.NaN, 1000)).toThrow(/positive/);
  });

  it('the job purges at start and stops cleanly', async () => {
    const purged: PurgeCounts[] = [];
    const stop = startRetentionJob(db, 365, 3_600_000, { now: () => NOW, onPurged: (c) => purged.push(c) });
    await stop(); // resolves after the purge that started with the job
    expect(purged).toEqual([{ audit: 2, feedback: 1, assertions: 1, replay: 1 }]);
  });
});
