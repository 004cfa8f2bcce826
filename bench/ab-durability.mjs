#!/usr/bin/env node
/**
 * What durable acknowledgement costs (issue 13): the same order-sign scenarios on two builds of the service, back
 * to back on one machine — a baseline (the write-behind code, built in another checkout) and this checkout (group
 * commit: the answer waits for its commit). Measured as bench/run.mjs does (lib.mjs: the service pinned to CPU 0,
 * autocannon on CPU 1, the Dockerfile's node arguments), but only the scenarios the write path changes:
 * - throughput, order-sign, auth off and auth on: 10 connections, closed loop, 3 s warm-up then rounds of 5 s,
 *   baseline and candidate alternating;
 * - latency at 300 req/s (autocannon overallRate), auth on, 10 s per side, alternating.
 *
 *   node bench/ab-durability.mjs --baseline /path/to/old/checkout [--rounds 3] [--candidate-env K=V,K=V]
 *   BENCH_DATABASE_URL=postgres://… node bench/ab-durability.mjs --baseline …   # on PostgreSQL (a fresh schema per build)
 *
 * The baseline checkout needs its own `dist/` (npm run build there). Prints a Markdown table.
 */
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import {
  DB_URL, DEPLOYED_NODE_ARGS, LOADGEN_CPU, ROOT, SIGN, cannon, checkRun, expectDecision, failures, freePort, log, pinPostgres, pinSelf, poolFor, probe, round,
  spawnPinned, state, stopChild, waitFor200,
} from './lib.mjs';
import { orderSignBody } from './bodies.mjs';
import { TokenMinter } from './tokens.mjs';

const require = createRequire(import.meta.url);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const BASELINE = arg('--baseline');
if (!BASELINE) {
  process.stderr.write('usage: node bench/ab-durability.mjs --baseline <checkout with dist/>\n');
  process.exit(2);
}
const ROUNDS = Number(arg('--rounds', '3'));
/** Extra environment for the candidate only (e.g. STORAGE_COMMIT_WINDOW_MS=0), to compare settings. */
const CANDIDATE_ENV = Object.fromEntries((arg('--candidate-env', '') ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));
const P = { connections: 10, warmupS: 3, throughputS: 5, fixedS: 10, fixedRate: 300 };
const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? null : v.length % 2 ? v[(v.length - 1) / 2] : round((v[v.length / 2 - 1] + v[v.length / 2]) / 2, 3);
};

/** A fresh PostgreSQL schema for one build (its own tables, so neither sees the other's rows). */
async function schemaUrl(label) {
  const { Client } = require(join(ROOT, 'node_modules/pg'));
  const name = `bench_ab_${label}_${randomBytes(3).toString('hex')}`;
  const c = new Client({ connectionString: DB_URL });
  await c.connect();
  await c.query(`CREATE SCHEMA ${name}`);
  await c.end();
  const url = new URL(DB_URL);
  url.searchParams.set('options', `-c search_path=${name}`);
  return { url: url.toString(), drop: async () => {
    const d = new Client({ connectionString: DB_URL });
    await d.connect();
    await d.query(`DROP SCHEMA ${name} CASCADE`);
    await d.end();
  } };
}

/** startService of lib.mjs, with the checkout to run from as a parameter. */
async function startAt(root, { auth, dataDir, label, databaseUrl, extraEnv = {} }) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NODE_ENV: 'production',
    PORT: String(port), HOST: '127.0.0.1', CDS_PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'warn',
    ...(auth ? { CDS_CLIENTS: state.clientsFile } : { CDS_ALLOW_UNAUTHENTICATED: 'true' }),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, MEMBER_HASH_KEY: 'bench-member-hash-key-0123456789abcdef' } : {}),
    ...extraEnv,
  };
  const logFile = join(state.work, `${label}.log`);
  const fd = openSync(logFile, 'a');
  const t0 = performance.now();
  const child = spawnPinned([...DEPLOYED_NODE_ARGS, 'dist/server.js'], { cwd: root, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  await waitFor200(`${url}/cds-services`, t0, child, logFile, () => (auth ? { authorization: `Bearer ${state.minter.mintSync(`${url}/cds-services`)}` } : {}));
  await waitFor200(`${url}/readyz`, t0, child, logFile);
  child.watched = label;
  return { child, pid: child.pid, url, auth, label, logFile };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cds-ab-'));
  state.work = work;
  state.P = { ...state.P, connections: P.connections };
  const pg = DB_URL ? pinPostgres() : { pinned: 0, restore: () => undefined };
  process.on('exit', () => pg.restore());
  pinSelf(LOADGEN_CPU);
  const { ensureDevClient, DEV_ISSUER } = require(join(ROOT, 'dist/tools/dev-token.js'));
  const { privateJwk, clientsFile } = await ensureDevClient(join(work, 'dev-client'));
  state.clientsFile = clientsFile;
  state.minter = new TokenMinter(privateJwk, DEV_ISSUER);
  const body = Buffer.from(JSON.stringify(orderSignBody()));
  const builds = { baseline: resolve(BASELINE), candidate: ROOT };
  log(`A/B durable acknowledgement — persistence ${DB_URL ? 'PostgreSQL' : 'embedded PGlite'}; baseline ${builds.baseline}, candidate ${builds.candidate} ${JSON.stringify(CANDIDATE_ENV)}; ${ROUNDS} rounds`);

  const schemas = [];
  const targets = {};
  for (const [name, root] of Object.entries(builds)) {
    for (const auth of [false, true]) {
      const label = `${name}-${auth ? 'auth' : 'open'}`;
      let databaseUrl;
      if (DB_URL) {
        const s = await schemaUrl(label.replace('-', '_'));
        schemas.push(s);
        databaseUrl = s.url;
      }
      targets[label] = await startAt(root, { auth, dataDir: join(work, `data-${label}`), label, databaseUrl, extraEnv: name === 'candidate' ? CANDIDATE_ENV : {} });
      await probe(targets[label], SIGN, body, expectDecision(3));
    }
  }

  const rows = [];
  for (const auth of [false, true]) {
    const per = { baseline: [], candidate: [] };
    for (const name of ['baseline', 'candidate']) {
      const t = targets[`${name}-${auth ? 'auth' : 'open'}`];
      const warm = await cannon(t, { path: SIGN, body, pool: await poolFor(t, SIGN, 800, P.warmupS), duration: P.warmupS });
      checkRun(`${t.label} warm-up`, warm);
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of ['baseline', 'candidate']) {
        const t = targets[`${name}-${auth ? 'auth' : 'open'}`];
        const res = await cannon(t, { path: SIGN, body, pool: await poolFor(t, SIGN, 800, P.throughputS), duration: P.throughputS });
        checkRun(t.label, res);
        per[name].push(res);
        log(`  ${t.label} round ${r + 1}: ${res.rps} req/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms, ${res.cpuMsPerReq} CPU ms/req, other load on the service CPU ${res.cpu.otherOnServiceCpu}`);
      }
    }
    for (const name of ['baseline', 'candidate']) {
      const rs = per[name];
      rows.push({ scenario: `order-sign, auth ${auth ? 'on' : 'off'}, 10 conn closed loop`, build: name, rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50Ms)), p99: median(rs.map((x) => x.p99Ms)), cpu: median(rs.map((x) => x.cpuMsPerReq)), other: median(rs.map((x) => x.cpu.otherOnServiceCpu)) });
    }
  }
  for (const name of ['baseline', 'candidate']) {
    const t = targets[`${name}-auth`];
    const res = await cannon(t, { path: SIGN, body, pool: await poolFor(t, SIGN, P.fixedRate, P.fixedS), duration: P.fixedS, overallRate: P.fixedRate });
    checkRun(`${t.label} fixed`, res);
    rows.push({ scenario: `order-sign, auth on, ${P.fixedRate} req/s`, build: name, rps: res.rps, p50: res.p50Ms, p99: res.p99Ms, cpu: res.cpuMsPerReq, other: res.cpu.otherOnServiceCpu });
  }
  for (const t of Object.values(targets)) await stopChild(t.child);
  for (const s of schemas) await s.drop();

  log('\n| scenario | build | req/s | p50 ms | p99 ms | service CPU ms / request | other load on the service CPU |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) log(`| ${r.scenario} | ${r.build} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpu} | ${r.other} |`);
  if (failures.length > 0) {
    log(`\nFAILED:\n${failures.join('\n')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
