import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../src/config';
import { startService } from '../src/server';
import type { RunningService } from '../src/server';
import { KNOWLEDGE_DIR, SERVICES_DIR, silentLogger } from './helpers';
import { seededDataDir } from './data-dir';

/** The structural CDS Hooks / CRD conformance check shipped next to the project (../shared/tools). */
const CRD_CHECK = resolve(__dirname, '../../shared/tools/crd-check.mjs');

/** Runs a node script asynchronously (the service under test answers on this same event loop). */
function runNode(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

const itWithTool = existsSync(CRD_CHECK) ? it : it.skip;
const name = existsSync(CRD_CHECK)
  ? 'the running service passes every rule of crd-check.mjs'
  : `the running service passes crd-check.mjs — SKIPPED: ${CRD_CHECK} does not exist`;

describe('CRD structural conformance (shared/tools/crd-check.mjs against the real service)', () => {
  let running: RunningService | undefined;

  afterAll(async () => {
    await running?.stop();
  });

  itWithTool(name, async () => {
    // A data directory of its own: parallel test files must never share an embedded database.
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', KNOWLEDGE_DIR, CDS_SERVICES_DIR: SERVICES_DIR, DATA_DIR: seededDataDir('crd-check') });
    running = await startService(config, silentLogger);
    // A decision is answered only once committed (issue 13): let the new data directory finish initdb first.
    await running.storageReady;
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(running.url).not.toMatch(/:0$/);

    const result = await runNode(CRD_CHECK, [running.url]);
    const lines = result.stdout.trim().split('\n');
    // On failure the tool prints one "FAIL …" line per broken rule: show them.
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(result.stderr).toBe('');
    expect(lines[lines.length - 1]).toMatch(/^\d+ passed, 0 failed$/);
    expect(result.code).toBe(0);
  }, 120_000); // a new data directory's initdb comes first (storageReady)
});
