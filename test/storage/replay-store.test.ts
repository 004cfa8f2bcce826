import './native-pglite';
import type { Database } from '../../src/storage/database';
import { toIso } from '../../src/storage/database';
import { EmbeddedReplayStore, MemoryReplayStore, SqlReplayStore } from '../../src/storage/replay-store';
import { WriteQueue } from '../../src/storage/write-queue';
import { StorageUnavailableError } from '../../src/storage/unavailable';
import { AuthError, verifyCdsToken } from '../../src/auth/verify-token';
import type { VerifyOptions } from '../../src/auth/verify-token';
import type { KeySets } from '../../src/auth/key-sets';
import type { ReplayStore } from '../../src/storage/replay-store';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll, waitFor } from './backends';
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

describe.each(BACKENDS)('EmbeddedReplayStore on %s (the embedded, single-process store)', (backendName) => {
  let backend: TestBackend;
  let db: Database;
  let queue: WriteQueue;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'replay-emb');
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);
  afterAll(async () => {
    await queue?.close();
    await db?.close();
    await backend?.cleanup();
  });

  const opened = (d: Database): Database & { opened: Promise<Database> } => Object.assign(Object.create(d) as Database, { opened: Promise.resolve(d) });
  /** A store whose memory of earlier claims has been loaded. */
  const loadedStore = async (now: () => number): Promise<EmbeddedReplayStore> => {
    const store = new EmbeddedReplayStore(opened(db), queue, { now });
    await waitFor(() => store.loaded, 'the replay memory to load');
    return store;
  };

  replayContract(async (now) => {
    await queue?.close();
    await truncateAll(db);
    queue = new WriteQueue(db);
    return loadedStore(now);
  });

  it('a claim is committed before it resolves, and refused again after a restart (a new store loading the table)', async () => {
    await queue.close();
    await truncateAll(db);
    queue = new WriteQueue(db);
    const before = await loadedStore(() => T0);
    expect(await before.claim('iss', 'used-before-restart', at(300))).toBe(true);
    // No drain, no close: what claim() resolved on is already in the table (a kill -9 here loses nothing).
    const { rows } = await db.query<{ jti: string; expires_at: unknown }>("SELECT jti, expires_at FROM jti_replay WHERE iss = 'iss'");
    expect(rows.map((r) => ({ jti: r.jti, expires: toIso(r.expires_at) }))).toEqual([{ jti: 'used-before-restart', expires: at(300).toISOString() }]);

    const after = await loadedStore(() => T0 + 10_000);
    expect(await after.claim('iss', 'used-before-restart', at(310))).toBe(false);
    expect(await after.claim('iss', 'fresh-after-restart', at(310))).toBe(true);
  });

  it('a jti claimed again after expiring is kept with the later expiry', async () => {
    await queue.close();
    await truncateAll(db);
    let clock = T0;
    queue = new WriteQueue(db);
    const store = await loadedStore(() => clock);
    expect(await store.claim('iss', 'reused', at(60))).toBe(true);
    clock = T0 + 61_000;
    expect(await store.claim('iss', 'reused', at(400))).toBe(true);
    const { rows } = await db.query<{ expires_at: unknown }>("SELECT expires_at FROM jti_replay WHERE jti = 'reused'");
    expect(rows.map((r) => toIso(r.expires_at))).toEqual([at(400).toISOString()]);
  });

  it('a jti that expired before the restart is not loaded back: it may be used again', async () => {
    await queue.close();
    await truncateAll(db);
    await db.query("INSERT INTO jti_replay (iss, jti, expires_at) VALUES ('iss', 'old', $1::timestamptz)", [at(60).toISOString()]);
    queue = new WriteQueue(db);
    const store = await loadedStore(() => T0 + 61_000);
    expect(await store.claim('iss', 'old', at(400))).toBe(true);
    expect(store.unavailable()).toBeUndefined();
  });

  it('while the claims of earlier runs are not loaded, every claim is refused as unavailable (503), never decided blindly', async () => {
    const neverOpens = Object.assign(Object.create(db) as Database, { opened: new Promise<Database>(() => undefined) });
    const store = new EmbeddedReplayStore(neverOpens, { submit: () => Promise.resolve() }, { now: () => T0 });
    await expect(store.claim('iss', 'early', at(300))).rejects.toMatchObject({ name: 'StorageUnavailableError', reason: 'loading' });
    await expect(store.claim('iss', 'early', at(300))).rejects.toMatchObject({ reason: 'loading' });
    expect(store.unavailable()).toMatchObject({ name: 'StorageUnavailableError', reason: 'loading' });
  });

  it('while loading, a registered client\'s token is refused 503 before any signature is verified; an unknown issuer is still 401', async () => {
    const neverOpens = Object.assign(Object.create(db) as Database, { opened: new Promise<Database>(() => undefined) });
    const store = new EmbeddedReplayStore(neverOpens, { submit: () => Promise.resolve() }, { now: () => T0 });
    let verifications = 0;
    const options: VerifyOptions = {
      clients: new Map([['https://ehr.example', { iss: 'https://ehr.example', jwks: { keys: [] } }]]),
      keySets: { resolver: () => { verifications++; throw new Error('a signature verification was attempted'); } } as unknown as KeySets,
      replay: store, algorithms: ['ES384'], clockToleranceSec: 5, maxLifetimeSec: 300,
    };
    const token = (iss: string): string => [{ alg: 'ES384', kid: 'k1', typ: 'JWT' }, { iss, aud: 'http://svc/cds-services', exp: T0 / 1000 + 300, iat: T0 / 1000, jti: 'j1' }]
      .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.') + '.c2lnbmF0dXJl';
    await expect(verifyCdsToken(token('https://ehr.example'), 'http://svc/cds-services', options)).rejects.toMatchObject({ name: 'StorageUnavailableError', reason: 'loading' });
    await expect(verifyCdsToken(token('https://other.example'), 'http://svc/cds-services', options)).rejects.toThrow(AuthError);
    expect(verifications).toBe(0);
  });

  it('when loading fails, the failure is reported and claims stay refused', async () => {
    const failing = Object.assign(Object.create(db) as Database, {
      opened: Promise.resolve(db),
      query: () => Promise.reject(Object.assign(new Error('relation "jti_replay" does not exist'), { code: '42P01' })),
    });
    const reports: unknown[] = [];
    const store = new EmbeddedReplayStore(failing, { submit: () => Promise.resolve() }, { now: () => T0, onLoaded: (r) => reports.push(r) });
    await waitFor(() => reports.length > 0, 'the load to fail');
    expect(((reports[0] as { err: Error }).err).message).toMatch(/jti_replay/);
    await expect(store.claim('iss', 'x', at(300))).rejects.toMatchObject({ reason: 'loading' });
  });

  it('a claim whose commit fails is refused as unavailable, and the token stays used', async () => {
    const store = new EmbeddedReplayStore(opened(db), { submit: () => Promise.reject(new StorageUnavailableError('commit-timeout')) }, { now: () => T0 });
    await waitFor(() => store.loaded, 'the replay memory to load');
    await expect(store.claim('iss', 'uncommitted', at(300))).rejects.toMatchObject({ reason: 'commit-timeout' });
    expect(await store.claim('iss', 'uncommitted', at(300))).toBe(false);
  });
});
