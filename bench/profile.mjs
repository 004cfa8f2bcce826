// CPU profile of the service under order-sign load: runs node --cpu-prof on dist/server.js (as deployed, pinned
// like the benchmark), drives it with autocannon, and lists the top self-time functions and the share of each
// area (package, service module, GC) — counting only the samples taken while the load ran.
//
//   node bench/profile.mjs [--auth] [--seconds 15] [--body sign|none|select] [--log warn|info] [--env NAME=value] [--write]
//   node bench/profile.mjs --startup [--auth] [--write]     start-up instead: process start → first 200 on
//                                                          GET /cds-services, on an initialised PGlite data dir
//
// --write puts the summary into BENCHMARKS.md (between the bench:profile markers for this configuration).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noSacroplastyBody, orderSelectBody, orderSignBody } from './bodies.mjs';
import { LOADGEN_CPU, ROOT, SELECT, SIGN, cannon, checkRun, fail, failures, log, pinSelf, poolFor, probe, round, startService, state, stopChild } from './lib.mjs';
import { TokenMinter } from './tokens.mjs';

const require = createRequire(import.meta.url);
const { ensureDevClient, DEV_ISSUER } = require(join(ROOT, 'dist/tools/dev-token.js'));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const AUTH = process.argv.includes('--auth');
const SECONDS = Number(arg('seconds', '15'));
const BODY = arg('body', 'sign');
const LOG_LEVEL = arg('log', 'warn');
const TOP = Number(arg('top', '25'));
const STARTUP = process.argv.includes('--startup');
// --env NAME=value (repeatable): a setting for the profiled service, e.g. to compare STORAGE_COMMIT_WINDOW_MS values.
const EXTRA_ENV = Object.fromEntries(process.argv.flatMap((a, i) => (process.argv[i - 1] === '--env' ? [a.split(/=(.*)/s).slice(0, 2)] : [])));

/** Where a frame's code lives: a package, a module of the service, Node itself, or V8's pseudo-frames. */
function areaOf(frame) {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  // The service's only WebAssembly is PGlite's Postgres.
  if (url.startsWith('wasm://')) return 'PGlite: Postgres in WebAssembly';
  const nm = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] === '@electric-sql/pglite' ? 'PGlite: its JavaScript' : nm[1];
  const dist = /\/dist\/(.+?)\.js$/.exec(url);
  if (dist) return `service: ${dist[1].includes('/') ? dist[1].split('/')[0] : dist[1]}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/').slice(0, 2).join('/') : url.slice(5)}`;
  return url;
}
const short = (url) => url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');

/** Self time per function and per area, from the samples between `from` and `to` (µs, the profile's clock). */
function summarizeProfile(profile, from, to) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const d = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + d);
    total += d;
  }
  const fns = new Map();
  const areas = new Map();
  for (const [id, us] of self) {
    const { callFrame } = byId.get(id);
    const key = `${callFrame.functionName || '(anonymous)'}  ${callFrame.url ? `${short(callFrame.url)}:${callFrame.lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const area = areaOf(callFrame);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, ms: round(us / 1000, 1), pct: round((us / total) * 100, 1) }));
  // Inclusive time of the service's own functions (dist/): each sample counted once per function on its stack.
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const inclusive = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parentOf.get(cur)) {
      const { callFrame } = byId.get(cur);
      if (!short(callFrame.url).startsWith('dist/')) continue;
      const key = `${callFrame.functionName || '(anonymous)'}  ${short(callFrame.url)}:${callFrame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  return { totalMs: round(total / 1000, 0), functions: top(fns, TOP), areas: top(areas, 20), inclusive: top(inclusive, 20), stalls: stallsOf(profile, byId, from, to) };
}

/**
 * Stretches during which the event loop was held by one thing: consecutive samples whose stack is inside PGlite
 * (its JavaScript or its WebAssembly), or in the garbage collector. A request that arrives meanwhile waits.
 */
function stallsOf(profile, byId, from, to) {
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map();
  const classOf = (id) => {
    if (memo.has(id)) return memo.get(id);
    let cls = 'other';
    const own = byId.get(id).callFrame;
    if (own.functionName === '(garbage collector)') cls = 'gc';
    else {
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
        const { url } = byId.get(cur).callFrame;
        if (url.startsWith('wasm://') || url.includes('@electric-sql/pglite')) {
          cls = 'pglite';
          break;
        }
      }
    }
    memo.set(id, cls);
    return cls;
  };
  const runs = { pglite: [], gc: [] };
  let t = profile.startTime;
  let current;
  let started = 0;
  let last = 0;
  const close = () => {
    if (current && current !== 'other') runs[current].push((last - started) / 1000);
  };
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const cls = classOf(profile.samples[i]);
    if (cls !== current) {
      close();
      current = cls;
      started = t;
    }
    last = t + (profile.timeDeltas[i + 1] ?? 0);
  }
  close();
  const seconds = (to - from) / 1e6;
  const describe = (xs) => ({
    perSecondOver5ms: round(xs.filter((x) => x > 5).length / seconds, 1),
    perSecondOver10ms: round(xs.filter((x) => x > 10).length / seconds, 1),
    maxMs: round(Math.max(0, ...xs), 1),
    p99Ms: round([...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] ?? 0, 1),
  });
  return { pglite: describe(runs.pglite), gc: describe(runs.gc) };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cds-profile-'));
  state.work = work;
  state.P = { ...state.P, connections: 10 };
  pinSelf(LOADGEN_CPU);
  const { privateJwk, clientsFile } = await ensureDevClient(join(work, 'dev-client'));
  state.clientsFile = clientsFile;
  state.minter = new TokenMinter(privateJwk, DEV_ISSUER);
  const profDir = join(work, 'prof');
  const body = Buffer.from(JSON.stringify(BODY === 'none' ? noSacroplastyBody() : BODY === 'select' ? orderSelectBody() : orderSignBody()));
  const path = BODY === 'select' ? SELECT : SIGN;
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  let r;
  let from;
  let to;
  let config;
  if (STARTUP) {
    // Initialise the data dir first (initdb is the first-ever start, reported separately), then profile a start.
    const init = await startService({ auth: AUTH, dataDir: join(work, 'data'), label: 'init' });
    await stopChild(init.child);
    const svc = await startService({ auth: AUTH, dataDir: join(work, 'data'), label: 'profiled', logLevel: LOG_LEVEL, nodeArgs, extraEnv: EXTRA_ENV });
    to = Number(process.hrtime.bigint() / 1000n);
    from = 0;
    await stopChild(svc.child);
    r = { rps: 0, cpu: { serviceCores: 0 }, readyMs: round(svc.readyMs, 0) };
    config = `start-up to the first 200 on GET /cds-services (auth ${AUTH ? 'on' : 'off'}, initialised PGlite data dir; ${r.readyMs} ms with the profiler on)`;
  } else {
    const svc = await startService({ auth: AUTH, dataDir: join(work, 'data'), label: 'profiled', logLevel: LOG_LEVEL, nodeArgs, extraEnv: EXTRA_ENV });
    await probe(svc, path, body);
    checkRun('warm-up', await cannon(svc, { path, body, pool: await poolFor(svc, path, 1500, 3), duration: 3 }));
    const pool = await poolFor(svc, path, 1500, SECONDS);
    from = Number(process.hrtime.bigint() / 1000n);
    r = await cannon(svc, { path, body, pool, duration: SECONDS });
    to = Number(process.hrtime.bigint() / 1000n);
    checkRun('profiled load', r);
    await stopChild(svc.child);
    config = `order-${BODY === 'select' ? 'select' : 'sign'}${BODY === 'none' ? ' (no sacroplasty)' : ''}, auth ${AUTH ? 'on' : 'off'}, LOG_LEVEL=${LOG_LEVEL}`;
  }
  const file = existsSync(profDir) ? readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
  if (!file) throw new Error('no .cpuprofile written');
  const summary = summarizeProfile(JSON.parse(readFileSync(join(profDir, file), 'utf8')), from, to);
  log(`\nprofile: ${config}${STARTUP ? '' : `; ${r.rps} req/s over ${SECONDS} s`}; ${summary.totalMs} ms of samples in the window`);
  log('\ntop self time by area');
  for (const a of summary.areas) log(`  ${String(a.pct).padStart(5)} %  ${a.name}`);
  log('\ntop self time by function');
  for (const f of summary.functions) log(`  ${String(f.pct).padStart(5)} %  ${f.name}`);
  log('\ntotal (inclusive) time of the service\'s own functions');
  for (const f of summary.inclusive) log(`  ${String(f.pct).padStart(5)} %  ${f.name}`);
  const st = summary.stalls;
  const stallLine = (what, x) => `${what}: ${x.perSecondOver5ms}/s longer than 5 ms, ${x.perSecondOver10ms}/s longer than 10 ms, longest ${x.maxMs} ms`;
  log(`\nevent loop held (consecutive samples) — ${stallLine('inside PGlite', st.pglite)}; ${stallLine('in GC', st.gc)}`);
  if (process.argv.includes('--write')) {
    const md = join(ROOT, 'BENCHMARKS.md');
    const tag = STARTUP ? `profile startup ${AUTH ? 'auth-on' : 'auth-off'}` : `profile ${AUTH ? 'auth-on' : 'auth-off'} ${BODY} ${LOG_LEVEL}`;
    const start = `<!-- bench:${tag}:start -->`;
    const end = `<!-- bench:${tag}:end -->`;
    const how = STARTUP ? `node bench/profile.mjs --startup${AUTH ? ' --auth' : ''}` : `node bench/profile.mjs${AUTH ? ' --auth' : ''} --body ${BODY} --log ${LOG_LEVEL} --seconds ${SECONDS}`;
    const what = STARTUP ? `**${config}**` : `**${config}** — ${r.rps} req/s at 10 connections for ${SECONDS} s; service CPU ${r.cpu.serviceCores} of one core`;
    const lines = [start, '', `${what}; ${summary.totalMs} ms of samples in the window (\`${how}\`, ${new Date().toISOString().slice(0, 10)}).`, ''];
    lines.push('| self time | area |', '|---:|---|', ...summary.areas.slice(0, 12).map((a) => `| ${a.pct} % | ${a.name} |`), '');
    lines.push('| self time | function (file:line in the built code) |', '|---:|---|', ...summary.functions.slice(0, TOP).map((f) => `| ${f.pct} % | \`${f.name.replace(/\|/g, '\\|')}\` |`), '');
    lines.push('| total time | the service\'s own function, with everything it calls |', '|---:|---|', ...summary.inclusive.slice(0, 12).map((f) => `| ${f.pct} % | \`${f.name}\` |`), '');
    if (!STARTUP) lines.push(`Event loop held without a break (consecutive samples): ${stallLine('inside PGlite', st.pglite)}; ${stallLine('in the garbage collector', st.gc)}.`, '');
    lines.push(end);
    const current = readFileSync(md, 'utf8');
    const i = current.indexOf(start);
    const j = current.indexOf(end);
    writeFileSync(md, i >= 0 && j > i ? `${current.slice(0, i)}${lines.join('\n')}${current.slice(j + end.length)}` : `${current.trimEnd()}\n\n${lines.join('\n')}\n`);
    log(`\nwrote the summary into ${md}`);
  }
  rmSync(work, { recursive: true, force: true });
}

main().then(() => process.exit(failures.length > 0 ? 1 : 0), (err) => {
  fail(`profile crashed: ${err?.stack ?? err}`);
  process.exit(1);
});
