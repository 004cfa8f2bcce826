import './native-pglite';
import type { Database } from '../../src/storage/database';
import { runMigrations } from '../../src/storage/migrate';
import { MIGRATIONS } from '../../src/storage/migrations';
import { openDatabase } from '../../src/storage/open-database';
import { openPglite } from '../../src/storage/pglite-database';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend } from './backends';
import type { TestBackend } from './backends';

const TABLES = ['coverage_assertions', 'invocation_audit', 'feedback', 'jti_replay', 'schema_migrations'];

async function appliedIds(db: Database): Promise<number[]> {
  return (await db.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')).rows.map((r) => Number(r.id));
}

async function tableExists(db: Database, name: string): Promise<boolean> {
  const { rows } = await db.query<{ t: string | null }>('SELECT to_regclass($1::text)::text AS t', [name]);
  return rows[0]?.t != null;
}

describe.each(BACKENDS)('migrations on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'migrations', { empty: true });
    db = await backend.open();
  }, OPEN_TIMEOUT_MS);

  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('creates every table and records each migration once', async () => {
    for (const t of TABLES) expect(await tableExists(db, t)).toBe(true);
    expect(await appliedIds(db)).toEqual(MIGRATIONS.map((m) => m.id));
  });

  it('is idempotent: running again applies nothing', async () => {
    const again = await runMigrations(db);
    expect(again.applied).toEqual([]);
    expect(again.current).toBe(MIGRATIONS.at(-1)?.id);
    expect(await appliedIds(db)).toEqual(MIGRATIONS.map((m) => m.id));
  });

  it('applies concurrent runs once', async () => {
    const extra = [...MIGRATIONS, { id: 1000, name: 'test table', sql: 'CREATE TABLE concurrent_probe (x int)' }];
    const results = await Promise.all([runMigrations(db, extra), runMigrations(db, extra), runMigrations(db, extra)]);
    expect(results.map((r) => r.applied).flat()).toEqual([1000]);
    expect(await appliedIds(db)).toEqual([...MIGRATIONS.map((m) => m.id), 1000]);
  });

  it('rolls back a failing migration entirely', async () => {
    const broken = [...MIGRATIONS, { id: 2000, name: 'broken', sql: 'CREATE TABLE half_done (x int); SELECT 1/0;' }];
    await expect(runMigrations(db, broken)).rejects.toThrow(/division by zero/);
    expect(await tableExists(db, 'half_done')).toBe(false);
    expect(await appliedIds(db)).not.toContain(2000);
  });

  it('refuses migration ids that do not increase', async () => {
    await expect(runMigrations(db, [{ id: 2, name: 'b', sql: '' }, { id: 1, name: 'a', sql: '' }])).rejects.toThrow(/increasing/);
  });

  it('answers ping', async () => {
    await expect(db.ping()).resolves.toBeUndefined();
  });
});

describe('concurrent starts', () => {
  if (process.env['TEST_DATABASE_URL']) {
    it('three replicas opening a fresh PostgreSQL schema at once both start, migrations applied once', async () => {
      const backend = await testBackend('postgres', 'race');
      try {
        const replicas = await Promise.all([backend.open(), backend.open(), backend.open()]);
        expect(await appliedIds(replicas[0])).toEqual(MIGRATIONS.map((m) => m.id));
        await Promise.all(replicas.map((r) => r.close()));
      } finally {
        await backend.cleanup();
      }
    }, OPEN_TIMEOUT_MS);
  }

  it('a PGlite directory cannot be opened twice in one process, and reopens after close', async () => {
    const backend = await testBackend('pglite', 'twice', { empty: true });
    try {
      const dir = `${backend.dataDir}/pglite`;
      const first = await openDatabase({ dataDir: dir });
      await expect(openPglite(dir)).rejects.toThrow(/already open/);
      await first.close();
      await first.close(); // safe twice
      const second = await openDatabase({ dataDir: dir });
      expect(await appliedIds(second)).toEqual(MIGRATIONS.map((m) => m.id));
      await second.close();
    } finally {
      await backend.cleanup();
    }
  }, OPEN_TIMEOUT_MS);
});
