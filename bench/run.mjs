// Performance benchmark of the CDS Hooks service as deployed (node dist/server.js, NODE_ENV=production,
// authentication and persistence on), driven by autocannon over loopback and compared with bare Express floors.
//
//   npm run bench          full run (a few minutes): prints the figures, writes bench/results/latest.json and the
//                          generated section of BENCHMARKS.md
//   npm run bench:smoke    the same harness with tiny durations (CI): writes bench/results/smoke.json; exit 1 only
//                          when something crashes or a request that must answer 2xx does not
//
// Environment: BENCH_DATABASE_URL=postgres://… uses PostgreSQL instead of embedded PGlite; BENCH_NO_PIN=1 disables
// CPU pinning (service on CPU 0, load generator on CPU 1).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coverageBundle, noSacroplastyBody, orderSelectBody, orderSignBody, patient, sizedOrderSignBody } from './bodies.mjs';
import {
  DB_URL, DEPLOYED_NODE_ARGS, LOADGEN_CPU, pinPostgres, NPROC, PIN, ROOT, SELECT, SERVICE_CPU, SIGN, cannon, checkRun, children, expectCards, expectDecision,
  fail, failures, log, notes, paced, pinSelf, poolFor, probe, round, rssMb, spawnPinned, startFloor, startService, state, stopChild,
} from './lib.mjs';
import { TokenMinter } from './tokens.mjs';

const require = createRequire(import.meta.url);
const SMOKE = process.argv.includes('--smoke');
const T0 = performance.now();
const elapsed = () => `${Math.round((performance.now() - T0) / 1000)} s elapsed`;
const { ensureDevClient, DEV_ISSUER } = require(join(ROOT, 'dist/tools/dev-token.js'));

// ---------------------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------------------
const P = SMOKE
  ? { guessRps: 500, warmupS: 0, throughputS: 1, rounds: 1, connections: 10, fixedS: 1, fixedRounds: 1, paced: false, sizeWarm: 0, sizeAmount: 20, sizeAmountBig: 5, missS: 1, missConnections: 20, missOneAmount: 5, soakWarmS: 0, soakS: 10, soakSampleS: 2, soakRate: 300, coldStarts: 2 }
  : { guessRps: 1200, warmupS: 3, throughputS: 5, rounds: 3, connections: 10, fixedS: 10, fixedRounds: 2, paced: true, sizeWarm: 50, sizeAmount: 400, sizeAmountBig: 200, missS: 15, missConnections: 20, missOneAmount: 100, soakWarmS: 5, soakS: 300, soakSampleS: 5, soakRate: 300, coldStarts: 5 };
const SIZES = [1, 10, 100, 1000];
const FIXED_RATE_OPEN = 500;
const FIXED_RATE_AUTH = 300;
const FHIR_DELAY_MS = 50;

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : round((v[v.length / 2 - 1] + v[v.length / 2]) / 2, 3);
};

const TARGETS = {
  ratioOpen: 0.8, ratioAuth: 0.8, p99Factor: 1.5, perOrderMs: 0.05, coldStartMs: 1500, slopeMbPerMin: 2,
  // Issue 15: RSS after the soak ≤ 150 MB on PostgreSQL, ≤ 200 MB on the embedded default (its database is in-process).
  rssMb: DB_URL ? 150 : 200,
};

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------
async function main() {
  const WORK = mkdtempSync(join(tmpdir(), 'cds-bench-'));
  state.work = WORK;
  // New backends fork from the postmaster and inherit its placement, so pinning it once covers the run.
  const postgresPlacement = DB_URL ? pinPostgres() : { pinned: 0, restore: () => undefined };
  process.on('exit', () => postgresPlacement.restore());
  state.P = P;
  const results = {
    meta: {
      date: new Date().toISOString(), mode: SMOKE ? 'smoke' : 'full', node: process.version, nproc: NPROC,
      cpuModel: (/model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown').trim(),
      memGiB: round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024 / 1024, 1),
      loadavgAtStart: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      placement: PIN ? `service and floors pinned to CPU ${SERVICE_CPU} (taskset), autocannon + harness pinned to CPU ${LOADGEN_CPU}` : 'not pinned',
      persistence: DB_URL
        ? `PostgreSQL (BENCH_DATABASE_URL)${postgresPlacement.pinned > 0 ? `, its ${postgresPlacement.pinned} processes moved to CPU ${LOADGEN_CPU} for the run` : ', not moved (remote, or not ours to pin)'}`
        : 'embedded PGlite in a temp DATA_DIR',
      params: P,
      serviceCommand: ['node', ...DEPLOYED_NODE_ARGS, 'dist/server.js'].join(' '),
      commit: (() => {
        try {
          const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
          const dirty = git('status', '--porcelain', '--', 'src', 'fhir-resources', 'cds-services') !== '';
          return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in src/knowledge' : ''}`;
        } catch {
          return 'unknown';
        }
      })(),
    },
  };
  log(`CDS Hooks service benchmark (${results.meta.mode}) — ${results.meta.cpuModel}, ${NPROC} CPUs, node ${process.version}`);
  log(`placement: ${results.meta.placement}; persistence: ${results.meta.persistence}; work dir ${WORK}`);
  pinSelf(LOADGEN_CPU);

  const { privateJwk, clientsFile } = await ensureDevClient(join(WORK, 'dev-client'));
  state.clientsFile = clientsFile;
  state.minter = new TokenMinter(privateJwk, DEV_ISSUER);
  // The loopback EHR FHIR server of the prefetch-miss scenario, started first: the bench client registers it as
  // its own fhirServer (CDS_CLIENTS `fhirServers`), as an EHR must for the service to read from it (README Security).
  // Over https, as production requires: a certificate made by scripts/dev-cert.sh, trusted by the service through
  // NODE_EXTRA_CA_CERTS (bench/lib.mjs startService).
  const tlsDir = join(WORK, 'fhir-tls');
  execFileSync('sh', [join(ROOT, 'scripts/dev-cert.sh'), tlsDir], { stdio: 'ignore' });
  state.extraCaFile = join(tlsDir, 'tls.crt');
  let fhirHits = 0;
  const fhir = createHttpsServer({ cert: readFileSync(join(tlsDir, 'tls.crt')), key: readFileSync(join(tlsDir, 'tls.key')) }, (req, res) => {
    fhirHits++;
    setTimeout(() => {
      if (req.url?.startsWith('/fhir/Coverage?')) {
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify(coverageBundle()));
      } else {
        res.writeHead(404, { 'content-type': 'application/fhir+json' });
        res.end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');
      }
    }, FHIR_DELAY_MS);
  });
  fhir.keepAliveTimeout = 65_000;
  await new Promise((r) => fhir.listen(0, '127.0.0.1', r));
  const fhirUrl = `https://127.0.0.1:${fhir.address().port}/fhir`;
  const clients = JSON.parse(readFileSync(clientsFile, 'utf8'));
  writeFileSync(clientsFile, `${JSON.stringify(clients.map((c) => ({ ...c, fhirServers: [fhirUrl] })), null, 2)}\n`);

  const bodies = {
    sign: Buffer.from(JSON.stringify(orderSignBody())),
    select: Buffer.from(JSON.stringify(orderSelectBody())),
    none: Buffer.from(JSON.stringify(noSacroplastyBody())),
  };
  results.meta.bodyBytes = { orderSign: bodies.sign.length, orderSelect: bodies.select.length, noSacroplasty: bodies.none.length };
  const dataAuth = join(WORK, 'data-auth');

  // ---- cold start ------------------------------------------------------------------------------------------
  log('\ncold start (process start → first 200 on GET /cds-services, auth on; and → /readyz 200, storage open)');
  const first = await startService({ auth: true, dataDir: dataAuth, label: 'cold-first' });
  await stopChild(first.child);
  log(`  first-ever start (PGlite initdb + migrations): first 200 ${round(first.readyMs, 0)} ms, storage ready ${round(first.storageReadyMs, 0)} ms`);
  const starts = [];
  const storage = [];
  for (let i = 0; i < P.coldStarts; i++) {
    const s = await startService({ auth: true, dataDir: dataAuth, label: `cold-${i}` });
    starts.push(s.readyMs);
    storage.push(s.storageReadyMs);
    await stopChild(s.child);
  }
  results.coldStart = {
    firstEverMs: round(first.readyMs, 0), firstEverStorageReadyMs: round(first.storageReadyMs, 0),
    startsMs: starts.map((x) => round(x, 0)), medianMs: round(median(starts), 0),
    storageReadyMs: storage.map((x) => round(x, 0)), storageReadyMedianMs: round(median(storage), 0),
  };
  log(`  initialised data dir: first 200 ${results.coldStart.startsMs.join(', ')} ms → median ${results.coldStart.medianMs} ms; storage ready ${results.coldStart.storageReadyMs.join(', ')} ms → median ${results.coldStart.storageReadyMedianMs} ms`);
  if (!DB_URL && !SMOKE) {
    // Reference: opening the embedded database alone (same data dir, same CPU), to split the start-up and RSS figures.
    const ref = spawnPinned([join(ROOT, 'bench/pglite-open.mjs'), join(dataAuth, 'pglite')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    ref.stdout.on('data', (c) => { out += c; });
    const { code } = await ref.exited;
    if (code !== 0) fail(`bench/pglite-open.mjs exited with ${code}`);
    else {
      results.coldStart.pgliteAlone = JSON.parse(out.trim());
      log(`  reference, PGlite alone on that data dir: open + SELECT 1 in ${results.coldStart.pgliteAlone.openMs} ms, process RSS ${results.coldStart.pgliteAlone.rssMb} MB (${results.coldStart.pgliteAlone.baseRssMb} MB before)`);
    }
  }

  // Every instance gets its own copy of the initialised data dir: no initdb in the background while measuring.
  const dataOpen = join(WORK, 'data-open');
  const dataInfo = join(WORK, 'data-info');
  if (!DB_URL) {
    cpSync(dataAuth, dataOpen, { recursive: true });
    cpSync(dataAuth, dataInfo, { recursive: true });
  }
  log(`  (${elapsed()})`);

  // ---- the processes under test: two floors and three service instances, all idle until driven ---------------
  const [floorA, floorB, open, openInfo, authed] = await Promise.all([
    startFloor('a'),
    startFloor('b'),
    startService({ auth: false, dataDir: dataOpen, label: 'service-open' }),
    startService({ auth: false, dataDir: dataInfo, label: 'service-open-info', logLevel: 'info' }),
    startService({ auth: true, dataDir: dataAuth, label: 'service-auth' }),
  ]);
  await probe(floorA, SIGN, bodies.sign, expectCards(1));
  await probe(floorB, SIGN, bodies.sign, expectCards(1));
  // Floor c answers the service's own order-sign answer, captured here and sent as the same bytes.
  const answerFile = join(WORK, 'answer-sign.json');
  writeFileSync(answerFile, JSON.stringify(await probe(open, SIGN, bodies.sign, expectDecision(3))));
  const floorC = await startFloor('c', answerFile);
  await probe(floorC, SIGN, bodies.sign, expectDecision(3));
  for (const svc of [open, openInfo, authed]) {
    await probe(svc, SIGN, bodies.sign, expectDecision(3));
    await probe(svc, SELECT, bodies.select, expectCards(3));
    await probe(svc, SIGN, bodies.none, expectCards(0));
  }

  // ---- throughput: every scenario warmed up once, then measured in interleaved rounds ------------------------
  const scenarios = [
    { key: 'floorA', label: 'floor a: express.json + small card', target: floorA, path: SIGN, body: bodies.sign },
    { key: 'floorC', label: 'floor c: express.json + the service\'s answer, precomputed', target: floorC, path: SIGN, body: bodies.sign },
    { key: 'openSign', label: 'service auth off: order-sign', target: open, path: SIGN, body: bodies.sign },
    { key: 'openSelect', label: 'service auth off: order-select', target: open, path: SELECT, body: bodies.select },
    { key: 'openNone', label: 'service auth off: order-sign, no sacroplasty', target: open, path: SIGN, body: bodies.none },
    { key: 'openInfoSign', label: 'service auth off, LOG_LEVEL=info: order-sign', target: openInfo, path: SIGN, body: bodies.sign },
    { key: 'floorB', label: 'floor b: + jose jwtVerify (ES384)', target: floorB, path: SIGN, body: bodies.sign },
    { key: 'authSign', label: 'service auth on: order-sign', target: authed, path: SIGN, body: bodies.sign },
    { key: 'authSelect', label: 'service auth on: order-select', target: authed, path: SELECT, body: bodies.select },
    { key: 'authNone', label: 'service auth on: order-sign, no sacroplasty', target: authed, path: SIGN, body: bodies.none },
  ];
  log(`\nthroughput (${P.connections} connections; ${P.warmupS} s warm-up each, then ${P.rounds} interleaved round(s) of ${P.throughputS} s) [${elapsed()}]`);
  const lastRps = new Map();
  for (const sc of scenarios) {
    if (P.warmupS <= 0) continue;
    const w = await cannon(sc.target, { path: sc.path, body: sc.body, pool: await poolFor(sc.target, sc.path, P.guessRps, P.warmupS), duration: P.warmupS });
    checkRun(`${sc.label} (warm-up)`, w);
    lastRps.set(sc.key, w.rps);
  }
  const runs = new Map(scenarios.map((sc) => [sc.key, []]));
  for (let round_ = 1; round_ <= P.rounds; round_++) {
    for (const sc of scenarios) {
      const r = await cannon(sc.target, { path: sc.path, body: sc.body, pool: await poolFor(sc.target, sc.path, lastRps.get(sc.key) ?? P.guessRps, P.throughputS), duration: P.throughputS });
      checkRun(`${sc.label} (round ${round_})`, r);
      lastRps.set(sc.key, r.rps);
      runs.get(sc.key).push(r);
      log(`  r${round_} ${sc.label.padEnd(46)} ${String(r.rps).padStart(7)} req/s  p50 ${String(r.p50Ms).padStart(7)} ms  p99 ${String(r.p99Ms).padStart(7)} ms  CPU ${r.cpuMsPerReq} ms/req  (other load on the service CPU ${r.cpu.otherOnServiceCpu})`);
    }
  }
  const tp = scenarios.map((sc) => {
    const rs = runs.get(sc.key);
    return {
      key: sc.key, label: sc.label, rps: median(rs.map((r) => r.rps)), bestRps: Math.max(...rs.map((r) => r.rps)),
      p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)), cpuMsPerReq: median(rs.map((r) => r.cpuMsPerReq)),
      otherOnServiceCpu: round(median(rs.map((r) => r.cpu.otherOnServiceCpu))), requests: rs.reduce((a, r) => a + r.requests, 0), rounds: rs,
    };
  });
  results.throughput = tp;
  const T = Object.fromEntries(tp.map((t) => [t.key, t]));
  log('  median of rounds:');
  for (const t of tp) log(`     ${t.label.padEnd(46)} ${String(t.rps).padStart(7)} req/s (best ${t.bestRps})  p50 ${t.p50Ms} ms  p99 ${t.p99Ms} ms  CPU ${t.cpuMsPerReq} ms/req`);
  results.logging = {
    warn: { rps: T.openSign.rps, cpuMsPerReq: T.openSign.cpuMsPerReq, p99Ms: T.openSign.p99Ms },
    info: { rps: T.openInfoSign.rps, cpuMsPerReq: T.openInfoSign.cpuMsPerReq, p99Ms: T.openInfoSign.p99Ms },
    costUsPerRequest: round((T.openInfoSign.cpuMsPerReq - T.openSign.cpuMsPerReq) * 1000, 0),
    throughputLossPct: round((1 - T.openInfoSign.rps / T.openSign.rps) * 100, 1),
  };
  log(`  per-request info logging: ${results.logging.costUsPerRequest} µs of service CPU per request; throughput ${T.openSign.rps} → ${T.openInfoSign.rps} req/s`);
  await stopChild(openInfo.child);

  // ---- latency at a fixed rate: floor and service alternate, autocannon overallRate and a paced open loop -------
  const fr = [];
  for (const [rate, pairs] of [
    [FIXED_RATE_OPEN, [['floor a', floorA], ['service auth off: order-sign', open]]],
    [FIXED_RATE_AUTH, [['floor b', floorB], ['service auth on: order-sign', authed]]],
  ]) {
    log(`\nlatency at ${rate} req/s (${P.connections} connections; ${P.fixedRounds} round(s) of ${P.fixedS} s per side and driver) [${elapsed()}]`);
    const acc = pairs.map(([label]) => ({ label, rate, autocannon: [], paced: [] }));
    if (P.warmupS > 0) {
      for (const [label, target] of pairs) checkRun(`${label} @${rate} (warm-up)`, await cannon(target, { path: SIGN, body: bodies.sign, pool: await poolFor(target, SIGN, rate, P.warmupS), duration: P.warmupS, overallRate: rate }));
    }
    for (let round_ = 1; round_ <= P.fixedRounds; round_++) {
      for (const [i, [label, target]] of pairs.entries()) {
        const ac = await cannon(target, { path: SIGN, body: bodies.sign, pool: await poolFor(target, SIGN, rate, P.fixedS), duration: P.fixedS, overallRate: rate });
        checkRun(`${label} @${rate} autocannon (round ${round_})`, ac);
        acc[i].autocannon.push(ac);
        // The paced cross-check is skipped in the smoke run (time).
        const pc = P.paced ? await paced(target, { path: SIGN, body: bodies.sign, pool: await poolFor(target, SIGN, rate, P.fixedS), rate, seconds: P.fixedS }) : undefined;
        if (pc) {
          checkRun(`${label} @${rate} paced (round ${round_})`, pc);
          acc[i].paced.push(pc);
        }
        log(`  r${round_} ${label.padEnd(30)} autocannon ${ac.rps} req/s p50 ${ac.p50Ms} p99 ${ac.p99Ms} ms${pc ? ` | paced ${pc.rps} req/s p50 ${pc.p50Ms} p99 ${pc.p99Ms} ms` : ''}  (other load on the service CPU ${ac.cpu.otherOnServiceCpu}${pc ? ` / ${pc.cpu.otherOnServiceCpu}` : ''})`);
      }
    }
    for (const a of acc) {
      const agg = (rs) => (rs.length === 0 ? { rps: null, p50Ms: null, p99Ms: null, otherOnServiceCpu: null, rounds: [] } : { rps: median(rs.map((r) => r.rps)), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)), otherOnServiceCpu: round(median(rs.map((r) => r.cpu.otherOnServiceCpu))), rounds: rs });
      fr.push({ label: a.label, rate, autocannon: agg(a.autocannon), paced: agg(a.paced) });
    }
  }
  results.fixedRate = fr;

  // ---- cost vs size ----------------------------------------------------------------------------------------
  log(`\ncost vs size (order-sign, authentication OFF, 1 connection) [${elapsed()}]`);
  const size = [];
  for (const n of SIZES) {
    const body = Buffer.from(JSON.stringify(sizedOrderSignBody(n)));
    await probe(open, SIGN, body, expectDecision(3));
    const amount = n >= 1000 ? P.sizeAmountBig : P.sizeAmount;
    // (autocannon takes at least a second per run, so the smoke run skips these warm-ups)
    if (P.sizeWarm > 0) checkRun(`size ${n} (warm-up)`, await cannon(open, { path: SIGN, body, connections: 1, amount: P.sizeWarm }));
    const r = await cannon(open, { path: SIGN, body, connections: 1, amount });
    checkRun(`size ${n}`, r);
    size.push({ orders: n, bodyBytes: body.length, ...r });
    log(`  ${String(n).padStart(5)} orders (${String(Math.round(body.length / 1024)).padStart(4)} KiB): mean ${r.meanMs} ms  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  CPU ${r.cpuMsPerReq} ms/req  (${r.requests} requests; other load on the service CPU ${r.cpu.otherOnServiceCpu})`);
  }
  for (const s of size) {
    s.perOrderMs = s.orders === 1 ? null : round((s.meanMs - size[0].meanMs) / (s.orders - 1), 4);
    s.perOrderCpuMs = s.orders === 1 ? null : round((s.cpuMsPerReq - size[0].cpuMsPerReq) / (s.orders - 1), 4);
  }
  results.openRss = rssMb(open.pid);
  await stopChild(open.child);

  // ---- prefetch miss -----------------------------------------------------------------------------------------
  log(`\nprefetch miss (coverage not prefetched; loopback FHIR server answers after ${FHIR_DELAY_MS} ms; auth on, ${P.missConnections} connections) [${elapsed()}]`);
  const missBody = Buffer.from(JSON.stringify(orderSignBody({
    prefetch: { patient: patient() }, fhirServer: fhirUrl,
    extra: { fhirAuthorization: { access_token: 'bench-ehr-access-token', token_type: 'Bearer', expires_in: 300, scope: 'patient/Coverage.read', subject: 'cds-service' } },
  })));
  await probe(authed, SIGN, missBody, expectDecision(3));
  const missExpected = P.missConnections * (1000 / (FHIR_DELAY_MS + 2));
  if (P.warmupS > 0) checkRun('prefetch miss (warm-up)', await cannon(authed, { path: SIGN, body: missBody, connections: P.missConnections, pool: await poolFor(authed, SIGN, missExpected, P.warmupS), duration: P.warmupS }));
  const hitsBefore = fhirHits;
  const miss = await cannon(authed, { path: SIGN, body: missBody, connections: P.missConnections, pool: await poolFor(authed, SIGN, missExpected, P.missS), duration: P.missS });
  checkRun('prefetch miss', miss);
  // One connection: the latency of a single call on the miss path, without queueing behind other calls.
  const miss1 = await cannon(authed, { path: SIGN, body: missBody, connections: 1, pool: await poolFor(authed, SIGN, P.missOneAmount, 1), amount: P.missOneAmount });
  checkRun('prefetch miss, 1 connection', miss1);
  results.prefetchMiss = { delayMs: FHIR_DELAY_MS, connections: P.missConnections, fhirQueries: fhirHits - hitsBefore - miss1.requests, ...miss, oneConnection: { rps: miss1.rps, p50Ms: miss1.p50Ms, p99Ms: miss1.p99Ms, meanMs: miss1.meanMs, cpuMsPerReq: miss1.cpuMsPerReq } };
  if (results.prefetchMiss.fhirQueries < miss.ok) fail(`prefetch miss: ${miss.ok} answers but only ${results.prefetchMiss.fhirQueries} FHIR queries`);
  log(`  ${P.missConnections} connections: ${miss.rps} req/s   p50 ${miss.p50Ms} ms   p99 ${miss.p99Ms} ms   CPU ${miss.cpuMsPerReq} ms/req   (${results.prefetchMiss.fhirQueries} Coverage queries answered; other load on the service CPU ${miss.cpu.otherOnServiceCpu})`);
  log(`  1 connection: ${miss1.rps} req/s   p50 ${miss1.p50Ms} ms   p99 ${miss1.p99Ms} ms   CPU ${miss1.cpuMsPerReq} ms/req`);
  await new Promise((r) => {
    fhir.close(() => r());
    fhir.closeAllConnections();
  });
  results.authRssAfterRuns = rssMb(authed.pid);

  // ---- soak ----------------------------------------------------------------------------------------------
  // The full run soaks a fresh start (on the same data dir); the smoke run reuses the running instance.
  log(`\nsoak: order-sign at ${P.soakRate} req/s, auth on, ${P.soakS} s; RSS sampled every ${P.soakSampleS} s (${SMOKE ? 'same instance' : 'fresh start on the same data dir'}) [${elapsed()}]`);
  let soakSvc = authed;
  if (!SMOKE) {
    await stopChild(authed.child);
    soakSvc = await startService({ auth: true, dataDir: dataAuth, label: 'service-soak' });
    await probe(soakSvc, SIGN, bodies.sign, expectDecision(3));
  }
  const rssAtStart = rssMb(soakSvc.pid);
  if (P.soakWarmS > 0) checkRun('soak (warm-up)', await cannon(soakSvc, { path: SIGN, body: bodies.sign, pool: await poolFor(soakSvc, SIGN, P.soakRate, P.soakWarmS), duration: P.soakWarmS, overallRate: P.soakRate }));
  const soakPool = await poolFor(soakSvc, SIGN, P.soakRate, P.soakS);
  const samples = [];
  const t0 = performance.now();
  // RSS from /proc, and the service's own view from /metrics (prom-client default metrics): V8 heap, external
  // memory of the main thread (PGlite's lives on its own thread: RSS only) and the write queue, to tell a JS leak
  // from database memory.
  const metric = (text, name) => {
    // Default metrics carry the registry's prefix (cds_ or cds_process_): match on the metric's own name.
    const m = new RegExp(`^(?:[a-z]+_)*?${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const sample = async () => {
    const t = round((performance.now() - t0) / 1000, 1);
    const rss = round(rssMb(soakSvc.pid), 1);
    let text = '';
    try {
      text = await (await fetch(`${soakSvc.url}/metrics`)).text();
    } catch {
      // the sample keeps its RSS
    }
    const mb = (name) => round((metric(text, name) ?? NaN) / 1048576, 1);
    samples.push({ t, rssMb: rss, heapUsedMb: mb('nodejs_heap_size_used_bytes'), heapTotalMb: mb('nodejs_heap_size_total_bytes'), externalMb: mb('nodejs_external_memory_bytes'), queueDepth: metric(text, 'storage_queue_depth'), queueWritten: metric(text, 'storage_queue_written') });
  };
  await sample();
  const timer = setInterval(() => void sample(), P.soakSampleS * 1000);
  const soak = await cannon(soakSvc, { path: SIGN, body: bodies.sign, pool: soakPool, duration: P.soakS, overallRate: P.soakRate });
  clearInterval(timer);
  await sample();
  samples.sort((a, b) => a.t - b.t);
  checkRun('soak', soak);
  const half = samples.filter((s) => s.t >= P.soakS / 2);
  const slope = (() => {
    const n = half.length;
    if (n < 2) return null;
    const mt = half.reduce((a, s) => a + s.t, 0) / n;
    const mr = half.reduce((a, s) => a + s.rssMb, 0) / n;
    const num = half.reduce((a, s) => a + (s.t - mt) * (s.rssMb - mr), 0);
    const den = half.reduce((a, s) => a + (s.t - mt) ** 2, 0);
    return den === 0 ? null : (num / den) * 60;
  })();
  const at = (t) => samples.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), samples[0]);
  results.soak = {
    rate: P.soakRate, seconds: P.soakS, rssAfterStartMb: round(rssAtStart, 1), startMb: samples[0].rssMb, midMb: at(P.soakS / 2).rssMb, endMb: samples[samples.length - 1].rssMb,
    maxMb: Math.max(...samples.map((s) => s.rssMb)), slopeSecondHalfMbPerMin: round(slope, 2),
    heapUsedMb: { start: samples[0].heapUsedMb, end: samples[samples.length - 1].heapUsedMb }, externalMb: { start: samples[0].externalMb, end: samples[samples.length - 1].externalMb },
    queueDepthMax: Math.max(...samples.map((s) => s.queueDepth ?? 0)), samples,
    rps: soak.rps, p50Ms: soak.p50Ms, p99Ms: soak.p99Ms, requests: soak.requests, non2xx: soak.non2xx, cpu: soak.cpu,
  };
  log(`  RSS after start ${results.soak.rssAfterStartMb} MB; soak start ${results.soak.startMb} / mid ${results.soak.midMb} / end ${results.soak.endMb} MB; slope over 2nd half ${results.soak.slopeSecondHalfMbPerMin} MB/min; ${soak.rps} req/s p99 ${soak.p99Ms} ms`);
  log(`  V8 heap used ${results.soak.heapUsedMb.start} → ${results.soak.heapUsedMb.end} MB; external (main thread; PGlite's memory is on its own thread) ${results.soak.externalMb.start} → ${results.soak.externalMb.end} MB; write queue depth ≤ ${results.soak.queueDepthMax}`);
  await stopChild(soakSvc.child);
  results.floorRss = { a: rssMb(floorA.pid), b: rssMb(floorB.pid), c: rssMb(floorC.pid) };
  await stopChild(floorC.child);
  await stopChild(floorA.child);
  await stopChild(floorB.child);

  // ---- verdicts ------------------------------------------------------------------------------------------
  const frGet = (label) => fr.find((f) => f.label === label);
  const ratioOpen = T.openSign.rps / T.floorA.rps;
  const ratioAuth = T.authSign.rps / T.floorB.rps;
  results.ratios = {
    authOff: { medianRps: round(ratioOpen), bestRps: round(T.openSign.bestRps / T.floorA.bestRps), cpuPerRequest: round(T.floorA.cpuMsPerReq / T.openSign.cpuMsPerReq) },
    authOn: { medianRps: round(ratioAuth), bestRps: round(T.authSign.bestRps / T.floorB.bestRps), cpuPerRequest: round(T.floorB.cpuMsPerReq / T.authSign.cpuMsPerReq) },
    // How much of the gap is the answer's size (floor c vs a) and how much the service's own work (service vs c).
    answerSize: { floorCvsA: round(T.floorC.rps / T.floorA.rps), serviceVsC: round(T.openSign.rps / T.floorC.rps), answerBytes: statSync(answerFile).size },
  };
  const p99Open = frGet('service auth off: order-sign').autocannon.p99Ms / frGet('floor a').autocannon.p99Ms;
  const p99Auth = frGet('service auth on: order-sign').autocannon.p99Ms / frGet('floor b').autocannon.p99Ms;
  const p99OpenPaced = frGet('service auth off: order-sign').paced.p99Ms / frGet('floor a').paced.p99Ms;
  const p99AuthPaced = frGet('service auth on: order-sign').paced.p99Ms / frGet('floor b').paced.p99Ms;
  const perOrder1000 = size.find((s) => s.orders === 1000).perOrderMs;
  const per100 = size.find((s) => s.orders === 100).perOrderMs;
  const cpu1000 = size.find((s) => s.orders === 1000).perOrderCpuMs;
  const cpu100 = size.find((s) => s.orders === 100).perOrderCpuMs;
  results.size = { rows: size, perOrderAt1000Ms: perOrder1000, linear: per100 > 0 ? round(perOrder1000 / per100, 2) : null, perOrderCpuAt1000Ms: cpu1000, linearCpu: cpu100 > 0 ? round(cpu1000 / cpu100, 2) : null };
  const slopeOk = results.soak.slopeSecondHalfMbPerMin !== null && results.soak.slopeSecondHalfMbPerMin <= TARGETS.slopeMbPerMin;
  results.targets = [
    { target: `order-sign throughput, auth off, vs floor a ≥ ${TARGETS.ratioOpen}`, value: round(ratioOpen), met: ratioOpen >= TARGETS.ratioOpen, note: `best rounds ${results.ratios.authOff.bestRps}; by CPU per request ${results.ratios.authOff.cpuPerRequest}` },
    { target: `order-sign throughput, auth on, vs floor b ≥ ${TARGETS.ratioAuth}`, value: round(ratioAuth), met: ratioAuth >= TARGETS.ratioAuth, note: `best rounds ${results.ratios.authOn.bestRps}; by CPU per request ${results.ratios.authOn.cpuPerRequest}` },
    { target: `p99 at ${FIXED_RATE_OPEN} req/s, auth off ≤ ${TARGETS.p99Factor} × floor a p99 (autocannon)`, value: round(p99Open), met: p99Open <= TARGETS.p99Factor, paced: round(p99OpenPaced) },
    { target: `p99 at ${FIXED_RATE_AUTH} req/s, auth on ≤ ${TARGETS.p99Factor} × floor b p99 (autocannon)`, value: round(p99Auth), met: p99Auth <= TARGETS.p99Factor, paced: round(p99AuthPaced) },
    { target: `per-order cost at 1,000 orders ≤ ${TARGETS.perOrderMs} ms`, value: perOrder1000, met: perOrder1000 <= TARGETS.perOrderMs, note: `by service CPU ${cpu1000} ms` },
    { target: `cold start to the first 200 on GET /cds-services (median, initialised data dir) ≤ ${TARGETS.coldStartMs} ms`, value: results.coldStart.medianMs, met: results.coldStart.medianMs <= TARGETS.coldStartMs, note: `storage ready (/readyz 200) at ${results.coldStart.storageReadyMedianMs} ms` },
    { target: `RSS after the soak ≤ ${TARGETS.rssMb} MB`, value: results.soak.endMb, met: results.soak.endMb <= TARGETS.rssMb },
    { target: `RSS flat over the soak's second half (slope ≤ ${TARGETS.slopeMbPerMin} MB/min)`, value: results.soak.slopeSecondHalfMbPerMin, met: slopeOk },
  ];
  const busy = tp.flatMap((t) => t.rounds.map((r) => ({ label: t.label, other: r.cpu.otherOnServiceCpu }))).filter((x) => x.other > 0.1);
  if (busy.length > 0) notes.push(`other processes took more than 0.1 of the service's CPU in ${busy.length} of ${tp.length * P.rounds} throughput runs (worst ${Math.max(...busy.map((b) => b.other))}): compare the CPU-per-request columns, which contention barely moves`);
  // A figure that could not be measured (null) never meets its target.
  for (const t of results.targets) if (typeof t.value !== 'number' || !Number.isFinite(t.value)) t.met = false;
  results.notes = notes;
  results.failures = failures;

  log('\ntargets');
  for (const t of results.targets) log(`  ${t.met ? 'met   ' : 'MISSED'} ${t.target}: ${t.value}${t.paced !== undefined ? ` (paced open-loop: ${t.paced})` : ''}${t.note ? ` (${t.note})` : ''}`);
  for (const n of notes) log(`  note: ${n}`);

  // Anything the services logged at error level is worth knowing.
  for (const f of ['service-open.log', 'service-auth.log', 'service-soak.log', 'service-open-info.log']) {
    const p = join(WORK, f);
    if (!existsSync(p)) continue;
    const errors = readFileSync(p, 'utf8').split('\n').filter((l) => /"level":(50|60)/.test(l));
    if (errors.length > 0) fail(`${f}: ${errors.length} error log lines, first: ${errors[0].slice(0, 300)}`);
  }

  const outDir = join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `${SMOKE ? 'smoke' : 'latest'}${DB_URL ? '-postgres' : ''}.json`);
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  log(`\nwrote ${outFile} [${elapsed()}]`);
  if (!SMOKE) {
    writeMarkdown(results);
    log(`wrote the figures into ${join(ROOT, 'BENCHMARKS.md')}`);
  }
  if (failures.length === 0) rmSync(WORK, { recursive: true, force: true });
  else log(`kept ${WORK} (service logs) for the failure(s) below`);
}

// ---------------------------------------------------------------------------------------------------------------
// BENCHMARKS.md: the generated section between the markers
// ---------------------------------------------------------------------------------------------------------------
function writeMarkdown(r) {
  const file = join(ROOT, 'BENCHMARKS.md');
  // The embedded default and the deployed topology each have their own generated section.
  const tag = DB_URL ? 'results-postgres' : 'results';
  const start = `<!-- bench:${tag}:start -->`;
  const end = `<!-- bench:${tag}:end -->`;
  const row = (cells) => `| ${cells.join(' | ')} |`;
  const lines = [start, '', `_Generated by \`npm run bench\` on ${r.meta.date} (commit ${r.meta.commit}); raw figures in \`bench/results/latest${DB_URL ? '-postgres' : ''}.json\`._`, ''];
  lines.push(`Machine: ${r.meta.cpuModel}, ${r.meta.nproc} CPUs (\`nproc\`), ${r.meta.memGiB} GiB, Node ${r.meta.node}; load average at start ${r.meta.loadavgAtStart}. ${r.meta.placement}. Persistence: ${r.meta.persistence}. The service runs as the Dockerfile's CMD: \`${r.meta.serviceCommand}\`.`, '');
  lines.push(`### Throughput (${r.meta.params.connections} connections, closed loop; median of ${r.meta.params.rounds} interleaved rounds of ${r.meta.params.throughputS} s)`, '');
  lines.push(row(['scenario', 'req/s (median)', 'best round', 'p50 ms', 'p99 ms', 'service CPU ms / request', 'other load on the service CPU']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const t of r.throughput) lines.push(row([t.label, t.rps, t.bestRps, t.p50Ms, t.p99Ms, t.cpuMsPerReq, t.otherOnServiceCpu]));
  lines.push('');
  lines.push(`Ratios, order-sign vs floor: auth off ${r.ratios.authOff.medianRps} (best rounds ${r.ratios.authOff.bestRps}, CPU per request ${r.ratios.authOff.cpuPerRequest}); auth on ${r.ratios.authOn.medianRps} (best rounds ${r.ratios.authOn.bestRps}, CPU per request ${r.ratios.authOn.cpuPerRequest}).`, '');
  lines.push(`The answer's size: floor c (the service's ${r.ratios.answerSize.answerBytes} B order-sign answer, precomputed) runs at ${r.ratios.answerSize.floorCvsA} × floor a; the service at ${r.ratios.answerSize.serviceVsC} × floor c — the rest of the gap is the service's own work.`, '');
  lines.push(`Request bodies: order-sign ${r.meta.bodyBytes.orderSign} B, order-select ${r.meta.bodyBytes.orderSelect} B, no sacroplasty ${r.meta.bodyBytes.noSacroplasty} B.`, '');
  lines.push(`### Latency at a fixed rate (${r.meta.params.connections} connections; median of ${r.meta.params.fixedRounds} alternating rounds of ${r.meta.params.fixedS} s per side and driver)`, '');
  lines.push(row(['scenario', 'rate', 'autocannon req/s', 'autocannon p50 ms', 'autocannon p99 ms', 'paced p50 ms', 'paced p99 ms', 'other load on the service CPU']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const f of r.fixedRate) lines.push(row([f.label, `${f.rate} req/s`, f.autocannon.rps, f.autocannon.p50Ms, f.autocannon.p99Ms, f.paced.p50Ms, f.paced.p99Ms, `${f.autocannon.otherOnServiceCpu} / ${f.paced.otherOnServiceCpu}`]));
  lines.push('');
  lines.push('### Cost vs size (order-sign, auth off, 1 connection)', '');
  lines.push(row(['draft orders', 'body', 'requests', 'mean ms', 'p50 ms', 'p99 ms', 'per-order ms (mean, vs 1)', 'service CPU ms / request', 'per-order CPU ms (vs 1)']));
  lines.push(row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const s of r.size.rows) lines.push(row([s.orders, `${Math.round(s.bodyBytes / 1024)} KiB`, s.requests, s.meanMs, s.p50Ms, s.p99Ms, s.perOrderMs ?? '—', s.cpuMsPerReq, s.perOrderCpuMs ?? '—']));
  lines.push('', `Per-order cost at 1,000 ÷ per-order cost at 100: ${r.size.linear} by latency, ${r.size.linearCpu} by CPU (1.0 = linear).`, '');
  const m = r.prefetchMiss;
  lines.push('### Prefetch miss, cold start, memory, logging', '');
  lines.push(row(['figure', 'value']));
  lines.push(row(['---', '---']));
  lines.push(row([`prefetch miss (FHIR answers after ${m.delayMs} ms, auth on, ${m.connections} connections, ${r.meta.params.missS} s)`, `${m.rps} req/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, ${m.cpuMsPerReq} ms CPU / request (${m.fhirQueries} Coverage queries)`]));
  lines.push(row([`prefetch miss, 1 connection (${r.meta.params.missOneAmount} requests)`, `${m.oneConnection.rps} req/s, p50 ${m.oneConnection.p50Ms} ms, p99 ${m.oneConnection.p99Ms} ms, ${m.oneConnection.cpuMsPerReq} ms CPU / request`]));
  lines.push(row(['cold start, first-ever (PGlite initdb + migrations): first 200 / storage ready', `${r.coldStart.firstEverMs} ms / ${r.coldStart.firstEverStorageReadyMs} ms`]));
  lines.push(row([`cold start, initialised data dir, first 200 on GET /cds-services (median of ${r.coldStart.startsMs.length})`, `${r.coldStart.medianMs} ms (${r.coldStart.startsMs.join(', ')})`]));
  lines.push(row([`… until /readyz 200, storage open (median of ${r.coldStart.storageReadyMs.length})`, `${r.coldStart.storageReadyMedianMs} ms (${r.coldStart.storageReadyMs.join(', ')})`]));
  if (r.coldStart.pgliteAlone) lines.push(row(['reference: PGlite alone opening that data dir (open + SELECT 1) / its process RSS', `${r.coldStart.pgliteAlone.openMs} ms / ${r.coldStart.pgliteAlone.rssMb} MB`]));
  lines.push(row(['RSS just after start (soak instance)', `${r.soak.rssAfterStartMb} MB`]));
  lines.push(row([`RSS during the soak (${r.soak.rate} req/s order-sign, auth on, ${r.soak.seconds} s): start / mid / end / max`, `${r.soak.startMb} / ${r.soak.midMb} / ${r.soak.endMb} / ${r.soak.maxMb} MB`]));
  lines.push(row(['RSS slope over the soak\'s second half', `${r.soak.slopeSecondHalfMbPerMin} MB/min`]));
  lines.push(row(['… of which V8 heap used (start → end) / external memory of the main thread (start → end; PGlite\'s memory is on its own thread and shows only in RSS)', `${r.soak.heapUsedMb.start} → ${r.soak.heapUsedMb.end} MB / ${r.soak.externalMb.start} → ${r.soak.externalMb.end} MB; write queue depth ≤ ${r.soak.queueDepthMax}`]));
  lines.push(row(['soak latency', `${r.soak.rps} req/s, p50 ${r.soak.p50Ms} ms, p99 ${r.soak.p99Ms} ms, ${r.soak.non2xx} non-2xx`]));
  lines.push(row(['floors\' RSS (a / b / c)', `${round(r.floorRss.a, 1)} / ${round(r.floorRss.b, 1)} / ${round(r.floorRss.c, 1)} MB`]));
  lines.push(row(['per-request info logging (order-sign, auth off, LOG_LEVEL=info vs warn, log to a file)', `${r.logging.costUsPerRequest} µs of service CPU per request (${r.logging.warn.cpuMsPerReq} → ${r.logging.info.cpuMsPerReq} ms); ${r.logging.warn.rps} → ${r.logging.info.rps} req/s`]));
  lines.push('');
  lines.push('### Targets', '');
  lines.push(row(['target', 'measured', 'verdict']));
  lines.push(row(['---', '---:', '---']));
  for (const t of r.targets) lines.push(row([t.target, `${t.value}${t.paced !== undefined ? ` (paced: ${t.paced})` : ''}${t.note ? ` (${t.note})` : ''}`, t.met ? 'met' : '**missed**']));
  if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `- note: ${n}`));
  if (r.failures.length > 0) lines.push('', ...r.failures.map((n) => `- FAILURE: ${n}`));
  lines.push('', end);
  const block = lines.join('\n');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const i = current.indexOf(start);
  const j = current.indexOf(end);
  const next = i >= 0 && j > i ? `${current.slice(0, i)}${block}${current.slice(j + end.length)}` : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

main().then(() => {
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.length} failure(s):\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
    process.exit(1);
  }
  process.exit(0);
}, (err) => {
  process.stderr.write(`benchmark crashed: ${err?.stack ?? err}\n`);
  for (const c of children) c.kill('SIGKILL');
  if (state.work) process.stderr.write(`kept ${state.work} (service logs)\n`);
  process.exit(1);
});
