// Policy-scale benchmark: the catalog grown from 1 to 1,000 policies (CCP.1247 plus synthetic ones, each a
// PlanDefinition, a ValueSet, an ActivityDefinition and a text pattern, as a payer's informaticist writes them),
// the service as deployed (node with the Dockerfile's arguments, NODE_ENV=production, embedded PGlite), and per N:
// start to the first 200 and to ready, RSS after start, discovery size, and order-sign p50/p99 for 6 draft orders
// with one sacroplasty and 6 with no governed order.
//
//   npm run bench:policies            full run; writes bench/results/policies.json and BENCHMARKS.md's section
//   npm run bench:policies -- --smoke  N = 1 and 10, few requests (CI)
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noSacroplastyBody, orderSignBody } from './bodies.mjs';
import { ROOT, SIGN, cannon, checkRun, expectDecision, failures, log, pinSelf, LOADGEN_CPU, probe, round, rssMb, startService, state, stopChild } from './lib.mjs';

const SMOKE = process.argv.includes('--smoke');
const COUNTS = SMOKE ? [1, 10] : [1, 10, 100, 1000];
const REQUESTS = SMOKE ? 50 : 2000;
const WARMUP = SMOKE ? 10 : 300;
const CPT = 'http://www.ama-assn.org/go/cpt';
const BASE = 'https://knowledge.bench.example/fhir/';
const EXT = 'http://payer-cds.example.org/fhir/StructureDefinition/';
const CARD_TYPE = 'http://terminology.hl7.org/CodeSystem/cdshooks-card-type';
const ACTION_TYPE = 'http://terminology.hl7.org/CodeSystem/action-type';

/** Synthetic policy i: its own three codes (Category III-like 9iiiT), a text pattern, a card with alternatives and a decision. */
function syntheticPolicy(i) {
  const id = `bench-${String(i).padStart(4, '0')}`;
  const codes = [0, 1, 2].map((k) => `${String(9000 + i * 3 + k).padStart(4, '0')}T`);
  const vs = {
    resourceType: 'ValueSet', id: `${id}-codes`, url: `${BASE}ValueSet/${id}-codes`, version: '1', name: `Bench${i}`, status: 'active',
    compose: { include: [{ system: CPT, concept: codes.map((code) => ({ code, display: `Synthetic procedure ${i} variant ${code}` })) }] },
    expansion: { timestamp: '2026-12-01T00:00:00Z', total: codes.length, contains: codes.map((code) => ({ system: CPT, code, display: `Synthetic procedure ${i} variant ${code}` })) },
  };
  const ad = {
    resourceType: 'ActivityDefinition', id: `${id}-alternative`, url: `${BASE}ActivityDefinition/${id}-alternative`, version: '1', name: `BenchAlt${i}`, title: `Alternative ${i}`,
    status: 'active', kind: 'ServiceRequest', intent: 'order', priority: 'routine', code: { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] },
    relatedArtifact: [{ type: 'justification', resource: `${BASE}PlanDefinition/${id}|1` }],
  };
  const pd = {
    resourceType: 'PlanDefinition', id, url: `${BASE}PlanDefinition/${id}`, version: '1', name: `BenchPolicy${i}`, title: `Synthetic policy ${i}`,
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/plan-definition-type', code: 'eca-rule' }] },
    status: 'active', publisher: 'AmeriHealth Caritas VIP Care', lastReviewDate: '2026-01', extension: [{ url: `${EXT}artifact-nextReviewDate`, valueDate: '2027-12' }],
    identifier: [{ system: `${BASE}clinical-policy`, value: `BENCH.${i}` }],
    action: [{
      id: 'rule', trigger: [{ type: 'named-event', name: 'order-select' }, { type: 'named-event', name: 'order-sign' }],
      condition: [{ kind: 'applicability', expression: { language: 'text/fhirpath', expression: `%order.resourceType = 'ServiceRequest' and (%order.code.memberOf('${BASE}ValueSet/${id}-codes') or (%order.code.text | %order.code.coding.display).exists($this.lower().matches('synthproc${i}x')))` } }],
      action: [
        {
          id: 'card', title: `Synthetic procedure ${i} is not covered (BENCH.${i})`, priority: 'urgent', selectionBehavior: 'at-most-one',
          code: [{ coding: [{ system: CARD_TYPE, code: 'therapy-alternatives-req' }] }],
          dynamicValue: [{ path: 'action.description', expression: { language: 'text/fhirpath', expression: `'**' & %orderName & '** (' & %orderReference & ') is not covered under ' & %planDefinition.identifier.first().value & '.'` } }],
          action: [{ id: 'replace', title: `Replace with alternative ${i}`, action: [
            { id: 'remove', description: 'Remove the order', type: { coding: [{ system: ACTION_TYPE, code: 'remove' }] } },
            { id: 'create', description: `Order: alternative ${i}`, type: { coding: [{ system: ACTION_TYPE, code: 'create' }] }, definitionCanonical: `${BASE}ActivityDefinition/${id}-alternative|1` },
          ] }],
        },
        {
          id: 'coverage', title: 'Coverage information', code: [{ coding: [{ system: CARD_TYPE, code: 'coverage-info' }] }], type: { coding: [{ system: ACTION_TYPE, code: 'update' }] },
          extension: [{ url: 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information', extension: [{ url: 'covered', valueCode: 'not-covered' }, { url: 'reason', valueCodeableConcept: { text: `Not covered per BENCH.${i}` } }] }],
        },
      ],
    }],
  };
  return [[`ValueSet-${id}.json`, vs], [`ActivityDefinition-${id}.json`, ad], [`PlanDefinition-${id}.json`, pd]];
}

function catalogOf(n, work) {
  const dir = join(work, `knowledge-${n}`);
  cpSync(join(ROOT, 'fhir-resources'), dir, { recursive: true });
  const synthetic = join(dir, 'bench');
  mkdirSync(synthetic);
  for (let i = 1; i < n; i++) for (const [file, json] of syntheticPolicy(i)) writeFileSync(join(synthetic, file), JSON.stringify(json));
  return dir;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cds-bench-policies-'));
  state.work = work;
  state.P = { connections: 1 };
  pinSelf(LOADGEN_CPU);
  const rows = [];
  try {
    for (const n of COUNTS) {
      const knowledgeDir = catalogOf(n, work);
      const dataDir = join(work, `data-${n}`);
      // An initialised data directory, as a restarted replica has: the first start (initdb) is not what N changes.
      const first = await startService({ auth: false, dataDir, label: `init-${n}`, extraEnv: { KNOWLEDGE_DIR: knowledgeDir } });
      await stopChild(first.child);
      const svc = await startService({ auth: false, dataDir, label: `policies-${n}`, extraEnv: { KNOWLEDGE_DIR: knowledgeDir } });
      const rssAfterStart = rssMb(svc.pid);
      const discovery = Buffer.byteLength(await (await fetch(`${svc.url}/cds-services`)).text());
      const sign = Buffer.from(JSON.stringify(orderSignBody()));
      const none = Buffer.from(JSON.stringify(noSacroplastyBody()));
      await probe(svc, SIGN, sign, expectDecision(3));
      await probe(svc, SIGN, none, (json) => (json?.cards?.length === 0 && json?.systemActions?.length === 6 ? undefined : 'expected no cards and 6 default decisions'));
      const measure = async (body) => {
        await cannon(svc, { path: SIGN, body, connections: 1, amount: WARMUP });
        const r = await cannon(svc, { path: SIGN, body, connections: 1, amount: REQUESTS });
        checkRun(`N=${n}`, r);
        return { p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuMsPerReq: r.cpuMsPerReq };
      };
      const governed = await measure(sign);
      const ungoverned = await measure(none);
      const row = { policies: n, firstOkMs: round(svc.readyMs, 0), readyMs: round(svc.storageReadyMs, 0), rssAfterStartMb: round(rssAfterStart, 0), discoveryBytes: discovery, governed, ungoverned, rssAfterRunMb: round(rssMb(svc.pid), 0) };
      rows.push(row);
      log(JSON.stringify(row));
      await stopChild(svc.child);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const base = rows[0];
  const top = rows.at(-1);
  const summary = {
    date: new Date().toISOString(), mode: SMOKE ? 'smoke' : 'full', requestsPerCase: REQUESTS, rows,
    growth: base && top ? { policies: top.policies, p50GovernedFactor: round(top.governed.p50Ms / base.governed.p50Ms, 2), p50UngovernedFactor: round(top.ungoverned.p50Ms / base.ungoverned.p50Ms, 2) } : undefined,
    failures,
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', SMOKE ? 'policies-smoke.json' : 'policies.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (!SMOKE) writeSection(summary);
  log(JSON.stringify(summary.growth));
  if (failures.length > 0) process.exit(1);
}

/** Rewrites BENCHMARKS.md's generated policy-scale section. */
function writeSection(s) {
  const file = join(ROOT, 'BENCHMARKS.md');
  const begin = '<!-- policy-scale:begin -->';
  const end = '<!-- policy-scale:end -->';
  const lines = [begin, '', `Generated by \`npm run bench:policies\` on ${s.date.slice(0, 10)} (${s.requestsPerCase} sequential requests per case, one connection, service pinned to one core).`, '',
    '| policies | first 200 | ready | RSS after start | discovery | order-sign, one sacroplasty: p50 / p99 | no governed order: p50 / p99 | RSS after the run |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...s.rows.map((r) => `| ${r.policies} | ${r.firstOkMs} ms | ${r.readyMs} ms | ${r.rssAfterStartMb} MB | ${r.discoveryBytes} B | ${r.governed.p50Ms} / ${r.governed.p99Ms} ms | ${r.ungoverned.p50Ms} / ${r.ungoverned.p99Ms} ms | ${r.rssAfterRunMb} MB |`),
    '', s.growth ? `Growth from 1 to ${s.growth.policies} policies: order-sign p50 × ${s.growth.p50GovernedFactor} (one sacroplasty), × ${s.growth.p50UngovernedFactor} (no governed order).` : '', '', end];
  const text = readFileSync(file, 'utf8');
  const at = text.indexOf(begin);
  const next = at >= 0 ? text.slice(0, at) + lines.join('\n') + text.slice(text.indexOf(end) + end.length) : `${text.trimEnd()}\n\n## Policy scale\n\n${lines.join('\n')}\n`;
  writeFileSync(file, next);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
