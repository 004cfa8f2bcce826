import type { FhirResource, PlanDefinition, PlanDefinitionAction, RelatedArtifact, ValueSet } from 'fhir/r4';
import type { CanonicalIndex } from './canonical-index';
import { codeKey } from '../fhirpath/code-key';
import type { KnowledgeProblem } from './problems';

/** The resources being checked, keyed `Type/id`, with the file each came from. */
export interface RuleInput {
  resources: ReadonlyMap<string, FhirResource>;
  files: ReadonlyMap<string, string>;
  canonicals: CanonicalIndex;
}

const ACTION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/action-type';

function checkRelatedArtifacts(input: RuleInput, key: string, path: string, artifacts: RelatedArtifact[] | undefined, out: KnowledgeProblem[]): void {
  const file = input.files.get(key) ?? key;
  (artifacts ?? []).forEach((a, i) => {
    // A predecessor names an earlier version of the artifact: history, not something the knowledge must hold.
    if (a.resource && a.type !== 'predecessor' && !input.canonicals.resolve(a.resource)) {
      out.push({ file, path: `${path}[${i}].resource`, message: `canonical ${a.resource} does not resolve to a loaded resource` });
    }
  });
}

function checkValueSetUnique(vs: ValueSet, file: string, out: KnowledgeProblem[]): void {
  (vs.compose?.include ?? []).forEach((inc, i) => {
    const seen = new Set<string>();
    (inc.concept ?? []).forEach((c, j) => {
      if (seen.has(c.code)) out.push({ file, path: `ValueSet.compose.include[${i}].concept[${j}].code`, message: `code ${c.code} is listed twice in ${inc.system ?? 'this include'}` });
      seen.add(c.code);
    });
  });
  const seen = new Set<string>();
  (vs.expansion?.contains ?? []).forEach((c, i) => {
    const k = codeKey(c.system ?? '', c.code ?? '');
    if (seen.has(k)) out.push({ file, path: `ValueSet.expansion.contains[${i}]`, message: `${c.system ?? ''}|${c.code ?? ''} appears twice in the expansion` });
    seen.add(k);
  });
  const composed = new Set((vs.compose?.include ?? []).flatMap((inc) => (inc.concept ?? []).map((c) => codeKey(inc.system ?? '', c.code))));
  if (vs.expansion?.contains && composed.size > 0) {
    const expanded = new Set(vs.expansion.contains.map((c) => codeKey(c.system ?? '', c.code ?? '')));
    const missing = [...composed].filter((k) => !expanded.has(k));
    if (missing.length > 0) out.push({ file, path: 'ValueSet.expansion', message: `the expansion lacks composed codes: ${missing.join(', ')}` });
  }
}

/** Suggestion actions that create something: each must come from an ActivityDefinition. */
function checkCreates(input: RuleInput, file: string, actions: PlanDefinitionAction[] | undefined, path: string, out: KnowledgeProblem[], used: Set<string>): void {
  (actions ?? []).forEach((a, i) => {
    const p = `${path}[${i}]`;
    const type = a.type?.coding?.find((c) => c.system === ACTION_TYPE_SYSTEM)?.code;
    if (type === 'create' && !a.definitionCanonical) out.push({ file, path: p, message: 'a create action needs a definitionCanonical to an ActivityDefinition' });
    if (a.definitionCanonical) {
      const ad = input.canonicals.resolve(a.definitionCanonical, 'ActivityDefinition');
      if (ad) used.add(`ActivityDefinition/${ad.id ?? ''}`);
    }
    checkCreates(input, file, a.action, `${p}.action`, out, used);
  });
}

/**
 * The knowledge's own rules, beyond the FHIR schema: canonical references resolve; a ValueSet lists each code once
 * and its expansion matches its compose; every alternative a plan offers is an ActivityDefinition, and every
 * ActivityDefinition written for a plan is offered by it; every reference a plan cites is a Citation resource,
 * and every Evidence cites one of them. Shared by the start-up check and `npm run validate`.
 */
export function checkKnowledgeRules(input: RuleInput): KnowledgeProblem[] {
  const out: KnowledgeProblem[] = [];
  const usedActivities = new Set<string>();
  const citedByPlans = new Set<string>();
  for (const [key, r] of input.resources) {
    const file = input.files.get(key) ?? key;
    const withArtifacts = r as { relatedArtifact?: RelatedArtifact[] };
    checkRelatedArtifacts(input, key, `${r.resourceType}.relatedArtifact`, withArtifacts.relatedArtifact, out);
    if (r.resourceType === 'ValueSet') checkValueSetUnique(r, file, out);
    if (r.resourceType === 'PlanDefinition') {
      const plan: PlanDefinition = r;
      checkCreates(input, file, plan.action, 'PlanDefinition.action', out, usedActivities);
      (plan.relatedArtifact ?? []).forEach((a, i) => {
        if (a.type !== 'citation') return;
        const citation = a.resource ? (input.canonicals.resolve(a.resource) as { resourceType: string; id?: string } | undefined) : undefined;
        if (!citation || citation.resourceType !== 'Citation') {
          out.push({ file, path: `PlanDefinition.relatedArtifact[${i}]`, message: `the reference "${a.label ?? a.display ?? ''}" needs a resource pointing at a Citation` });
        } else citedByPlans.add(`Citation/${citation.id ?? ''}`);
      });
    }
    if (r.resourceType === 'Evidence') {
      const ref = (r as { citeAsReference?: { reference?: string } }).citeAsReference?.reference;
      if (!ref || !input.resources.has(ref)) out.push({ file, path: 'Evidence.citeAsReference', message: `must reference a loaded Citation (found ${ref ?? 'none'})` });
    }
  }
  for (const [key, r] of input.resources) {
    const file = input.files.get(key) ?? key;
    if (r.resourceType === 'ActivityDefinition') {
      const forPlan = (r.relatedArtifact ?? []).some((a) => a.type === 'justification' && a.resource);
      if (forPlan && !usedActivities.has(key)) out.push({ file, path: 'ActivityDefinition', message: `${key} is written for a plan that never offers it` });
    }
    if (r.resourceType === 'Evidence') {
      const ref = (r as { citeAsReference?: { reference?: string } }).citeAsReference?.reference;
      if (ref && input.resources.has(ref) && citedByPlans.size > 0 && !citedByPlans.has(ref)) {
        out.push({ file, path: 'Evidence.citeAsReference', message: `${ref} is not among the references any PlanDefinition cites` });
      }
    }
  }
  return out;
}
