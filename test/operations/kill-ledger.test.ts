/**
 * Issue 13, case 1: `kill -9` under load must lose no acknowledged coverage assertion. Eight concurrent EHR loops
 * call order-sign and write each 200's coverage-assertion ids in a ledger the moment the answer arrives; once a
 * round has enough acknowledged calls the service is killed with SIGKILL while calls are still in flight, and
 * started again on the same storage. After ten kills every id in the ledger, and the audit row of every call that
 * carried one, must be in the database — on the embedded PGlite and on PostgreSQL.
 */
import { join } from 'node:path';
import { openDatabase } from '../../src/storage/open-database';
import {
  agent, buildOnce, describePg, pollUntil, removeTempDirs, startReplica, stopAllReplicas, storageFor, tempDir,
} from './harness';
import type { TestSchema } from './harness';
import { startLoad } from './ledger-load';
import type { Acknowledged } from './ledger-load';

jest.setTimeout(600_000);

const KILLS = 10;
/** Acknowledged calls per round before the kill (a count, not a time: the kill lands under load either way). */
const PER_ROUND = 150;

interface Round {
  acknowledged: number;
  /** Milliseconds between the last acknowledgement and the kill. */
  lastAckBeforeKillMs: number;
  /** Calls cut off by the kill (no answer). */
  inFlight: number;
}

/** Ten rounds of load then kill -9 on the same storage; returns the whole ledger and per-round figures. */
async function killUnderLoad(label: string, env: Record<string, string>, dataDir: string): Promise<{ ledger: Acknowledged[]; rounds: Round[] }> {
  const ledger: Acknowledged[] = [];
  const rounds: Round[] = [];
  for (let k = 0; k < KILLS; k++) {
    const replica = await startReplica({ name: `${label}-${k}`, dataDir, env });
    const load = startLoad(replica.url, { workers: 8 });
    await pollUntil(`${PER_ROUND} acknowledged calls in round ${k}`, () => Promise.resolve(load.result.acknowledged.length >= PER_ROUND ? true : undefined), 60_000, 5);
    const killedAt = Date.now();
    await replica.kill9();
    const result = await load.stop();
    const last = Math.max(...result.acknowledged.map((a) => a.at).filter((t) => t <= killedAt));
    rounds.push({ acknowledged: result.acknowledged.length, lastAckBeforeKillMs: killedAt - last, inFlight: result.statuses[0] ?? 0 });
    ledger.push(...result.acknowledged);
  }
  return { ledger, rounds };
}

function report(backend: string, ledger: Acknowledged[], rounds: Round[], lost: number): void {
  process.stderr.write(`\n[kill -9 ledger] ${backend}: ${rounds.length} kills, ${ledger.length} acknowledged ids, ${lost} lost; `
    + `per kill: acknowledged ${rounds.map((r) => r.acknowledged).join('/')}, last ack before kill (ms) ${rounds.map((r) => r.lastAckBeforeKillMs).join('/')}, `
    + `calls cut by the kill ${rounds.map((r) => r.inFlight).join('/')}\n`);
}

afterAll(async () => {
  await stopAllReplicas();
  agent.destroy();
  removeTempDirs();
});

describe('kill -9 under load on the embedded database (PGlite)', () => {
  beforeAll(() => buildOnce());

  it('loses no acknowledged coverage assertion or its audit row over 10 kills', async () => {
    const dataDir = tempDir('kill-pglite');
    const { ledger, rounds } = await killUnderLoad('kill-pglite', {}, dataDir);
    expect(ledger.length).toBeGreaterThanOrEqual(KILLS * PER_ROUND);
    // Read the data directory the way the next start would (crash recovery included), in this process.
    const db = await openDatabase({ dataDir: join(dataDir, 'pglite') });
    try {
      const ids = ledger.map((a) => a.id);
      const { rows } = await db.query<{ assertion_id: string }>('SELECT assertion_id FROM coverage_assertions WHERE assertion_id = ANY($1::text[])', [ids]);
      const stored = new Set(rows.map((r) => r.assertion_id));
      const lost = ids.filter((id) => !stored.has(id));
      report('pglite', ledger, rounds, lost.length);
      expect(lost).toEqual([]);
      const audits = await db.query<{ hook_instance: string }>('SELECT DISTINCT hook_instance FROM invocation_audit WHERE status = 200 AND hook_instance = ANY($1::text[])', [ledger.map((a) => a.hookInstance)]);
      const audited = new Set(audits.rows.map((r) => r.hook_instance));
      expect(ledger.filter((a) => !audited.has(a.hookInstance)).map((a) => a.hookInstance)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describePg('kill -9 under load on PostgreSQL', () => {
  let schema: TestSchema | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    await buildOnce();
    const storage = await storageFor('kill');
    schema = storage.schema;
    env = storage.env;
  });
  afterAll(async () => {
    await stopAllReplicas();
    await schema?.drop();
  });

  it('loses no acknowledged coverage assertion or its audit row over 10 kills', async () => {
    const { ledger, rounds } = await killUnderLoad('kill-pg', env, tempDir('kill-pg'));
    expect(ledger.length).toBeGreaterThanOrEqual(KILLS * PER_ROUND);
    const rows = await schema!.query<{ assertion_id: string }>('SELECT assertion_id FROM coverage_assertions WHERE assertion_id = ANY($1::text[])', [ledger.map((a) => a.id)]);
    const stored = new Set(rows.map((r) => r.assertion_id));
    const lost = ledger.filter((a) => !stored.has(a.id)).map((a) => a.id);
    report('postgres', ledger, rounds, lost.length);
    expect(lost).toEqual([]);
    const audits = await schema!.query<{ hook_instance: string }>('SELECT DISTINCT hook_instance FROM invocation_audit WHERE status = 200 AND hook_instance = ANY($1::text[])', [ledger.map((a) => a.hookInstance)]);
    const audited = new Set(audits.map((r) => r.hook_instance));
    expect(ledger.filter((a) => !audited.has(a.hookInstance)).map((a) => a.hookInstance)).toEqual([]);
  });
});
