/**
 * `npm run validate`: the knowledge checked the way the service loads it, plus every resource against the official
 * FHIR JSON Schema of its version (R4, or R4B for Evidence and Citation). The real folders pass; copies broken in
 * one place each fail with a problem naming the file, the path in it and what is wrong — in the function and the CLI.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FhirSchemaValidator } from '../src/knowledge/fhir-schema';
import { fhirVersionOf } from '../src/knowledge/fhir-version';
import { validateKnowledge } from '../src/tools/validate-knowledge';
import { KNOWLEDGE_DIR, NOW, ROOT, SERVICES_DIR } from './helpers';

type Json = Record<string, unknown>;

const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const writeJson = (file: string, json: unknown): void => writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);

/** Every resource file below `dir` (the policies' test-cases folders hold test cases, not resources), sorted. */
function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json') && !f.split(/[\\/]/).includes('test-cases')).sort();
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A copy of fhir-resources/ and cds-services/ in a temp dir, with `breakIt` applied to the copy's ccp-1247 folder. */
function brokenCopy(breakIt: (policyDir: string) => void): { knowledgeDir: string; servicesDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'validate-'));
  tempDirs.push(dir);
  const knowledgeDir = join(dir, 'fhir-resources');
  const servicesDir = join(dir, 'cds-services');
  cpSync(KNOWLEDGE_DIR, knowledgeDir, { recursive: true });
  cpSync(SERVICES_DIR, servicesDir, { recursive: true });
  breakIt(join(knowledgeDir, 'ccp-1247'));
  return { knowledgeDir, servicesDir };
}

/** Edits one JSON file of a copy in place. */
function edit(file: string, change: (json: Json) => void): void {
  const json = readJson(file);
  change(json);
  writeJson(file, json);
}

const endsWith = (name: string): unknown => expect.stringMatching(new RegExp(`ccp-1247/${name.replace(/[.]/g, '\\.')}$`));

describe('validateKnowledge on the real knowledge', () => {
  it('finds no problems, checks every resource under fhir-resources, and passes every policy test case', async () => {
    const count = jsonFiles(KNOWLEDGE_DIR).length;
    expect(count).toBeGreaterThan(20);
    const { problems, warnings, checked, knowledge, cases } = await validateKnowledge(KNOWLEDGE_DIR, SERVICES_DIR, { now: NOW });
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(checked).toBe(count);
    expect(knowledge?.resources.size).toBe(count);
    expect(cases.map((c) => [c.testCase.file.split('/').pop(), c.passed, c.differences])).toEqual([
      ['appointment-book.json', true, []], ['cpt-0200t.json', true, []], ['cpt-0201t.json', true, []], ['free-text.json', true, []], ['icd-10-pcs.json', true, []],
      ['local-code.json', true, []], ['look-alikes.json', true, []], ['order-dispatch.json', true, []], ['order-select.json', true, []],
    ]);
  });
});

describe('each knowledge resource is valid against the FHIR schema of its version', () => {
  const validator = new FhirSchemaValidator();

  it.each(jsonFiles(KNOWLEDGE_DIR))('%s', (file) => {
    const resource = readJson(join(KNOWLEDGE_DIR, file)) as { resourceType: string };
    expect(validator.validate(resource)).toEqual([]);
  });

  it('writes Evidence and Citation in R4B and everything else in R4', () => {
    const versions = new Map(jsonFiles(KNOWLEDGE_DIR).map((f) => {
      const type = String(readJson(join(KNOWLEDGE_DIR, f))['resourceType']);
      return [type, fhirVersionOf(type)];
    }));
    expect(Object.fromEntries(versions)).toEqual({
      ActivityDefinition: 'R4', CodeSystem: 'R4', PlanDefinition: 'R4', ValueSet: 'R4', Organization: 'R4', NamingSystem: 'R4', Citation: 'R4B', Evidence: 'R4B',
    });
  });

  it('reports an Evidence statistic that only R4B can hold when it is checked as R4', () => {
    const evidence = readJson(join(KNOWLEDGE_DIR, 'ccp-1247', 'evidence', 'Evidence-ccp-1247-chandra-2019.json')) as { resourceType: string };
    expect(validator.validate(evidence, 'R4')).not.toEqual([]);
  });
});

describe('validateKnowledge on a copy broken in one place', () => {
  const EVIDENCE = 'evidence/Evidence-ccp-1247-chandra-2019.json';

  it('reports an unknown element in the PlanDefinition against the R4 schema', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'PlanDefinition-ccp-1247.json'), (plan) => {
      plan['colour'] = 'red';
    }));
    const { problems, checked } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toEqual([{ file: endsWith('PlanDefinition-ccp-1247.json'), path: 'PlanDefinition', message: 'unknown element "colour" (FHIR R4 schema)' }]);
    expect(checked).toBe(jsonFiles(KNOWLEDGE_DIR).length);
  });

  it('reports an Evidence statistic whose quantity value is a string, at its path, against the R4B schema', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, EVIDENCE), (evidence) => {
      const statistic = evidence['statistic'] as Array<{ quantity: { value: unknown } }>;
      statistic[0]!.quantity.value = '861';
    }));
    const { problems } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toContainEqual({ file: endsWith(EVIDENCE), path: 'Evidence.statistic[0].quantity.value', message: expect.stringMatching(/number.*\(FHIR R4B schema\)$/) });
    expect(problems.every((p) => p.file.endsWith(EVIDENCE))).toBe(true);
  });

  it('reports a code listed twice in the ValueSet compose', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'ValueSet-ccp-1247-sacroplasty.json'), (vs) => {
      const include = (vs['compose'] as { include: Array<{ concept: Json[] }> }).include;
      include[0]!.concept.push({ ...include[0]!.concept[0] });
    }));
    const { problems } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toEqual([{
      file: endsWith('ValueSet-ccp-1247-sacroplasty.json'),
      path: 'ValueSet.compose.include[0].concept[2].code',
      message: 'code 0200T is listed twice in http://www.ama-assn.org/go/cpt',
    }]);
  });

  it('reports an ActivityDefinition written for the plan that no suggestion offers', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => {
      const ad = readJson(join(dir, 'ActivityDefinition-ccp-1247-low-impact-exercise.json'));
      writeJson(join(dir, 'ActivityDefinition-ccp-1247-bed-rest.json'), {
        ...ad,
        id: 'ccp-1247-bed-rest',
        url: 'https://knowledge.vipcare.example/fhir/ActivityDefinition/ccp-1247-bed-rest',
        name: 'BedRest',
        title: 'Bed rest',
      });
    });
    const { problems, checked } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toEqual([{
      file: endsWith('ActivityDefinition-ccp-1247-bed-rest.json'),
      path: 'ActivityDefinition',
      message: 'ActivityDefinition/ccp-1247-bed-rest is written for a plan that never offers it',
    }]);
    expect(checked).toBe(jsonFiles(KNOWLEDGE_DIR).length + 1);
  });

  it('reports the PlanDefinition reference whose Citation file was removed', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => rmSync(join(dir, 'citations', 'Citation-acr-2022.json')));
    const { problems, checked } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toContainEqual({
      file: endsWith('PlanDefinition-ccp-1247.json'),
      path: 'PlanDefinition.relatedArtifact[1]',
      message: 'the reference "ACR 2022" needs a resource pointing at a Citation',
    });
    expect(problems.every((p) => p.file.endsWith('PlanDefinition-ccp-1247.json') && p.path.startsWith('PlanDefinition.relatedArtifact[1]'))).toBe(true);
    expect(checked).toBe(jsonFiles(KNOWLEDGE_DIR).length - 1);
  });

  it('reports an Evidence whose citeAsReference names a Citation that is not loaded', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, EVIDENCE), (evidence) => {
      evidence['citeAsReference'] = { reference: 'Citation/nobody-2000' };
    }));
    const { problems } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toEqual([{ file: endsWith(EVIDENCE), path: 'Evidence.citeAsReference', message: 'must reference a loaded Citation (found Citation/nobody-2000)' }]);
  });
});

describe('validateKnowledge catches what would break or misbehave at run time (file, path, message)', () => {
  const PLAN = 'PlanDefinition-ccp-1247.json';
  const problemsOf = async (breakIt: (policyDir: string) => void): Promise<Json[]> => {
    const { knowledgeDir, servicesDir } = brokenCopy(breakIt);
    return (await validateKnowledge(knowledgeDir, servicesDir, { now: NOW })).problems as unknown as Json[];
  };
  type Rule = { condition: Array<{ expression: { expression: string } }>; action: Json[] };
  const editPlan = (change: (rule: Rule) => void) => (dir: string): void =>
    edit(join(dir, PLAN), (plan) => change((plan['action'] as Rule[])[0]!));

  it('an undefined %variable in a condition (the rule would silently never fire)', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      rule.condition[0]!.expression.expression = `%ordr.resourceType = 'ServiceRequest' and ${rule.condition[0]!.expression.expression}`;
    }));
    expect(problems).toEqual([{
      file: endsWith(PLAN), path: 'PlanDefinition.action[0].condition[0].expression.expression',
      message: '%ordr is not defined for conditions (defined: %order, %context, %draftOrders, %hook, %planDefinition, %coverage, %patient); the rule would never fire',
    }]);
  });

  it('an undefined %variable in a card\'s dynamicValue (every matching call would fail on it)', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      const card = rule.action[0] as { dynamicValue: Array<{ expression: { expression: string } }> };
      card.dynamicValue[0]!.expression.expression = `'x ' & %policyReviewd`;
    }));
    expect(problems).toEqual([{
      file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[0].dynamicValue[0].expression.expression',
      message: expect.stringMatching(/^%policyReviewd is not defined \(card and activity expressions may read %order, %orderName, /),
    }]);
  });

  it('a dynamicValue fhirpath.js cannot compile', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      (rule.action[1] as { dynamicValue: Array<{ expression: { expression: string } }> }).dynamicValue[0]!.expression.expression = "'a' & %orderName.where(";
    }));
    expect(problems).toEqual([{ file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[1].dynamicValue[0].expression.expression', message: expect.stringMatching(/^FHIRPath does not compile: /) }]);
  });

  it('a priority outside the request-priority codes ("high")', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      (rule.action[0] as Json)['priority'] = 'high';
    }));
    expect(problems).toEqual(expect.arrayContaining([{ file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[0].priority', message: '"high" is not a request priority (routine, urgent, asap, stat)' }]));
  });

  it('a covered code outside CRD\'s value set ("noncovered")', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      const coverage = rule.action[4] as { extension: Array<{ extension: Array<{ url: string; valueCode?: string }> }> };
      coverage.extension[0]!.extension[0]!.valueCode = 'noncovered';
    }));
    expect(problems).toEqual([{ file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[4].extension.extension(covered)', message: '"noncovered" is not a CRD covered code (covered, not-covered, conditional, indeterminate)' }]);
  });

  it('clinical documentation asked for by a rule that also fires on order-select (CRD hook-19: not on secondary hooks)', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      const coverage = rule.action[4] as { extension: Array<{ extension: Json[] }> };
      coverage.extension[0]!.extension.push({ url: 'doc-needed', valueCode: 'clinical' });
    }));
    expect(problems).toEqual([{
      file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[4].extension(doc-needed)',
      message: 'doc-needed clinical must not be returned on order-select (CRD hook-19): give that decision its own rule triggered on primary hooks only',
    }]);
  });

  it('pa-needed on a not-covered decision (crd-ci-q2)', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      const coverage = rule.action[4] as { extension: Array<{ extension: Json[] }> };
      coverage.extension[0]!.extension.push({ url: 'pa-needed', valueCode: 'auth-needed' });
    }));
    expect(problems).toEqual([{ file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[4].extension.extension(pa-needed)', message: 'pa-needed must be absent when covered is not-covered (crd-ci-q2)' }]);
  });

  it('a mistyped card type ("guidline")', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      (rule.action[1] as { code: Array<{ coding: Array<{ code: string }> }> }).code[0]!.coding[0]!.code = 'guidline';
    }));
    expect(problems).toEqual([{ file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[1].code[0].coding[0].code', message: expect.stringMatching(/^"guidline" is not a CDS Hooks card type \(coverage-info, /) }]);
  });

  it('an override reason code that is not in its CodeSystem', async () => {
    const problems = await problemsOf(editPlan((rule) => {
      (rule.action[0] as { extension: Array<{ valueCoding: { code: string } }> }).extension[1]!.valueCoding.code = 'malignant-sacral-lesoin';
    }));
    expect(problems).toEqual([{ file: endsWith(PLAN), path: 'PlanDefinition.action[0].action[0].extension[1].valueCoding.code', message: 'malignant-sacral-lesoin is not a code of CodeSystem https://knowledge.vipcare.example/fhir/CodeSystem/ccp-override-reason' }]);
  });

  it('warns of missing review dates and of codes two active policies share', async () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => {
      const plan = readJson(join(dir, PLAN));
      delete plan['lastReviewDate'];
      plan['extension'] = [];
      writeJson(join(dir, PLAN), plan);
      writeJson(join(dir, 'PlanDefinition-zz-overlap.json'), {
        ...plan, id: 'zz-overlap', url: 'https://knowledge.vipcare.example/fhir/PlanDefinition/zz-overlap', relatedArtifact: [(plan['relatedArtifact'] as Json[])[0]],
      });
    });
    const { problems, warnings } = await validateKnowledge(knowledgeDir, servicesDir, { now: NOW });
    expect(problems).toEqual([]);
    expect(warnings).toEqual(expect.arrayContaining([
      { file: endsWith(PLAN), path: 'PlanDefinition.lastReviewDate', message: 'no last review date' },
      { file: endsWith(PLAN), path: 'PlanDefinition.extension(artifact-nextReviewDate)', message: 'no next review date: reviews cannot be surfaced when they fall due' },
      { file: endsWith(PLAN), path: 'PlanDefinition.action.condition', message: expect.stringMatching(/^PlanDefinition\/ccp-1247 and PlanDefinition\/zz-overlap both govern .*0200T/) },
    ]));
  });
});

describe('npm run validate (the CLI, run without a prior build)', () => {
  const run = (args: string[], env: Record<string, string> = {}): { status: number | null; lines: string[] } => {
    const r = spawnSync(process.execPath, [join('scripts', 'run-ts.mjs'), join('src', 'tools', 'validate-knowledge.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, ...env } });
    return { status: r.status, lines: r.stdout.trimEnd().split('\n') };
  };

  it('exits 0 on the real folders, runs the policy test cases and says what it checked', () => {
    const { status, lines } = run([KNOWLEDGE_DIR, SERVICES_DIR]);
    expect(lines.filter((l) => l.startsWith('PASS '))).toHaveLength(9);
    expect(lines.at(-1)).toMatch(new RegExp(`^${jsonFiles(KNOWLEDGE_DIR).length} resources checked, 0 problems, \\d+ warnings?; 9 test cases, 0 failed$`));
    expect(status).toBe(0);
  }, 90_000);

  it('exits 1 on a broken copy named by KNOWLEDGE_DIR, with one line naming the file, the path and the problem', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'PlanDefinition-ccp-1247.json'), (plan) => {
      plan['colour'] = 'red';
    }));
    const { status, lines } = run([], { KNOWLEDGE_DIR: knowledgeDir, CDS_SERVICES_DIR: servicesDir });
    expect(status).toBe(1);
    const problemLines = lines.filter((l) => !l.startsWith('warning: '));
    expect(problemLines).toEqual([
      expect.stringMatching(/^\S*ccp-1247\/PlanDefinition-ccp-1247\.json PlanDefinition: unknown element "colour" \(FHIR R4 schema\)$/),
      expect.stringMatching(new RegExp(`^${jsonFiles(KNOWLEDGE_DIR).length} resources checked, 1 problem, \\d+ warnings?; 0 test cases, 0 failed$`)),
    ]);
  }, 90_000);

  it('a deliberately changed policy flips a test case: 0201T dropped from the ValueSet fails "CPT 0201T"', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'ValueSet-ccp-1247-sacroplasty.json'), (vs) => {
      const drop = (list: Array<{ code: string }>): Array<{ code: string }> => list.filter((c) => c.code !== '0201T');
      for (const inc of (vs['compose'] as { include: Array<{ concept: Array<{ code: string }> }> }).include) inc.concept = drop(inc.concept);
      const expansion = vs['expansion'] as { contains: Array<{ code: string }>; total?: number };
      expansion.contains = drop(expansion.contains);
      if (expansion.total !== undefined) expansion.total = expansion.contains.length;
    }));
    const { status, lines } = run([knowledgeDir, servicesDir]);
    expect(status).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^FAIL \S*cpt-0201t\.json: CPT 0201T \(bilateral sacroplasty\), code only, is not covered under CCP\.1247$/));
    expect(lines).toContain('       ServiceRequest/sr-0201t: governed by no policy, expected ccp-1247');
    expect(lines).toContain('       ServiceRequest/sr-0201t: covered covered, expected not-covered');
    expect(lines.at(-1)).toMatch(/; 9 test cases, 1 failed$/);
  }, 90_000);
});
