import './native-pglite';
import type { StoredAssertion } from '../../src/cds/assertion-store';
import type { Database } from '../../src/storage/database';
import { SqlAssertionStore } from '../../src/storage/assertion-store';
import { memberHasher } from '../../src/storage/member-hash';
import { WriteQueue } from '../../src/storage/write-queue';
import { StorageTooLargeError, StorageUnavailableError } from '../../src/storage/unavailable';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll } from './backends';
import type { TestBackend } from './backends';

const KEY = 'test-member-hash-key-0123456789abcdef';
const CPT = 'http://www.ama-assn.org/go/cpt';

const assertion = (id: string, extra: Partial<StoredAssertion> = {}): StoredAssertion => ({
  assertionId: id,
  orderReference: 'ServiceRequest/sr1',
  coverage: { reference: 'Coverage/c1' },
  covered: 'conditional',
  reasonText: 'Criteria apply',
  reasonCode: 'criteria',
  billingCodes: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }],
  policy: 'http://payer.example/fhir/PlanDefinition/ccp-1247|2025.1',
  serviceId: 'sacroplasty-crd-order-sign',
  hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
  decidedAt: '2026-11-23T12:00:00.000Z',
  ...extra,
});

describe.each(BACKENDS)('SqlAssertionStore on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;
  let queue: WriteQueue;
  let store: SqlAssertionStore;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'assertions');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  beforeEach(async () => {
    await truncateAll(db);
    queue = new WriteQueue(db);
    store = new SqlAssertionStore({ db, queue, memberHashKey: KEY, planOf: () => 'AmeriHealth Caritas VIP Care' });
  });
  afterEach(() => queue.close(5_000));
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('round-trips an assertion: what the details app and claims quote', async () => {
    await store.save([assertion('a-1')]);
    const got = await store.get('a-1');
    // The Coverage reference is not kept; only its keyed hash is.
    expect(got).toEqual({ ...assertion('a-1'), coverage: {}, plan: 'AmeriHealth Caritas VIP Care', memberHash: memberHasher(KEY)({ reference: 'Coverage/c1' }) });
    expect(await store.get('no-such-id')).toBeUndefined();
  });

  it('one call with several orders under two Coverages: each row has its own Coverage\'s hash (hashed once per member per call)', async () => {
    await store.save([
      assertion('a-5', { coverage: { reference: 'Coverage/c1' } }), assertion('a-6', { coverage: { reference: 'Coverage/c2' } }),
      assertion('a-7', { coverage: { reference: 'Coverage/c1' } }), assertion('a-8', { coverage: { identifier: { system: 'urn:member', value: 'm-9' } } }),
    ]);
    const { rows } = await db.query<{ assertion_id: string; member_hash: string }>("SELECT assertion_id, member_hash FROM coverage_assertions WHERE assertion_id IN ('a-5', 'a-6', 'a-7', 'a-8') ORDER BY assertion_id");
    const hash = memberHasher(KEY);
    expect(rows).toEqual([
      { assertion_id: 'a-5', member_hash: hash({ reference: 'Coverage/c1' }) },
      { assertion_id: 'a-6', member_hash: hash({ reference: 'Coverage/c2' }) },
      { assertion_id: 'a-7', member_hash: hash({ reference: 'Coverage/c1' }) },
      { assertion_id: 'a-8', member_hash: hash({ identifier: { system: 'urn:member', value: 'm-9' } }) },
    ]);
    expect(new Set(rows.map((r) => r.member_hash)).size).toBe(3);
  });

  it('save resolves only once the row is committed: a fresh connection reads it right after', async () => {
    await store.save([assertion('a-2', { covered: 'not-covered' })]);
    expect(queue.depth).toBe(0);
    expect((await db.query("SELECT covered FROM coverage_assertions WHERE assertion_id = 'a-2'")).rows).toEqual([{ covered: 'not-covered' }]);
  });

  it('stores the member only as a keyed hash, never the reference', async () => {
    await store.save([assertion('a-3', { coverage: { reference: 'Coverage/member-42' } }), assertion('a-4', { coverage: { display: 'No member found' }, reasonCode: undefined, reasonText: undefined })]);
    const { rows } = await db.query<Record<string, unknown>>("SELECT * FROM coverage_assertions WHERE assertion_id IN ('a-3', 'a-4') ORDER BY assertion_id");
    expect(JSON.stringify(rows)).not.toContain('member-42');
    expect(rows[0]?.['member_hash']).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]?.['member_hash']).not.toBe(memberHasher(`${KEY}-other`)({ reference: 'Coverage/member-42' }));
    expect(rows[1]).toMatchObject({ member_hash: null, reason_code: null, reason_text: null });
    expect(rows[0]?.['order_codes']).toEqual([{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }]);
  });

  it('writes an assertion saved twice once', async () => {
    await store.save([assertion('a-5')]);
    await store.save([assertion('a-5')]);
    expect((await db.query('SELECT 1 FROM coverage_assertions')).rows).toHaveLength(1);
  });

  it('rejects save, keeping nothing, when storage cannot commit in time (the caller answers 503)', async () => {
    const down = new WriteQueue({ transaction: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) }, { commitWaitMs: 30, retryBaseMs: 1, retryMaxMs: 2 });
    const s = new SqlAssertionStore({ db, queue: down, memberHashKey: KEY });
    await expect(s.save([assertion('b-1'), assertion('b-2')])).rejects.toMatchObject({ name: 'StorageUnavailableError', reason: 'commit-timeout' });
    expect(down.stats()).toMatchObject({ depth: 0, written: 0 });
    await down.close(10);
  });

  it('rejects a call with more decisions than one call may store (413), and a full queue (503), keeping nothing', async () => {
    const small = new WriteQueue(db, { maxRowsPerCall: 2, maxItems: 3, ready: new Promise(() => undefined), commitWaitMs: 60_000 });
    const s = new SqlAssertionStore({ db, queue: small, memberHashKey: KEY });
    await expect(s.save([assertion('c-1'), assertion('c-2'), assertion('c-3')])).rejects.toBeInstanceOf(StorageTooLargeError);
    const first = s.save([assertion('c-4'), assertion('c-5')]);
    await expect(s.save([assertion('c-6'), assertion('c-7')])).rejects.toEqual(new StorageUnavailableError('queue-full'));
    expect(small.unwritten()).toEqual({ coverage_assertions: 2 });
    await small.close(0);
    await expect(first).rejects.toMatchObject({ reason: 'closing' });
  });

  it('refuses a short member-hash key', () => {
    expect(() => new SqlAssertionStore({ db, queue, memberHashKey: 'short' })).toThrow(/16 bytes/);
  });

  it('keeps assertions across a restart', async () => {
    await store.save([assertion('a-6', { decidedAt: '2026-11-23T12:34:56.789Z' })]);
    await db.close();
    db = await backend.open();
    queue = new WriteQueue(db);
    store = new SqlAssertionStore({ db, queue, memberHashKey: KEY });
    expect(await store.get('a-6')).toMatchObject({ assertionId: 'a-6', decidedAt: '2026-11-23T12:34:56.789Z', plan: 'AmeriHealth Caritas VIP Care' });
  }, OPEN_TIMEOUT_MS);
});
