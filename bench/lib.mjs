/* eslint-disable @typescript-eslint/explicit-module-boundary-types -- plain JavaScript modules of the bench harness, not part of the typed service */
// Shared machinery of the benchmark harness (bench/run.mjs) and the profiler (bench/profile.mjs): CPU placement
// and accounting, the service and floor processes, autocannon and paced load, probes and run checks.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, Agent } from 'node:http';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { TokenPool } from './tokens.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SIGN = '/cds-services/order-sign-crd';
export const SELECT = '/cds-services/order-select-crd';
const COVERAGE_INFO = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

/** Set by the caller: work dir, CDS_CLIENTS file, token minter and the run parameters. */
export const state = { work: '', clientsFile: '', minter: undefined, P: { connections: 10, warmupS: 3, throughputS: 15, fixedS: 20 } };

export const failures = [];
export const notes = [];
export const fail = (what) => {
  failures.push(what);
  process.stderr.write(`FAIL: ${what}\n`);
};
export const log = (line) => process.stdout.write(`${line}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const round = (x, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

// ---------------------------------------------------------------------------------------------------------------
// CPU placement and accounting
// ---------------------------------------------------------------------------------------------------------------
export const NPROC = cpus().length;
export const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
export const PIN = NPROC >= 2 && hasTaskset && process.env['BENCH_NO_PIN'] !== '1';
export const SERVICE_CPU = '0';
export const LOADGEN_CPU = '1';
export function pinSelf(list) {
  if (PIN) execFileSync('taskset', ['-a', '-cp', list, String(process.pid)], { stdio: 'ignore' });
}
/**
 * With BENCH_DATABASE_URL on this machine, PostgreSQL's processes are moved to the load generator's CPU: in the
 * deployed topology the database is another host, and its work must not be counted as the service's core being
 * busy with something else. Returns a function that restores their previous placement. Best effort: without the
 * rights to move them (or with a remote server) nothing changes, and the report says so.
 */
export function pinPostgres() {
  if (!PIN) return { pinned: 0, restore: () => undefined };
  let pids = [];
  try {
    pids = execFileSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
  } catch {
    return { pinned: 0, restore: () => undefined };
  }
  const before = new Map();
  for (const pid of pids) {
    try {
      const mask = /affinity list: (\S+)/.exec(execFileSync('taskset', ['-cp', pid], { encoding: 'utf8' }))?.[1];
      execFileSync('taskset', ['-cp', LOADGEN_CPU, pid], { stdio: 'ignore' });
      if (mask) before.set(pid, mask);
    } catch {
      // the process ended, or it is not ours to move
    }
  }
  return {
    pinned: before.size,
    restore: () => {
      for (const [pid, mask] of before) {
        try {
          execFileSync('taskset', ['-cp', mask, pid], { stdio: 'ignore' });
        } catch {
          // gone meanwhile
        }
      }
    },
  };
}

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Busy ticks of the whole machine (`cpu` line of /proc/stat) or of one CPU (`cpuN`). */
export function busyTicks(cpu = '') {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `)) ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return f.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
}
export function pidTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
/**
 * CPU used during a run, in cores: by the process under test, by this harness (load generator), by anything else on
 * the machine, and by anything else on the service's own CPU (what actually slows the service down).
 */
export function cpuMeter(pid) {
  const t0 = performance.now();
  const sys0 = busyTicks();
  const core0 = PIN ? busyTicks(SERVICE_CPU) : sys0;
  const p0 = pidTicks(pid);
  const me0 = process.cpuUsage();
  return () => {
    const s = (performance.now() - t0) / 1000;
    const serviceS = (pidTicks(pid) - p0) / CLK_TCK;
    const me = process.cpuUsage(me0);
    const harnessS = (me.user + me.system) / 1e6;
    const allS = (busyTicks() - sys0) / CLK_TCK;
    const coreS = ((PIN ? busyTicks(SERVICE_CPU) : busyTicks()) - core0) / CLK_TCK;
    return {
      serviceCpuS: round(serviceS, 3), serviceCores: round(serviceS / s), loadgenCores: round(harnessS / s),
      otherCores: round(Math.max(0, allS - serviceS - harnessS) / s),
      otherOnServiceCpu: round(Math.max(0, coreS - serviceS - (PIN ? 0 : harnessS)) / s),
    };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Processes: the service and the floors
// ---------------------------------------------------------------------------------------------------------------
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export function tail(file, n = 20) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

export const children = new Set();
export function spawnPinned(args, options) {
  const cmd = PIN ? 'taskset' : process.execPath;
  const argv = PIN ? ['-c', SERVICE_CPU, process.execPath, ...args] : args;
  const child = spawn(cmd, argv, options);
  children.add(child);
  child.exited = new Promise((r) => child.once('exit', (code, signal) => {
    children.delete(child);
    // A service or floor that exits while it is being measured (a crash, or a signal from another process on the
    // machine) fails the run, with how it ended.
    if (child.watched && !child.stopping) fail(`${child.watched} (pid ${child.pid}) exited unexpectedly: ${signal ? `signal ${signal}` : `code ${code}`}`);
    r({ code, signal });
  }));
  return child;
}
export async function stopChild(child) {
  child.stopping = true;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const { code, signal } = await child.exited;
  clearTimeout(t);
  if (code !== 0) notes.push(`a child process exited with ${code ?? signal} on SIGTERM`);
}

/**
 * GET url until it answers 200; resolves with ms since `t0`. `headers` is called for every attempt, so each one
 * carries a fresh token (an attempt that timed out may still have spent its jti on the server).
 */
export async function waitFor200(url, t0, child, logFile, headers = () => ({})) {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited before answering (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
    const { status, text } = await new Promise((res) => {
      const req = httpRequest(url, { agent: false, headers: headers() }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c) => { body += c; });
        r.on('end', () => res({ status: r.statusCode, text: body }));
      });
      req.on('error', () => res({ status: 0, text: '' }));
      req.setTimeout(10_000, () => req.destroy());
      req.end();
    });
    if (status === 200) return performance.now() - t0;
    if (status !== 0 && status !== 503) throw new Error(`${url} answered ${status} while starting: ${text.slice(0, 300)}\n${tail(logFile)}`);
    if (performance.now() - t0 > 120_000) throw new Error(`${url} not ready after 120 s:\n${tail(logFile)}`);
    await sleep(5);
  }
}

export const DB_URL = process.env['BENCH_DATABASE_URL'];

/** Node's arguments in the container's CMD (Dockerfile), so the bench runs the service exactly as deployed. */
export const DEPLOYED_NODE_ARGS = (() => {
  const cmd = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((l) => l.startsWith('CMD [')).pop();
  const args = cmd ? JSON.parse(cmd.slice(4)) : ['node', 'dist/server.js'];
  return args.slice(1, args.indexOf('dist/server.js'));
})();

export async function startService({ auth, logLevel = 'warn', dataDir, label, nodeArgs = [], extraEnv = {} }) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NODE_ENV: 'production',
    PORT: String(port), HOST: '127.0.0.1', CDS_PUBLIC_URL: url, DATA_DIR: dataDir, LOG_LEVEL: logLevel,
    ...(auth ? { CDS_CLIENTS: state.clientsFile } : { CDS_ALLOW_UNAUTHENTICATED: 'true' }),
    ...(DB_URL ? { DATABASE_URL: DB_URL, MEMBER_HASH_KEY: 'bench-member-hash-key-0123456789abcdef' } : {}),
    // The loopback EHR's FHIR server is https (production reads no other); its certificate is trusted like a CA.
    ...(state.extraCaFile ? { NODE_EXTRA_CA_CERTS: state.extraCaFile } : {}),
    ...extraEnv,
  };
  const logFile = join(state.work, `${label}.log`);
  const fd = openSync(logFile, 'a');
  const t0 = performance.now();
  const child = spawnPinned([...DEPLOYED_NODE_ARGS, ...nodeArgs, 'dist/server.js'], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  // First 200 on discovery (the service answers while its database still opens in the background), then /readyz
  // 200 (storage open and migrated). Measurements start only after both.
  const readyMs = await waitFor200(`${url}/cds-services`, t0, child, logFile, () => (auth ? { authorization: `Bearer ${state.minter.mintSync(`${url}/cds-services`)}` } : {}));
  const storageReadyMs = await waitFor200(`${url}/readyz`, t0, child, logFile);
  child.watched = label;
  return { child, pid: child.pid, url, auth, label, logFile, readyMs, storageReadyMs };
}

export async function startFloor(mode, answerFile) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(state.work, `floor-${mode}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawnPinned([join(ROOT, 'bench/floor-server.mjs'), mode, String(port), ...(mode === 'c' ? [answerFile] : [state.clientsFile, url])], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production' }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  for (let i = 0; i < 2000 && !readFileSync(logFile, 'utf8').includes('listening'); i++) {
    if (child.exitCode !== null) throw new Error(`floor ${mode} exited:\n${tail(logFile)}`);
    await sleep(10);
  }
  child.watched = `floor-${mode}`;
  return { child, pid: child.pid, url, auth: mode === 'b', label: `floor-${mode}`, logFile };
}

// ---------------------------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------------------------
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
export function summarize(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  const mean = sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1);
  return { n: sorted.length, meanMs: round(mean, 3), p50Ms: round(percentile(sorted, 50), 3), p90Ms: round(percentile(sorted, 90), 3), p99Ms: round(percentile(sorted, 99), 3), maxMs: round(sorted[sorted.length - 1] ?? null, 3) };
}

/** Tokens a run will need: rate estimate × time, with margin; a dry pool still works (counted, signed in-run). */
export async function poolFor(target, path, expectedRps, seconds) {
  if (!target.auth) return null;
  const audience = `${target.url}${path}`;
  const count = Math.ceil(expectedRps * seconds * 1.25) + 2 * state.P.connections + 50;
  pinSelf(`${SERVICE_CPU},${LOADGEN_CPU}`); // sign on both cores while nothing is measured
  const tokens = await state.minter.mint(audience, count);
  pinSelf(LOADGEN_CPU);
  return new TokenPool(state.minter, audience, tokens);
}

/**
 * One autocannon run. Latencies are recorded here from autocannon's per-response event with sub-millisecond
 * precision (autocannon's own histogram keeps whole milliseconds), 2xx and non-2xx counted.
 */
export function cannon(target, { path, body, pool, connections = state.P.connections, duration, amount, overallRate }) {
  const headers = { 'content-type': 'application/json' };
  const request = { method: 'POST', path, headers, body };
  if (pool) {
    request.setupRequest = (req) => {
      req.headers = { ...req.headers, authorization: `Bearer ${pool.next()}` };
      return req;
    };
  }
  const latencies = [];
  const statuses = {};
  const meter = cpuMeter(target.pid);
  return new Promise((resolvePromise, reject) => {
    const inst = autocannon({
      url: target.url, connections, pipelining: 1, requests: [request], timeout: 30,
      ...(amount ? { amount } : { duration }),
      // With a rate, autocannon would add synthetic samples (its expected interval is computed in whole ms);
      // latencies are recorded here from the response events anyway.
      ...(overallRate ? { overallRate, ignoreCoordinatedOmission: true } : {}),
    }, (err, r) => {
      if (err) {
        reject(err);
        return;
      }
      const cpu = meter();
      const ok = Object.entries(statuses).filter(([s]) => s.startsWith('2')).reduce((a, [, n]) => a + n, 0);
      const total = Object.values(statuses).reduce((a, n) => a + n, 0);
      resolvePromise({
        rps: round(total / r.duration, 1), durationS: r.duration, requests: total, ok, non2xx: total - ok, errors: r.errors, timeouts: r.timeouts,
        statuses, ...summarize(latencies), cpu, cpuMsPerReq: total > 0 ? round((cpu.serviceCpuS * 1000) / total, 3) : null, tokensDry: pool?.dry ?? 0,
      });
    });
    inst.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}

/**
 * Open-loop paced load: one request every 1/rate s on a keep-alive agent, latency measured from the scheduled
 * send time (no coordinated omission). A cross-check on autocannon's overallRate, which sends each second's quota
 * per connection back to back and then idles.
 */
export function paced(target, { path, body, pool, rate, seconds }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let sent = 0;
  let done = 0;
  const meter = cpuMeter(target.pid);
  const u = new URL(path, target.url);
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const finish = () => {
      agent.destroy();
      const ok = Object.entries(statuses).filter(([s]) => s.startsWith('2')).reduce((a, [, n]) => a + n, 0);
      const count = Object.values(statuses).reduce((a, n) => a + n, 0);
      const durationS = (performance.now() - t0) / 1000;
      const cpu = meter();
      resolvePromise({ rps: round(count / durationS, 1), durationS: round(durationS), requests: count, ok, non2xx: count - ok, errors, timeouts: 0, statuses, ...summarize(latencies), cpu, cpuMsPerReq: count > 0 ? round((cpu.serviceCpuS * 1000) / count, 3) : null, tokensDry: pool?.dry ?? 0 });
    };
    const fire = (scheduled) => {
      const headers = { 'content-type': 'application/json', 'content-length': String(body.length), ...(pool ? { authorization: `Bearer ${pool.next()}` } : {}) };
      const req = httpRequest({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - scheduled);
          if (++done === total) finish();
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        if (++done === total) finish();
      });
      req.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1);
      while (sent < due) fire(t0 + sent++ * interval);
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
    };
    tick();
  });
}

/** One request, to check the answer is what the scenario means to measure (not an error or another path). */
export async function probe(target, path, body, check) {
  const headers = { 'content-type': 'application/json' };
  if (target.auth) headers.authorization = `Bearer ${state.minter.mintSync(`${target.url}${path}`)}`;
  const res = await fetch(`${target.url}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const problem = res.status !== 200 ? `HTTP ${res.status}: ${text.slice(0, 300)}` : check?.(json);
  if (problem) fail(`${target.label} ${path}: ${problem}`);
  return json;
}

/** The covered codes of every coverage-information update in an answer, in order. */
export function coveredOf(json) {
  return (json?.systemActions ?? []).map((a) => a?.resource?.extension?.find((e) => e.url === COVERAGE_INFO)?.extension?.find((e) => e.url === 'covered')?.valueCode);
}
/** The sacroplasty's cards, and a not-covered decision for it among the decisions for every order. */
export const expectDecision = (cards) => (json) => {
  if (!Array.isArray(json?.cards) || json.cards.length !== cards) return `expected ${cards} cards, got ${json?.cards?.length}`;
  if (!coveredOf(json).includes('not-covered')) return `expected a coverage-information covered=not-covered, got ${coveredOf(json).join(', ')}`;
  return undefined;
};
export const expectCards = (cards) => (json) => (Array.isArray(json?.cards) && json.cards.length === cards ? undefined : `expected ${cards} cards, got ${json?.cards?.length}`);

export function checkRun(label, r) {
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0 || r.ok === 0) {
    fail(`${label}: ${r.ok} 2xx, ${r.non2xx} non-2xx (${JSON.stringify(r.statuses)}), ${r.errors} errors, ${r.timeouts} timeouts`);
  }
  if (r.tokensDry > 0) notes.push(`${label}: token pool ran dry, ${r.tokensDry} tokens signed during the run (load-generator CPU)`);
}
