import './native-pglite';
import type { FeedbackRecord } from '../../src/cds/feedback-store';
import type { Database } from '../../src/storage/database';
import { SqlFeedbackStore } from '../../src/storage/feedback-store';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll } from './backends';
import type { TestBackend } from './backends';

const item = (n: number, extra: Partial<FeedbackRecord> = {}): FeedbackRecord => ({
  serviceId: 'sacroplasty-crd-order-sign',
  card: `card-${n}`,
  outcome: n % 2 ? 'overridden' : 'accepted',
  acceptedSuggestions: n % 2 ? [] : [`alt-${n % 5}`],
  ...(n % 2 ? { overrideReason: { system: 'http://example.org/reasons', code: `r${n % 3}`, display: `Reason ${n % 3}` } } : {}),
  outcomeTimestamp: new Date(Date.UTC(2026, 10, 23, 10, 0, n % 60, n)).toISOString(),
  receivedAt: '2026-11-23T12:00:00.000Z',
  ...extra,
});

describe.each(BACKENDS)('SqlFeedbackStore on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;
  let store: SqlFeedbackStore;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'feedback');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  beforeEach(async () => {
    await truncateAll(db);
    store = new SqlFeedbackStore({ db });
  });
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('round-trips feedback items as the endpoint records them', async () => {
    const accepted = item(0);
    const overridden = { ...item(1), userComment: 'Patient declined' };
    const bare: FeedbackRecord = { serviceId: 's', card: 'c', outcome: 'overridden', acceptedSuggestions: [], outcomeTimestamp: '2026-11-23T10:05:00Z', receivedAt: '2026-11-23T12:00:01Z' };
    await store.add([accepted, overridden]);
    await store.add([bare]);
    expect(await store.list()).toEqual([accepted, overridden, { ...bare, outcomeTimestamp: '2026-11-23T10:05:00.000Z', receivedAt: '2026-11-23T12:00:01.000Z' }]);
  });

  it('stores a retried item once, however the timestamp is written', async () => {
    await store.add([item(1)]);
    await store.add([{ ...item(1), receivedAt: '2026-11-23T12:00:05.000Z' }]);
    await store.add([{ ...item(1), outcomeTimestamp: item(1).outcomeTimestamp.replace('Z', '+00:00') }]);
    // A different override reason on the same card is a different item.
    await store.add([{ ...item(1), overrideReason: { code: 'other' } }]);
    expect(await store.list()).toHaveLength(2);
  });

  it('stores each item exactly once under 1,000 concurrent adds that include duplicates', async () => {
    const distinct = 250;
    const adds = Array.from({ length: 1000 }, (_, i) => {
      // Each add posts 1–3 items; every distinct item is posted several times, in different orders and batches.
      const ids = [i % distinct, (i * 7 + 3) % distinct, (i * 13 + 5) % distinct].slice(0, 1 + (i % 3));
      return store.add(ids.map((n) => item(n, { receivedAt: new Date(Date.UTC(2026, 10, 23, 12, 0, 0, i)).toISOString() })));
    });
    await Promise.all(adds);
    const stored = await store.list();
    expect(stored).toHaveLength(distinct);
    expect(new Set(stored.map((r) => r.card)).size).toBe(distinct);
  }, 60_000);

  it('lists at most listLimit of the most recent items, oldest first', async () => {
    await store.add([0, 1, 2, 3].map((n) => item(n, { receivedAt: `2026-11-23T12:00:0${n}.000Z` })));
    const limited = new SqlFeedbackStore({ db, listLimit: 2 });
    expect((await limited.list()).map((r) => r.card)).toEqual(['card-2', 'card-3']);
  });
});
