import { resolve } from 'node:path';
import { loadKnowledge } from '../knowledge/knowledge-base';
import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { FhirSchemaValidator } from '../knowledge/fhir-schema';
import { fhirVersionOf } from '../knowledge/fhir-version';
import { KnowledgeLoadError } from '../knowledge/problems';
import type { KnowledgeProblem } from '../knowledge/problems';
import { readJsonFiles } from '../knowledge/read-json-files';

/**
 * Checks a knowledge folder the way the service does at start (same loader, same rules), plus every resource
 * against the official FHIR JSON Schema of its version. Prints one line per problem (file, path, problem).
 */
export function validateKnowledge(knowledgeDir: string, servicesDir: string, now = new Date()): { problems: KnowledgeProblem[]; checked: number; knowledge?: KnowledgeBase } {
  const problems: KnowledgeProblem[] = [];
  const files = readJsonFiles(knowledgeDir, problems);
  const schema = new FhirSchemaValidator();
  for (const { file, json } of files) {
    if (!json || typeof json !== 'object' || typeof (json as { resourceType?: unknown }).resourceType !== 'string') continue;
    const resource = json as { resourceType: string };
    for (const p of schema.validate(resource)) problems.push({ file, path: p.path, message: `${p.message} (FHIR ${fhirVersionOf(resource.resourceType)} schema)` });
  }
  let knowledge: KnowledgeBase | undefined;
  try {
    knowledge = loadKnowledge({ knowledgeDir, servicesDir, now });
  } catch (e) {
    if (!(e instanceof KnowledgeLoadError)) throw e;
    for (const p of e.problems) if (!problems.some((q) => q.file === p.file && q.path === p.path && q.message === p.message)) problems.push(p);
  }
  return { problems, checked: files.length, ...(knowledge ? { knowledge } : {}) };
}

function main(): void {
  const knowledgeDir = resolve(process.argv[2] ?? 'fhir-resources');
  const servicesDir = resolve(process.argv[3] ?? 'cds-services');
  const { problems, checked, knowledge } = validateKnowledge(knowledgeDir, servicesDir);
  for (const p of problems) process.stdout.write(`${p.file} ${p.path}: ${p.message}\n`);
  for (const w of knowledge?.warnings ?? []) process.stdout.write(`warning: ${w}\n`);
  process.stdout.write(`${checked} resources checked, ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  process.exit(problems.length > 0 ? 1 : 0);
}

if (require.main === module) main();
