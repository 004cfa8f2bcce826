import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import request from 'supertest';
import type { PlanDefinition } from 'fhir/r4';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import { KnowledgeLoadError } from '../src/knowledge/problems';
import type { KnowledgeProblem } from '../src/knowledge/problems';
import { loadConfig } from '../src/config';
import { startService } from '../src/server';
import { KNOWLEDGE_DIR, NOW, SERVICES_DIR, silentLogger, testApp } from './helpers';

type Json = Record<string, unknown>;

const PLAN_FILE = 'ccp-1247/PlanDefinition-ccp-1247.json';
const VALUESET_FILE = 'ccp-1247/ValueSet-ccp-1247-sacroplasty.json';
const CONDITION = 'PlanDefinition.action[0].condition[0].expression.expression';
const HOOK_MESSAGE = 'must be one of order-select, order-sign, appointment-book, order-dispatch (the hooks this service decides on; README "Hooks")';

describe('loading the real knowledge', () => {
  it('loads one service per hook, the catalog (CCP.1247 and the payer\'s default rule), the payer and the old ids as aliases; no warnings before the review date', () => {
    const kb = loadKnowledge({ knowledgeDir: KNOWLEDGE_DIR, servicesDir: SERVICES_DIR, now: NOW });
    expect([...kb.services.keys()].sort()).toEqual(['appointment-book-crd', 'order-dispatch-crd', 'order-select-crd', 'order-sign-crd']);
    expect([...kb.aliases]).toEqual([['sacroplasty-order-select', 'order-select-crd'], ['sacroplasty-order-sign', 'order-sign-crd']]);
    expect([...kb.policies.keys()]).toEqual(['PlanDefinition/ccp-1247', 'PlanDefinition/payer-default']);
    expect(kb.defaultPolicy?.key).toBe('PlanDefinition/payer-default');
    expect(kb.payer).toEqual({
      name: 'AmeriHealth Caritas VIP Care',
      organization: 'Organization/vipcare',
      identifiers: new Set(['https://knowledge.vipcare.example/fhir/sid/payer-id|VIPCARE', 'urn:oid:2.16.840.1.113883.6.300|99999']),
      references: new Set(),
    });
    // CCP.1247's condition is all recognised forms: indexed by its codes and its text pattern, nothing left to test on every order.
    // 6 codes of the ValueSet, under every spelling of their system (CPT ×2, HCPCS ×3: the NamingSystems).
    expect(kb.index.stats()).toEqual({ codes: 12, patterns: 1, unindexed: 0 });
    expect(kb.warnings).toEqual([]);
  });

  it('still warns nothing on the last day of the review month (2026-11-30)', () => {
    const kb = loadKnowledge({ knowledgeDir: KNOWLEDGE_DIR, servicesDir: SERVICES_DIR, now: new Date('2026-11-30T23:59:59Z') });
    expect(kb.warnings).toEqual([]);
  });

  describe('past the next review date (2026-12-02)', () => {
    const later = new Date('2026-12-02T09:00:00Z');

    it('loads, with one warning naming PlanDefinition/ccp-1247 and its review date', () => {
      const kb = loadKnowledge({ knowledgeDir: KNOWLEDGE_DIR, servicesDir: SERVICES_DIR, now: later });
      expect(kb.services.size).toBe(4);
      expect(kb.warnings).toEqual([{
        file: 'fhir-resources/ccp-1247/PlanDefinition-ccp-1247.json',
        path: 'PlanDefinition.extension(artifact-nextReviewDate)',
        message: 'PlanDefinition/ccp-1247 (Percutaneous sacroplasty (clinical policy CCP.1247)) is past its next review date (11/2026); it still applies — schedule the review',
      }]);
    });

    it('discovery says so in every service\'s usageRequirements', async () => {
      const { app } = testApp({ deps: { now: () => later } });
      const res = await request(app).get('/cds-services');
      expect(res.status).toBe(200);
      const note = ' Policy Percutaneous sacroplasty (clinical policy CCP.1247) is past its next review date (11/2026); it still applies.';
      const orders = 'For members of AmeriHealth Caritas VIP Care. Send the patient\'s active Coverage in prefetch (or fhirServer with fhirAuthorization so the service can read it).';
      expect(res.body.services.map((s: Json) => [s['id'], s['usageRequirements']])).toEqual([
        ['appointment-book-crd', `For members of AmeriHealth Caritas VIP Care. Send the patient's active Coverage and the orders the appointments are based on in prefetch, or fhirServer with fhirAuthorization so the service can read them.${note}`],
        ['order-dispatch-crd', `For members of AmeriHealth Caritas VIP Care. Send the patient's active Coverage and the dispatched orders in prefetch, or fhirServer with fhirAuthorization so the service can read them.${note}`],
        ['order-select-crd', `${orders}${note}`],
        ['order-sign-crd', `${orders}${note}`],
      ]);
    });

    it('discovery at NOW (before the review is due) does not mention it', async () => {
      const { app } = testApp();
      const res = await request(app).get('/cds-services');
      for (const s of res.body.services as Json[]) expect(s['usageRequirements']).not.toContain('review');
    });
  });
});

describe('a broken knowledge copy is refused with a KnowledgeLoadError naming the file and the path', () => {
  let tmp: string;
  let knowledgeDir: string;
  let servicesDir: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'knowledge-load-'));
    knowledgeDir = join(tmp, 'fhir-resources');
    servicesDir = join(tmp, 'cds-services');
    cpSync(KNOWLEDGE_DIR, knowledgeDir, { recursive: true });
    cpSync(SERVICES_DIR, servicesDir, { recursive: true });
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  /** How the loader names a file in its messages: relative to the working directory. */
  const shown = (full: string): string => relative(process.cwd(), full);
  const kFile = (name: string): string => join(knowledgeDir, name);
  const sFile = (name: string): string => join(servicesDir, name);
  const read = (full: string): Json => JSON.parse(readFileSync(full, 'utf8')) as Json;
  const write = (full: string, json: unknown): void => writeFileSync(full, JSON.stringify(json, null, 2));
  const edit = <T = Json>(full: string, change: (json: T) => void): void => {
    const json = read(full) as T;
    change(json);
    write(full, json);
  };

  /** Loads the broken copy; returns the error (the test fails if the load succeeds or throws something else). */
  function loadError(): KnowledgeLoadError {
    let thrown: unknown;
    try {
      loadKnowledge({ knowledgeDir, servicesDir, now: NOW });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(KnowledgeLoadError);
    return thrown as KnowledgeLoadError;
  }

  /** The error holds exactly these problems, and its message shows each as "file path: message". */
  function expectProblems(err: KnowledgeLoadError, problems: KnowledgeProblem[]): void {
    expect(err.problems).toEqual(problems);
    for (const p of problems) expect(err.message).toContain(`${p.file} ${p.path}: `);
  }

  it('the unbroken copy loads (the fixture itself is sound)', () => {
    expect(loadKnowledge({ knowledgeDir, servicesDir, now: NOW }).services.size).toBe(4);
  });

  it('invalid JSON', () => {
    const file = kFile('ccp-1247/CodeSystem-ccp-override-reason.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 120));
    const err = loadError();
    expectProblems(err, [{ file: shown(file), path: '(file)', message: expect.stringMatching(/^not valid JSON: /) }]);
    expect(err.message).toContain('CodeSystem-ccp-override-reason.json (file): not valid JSON');
  });

  it('a PlanDefinition condition with a FHIRPath syntax error', () => {
    edit<PlanDefinition>(kFile(PLAN_FILE), (pd) => {
      pd.action![0]!.condition![0]!.expression!.expression = "%order.resourceType = 'ServiceRequest' and (%order.status = 'draft'";
    });
    const err = loadError();
    expectProblems(err, [
      { file: shown(kFile(PLAN_FILE)), path: CONDITION, message: expect.stringMatching(/^FHIRPath does not compile: /) },
      // The rule is then left without a condition, which would fire on every order: reported too.
      { file: shown(kFile(PLAN_FILE)), path: 'PlanDefinition.action[0].condition', message: 'a rule needs an applicability condition, or it would fire on every order' },
    ]);
    expect(err.message).toContain(`PlanDefinition-ccp-1247.json ${CONDITION}: FHIRPath does not compile`);
  });

  it('memberOf naming a ValueSet that is not loaded', () => {
    edit<PlanDefinition>(kFile(PLAN_FILE), (pd) => {
      const cond = pd.action![0]!.condition![0]!.expression!;
      cond.expression = cond.expression!.replace('ValueSet/ccp-1247-sacroplasty', 'ValueSet/ccp-9999-unknown');
    });
    const err = loadError();
    expectProblems(err, [{
      file: shown(kFile(PLAN_FILE)),
      path: CONDITION,
      message: "memberOf('https://knowledge.vipcare.example/fhir/ValueSet/ccp-9999-unknown') names a ValueSet that is not loaded",
    }]);
  });

  it('a definitionCanonical that does not resolve', () => {
    edit<PlanDefinition>(kFile(PLAN_FILE), (pd) => {
      pd.action![0]!.action![0]!.action![0]!.action![1]!.definitionCanonical = 'https://knowledge.vipcare.example/fhir/ActivityDefinition/ccp-1247-physical-therapy|1999.01';
    });
    const err = loadError();
    expectProblems(err, [{
      // The alternative the plan meant to offer is then offered by no plan: reported too.
      file: shown(kFile('ccp-1247/ActivityDefinition-ccp-1247-physical-therapy.json')),
      path: 'ActivityDefinition',
      message: 'ActivityDefinition/ccp-1247-physical-therapy is written for a plan that never offers it',
    }, {
      file: shown(kFile(PLAN_FILE)),
      path: 'PlanDefinition.action[0].action[0].action[0].action[1].definitionCanonical',
      message: 'definitionCanonical https://knowledge.vipcare.example/fhir/ActivityDefinition/ccp-1247-physical-therapy|1999.01 does not resolve to a loaded ActivityDefinition',
    }]);
  });

  it('a duplicate resource id', () => {
    const original = kFile('ccp-1247/ActivityDefinition-ccp-1247-physical-therapy.json');
    const copy = kFile('ccp-1247/ActivityDefinition-zz-copy.json');
    write(copy, { ...read(original), url: 'https://knowledge.vipcare.example/fhir/ActivityDefinition/other-url' });
    const err = loadError();
    expectProblems(err, [{
      file: shown(copy),
      path: 'ActivityDefinition.id',
      message: `ActivityDefinition/ccp-1247-physical-therapy is already defined in ${shown(original)}`,
    }]);
  });

  it('a ValueSet without codes', () => {
    edit(kFile(VALUESET_FILE), (vs) => {
      vs['compose'] = { include: [] };
      delete vs['expansion'];
    });
    const err = loadError();
    expectProblems(err, [{ file: shown(kFile(VALUESET_FILE)), path: 'ValueSet', message: 'has no codes (give compose.include.concept or an expansion)' }]);
  });

  it('a service file with an unknown property', () => {
    const file = sFile('order-sign.json');
    edit(file, (s) => {
      s['priority'] = 'high';
    });
    const err = loadError();
    expectProblems(err, [{ file: shown(file), path: '(root)', message: 'unknown property "priority"' }]);
    expect(err.message).toContain('order-sign.json (root): unknown property "priority"');
  });

  it('a service file that still names a planDefinition (the old one-service-per-policy shape)', () => {
    const file = sFile('order-select.json');
    edit(file, (s) => {
      s['planDefinition'] = 'https://knowledge.vipcare.example/fhir/PlanDefinition/ccp-1247|2025.07';
    });
    const err = loadError();
    expectProblems(err, [{
      file: shown(file),
      path: '(root)',
      message: 'unknown property "planDefinition" (a service now answers for every policy in the catalog: remove it)',
    }]);
  });

  it('a second service for a hook that already has one (one endpoint for the catalog: CRD found-15)', () => {
    const first = sFile('order-sign.json');
    const second = sFile('zz-order-sign-again.json');
    write(second, { ...read(first), id: 'another-order-sign', aliases: [] });
    const err = loadError();
    expectProblems(err, [{ file: shown(second), path: 'hook', message: `${shown(first)} already serves order-sign: one service per hook answers for the whole catalog (CRD found-15)` }]);
  });

  it('an alias that is another service\'s id', () => {
    edit(sFile('order-sign.json'), (s) => {
      s['aliases'] = ['order-select-crd'];
    });
    const err = loadError();
    expect(err.problems.map((p) => p.message)).toEqual(['"order-select-crd" is already a service id or alias']);
  });

  it('two payer Organizations (type pay): only one may describe the endpoint', () => {
    write(kFile('payer/Organization-zz-second.json'), { ...read(kFile('payer/Organization-vipcare.json')), id: 'zz-second' });
    const err = loadError();
    expectProblems(err, [{ file: shown(kFile('payer/Organization-zz-second.json')), path: 'Organization.type', message: 'only one payer Organization (type pay) may describe this endpoint; Organization/vipcare already does' }]);
  });

  it('a code-system NamingSystem without a preferred uri (billing codes would have no spelling)', () => {
    const file = kFile('terminology/NamingSystem-hcpcs.json');
    edit(file, (ns) => {
      for (const u of ns['uniqueId'] as Json[]) u['preferred'] = false;
    });
    expectProblems(loadError(), [{ file: shown(file), path: 'NamingSystem.uniqueId', message: 'a code system NamingSystem needs exactly one preferred uri (the spelling billing codes are sent in)' }]);
  });

  it('a spelling two NamingSystems both claim', () => {
    const file = kFile('terminology/NamingSystem-zz-hcpcs-copy.json');
    write(file, {
      resourceType: 'NamingSystem', id: 'zz-hcpcs-copy', name: 'HCPCS copy', status: 'active', kind: 'codesystem', date: '2026-12-01',
      uniqueId: [{ type: 'uri', value: 'https://example.org/hcpcs', preferred: true }, { type: 'uri', value: 'https://bluebutton.cms.gov/resources/codesystem/hcpcs' }],
    });
    expectProblems(loadError(), [{ file: shown(file), path: 'NamingSystem.uniqueId', message: 'http://bluebutton.cms.gov/resources/codesystem/hcpcs is already named by NamingSystem/hcpcs' }]);
  });

  it('a card triggered on a hook its rule does not fire on (it would never show)', () => {
    edit<PlanDefinition>(kFile(PLAN_FILE), (pd) => {
      pd.action![0]!.trigger = [{ type: 'named-event', name: 'order-sign' }];
    });
    const err = loadError();
    expect(err.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'PlanDefinition.action[0].action[0].trigger: "order-select" is not a hook its rule fires on (order-sign): the card would never show',
      'PlanDefinition.action[0].action[1].trigger: "appointment-book" is not a hook its rule fires on (order-sign): the card would never show',
      'PlanDefinition.action[0].action[1].trigger: "order-dispatch" is not a hook its rule fires on (order-sign): the card would never show',
    ]);
  });

  it('a service declared for the encounter-start hook (not offered)', () => {
    const file = sFile('order-sign.json');
    edit(file, (s) => {
      s['hook'] = 'encounter-start';
    });
    const err = loadError();
    expectProblems(err, [{ file: shown(file), path: 'hook', message: HOOK_MESSAGE }]);
  });

  it('two services with the same id', () => {
    const first = sFile('order-sign.json');
    const second = sFile('zz-another-order-sign.json');
    write(second, { ...read(first), title: 'A second declaration' });
    const err = loadError();
    expectProblems(err, [{
      file: shown(second),
      path: 'id',
      message: `service id "order-sign-crd" is already declared in ${shown(first)}`,
    }]);
  });

  it('every problem is reported at once, one per line', () => {
    edit(kFile(VALUESET_FILE), (vs) => {
      vs['compose'] = { include: [] };
      delete vs['expansion'];
    });
    edit(sFile('order-sign.json'), (s) => {
      s['hook'] = 'encounter-discharge';
    });
    const err = loadError();
    expect(err.problems.map((p) => p.path)).toEqual(['ValueSet', 'hook']);
    expect(err.message.split('\n')).toEqual([
      'Knowledge could not be loaded (2 problems):',
      `  ${shown(kFile(VALUESET_FILE))} ValueSet: has no codes (give compose.include.concept or an expansion)`,
      `  ${shown(sFile('order-sign.json'))} hook: ${HOOK_MESSAGE}`,
    ]);
  });

  it('startService rejects with the KnowledgeLoadError before listening on its port', async () => {
    edit<PlanDefinition>(kFile(PLAN_FILE), (pd) => {
      pd.action![0]!.condition![0]!.expression!.expression = '%order.code.where(';
    });
    // A port known to be free: taken, then released.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));

    const config = loadConfig({ PORT: String(port), HOST: '127.0.0.1', KNOWLEDGE_DIR: knowledgeDir, CDS_SERVICES_DIR: servicesDir });
    await expect(startService(config, silentLogger)).rejects.toThrow(KnowledgeLoadError);
    await expect(startService(config, silentLogger)).rejects.toThrow(`PlanDefinition-ccp-1247.json ${CONDITION}: FHIRPath does not compile`);

    // Nothing listens on the port.
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
