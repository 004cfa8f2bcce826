/**
 * Operational test harness: the service as it is deployed — `node dist/server.js` child processes on loopback
 * ports, each with its own DATA_DIR, on PGlite or on a fresh PostgreSQL schema — plus a small HTTP client, a
 * PostgreSQL helper and a check that jest's globalSetup built dist/. Not a test file (jest only runs *.test.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { pgliteTemplate } from '../data-dir';
import { Agent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Pool } from 'pg';

export const ROOT = resolve(__dirname, '..', '..');
export const BUILD_TIMEOUT_MS = 180_000;
/** PGlite's first start runs initdb (about 10 s here, more when both jest workers start one). */
export const START_TIMEOUT_MS = 90_000;
export const PG_URL = process.env['TEST_DATABASE_URL'] || undefined;
export const SIGN = '/cds-services/order-sign-crd';
export const SELECT = '/cds-services/order-select-crd';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const COVERAGE_INFO_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';

/** `describe` when TEST_DATABASE_URL is set; otherwise the suite is skipped, and says so in the output. */
export function describePg(title: string, fn: () => void): void {
  if (PG_URL) {
    describe(title, fn);
    return;
  }
  process.stderr.write(`\n[test/operations] SKIPPED "${title}": it needs PostgreSQL; set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test, as .ci/run does).\n`);
  describe.skip(`${title} (skipped: TEST_DATABASE_URL is not set)`, fn);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined; throws with `what` (and the last error) after the deadline. */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 15_000, everyMs = 100): Promise<T> {
  const give = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > give) throw new Error(`Gave up after ${deadlineMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

/** dist/ is built once for the whole jest run by test/global-setup.ts; this only checks it is there. */
export function buildOnce(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'server.js'))) return Promise.reject(new Error('dist/server.js is missing: jest\'s globalSetup (test/global-setup.ts) builds it'));
  return Promise.resolve();
}

// ---------------------------------------------------------------------------------------------------------------
// Temp dirs and ports

const tempDirs: string[] = [];
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ops-${label}-`));
  tempDirs.push(dir);
  return dir;
}
/** A new DATA_DIR gets a copy of the run's initialised embedded database (test/data-dir.ts), unless on PostgreSQL. */
function seeded(dir: string, postgres: boolean): string {
  const template = pgliteTemplate();
  if (template && !postgres) cpSync(template, join(dir, 'pglite'), { recursive: true });
  return dir;
}
export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A loopback port nobody listens on right now (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r, j) => {
    server.once('error', j);
    server.listen(0, '127.0.0.1', r);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------------------------------------------
// Service processes

export interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

export interface Replica {
  name: string;
  url: string;
  port: number;
  dataDir: string;
  env: Record<string, string>;
  child: ChildProcess;
  /** Every JSON log line printed so far. */
  logs: LogLine[];
  /** Raw stdout and stderr, for failure messages. */
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running: () => boolean;
  /** SIGTERM, then wait for the process to exit (SIGKILL only if it has not after `deadlineMs`, reported as such). */
  stop: (deadlineMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
  /** kill -9: no drain, no close; resolves once the process is gone. */
  kill9: () => Promise<void>;
}

const replicas: Replica[] = [];

export interface StartOptions {
  name: string;
  env?: Record<string, string | undefined>;
  /** Reuse a DATA_DIR (restart); default a fresh temp dir. */
  dataDir?: string;
  /** Reuse a port (restart); default a free one. */
  port?: number;
  /**
   * Also wait for /readyz 200 (the service listens before its database is open; default true). Off when the
   * database is meant to be unreachable.
   */
  waitReady?: boolean;
}

/**
 * Spawns `node dist/server.js` and resolves once it logged "CDS Hooks service listening" (with its URL) and, unless
 * `waitReady` is false, once /readyz answers 200 (storage open and migrated).
 */
export async function startReplica(options: StartOptions): Promise<Replica> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? seeded(tempDir(`data-${options.name}`), options.env?.['DATABASE_URL'] !== undefined);
  // A clean environment: nothing of the developer's (DATABASE_URL, CDS_CLIENTS, NODE_ENV …) leaks in.
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? tmpdir(),
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  const child = spawn(process.execPath, ['dist/server.js'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      r(exitInfo);
    });
  });
  let onListening: ((url: string) => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const parsed = JSON.parse(line) as LogLine;
        logs.push(parsed);
        if (parsed.msg === 'CDS Hooks service listening' && typeof parsed['url'] === 'string') onListening?.(parsed['url']);
      } catch {
        // not JSON: kept in stdout
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const output = (): string => `--- stdout (${options.name}) ---\n${stdout.slice(-6000)}\n--- stderr ---\n${stderr.slice(-3000)}`;
  const replica: Replica = {
    name: options.name, url: '', port, dataDir, env, child, logs, output, exited,
    running: () => exitInfo === undefined,
    stop: async (deadlineMs = 20_000) => {
      if (exitInfo) return { ...exitInfo, killed: false };
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => {
        timer = setTimeout(() => r('late'), deadlineMs);
      });
      const first = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (first === 'late') {
        child.kill('SIGKILL');
        return { ...(await exited), killed: true };
      }
      return { ...first, killed: false };
    },
    kill9: async () => {
      if (exitInfo) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  replicas.push(replica);
  let startTimer: NodeJS.Timeout | undefined;
  try {
    replica.url = await new Promise<string>((resolveUrl, reject) => {
      onListening = resolveUrl;
      void exited.then((e) => reject(new Error(`${options.name} exited (${e.code ?? e.signal}) before listening\n${output()}`)));
      startTimer = setTimeout(() => reject(new Error(`${options.name} did not log "CDS Hooks service listening" within ${START_TIMEOUT_MS} ms\n${output()}`)), START_TIMEOUT_MS);
    });
    if (options.waitReady !== false) {
      const give = Date.now() + START_TIMEOUT_MS;
      let last = '';
      for (;;) {
        if (exitInfo) throw new Error(`${options.name} exited (${exitInfo.code ?? exitInfo.signal}) before it was ready\n${output()}`);
        const res = await http('GET', `${replica.url}/readyz`).catch((e: Error) => ({ status: 0, text: e.message }));
        if (res.status === 200) break;
        last = `${res.status} ${res.text}`;
        if (Date.now() > give) throw new Error(`${options.name} was not ready within ${START_TIMEOUT_MS} ms (last /readyz: ${last})\n${output()}`);
        await sleep(100);
      }
    }
  } catch (e) {
    await replica.stop();
    throw e;
  } finally {
    clearTimeout(startTimer);
  }
  return replica;
}

/** afterAll: SIGTERM every replica still running and wait for each to exit. */
export async function stopAllReplicas(): Promise<void> {
  await Promise.all(replicas.splice(0).map((r) => r.stop()));
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: <T = Record<string, unknown>>() => T;
}

/** Keep-alive connections shared by the tests of a file (bounded, like a load balancer's upstream pool). */
export const agent = new Agent({ keepAlive: true, maxSockets: 128 });

/** One HTTP request; rejects (naming the URL) when no complete answer arrived within `timeoutMs`. */
export function http(method: string, url: string, options: { headers?: Record<string, string>; body?: unknown; timeoutMs?: number; agent?: Agent } = {}): Promise<HttpResponse> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const payload = options.body === undefined ? undefined : Buffer.from(typeof options.body === 'string' ? options.body : JSON.stringify(options.body));
  return new Promise<HttpResponse>((resolveResponse, reject) => {
    const req = httpRequest(url, {
      method, agent: options.agent ?? agent,
      headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...options.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        resolveResponse({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: <T>() => {
            try {
              return JSON.parse(text) as T;
            } catch {
              throw new Error(`${method} ${url} → ${res.statusCode}: not JSON: ${text.slice(0, 300)}`);
            }
          },
        });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Requests shaped like an EHR's

type Json = Record<string, unknown>;
export const newHookInstance = (): string => randomUUID();

export function sacroplastyOrder(id = 'sr-sacro-1', patientId = 'p1'): Json {
  return {
    resourceType: 'ServiceRequest', id, status: 'draft', intent: 'order',
    code: { coding: [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }] },
    subject: { reference: `Patient/${patientId}` }, requester: { reference: 'Practitioner/d1' }, authoredOn: '2026-11-23T11:00:00Z',
  };
}

export function physicalTherapyOrder(id = 'sr-pt-1', patientId = 'p1'): Json {
  return {
    resourceType: 'ServiceRequest', id, status: 'draft', intent: 'order',
    code: { coding: [{ system: CPT, code: '97161', display: 'Physical therapy evaluation, low complexity' }] },
    subject: { reference: `Patient/${patientId}` }, requester: { reference: 'Practitioner/d1' }, authoredOn: '2026-11-23T11:00:00Z',
  };
}

/** A hook request with the patient and the member's active Coverage prefetched. */
export function hookBody(hook: 'order-sign' | 'order-select', orders: Json[], options: { patientId?: string; hookInstance?: string } = {}): Json {
  const patientId = options.patientId ?? 'p1';
  return {
    hook,
    hookInstance: options.hookInstance ?? newHookInstance(),
    fhirServer: 'http://127.0.0.1:9/fhir',
    context: {
      userId: 'Practitioner/d1', patientId, encounterId: 'e1',
      draftOrders: { resourceType: 'Bundle', type: 'collection', entry: orders.map((resource) => ({ resource })) },
      ...(hook === 'order-select' ? { selections: orders.map((o) => `${String(o['resourceType'])}/${String(o['id'])}`) } : {}),
    },
    prefetch: {
      patient: { resourceType: 'Patient', id: patientId, birthDate: '1948-03-02', gender: 'female' },
      coverage: {
        resourceType: 'Bundle', type: 'searchset',
        entry: [{ resource: { resourceType: 'Coverage', id: `cov-${patientId}`, status: 'active', beneficiary: { reference: `Patient/${patientId}` }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] } }],
      },
    },
  };
}

export interface Card {
  uuid: string;
  summary: string;
  source: { topic?: { code?: string } };
  suggestions?: Array<{ uuid: string; label: string }>;
  overrideReasons?: Array<{ system?: string; code?: string; display?: string }>;
}
export interface HookResponse {
  cards: Card[];
  systemActions?: Array<{ type: string; resource: { extension?: Array<{ url: string; extension?: Array<{ url: string; valueString?: string; valueCode?: string; valueCoding?: { code?: string } }> }> } }>;
}

/** The coverage-information decisions in a response's systemActions: assertion id, covered, billing code. */
export function decisionsOf(response: HookResponse): Array<{ id: string; covered: string; code: string | undefined }> {
  const out: Array<{ id: string; covered: string; code: string | undefined }> = [];
  for (const action of response.systemActions ?? []) {
    for (const ext of action.resource.extension ?? []) {
      if (ext.url !== COVERAGE_INFO_URL) continue;
      const part = (url: string) => ext.extension?.find((e) => e.url === url);
      const id = part('coverage-assertion-id')?.valueString;
      if (id) out.push({ id, covered: part('covered')?.valueCode ?? '', code: part('billingCode')?.valueCoding?.code });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

/** The connection string with its search_path set to `schema` (libpq `options`, which `pg` honours). */
export function schemaUrl(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export interface TestSchema {
  name: string;
  /** TEST_DATABASE_URL with search_path = this schema. */
  url: string;
  query: <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;
  drop: () => Promise<void>;
}

/** CREATE SCHEMA ops_<label>_<random> on TEST_DATABASE_URL; drop() removes it with everything in it. */
export async function createSchema(label: string): Promise<TestSchema> {
  if (!PG_URL) throw new Error('createSchema needs TEST_DATABASE_URL');
  const name = `ops_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } finally {
    await admin.end();
  }
  const url = schemaUrl(PG_URL, name);
  const pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  return {
    name, url,
    query: async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[],
    drop: async () => {
      await pool.end();
      const c = new Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Storage for a replica: a fresh PostgreSQL schema when TEST_DATABASE_URL is set, else the embedded PGlite. */
export async function storageFor(label: string): Promise<{ env: Record<string, string>; backend: 'postgres' | 'pglite'; schema?: TestSchema; cleanup: () => Promise<void> }> {
  if (!PG_URL) return { env: {}, backend: 'pglite', cleanup: () => Promise.resolve() };
  const schema = await createSchema(label);
  return { env: { DATABASE_URL: schema.url }, backend: 'postgres', schema, cleanup: () => schema.drop() };
}

/** The OperationOutcome's first diagnostics, for assertions on what an error said. */
export function diagnostics(res: HttpResponse): string {
  try {
    return String(res.json<{ issue?: Array<{ diagnostics?: string }> }>().issue?.[0]?.diagnostics ?? res.text);
  } catch {
    return res.text;
  }
}
