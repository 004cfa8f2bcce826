// What V8's WebAssembly compiler choice does to the embedded database (PGLITE_WASM_COMPILER, pglite-settings.ts):
// for `baseline` (Liftoff only) and `optimizing` (V8's default tiering), alternating, each in a fresh process
// pinned to CPU 0: opening an initialised data directory (ms, RSS), then the mean wall and CPU time of a
// two-row INSERT … WITH statement (the shape of a group commit) over 3 × 1,000 statements after 600 warm-up ones,
// and RSS after them. Prints one JSON line per process, then the medians.
//
//   node bench/pglite-compilers.mjs [rounds=3]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';

if (process.argv[2] === '--child') {
  const [, , , dir, compiler] = process.argv;
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLITE_POSTGRESQL_CONF, v8FlagsFor } = await import('../dist/storage/pglite-settings.js');
  for (const flag of v8FlagsFor(compiler)) setFlagsFromString(flag);
  const t0 = performance.now();
  const db = await PGlite.create(dir, { postgresqlconf: [...PGLITE_POSTGRESQL_CONF] });
  await db.query('SELECT 1');
  const openMs = performance.now() - t0;
  const openRssMb = process.memoryUsage().rss / 1048576;
  await db.query('CREATE TABLE IF NOT EXISTS t (id text PRIMARY KEY, a text, b jsonb, c timestamptz)');
  const run = async (n) => {
    const w0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      await db.query('WITH a AS (INSERT INTO t VALUES ($1, $2, $3, now()) RETURNING 1), b AS (INSERT INTO t VALUES ($4, $2, $3, now()) RETURNING 1) SELECT 1',
        [crypto.randomUUID(), 'x'.repeat(200), JSON.stringify({ a: 1, b: [1, 2, 3] }), crypto.randomUUID()]);
    }
    const c = process.cpuUsage(c0);
    return { wallMs: (performance.now() - w0) / n, cpuMs: (c.user + c.system) / 1000 / n };
  };
  await run(600);
  const runs = [await run(1000), await run(1000), await run(1000)];
  const mean = (k) => runs.reduce((s, r) => s + r[k], 0) / runs.length;
  process.stdout.write(`${JSON.stringify({ compiler, openMs: Math.round(openMs), openRssMb: Math.round(openRssMb), stmtWallMs: +mean('wallMs').toFixed(3), stmtCpuMs: +mean('cpuMs').toFixed(3), rssAfterMb: Math.round(process.memoryUsage().rss / 1048576) })}\n`);
  await db.close();
  process.exit(0);
}

const rounds = Number(process.argv[2] ?? 3);
const work = mkdtempSync(join(tmpdir(), 'pglite-compilers-'));
const script = new URL(import.meta.url).pathname;
const child = (dir, compiler) => JSON.parse(execFileSync('taskset', ['-c', '0', process.execPath, script, '--child', dir, compiler], { encoding: 'utf8' }).trim().split('\n').pop());
try {
  // One initialised directory per compiler (initdb is not what is compared), reused by every round.
  const dirs = { baseline: join(work, 'baseline'), optimizing: join(work, 'optimizing') };
  for (const [compiler, dir] of Object.entries(dirs)) child(dir, compiler);
  const results = { baseline: [], optimizing: [] };
  for (let r = 0; r < rounds; r++) {
    for (const compiler of ['baseline', 'optimizing']) {
      rmSync(dirs[compiler], { recursive: true, force: true });
      child(dirs[compiler], compiler); // initialise afresh so each round inserts into the same-sized table
      const row = child(dirs[compiler], compiler);
      results[compiler].push(row);
      console.log(JSON.stringify(row));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const compiler of ['baseline', 'optimizing']) {
    const rows = results[compiler];
    console.log(`${compiler}: open ${median(rows.map((x) => x.openMs))} ms, RSS after open ${median(rows.map((x) => x.openRssMb))} MB; per statement ${median(rows.map((x) => x.stmtWallMs))} ms wall / ${median(rows.map((x) => x.stmtCpuMs))} ms CPU; RSS after 3,600 statements ${median(rows.map((x) => x.rssAfterMb))} MB`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
