import type { Database } from './database';
import type { Migration } from './migrations';
import { MIGRATIONS } from './migrations';

/**
 * Any fixed 64-bit number names the lock; this one is "sacroplasty-cds migrations". Replicas that start together
 * queue on it, so exactly one applies each migration and the others then find it recorded.
 */
export const MIGRATION_LOCK_KEY = 7_245_190_351;

export interface MigrationResult {
  /** Migrations applied by this call, in order. */
  applied: number[];
  /** The highest migration id recorded in the database afterwards. */
  current: number;
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    const previous = migrations[i - 1];
    if (!Number.isInteger(m.id) || m.id < 1 || (previous && m.id <= previous.id)) throw new Error(`Migration ids must be increasing positive integers (at ${m.id}).`);
  });
}

/**
 * Brings the schema up to date in one transaction: take the advisory lock (held until commit), create the
 * bookkeeping table, apply what is missing. A failure rolls everything back, so a half-applied migration never
 * stays behind. Migrations newer than this code (a later release already ran) are left alone.
 */
export async function runMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  checkOrder(migrations);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => Number(r.id)));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (id, name) VALUES ($1::int, $2::text)', [m.id, m.name]);
      applied.push(m.id);
      done.add(m.id);
    }
    return { applied, current: Math.max(0, ...done) };
  });
}
