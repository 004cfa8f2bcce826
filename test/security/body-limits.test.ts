/**
 * Issue 13, items 4, 11 and 12: request bodies under the Dockerfile's heap (`--max-old-space-size=256`). The built
 * service runs as a child process (test/operations/harness.ts) and is attacked with raw sockets: 60 stalled uploads
 * declaring 5 MiB (the process used to run out of heap within 4 s; a stalled body held its socket 300 s), ten
 * concurrent maximum-size bodies (/healthz used to wait 14–16 s), and, with CDS_CLIENTS set, unauthenticated
 * uploads (their bodies used to be read before the JWT was looked at).
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devToken, ensureDevClient } from '../../src/tools/dev-token';
import {
  SIGN, buildOnce, hookBody, http, removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, storageFor,
} from '../operations/harness';
import type { Replica } from '../operations/harness';

jest.setTimeout(180_000);

const MiB = 1024 * 1024;
const BODY_TIMEOUT_MS = 1000;
/** The Dockerfile's heap bound, through the environment (the harness runs `node dist/server.js`). */
const DOCKER_HEAP = { NODE_OPTIONS: '--max-old-space-size=256' };
const CRD_BUDGET_MS = 5000;

afterAll(async () => {
  await stopAllReplicas();
  removeTempDirs();
});

interface RawAnswer {
  /** The status line's code, or 0 when the socket closed without an answer. */
  status: number;
  /** Milliseconds from the headers being sent to the socket closing. */
  closedAfterMs: number;
  text: string;
}

/**
 * Opens a socket, sends a POST's headers declaring `declared` bytes and then `start` of the body, and never sends
 * the rest. Resolves when the server closes the socket, with what it answered.
 */
function stalledUpload(url: string, path: string, declared: number, start: string, headers: Record<string, string> = {}): { socket: Socket; done: Promise<RawAnswer> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let text = '';
  const sent = Date.now();
  const done = new Promise<RawAnswer>((resolve) => {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closedAfterMs: Date.now() - sent, text }));
  });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n${extra}\r\n${start}`);
  return { socket, done };
}

/** A valid order-sign call made `size` bytes long by a long clinical note on the order (a maximum-size body). */
function bodyOfSize(size: number): Buffer {
  const order = { ...sacroplastyOrder('sr-big'), note: [{ text: '' }] };
  const base = Buffer.byteLength(JSON.stringify(hookBody('order-sign', [order])));
  order.note = [{ text: 'Sacral insufficiency fracture. '.repeat(Math.ceil((size - base) / 31)).slice(0, size - base) }];
  const body = Buffer.from(JSON.stringify(hookBody('order-sign', [order])));
  expect(body.length).toBe(size);
  return body;
}

function post(url: string, body: Buffer): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
};

/** A real order-sign call for a sacroplasty order: 200 with the policy's cards. */
async function expectHookAnswered(replica: Replica, headers: Record<string, string> = {}): Promise<number> {
  const started = Date.now();
  const res = await http('POST', `${replica.url}${SIGN}`, { body: hookBody('order-sign', [sacroplastyOrder()], { hookInstance: randomUUID() }), headers, timeoutMs: CRD_BUDGET_MS });
  const ms = Date.now() - started;
  if (res.status !== 200) throw new Error(`order-sign answered ${res.status}: ${res.text.slice(0, 300)}`);
  const cards = res.json<{ cards: Array<{ summary: string }> }>().cards;
  expect(cards.some((c) => /not covered/i.test(c.summary))).toBe(true);
  return ms;
}

describe('the heap-bounded service (--max-old-space-size=256) under body floods', () => {
  let replica: Replica;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await buildOnce();
    // PostgreSQL when TEST_DATABASE_URL is set (as a payer runs it), else PGlite. The flood's calls share the CPU
    // with the small call's commit: its commit may wait up to 4 s, still inside CRD's budget.
    const storage = await storageFor('body-limits');
    cleanup = storage.cleanup;
    replica = await startReplica({ name: 'body-limits', env: { ...storage.env, ...DOCKER_HEAP, BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), STORAGE_COMMIT_WAIT_MS: '4000' } });
  });
  afterAll(async () => {
    await replica.stop();
    await cleanup?.();
  });

  it('60 stalled uploads declaring 5 MiB: refused at once past MAX_BUFFERED_BYTES or closed after BODY_TIMEOUT_MS, and hooks are still answered', async () => {
    const uploads = Array.from({ length: 60 }, () => stalledUpload(replica.url, SIGN, 5 * MiB, '{"hook":"order-sign","context":{'));
    try {
      // While they stall: liveness and a real hook call.
      const health = await http('GET', `${replica.url}/healthz`, { timeoutMs: CRD_BUDGET_MS });
      expect(health.status).toBe(200);
      await expectHookAnswered(replica);
      const answers = await Promise.all(uploads.map((u) => u.done));
      const byStatus = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});
      // 64 MiB hold 12 declared 5 MiB bodies: those wait BODY_TIMEOUT_MS (408); the rest are 503 + Retry-After, unread.
      expect(byStatus[408]).toBeGreaterThanOrEqual(1);
      expect((byStatus[408] ?? 0) + (byStatus[503] ?? 0)).toBe(60);
      for (const a of answers) {
        expect(a.closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 4000);
        expect(a.text).toMatch(/\r\nconnection: close\r\n/i);
        if (a.status === 503) expect(a.text).toMatch(/\r\nretry-after: \d+\r\n/i);
        expect(a.text).toContain('"resourceType":"OperationOutcome"');
      }
    } finally {
      for (const u of uploads) u.socket.destroy();
    }
    expect(replica.running()).toBe(true);
    expect((await http('GET', `${replica.url}/healthz`)).status).toBe(200);
    await expectHookAnswered(replica);
  });

  it('ten concurrent maximum-size bodies: /healthz p99 and a hook call stay within CRD\'s 5 s', async () => {
    // The default BODY_TIMEOUT_MS (10 s): with the CPU busy parsing and deciding, a 5 MiB upload may take over 1 s.
    const storage = await storageFor('body-flood');
    const flooded = await startReplica({ name: 'body-flood', env: { ...storage.env, ...DOCKER_HEAP, STORAGE_COMMIT_WAIT_MS: '4000' } });
    try {
      await flood(flooded);
    } finally {
      await flooded.stop();
      await storage.cleanup();
    }
  });

  async function flood(replica: Replica): Promise<void> {
    const big = bodyOfSize(5 * MiB);
    const flood = Array.from({ length: 10 }, () => post(`${replica.url}${SIGN}`, big));
    const healthMs: number[] = [];
    let flooding = true;
    const floodDone = Promise.all(flood).finally(() => {
      flooding = false;
    });
    const probe = (async (): Promise<void> => {
      while (flooding) {
        const started = Date.now();
        const res = await http('GET', `${replica.url}/healthz`, { timeoutMs: 30_000 });
        expect(res.status).toBe(200);
        healthMs.push(Date.now() - started);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const hookMs = await expectHookAnswered(replica);
    const results = await floodDone;
    await probe;
    const p99 = percentile(healthMs, 99);
    process.stdout.write(`[body-limits] ten 5 MiB bodies: statuses ${results.map((r) => r.status).join(',')}, slowest ${Math.max(...results.map((r) => r.ms))} ms; /healthz n=${healthMs.length} p50 ${percentile(healthMs, 50)} ms p99 ${p99} ms; hook during the flood ${hookMs} ms\n`);
    for (const r of results) expect([200, 503]).toContain(r.status);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(healthMs.length).toBeGreaterThan(0);
    expect(p99).toBeLessThan(CRD_BUDGET_MS);
    expect(hookMs).toBeLessThan(CRD_BUDGET_MS);
    expect(replica.running()).toBe(true);
  }

  it('a body declared larger than MAX_BODY_BYTES → 413 before any of it is read, and the connection closed', async () => {
    const upload = stalledUpload(replica.url, SIGN, 5 * MiB + 1, '');
    const answer = await upload.done;
    expect(answer.status).toBe(413);
    expect(answer.closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS);
    expect(answer.text).toContain('The request body is larger than this service accepts.');
  });
});

describe('with CDS_CLIENTS: the JWT is checked before the body is read', () => {
  const PUBLIC = 'https://payer.example';
  const ADMIN_TOKEN = 'admin-token-for-body-limits-test';
  let replica: Replica;
  let dir: string;
  let privateJwk: Awaited<ReturnType<typeof ensureDevClient>>['privateJwk'];

  beforeAll(async () => {
    await buildOnce();
    dir = mkdtempSync(join(tmpdir(), 'body-limits-clients-'));
    const dev = await ensureDevClient(dir);
    privateJwk = dev.privateJwk;
    replica = await startReplica({ name: 'body-limits-auth', env: { ...DOCKER_HEAP, BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), CDS_CLIENTS: dev.clientsFile, CDS_PUBLIC_URL: PUBLIC, ADMIN_TOKEN } });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('an unauthenticated 5 MiB POST gets 401 before any body byte is sent, and the connection is closed', async () => {
    for (const path of [SIGN, '/fhir/PlanDefinition/ccp-1247/$apply']) {
      const upload = stalledUpload(replica.url, path, 5 * MiB, '');
      const answer = await upload.done;
      expect(answer.status).toBe(401);
      expect(answer.closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS);
      expect(answer.text).toMatch(/\r\nconnection: close\r\n/i);
      expect(answer.text).toMatch(/\r\nwww-authenticate: Bearer realm="cds-services"\r\n/i);
    }
  });

  it('60 unauthenticated stalled uploads hold nothing: a client with a token is still answered', async () => {
    const uploads = Array.from({ length: 60 }, () => stalledUpload(replica.url, SIGN, 5 * MiB, '{'));
    try {
      const answers = await Promise.all(uploads.map((u) => u.done));
      expect(answers.every((a) => a.status === 401)).toBe(true);
    } finally {
      for (const u of uploads) u.socket.destroy();
    }
    await expectHookAnswered(replica, { authorization: `Bearer ${await devToken(privateJwk, `${PUBLIC}${SIGN}`)}` });
  });

  it('$apply needs a client JWT or the admin token; the details app\'s own route stays open', async () => {
    const path = '/fhir/PlanDefinition/ccp-1247/$apply';
    const parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueString: 'Patient/p1' },
        { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: sacroplastyOrder() }] } },
      ],
    };
    const headers = { 'content-type': 'application/fhir+json' };
    expect((await http('POST', `${replica.url}${path}`, { body: parameters, headers })).status).toBe(401);
    expect((await http('POST', `${replica.url}${path}`, { body: parameters, headers: { ...headers, authorization: 'Bearer not-the-admin-token' } })).status).toBe(401);
    const admin = await http('POST', `${replica.url}${path}`, { body: parameters, headers: { ...headers, authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(admin.status).toBe(200);
    expect(admin.json()['resourceType']).toBe('RequestGroup');
    const client = await http('POST', `${replica.url}${path}`, { body: parameters, headers: { ...headers, authorization: `Bearer ${await devToken(privateJwk, `${PUBLIC}${path}`)}` } });
    expect(client.status).toBe(200);
    const app = await http('POST', `${replica.url}/smart/api/apply/ccp-1247`, { body: parameters, headers });
    expect(app.status).toBe(200);
    expect(app.json()['resourceType']).toBe('RequestGroup');
  });
});
