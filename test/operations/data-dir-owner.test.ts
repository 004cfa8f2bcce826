/**
 * The embedded database's data directory has one owner (issue 13):
 * - case 6: two processes started on one DATA_DIR both opened it, and after a restart one process's committed
 *   assertions were gone. Now the second refuses to start, naming the directory, and the first keeps everything;
 * - case 15: an unusable DATA_DIR/pglite stopped the start with "Storage could not be opened: [object Object]"
 *   after seconds. Now the start fails at once with the path and the cause.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT, SIGN, agent, buildOnce, decisionsOf, freePort, hookBody, http, removeTempDirs, sacroplastyOrder, startReplica, stopAllReplicas, tempDir,
} from './harness';
import type { HookResponse, Replica } from './harness';

jest.setTimeout(240_000);

const ADMIN_TOKEN = `admin-${Math.random().toString(36).slice(2)}`;

async function decide(replica: Replica): Promise<string> {
  const res = await http('POST', `${replica.url}${SIGN}`, { body: hookBody('order-sign', [sacroplastyOrder()]) });
  expect(res.status).toBe(200);
  return decisionsOf(res.json<HookResponse>())[0]!.id;
}

/** Runs `node dist/server.js` to its exit (it is expected to refuse to start); stderr, stdout and the exit code. */
function runToExit(env: Record<string, string>, options: { uid?: number; gid?: number } = {}): Promise<{ code: number | null; stderr: string; stdout: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/server.js'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    });
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not exit within 60 s\n${stdout.slice(-2000)}\n${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout, ms: Date.now() - started });
    });
  });
}

afterAll(async () => {
  await stopAllReplicas();
  agent.destroy();
  removeTempDirs();
});

describe('one owner per DATA_DIR (embedded PGlite)', () => {
  beforeAll(() => buildOnce());

  it('a second process on the same DATA_DIR refuses to start, naming the directory; the first keeps serving and keeps its rows', async () => {
    const dataDir = tempDir('owner');
    const first = await startReplica({ name: 'owner-1', dataDir, env: { ADMIN_TOKEN } });
    const before = await decide(first);

    const second = await runToExit({ PORT: String(await freePort()), DATA_DIR: dataDir, ADMIN_TOKEN });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`Storage could not be opened: The embedded database directory ${join(dataDir, 'pglite')} is in use by another process (pid ${first.child.pid}`);

    const after = await decide(first);
    expect((await first.stop()).code).toBe(0);
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(false);
    const restarted = await startReplica({ name: 'owner-1-restarted', dataDir, env: { ADMIN_TOKEN } });
    for (const id of [before, after]) {
      const res = await http('GET', `${restarted.url}/admin/assertions/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect({ id, status: res.status }).toEqual({ id, status: 200 });
    }
  });

  it('a lock left by a process killed with kill -9 is taken over at the next start', async () => {
    const dataDir = tempDir('owner-stale');
    const first = await startReplica({ name: 'owner-stale-1', dataDir, env: { ADMIN_TOKEN } });
    const id = await decide(first);
    await first.kill9();
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(true);
    const second = await startReplica({ name: 'owner-stale-2', dataDir, env: { ADMIN_TOKEN } });
    const res = await http('GET', `${second.url}/admin/assertions/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
  });

  it('an unusable DATA_DIR/pglite stops the start at once with the path and the cause', async () => {
    const dataDir = tempDir('unwritable');
    const pglite = join(dataDir, 'pglite');
    mkdirSync(pglite);
    chmodSync(pglite, 0o000);
    chmodSync(dataDir, 0o777);
    // As an unprivileged user: root ignores the permission bits, so as root the service runs as `nobody` (Debian).
    const asRoot = process.getuid?.() === 0;
    const run = await runToExit({ PORT: String(await freePort()), DATA_DIR: dataDir }, asRoot ? { uid: 65534, gid: 65534 } : {});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Storage could not be opened: The embedded database directory ${pglite} cannot be used: EACCES: permission denied`);
    expect(run.stderr).not.toContain('[object Object]');
    expect(run.stdout).not.toContain('[object Object]');
  });
});
