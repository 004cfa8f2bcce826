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

/** Every *.json file below `dir`, relative to it, sorted. */
function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json')).sort();
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
  it('finds no problems and checks every JSON file under fhir-resources', () => {
    const count = jsonFiles(KNOWLEDGE_DIR).length;
    expect(count).toBeGreaterThan(20);
    const { problems, checked, knowledge } = validateKnowledge(KNOWLEDGE_DIR, SERVICES_DIR, NOW);
    expect(problems).toEqual([]);
    expect(checked).toBe(count);
    expect(knowledge?.resources.size).toBe(count);
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
      ActivityDefinition: 'R4', CodeSystem: 'R4', PlanDefinition: 'R4', ValueSet: 'R4', Citation: 'R4B', Evidence: 'R4B',
    });
  });

  it('reports an Evidence statistic that only R4B can hold when it is checked as R4', () => {
    const evidence = readJson(join(KNOWLEDGE_DIR, 'ccp-1247', 'evidence', 'Evidence-ccp-1247-chandra-2019.json')) as { resourceType: string };
    expect(validator.validate(evidence, 'R4')).not.toEqual([]);
  });
});

describe('validateKnowledge on a copy broken in one place', () => {
  const EVIDENCE = 'evidence/Evidence-ccp-1247-chandra-2019.json';

  it('reports an unknown element in the PlanDefinition against the R4 schema', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'PlanDefinition-ccp-1247.json'), (plan) => {
      plan['colour'] = 'red';
    }));
    const { problems, checked } = validateKnowledge(knowledgeDir, servicesDir, NOW);
    expect(problems).toEqual([{ file: endsWith('PlanDefinition-ccp-1247.json'), path: 'PlanDefinition', message: 'unknown element "colour" (FHIR R4 schema)' }]);
    expect(checked).toBe(jsonFiles(KNOWLEDGE_DIR).length);
  });

  it('reports an Evidence statistic whose quantity value is a string, at its path, against the R4B schema', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, EVIDENCE), (evidence) => {
      const statistic = evidence['statistic'] as Array<{ quantity: { value: unknown } }>;
      statistic[0]!.quantity.value = '861';
    }));
    const { problems } = validateKnowledge(knowledgeDir, servicesDir, NOW);
    expect(problems).toContainEqual({ file: endsWith(EVIDENCE), path: 'Evidence.statistic[0].quantity.value', message: expect.stringMatching(/number.*\(FHIR R4B schema\)$/) });
    expect(problems.every((p) => p.file.endsWith(EVIDENCE))).toBe(true);
  });

  it('reports a code listed twice in the ValueSet compose', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'ValueSet-ccp-1247-sacroplasty.json'), (vs) => {
      const include = (vs['compose'] as { include: Array<{ concept: Json[] }> }).include;
      include[0]!.concept.push({ ...include[0]!.concept[0] });
    }));
    const { problems } = validateKnowledge(knowledgeDir, servicesDir, NOW);
    expect(problems).toEqual([{
      file: endsWith('ValueSet-ccp-1247-sacroplasty.json'),
      path: 'ValueSet.compose.include[0].concept[2].code',
      message: 'code 0200T is listed twice in http://www.ama-assn.org/go/cpt',
    }]);
  });

  it('reports an ActivityDefinition written for the plan that no suggestion offers', () => {
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
    const { problems, checked } = validateKnowledge(knowledgeDir, servicesDir, NOW);
    expect(problems).toEqual([{
      file: endsWith('ActivityDefinition-ccp-1247-bed-rest.json'),
      path: 'ActivityDefinition',
      message: 'ActivityDefinition/ccp-1247-bed-rest is written for a plan that never offers it',
    }]);
    expect(checked).toBe(jsonFiles(KNOWLEDGE_DIR).length + 1);
  });

  it('reports the PlanDefinition reference whose Citation file was removed', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => rmSync(join(dir, 'citations', 'Citation-acr-2022.json')));
    const { problems, checked } = validateKnowledge(knowledgeDir, servicesDir, NOW);
    expect(problems).toContainEqual({
      file: endsWith('PlanDefinition-ccp-1247.json'),
      path: 'PlanDefinition.relatedArtifact[1]',
      message: 'the reference "ACR 2022" needs a resource pointing at a Citation',
    });
    expect(problems.every((p) => p.file.endsWith('PlanDefinition-ccp-1247.json') && p.path.startsWith('PlanDefinition.relatedArtifact[1]'))).toBe(true);
    expect(checked).toBe(jsonFiles(KNOWLEDGE_DIR).length - 1);
  });

  it('reports an Evidence whose citeAsReference names a Citation that is not loaded', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, EVIDENCE), (evidence) => {
      evidence['citeAsReference'] = { reference: 'Citation/nobody-2000' };
    }));
    const { problems } = validateKnowledge(knowledgeDir, servicesDir, NOW);
    expect(problems).toEqual([{ file: endsWith(EVIDENCE), path: 'Evidence.citeAsReference', message: 'must reference a loaded Citation (found Citation/nobody-2000)' }]);
  });
});

describe('the validate CLI (node dist/tools/validate-knowledge.js)', () => {
  // dist/ is built once for the whole run by test/global-setup.ts.
  const run = (knowledgeDir: string, servicesDir: string): { status: number | null; lines: string[] } => {
    const r = spawnSync(process.execPath, [join('dist', 'tools', 'validate-knowledge.js'), knowledgeDir, servicesDir], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, lines: r.stdout.trimEnd().split('\n') };
  };

  it('exits 0 on the real folders and says how many resources it checked', () => {
    const { status, lines } = run(KNOWLEDGE_DIR, SERVICES_DIR);
    expect(lines.at(-1)).toBe(`${jsonFiles(KNOWLEDGE_DIR).length} resources checked, 0 problems`);
    expect(status).toBe(0);
  }, 60_000);

  it('exits 1 on a broken copy, with one line naming the file, the path and the problem', () => {
    const { knowledgeDir, servicesDir } = brokenCopy((dir) => edit(join(dir, 'PlanDefinition-ccp-1247.json'), (plan) => {
      plan['colour'] = 'red';
    }));
    const { status, lines } = run(knowledgeDir, servicesDir);
    expect(status).toBe(1);
    const problemLines = lines.filter((l) => !l.startsWith('warning: '));
    expect(problemLines).toEqual([
      expect.stringMatching(/^\S*ccp-1247\/PlanDefinition-ccp-1247\.json PlanDefinition: unknown element "colour" \(FHIR R4 schema\)$/),
      `${jsonFiles(KNOWLEDGE_DIR).length} resources checked, 1 problem`,
    ]);
  }, 60_000);
});
