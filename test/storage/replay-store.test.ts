import './native-pglite';
import type { Database } from '../../src/storage/database';
import { MemoryReplayStore, SqlReplayStore } from '../../src/storage/replay-store';
import type { ReplayStore } from '../../src/storage/replay-store';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll } from './backends';
import type { TestBackend } from './backends';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

/** The contract both stores keep, driven by a clock the test moves. */
function replayContract(make: (now: () => number) => ReplayStore | Promise<ReplayStore>): void {
  let clock = T0;
  let store: ReplayStore;
  beforeEach(async () => {
    clock = T0;
    store = await make(() => clock);
  });

  it('claims a jti once; a second use before expiry is refused', async () => {
    expect(await store.claim('https://ehr.example', 'jti-1', at(300))).toBe(true);
    expect(await store.claim('https://ehr.example', 'jti-1', at(300))).toBe(false);
    clock = T0 + 299_000;
    expect(await store.claim('https://ehr.example', 'jti-1', at(600))).toBe(false);
  });

  it('the same jti from another issuer is a different token', async () => {
    expect(await store.claim('https://ehr-a.example', 'shared', at(300))).toBe(true);
    expect(await store.claim('https://ehr-b.example', 'shared', at(300))).toBe(true);
  });

  it('after expiry the jti may be claimed again', async () => {
    expect(await store.claim('iss', 'jti-2', at(60))).toBe(true);
    clock = T0 + 60_000;
    expect(await store.claim('iss', 'jti-2', at(120))).toBe(true);
    expect(await store.claim('iss', 'jti-2', at(120))).toBe(false);
  });

  it('of many concurrent claims of one jti exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claim('iss', 'raced', at(300))));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
}

describe('MemoryReplayStore', () => {
  replayContract((now) => new MemoryReplayStore(now));
});

describe.each(BACKENDS)('SqlReplayStore on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'replay');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  replayContract(async (now) => {
    await truncateAll(db);
    return new SqlReplayStore(db, now);
  });

  it('two replicas (two stores on one database) share what was seen', async () => {
    await truncateAll(db);
    const a = new SqlReplayStore(db, () => T0);
    const b = new SqlReplayStore(db, () => T0);
    expect(await a.claim('iss', 'shared-jti', at(300))).toBe(true);
    expect(await b.claim('iss', 'shared-jti', at(300))).toBe(false);
  });
});
