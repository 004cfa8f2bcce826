import { resolve } from 'node:path';
import type { PlanDefinitionAction } from 'fhir/r4';
import { Catalog } from '../engine/catalog';
import { compileFhirPath } from '../fhirpath/evaluate';
import { loadKnowledge, warningText } from '../knowledge/knowledge-base';
import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { FhirSchemaValidator } from '../knowledge/fhir-schema';
import { fhirVersionOf } from '../knowledge/fhir-version';
import { KnowledgeLoadError } from '../knowledge/problems';
import type { KnowledgeProblem } from '../knowledge/problems';
import { readJsonFiles, TEST_CASE_FOLDER } from '../knowledge/read-json-files';
import { readTestCases } from '../knowledge/test-cases';
import { runPolicyCases } from './policy-cases';
import type { CaseResult } from './policy-cases';

export interface ValidationReport {
  problems: KnowledgeProblem[];
  warnings: KnowledgeProblem[];
  checked: number;
  knowledge?: KnowledgeBase;
  cases: CaseResult[];
}

/**
 * Every FHIRPath expression of every policy, compiled by fhirpath.js now (the service compiles card texts on first
 * use, so a typo the lexer lets through would otherwise show only at run time, as a counted expression error).
 */
function expressionProblems(knowledge: KnowledgeBase): KnowledgeProblem[] {
  const problems: KnowledgeProblem[] = [];
  const lookup = (url: string): { keys: ReadonlySet<string> } | undefined => knowledge.valueSets.get(url);
  const check = (file: string, path: string, expression: string | undefined): void => {
    if (!expression) return;
    try {
      compileFhirPath(expression, lookup);
    } catch (e) {
      problems.push({ file, path, message: `FHIRPath does not compile: ${(e as Error).message.split('\n')[0] ?? ''}` });
    }
  };
  const walk = (file: string, actions: PlanDefinitionAction[] | undefined, path: string): void => (actions ?? []).forEach((a, i) => {
    const p = `${path}[${i}]`;
    (a.condition ?? []).forEach((c, j) => check(file, `${p}.condition[${j}].expression.expression`, c.expression?.expression));
    (a.dynamicValue ?? []).forEach((d, j) => check(file, `${p}.dynamicValue[${j}].expression.expression`, d.expression?.expression));
    walk(file, a.action, `${p}.action`);
  });
  for (const policy of knowledge.policies.values()) walk(policy.file, policy.resource.action, 'PlanDefinition.action');
  for (const [key, r] of knowledge.resources) {
    if (r.resourceType !== 'ActivityDefinition') continue;
    ((r).dynamicValue ?? []).forEach((d, j) => check(knowledge.files.get(key) ?? key, `ActivityDefinition.dynamicValue[${j}].expression.expression`, d.expression?.expression));
  }
  return problems;
}

/**
 * Checks a knowledge folder the way the service does at start (same loader, same rules), plus every resource
 * against the official FHIR JSON Schema of its version and every expression with fhirpath.js; then runs the
 * policies' test cases (README "Policy test cases").
 */
export async function validateKnowledge(knowledgeDir: string, servicesDir: string, options: { now?: Date; payerIdentifiers?: string[] } = {}): Promise<ValidationReport> {
  const now = options.now ?? new Date();
  const problems: KnowledgeProblem[] = [];
  const files = readJsonFiles(knowledgeDir, problems, { skipFolders: [TEST_CASE_FOLDER] });
  const schema = new FhirSchemaValidator();
  for (const { file, json } of files) {
    if (!json || typeof json !== 'object' || typeof (json as { resourceType?: unknown }).resourceType !== 'string') continue;
    const resource = json as { resourceType: string };
    for (const p of schema.validate(resource)) problems.push({ file, path: p.path, message: `${p.message} (FHIR ${fhirVersionOf(resource.resourceType)} schema)` });
  }
  let knowledge: KnowledgeBase | undefined;
  try {
    knowledge = loadKnowledge({ knowledgeDir, servicesDir, now, ...(options.payerIdentifiers ? { payerIdentifiers: options.payerIdentifiers } : {}) });
  } catch (e) {
    if (!(e instanceof KnowledgeLoadError)) throw e;
    for (const p of e.problems) if (!problems.some((q) => q.file === p.file && q.path === p.path && q.message === p.message)) problems.push(p);
  }
  const cases = readTestCases(knowledgeDir, problems);
  let results: CaseResult[] = [];
  if (knowledge) {
    problems.push(...expressionProblems(knowledge));
    if (problems.length === 0) results = await runPolicyCases(new Catalog(knowledge, { onExpressionError: () => undefined }), cases, now);
  }
  return { problems, warnings: knowledge?.warnings ?? [], checked: files.length, ...(knowledge ? { knowledge } : {}), cases: results };
}

async function main(): Promise<void> {
  const knowledgeDir = resolve(process.argv[2] ?? process.env['KNOWLEDGE_DIR'] ?? 'fhir-resources');
  const servicesDir = resolve(process.argv[3] ?? process.env['CDS_SERVICES_DIR'] ?? 'cds-services');
  const payerIdentifiers = (process.env['PAYER_IDENTIFIERS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const report = await validateKnowledge(knowledgeDir, servicesDir, { payerIdentifiers });
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  for (const p of report.problems) out(`${p.file} ${p.path}: ${p.message}`);
  for (const w of report.warnings) out(`warning: ${warningText(w)}`);
  for (const r of report.cases) {
    out(`${r.passed ? 'PASS' : 'FAIL'} ${r.testCase.file}: ${r.testCase.name}`);
    for (const d of r.differences) out(`       ${d}`);
  }
  const failed = report.cases.filter((r) => !r.passed).length;
  out(`${report.checked} resources checked, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}, ${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'}; ${report.cases.length} test case${report.cases.length === 1 ? '' : 's'}, ${failed} failed`);
  process.exit(report.problems.length > 0 || failed > 0 ? 1 : 0);
}

if (require.main === module) void main();
