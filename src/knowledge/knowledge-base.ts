import type { FhirResource, ValueSet } from 'fhir/r4';
import { CanonicalIndex } from './canonical-index';
import type { CanonicalResource } from './canonical-index';
import { CodeIndex } from './code-index';
import type { IndexedRule } from './code-index';
import { checkHookService } from './hook-services';
import type { HookService } from './hook-services';
import { readPayer } from './payer';
import type { PayerIdentity } from './payer';
import { displayMonth, inForce, isPastReview, readPolicy } from './policies';
import type { Policy } from './policies';
import { checkPolicyActions, checkReviewDates } from './policy-checks';
import { KnowledgeLoadError } from './problems';
import type { KnowledgeProblem } from './problems';
import { readSystemAliases } from './naming-systems';
import type { SystemAliases } from './naming-systems';
import { readJsonFiles, TEST_CASE_FOLDER } from './read-json-files';
import { checkKnowledgeRules } from './rules';
import { indexValueSet, valueSetCodes } from './valueset-index';
import type { IndexedValueSet } from './valueset-index';

/** A CDS service as loaded: its declaration and the file it came from. */
export interface LoadedService {
  definition: HookService;
  file: string;
}

/**
 * The payer's whole knowledge, from `fhir-resources/` and `cds-services/`: every resource, the policy catalog
 * (one entry per PlanDefinition), the index from order codes to candidate rules, the payer's identity and one
 * CDS service per hook. Checked and indexed once at load; read-only at run time.
 */
export interface KnowledgeBase {
  /** Every resource, keyed `Type/id`. */
  resources: ReadonlyMap<string, FhirResource>;
  /** The file each resource came from, keyed `Type/id`. */
  files: ReadonlyMap<string, string>;
  canonicals: CanonicalIndex;
  valueSets: ReadonlyMap<string, IndexedValueSet>;
  /** Spellings of one code system (NamingSystem): ValueSet membership accepts each; billing codes use the preferred one. */
  systemAliases: SystemAliases;
  /** The catalog: every PlanDefinition, keyed `PlanDefinition/id` (in force or not: see `inForce`). */
  policies: ReadonlyMap<string, Policy>;
  /** The payer's default rule (CRD hook-16: a decision for orders no policy governs), when the catalog has one. */
  defaultPolicy?: Policy;
  index: CodeIndex;
  payer: PayerIdentity;
  /** Services by id, and by their old ids (aliases). */
  services: ReadonlyMap<string, LoadedService>;
  aliases: ReadonlyMap<string, string>;
  /** Things an operator should know that do not stop the start (a review due, codes two policies share). */
  warnings: KnowledgeProblem[];
}

export interface LoadOptions {
  knowledgeDir: string;
  servicesDir: string;
  /** "Today" for review-date warnings; tests pin it. */
  now?: Date;
  /** PAYER_IDENTIFIERS: identifiers and references of this payer beyond its Organization resource. */
  payerIdentifiers?: readonly string[];
  /** POLICY_ALLOW_DRAFT: overlaps between draft policies are reported too when drafts may fire. */
  allowDraft?: boolean;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const CANONICAL_TYPES: ReadonlySet<string> = new Set([
  'PlanDefinition', 'ActivityDefinition', 'ValueSet', 'CodeSystem', 'Library', 'Evidence', 'EvidenceVariable', 'Citation',
  'StructureDefinition', 'Questionnaire', 'ConceptMap', 'NamingSystem',
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
  if (CANONICAL_TYPES.has(r.resourceType) && r.resourceType !== 'NamingSystem' && typeof r.url !== 'string') problems.push({ file, path: `${r.resourceType}.url`, message: 'a canonical url is required' });
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

/**
 * Codes two policies in force both index on the same hook: which one governs an order with that code is settled
 * by precedence (README "Policy precedence"), and the payer should know it happens. One warning per pair.
 */
function overlapWarnings(policies: readonly Policy[], now: Date, allowDraft: boolean): KnowledgeProblem[] {
  const owners = new Map<string, Set<Policy>>();
  for (const p of policies) {
    if (p.role === 'default' || !inForce(p, now, allowDraft)) continue;
    for (const rule of p.rules) for (const key of rule.requirement?.codes ?? []) {
      const set = owners.get(key) ?? new Set<Policy>();
      set.add(p);
      owners.set(key, set);
    }
  }
  const pairs = new Map<string, { a: Policy; b: Policy; codes: string[] }>();
  for (const [key, set] of owners) {
    const list = [...set].sort((x, y) => x.key.localeCompare(y.key));
    for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) {
      const a = list[i] as Policy;
      const b = list[j] as Policy;
      const id = `${a.key} ${b.key}`;
      const entry = pairs.get(id) ?? { a, b, codes: [] };
      entry.codes.push(key);
      pairs.set(id, entry);
    }
  }
  return [...pairs.values()].map(({ a, b, codes }) => ({
    file: a.file,
    path: 'PlanDefinition.action.condition',
    message: `${a.key} and ${b.key} both govern ${codes.slice(0, 3).join(', ')}${codes.length > 3 ? ` and ${codes.length - 3} more codes` : ''}: an order with these codes is decided by the higher policy-precedence, then by the more restrictive decision`,
  }));
}

/**
 * Loads, checks, analyses and indexes the knowledge. Any problem stops the load with a message naming each file,
 * the path in it and what is wrong — the service then refuses to start rather than apply half a policy.
 */
export function loadKnowledge(options: LoadOptions): KnowledgeBase {
  const problems: KnowledgeProblem[] = [];
  const warnings: KnowledgeProblem[] = [];
  const resources = new Map<string, FhirResource>();
  const files = new Map<string, string>();
  const canonicals = new CanonicalIndex();
  const seenCanonical = new Map<string, string>();

  for (const { file, json } of readJsonFiles(options.knowledgeDir, problems, { skipFolders: [TEST_CASE_FOLDER] })) {
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

  const systemAliases = readSystemAliases(resources, files, problems);
  const valueSets = new Map<string, IndexedValueSet>();
  for (const [key, r] of resources) {
    if (r.resourceType !== 'ValueSet') continue;
    checkValueSet(r, files.get(key) ?? key, problems);
    const indexed = indexValueSet(r, systemAliases);
    valueSets.set(indexed.url, indexed);
    if (r.version) valueSets.set(`${indexed.url}|${r.version}`, indexed);
  }
  const lookup = (canonical: string): IndexedValueSet | undefined => valueSets.get(canonical);

  const now = options.now ?? new Date();
  const allowDraft = options.allowDraft ?? false;
  const policies = new Map<string, Policy>();
  let defaultPolicy: Policy | undefined;
  for (const [key, r] of resources) {
    if (r.resourceType !== 'PlanDefinition') continue;
    const policy = readPolicy(r, files.get(key) ?? key, lookup, problems);
    checkPolicyActions(policy, canonicals, problems);
    checkReviewDates(policy, warnings);
    policies.set(key, policy);
    if (policy.role === 'default') {
      if (defaultPolicy) problems.push({ file: policy.file, path: 'PlanDefinition.extension(catalog-default)', message: `only one default rule may exist; ${defaultPolicy.key} is one already` });
      else defaultPolicy = policy;
    }
    if (isPastReview(policy, now)) {
      warnings.push({ file: policy.file, path: 'PlanDefinition.extension(artifact-nextReviewDate)', message: `${key} (${r.title ?? r.name ?? ''}) is past its next review date (${displayMonth(policy.nextReviewDate) ?? '?'}); it still applies — schedule the review` });
    }
  }
  warnings.push(...overlapWarnings([...policies.values()], now, allowDraft));

  const rules: IndexedRule[] = [...policies.values()].filter((p) => p.role === 'policy').flatMap((p) => p.rules.map((r) => ({
    ref: { policy: p.key, rule: r.index }, hooks: r.hooks, requirement: r.requirement, types: r.types,
  })));
  const index = new CodeIndex(rules);
  const payer = readPayer(resources, files, options.payerIdentifiers ?? [], problems);

  const services = new Map<string, LoadedService>();
  const aliases = new Map<string, string>();
  const hooks = new Map<string, string>();
  for (const { file, json } of readJsonFiles(options.servicesDir, problems)) {
    const issues = checkHookService(json);
    if (issues.length > 0) {
      for (const i of issues) problems.push({ file, path: i.path, message: i.message });
      continue;
    }
    const definition = json as HookService;
    const taken = services.get(definition.id)?.file ?? (aliases.has(definition.id) ? 'an alias' : undefined);
    if (taken) {
      problems.push({ file, path: 'id', message: `service id "${definition.id}" is already declared in ${taken}` });
      continue;
    }
    const sameHook = hooks.get(definition.hook);
    if (sameHook) {
      problems.push({ file, path: 'hook', message: `${sameHook} already serves ${definition.hook}: one service per hook answers for the whole catalog (CRD found-15)` });
      continue;
    }
    hooks.set(definition.hook, file);
    services.set(definition.id, { definition, file });
    for (const alias of definition.aliases ?? []) {
      if (services.has(alias) || aliases.has(alias)) problems.push({ file, path: 'aliases', message: `"${alias}" is already a service id or alias` });
      else aliases.set(alias, definition.id);
    }
  }
  for (const [alias] of aliases) if (services.has(alias)) problems.push({ file: '(services)', path: 'aliases', message: `"${alias}" is both a service id and an alias` });

  if (problems.length > 0) throw new KnowledgeLoadError(problems);
  return { resources, files, canonicals, valueSets, systemAliases, policies, ...(defaultPolicy ? { defaultPolicy } : {}), index, payer, services, aliases, warnings };
}

/** A warning as one readable line (start-up log, `npm run validate`). */
export function warningText(w: KnowledgeProblem): string {
  return `${w.file} ${w.path}: ${w.message}`;
}
