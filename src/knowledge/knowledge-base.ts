import type { FhirResource, PlanDefinition, ValueSet } from 'fhir/r4';
import type { CompiledPlan } from '../engine/model';
import { CanonicalIndex } from './canonical-index';
import type { CanonicalResource } from './canonical-index';
import { compilePlan } from './compile-plan';
import { KnowledgeLoadError } from './problems';
import type { KnowledgeProblem } from './problems';
import { readJsonFiles } from './read-json-files';
import { checkServiceDefinition } from './service-definition';
import type { ServiceDefinition } from './service-definition';
import { indexValueSet, valueSetCodes } from './valueset-index';
import type { IndexedValueSet } from './valueset-index';
import { EXT_NEXT_REVIEW_DATE } from '../fhir/constants';
import { checkKnowledgeRules } from './rules';

/** A CDS service with the PlanDefinition it applies, resolved. */
export interface LoadedService {
  definition: ServiceDefinition;
  plan: CompiledPlan;
  file: string;
}

/** Everything loaded from `fhir-resources/` and `cds-services/`, checked, compiled and indexed. Read-only at run time. */
export interface KnowledgeBase {
  /** Every resource, keyed `Type/id`. */
  resources: ReadonlyMap<string, FhirResource>;
  /** The file each resource came from, keyed `Type/id`. */
  files: ReadonlyMap<string, string>;
  canonicals: CanonicalIndex;
  valueSets: ReadonlyMap<string, IndexedValueSet>;
  plans: ReadonlyMap<string, CompiledPlan>;
  services: ReadonlyMap<string, LoadedService>;
  /** Things an operator should know that do not stop the start (e.g. a policy past its review date). */
  warnings: string[];
}

export interface LoadOptions {
  knowledgeDir: string;
  servicesDir: string;
  /** "Today" for review-date warnings; tests pin it. */
  now?: Date;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const CANONICAL_TYPES: ReadonlySet<string> = new Set([
  'PlanDefinition', 'ActivityDefinition', 'ValueSet', 'CodeSystem', 'Library', 'Evidence', 'EvidenceVariable', 'Citation',
  'StructureDefinition', 'Questionnaire', 'ConceptMap',
]);

function checkResourceShape(json: unknown, file: string, problems: KnowledgeProblem[]): FhirResource | undefined {
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    problems.push({ file, path: '(root)', message: 'a knowledge file holds one FHIR resource (a JSON object)' });
    return undefined;
  }
  const r = json as { resourceType?: unknown; id?: unknown; url?: unknown };
  if (typeof r.resourceType !== 'string') {
    problems.push({ file, path: 'resourceType', message: 'missing resourceType' });
    return undefined;
  }
  if (typeof r.id !== 'string' || !FHIR_ID.test(r.id)) problems.push({ file, path: `${r.resourceType}.id`, message: 'an id of 1–64 letters, digits, "-" or "." is required' });
  if (CANONICAL_TYPES.has(r.resourceType) && typeof r.url !== 'string') problems.push({ file, path: `${r.resourceType}.url`, message: 'a canonical url is required' });
  return json as FhirResource;
}

function checkValueSet(vs: ValueSet, file: string, problems: KnowledgeProblem[]): void {
  (vs.compose?.include ?? []).forEach((inc, i) => {
    if ((inc.filter?.length || inc.valueSet?.length) && !vs.expansion) {
      problems.push({ file, path: `ValueSet.compose.include[${i}]`, message: 'filters and nested value sets need an expansion (no terminology server is used)' });
    }
  });
  if (valueSetCodes(vs).length === 0) problems.push({ file, path: 'ValueSet', message: 'has no codes (give compose.include.concept or an expansion)' });
}

/** The month after a partial date ("2026-11" → 2026-12-01): a review due in November is overdue from December. */
function endOfPeriod(date: string): Date {
  const [y = '0', m, d] = date.split('-');
  if (d) return new Date(Date.UTC(Number(y), Number(m) - 1, Number(d) + 1));
  if (m) return new Date(Date.UTC(Number(y), Number(m), 1));
  return new Date(Date.UTC(Number(y) + 1, 0, 1));
}

/** Whether a plan's next review date has passed (it still applies; operators are told). */
export function isPastReview(plan: PlanDefinition, now: Date): boolean {
  const next = plan.extension?.find((e) => e.url === EXT_NEXT_REVIEW_DATE)?.valueDate;
  return next !== undefined && now >= endOfPeriod(next);
}

/**
 * Loads, checks, compiles and indexes the knowledge. Any problem stops the load with a message naming each file,
 * the path in it and what is wrong — the service then refuses to start rather than apply half a policy.
 */
export function loadKnowledge(options: LoadOptions): KnowledgeBase {
  const problems: KnowledgeProblem[] = [];
  const resources = new Map<string, FhirResource>();
  const files = new Map<string, string>();
  const canonicals = new CanonicalIndex();
  const seenCanonical = new Map<string, string>();

  for (const { file, json } of readJsonFiles(options.knowledgeDir, problems)) {
    const resource = checkResourceShape(json, file, problems);
    if (!resource) continue;
    const key = `${resource.resourceType}/${resource.id ?? ''}`;
    const earlier = files.get(key);
    if (earlier) {
      problems.push({ file, path: `${resource.resourceType}.id`, message: `${key} is already defined in ${earlier}` });
      continue;
    }
    resources.set(key, resource);
    files.set(key, file);
    const canonical = resource as CanonicalResource;
    if (canonical.url && CANONICAL_TYPES.has(resource.resourceType)) {
      const ck = `${canonical.url}|${canonical.version ?? ''}`;
      const dup = seenCanonical.get(ck);
      if (dup) problems.push({ file, path: `${resource.resourceType}.url`, message: `url and version ${ck} are already used by ${dup}` });
      seenCanonical.set(ck, file);
      canonicals.add(canonical);
    }
  }

  problems.push(...checkKnowledgeRules({ resources, files, canonicals }));

  const valueSets = new Map<string, IndexedValueSet>();
  for (const [key, r] of resources) {
    if (r.resourceType !== 'ValueSet') continue;
    checkValueSet(r, files.get(key) ?? key, problems);
    const indexed = indexValueSet(r);
    valueSets.set(indexed.url, indexed);
    if (r.version) valueSets.set(`${indexed.url}|${r.version}`, indexed);
  }
  const lookup = (canonical: string): IndexedValueSet | undefined => valueSets.get(canonical);

  const plans = new Map<string, CompiledPlan>();
  const warnings: string[] = [];
  const now = options.now ?? new Date();
  for (const [key, r] of resources) {
    if (r.resourceType !== 'PlanDefinition') continue;
    const compiled = compilePlan(r, files.get(key) ?? key, problems, canonicals, lookup);
    plans.set(key, compiled);
    if (isPastReview(r, now)) {
      warnings.push(`${key} (${r.title ?? r.name ?? ''}) is past its next review date (${compiled.nextReview ?? '?'}); it still applies — schedule the review.`);
    }
  }

  const services = new Map<string, LoadedService>();
  for (const { file, json } of readJsonFiles(options.servicesDir, problems)) {
    const issues = checkServiceDefinition(json);
    if (issues.length > 0) {
      for (const i of issues) problems.push({ file, path: i.path, message: i.message });
      continue;
    }
    const definition = json as ServiceDefinition;
    if (services.has(definition.id)) {
      problems.push({ file, path: 'id', message: `service id "${definition.id}" is already declared in ${services.get(definition.id)?.file ?? '?'}` });
      continue;
    }
    const planResource = canonicals.resolve<PlanDefinition>(definition.planDefinition, 'PlanDefinition');
    const plan = planResource ? plans.get(`PlanDefinition/${planResource.id ?? ''}`) : undefined;
    if (!plan) {
      problems.push({ file, path: 'planDefinition', message: `${definition.planDefinition} does not resolve to a loaded PlanDefinition` });
      continue;
    }
    if (!plan.rules.some((rule) => rule.hooks.has(definition.hook))) {
      problems.push({ file, path: 'hook', message: `${definition.planDefinition} has no rule triggered by ${definition.hook}` });
      continue;
    }
    services.set(definition.id, { definition, plan, file });
  }

  if (problems.length > 0) throw new KnowledgeLoadError(problems);
  return { resources, files, canonicals, valueSets, plans, services, warnings };
}
