import type { Coding } from 'fhir/r4';
import { codeKey } from '../fhirpath/code-key';
import { codingsOf } from '../fhirpath/evaluate';
import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { inForce } from '../knowledge/policies';
import type { Policy } from '../knowledge/policies';
import { KnowledgeLoadError } from '../knowledge/problems';
import type { KnowledgeProblem } from '../knowledge/problems';
import { compilePolicy } from './compile-policy';
import type { CompileContext } from './compile-policy';
import { MAX_MATCHED_TEXT } from './condition';
import { childId } from './ids';
import type { CompiledPolicy, CompiledRule } from './model';
import { navigate } from './navigate';

/** A rule of a policy, as a candidate or a match for an order. */
export interface CatalogRule {
  policy: CompiledPolicy;
  rule: CompiledRule;
}

/**
 * The payer's catalog, compiled: every policy's checks and card templates, and the knowledge's code index turned
 * into a lookup from an order to the rules that may apply to it. Built once per knowledge load; read-only per call.
 */
export class Catalog {
  readonly policies = new Map<string, CompiledPolicy>();
  readonly defaultPolicy: CompiledPolicy | undefined;
  /** Suggestion action ids anywhere in the catalog, for tracing feedback to the alternative chosen. */
  private readonly suggestionIds = new Set<string>();

  /** Compiles the knowledge; throws a KnowledgeLoadError naming file and path when an expression does not compile. */
  constructor(readonly knowledge: KnowledgeBase, ctx: Pick<CompileContext, 'onExpressionError'>) {
    const problems: KnowledgeProblem[] = [];
    const compileContext: CompileContext = { ...ctx, canonicals: knowledge.canonicals, lookup: (url) => knowledge.valueSets.get(url), problems };
    for (const policy of knowledge.policies.values()) {
      const compiled = compilePolicy(policy, compileContext);
      this.policies.set(policy.key, compiled);
      for (const rule of compiled.rules) for (const card of rule.cards) for (const s of card.children) if (s.action.id) this.suggestionIds.add(s.action.id);
    }
    if (problems.length > 0) throw new KnowledgeLoadError(problems);
    this.defaultPolicy = knowledge.defaultPolicy ? this.policies.get(knowledge.defaultPolicy.key) : undefined;
  }

  /** The policy by `PlanDefinition/id`. */
  policy(key: string): CompiledPolicy | undefined {
    return this.policies.get(key);
  }

  /**
   * The rules that may apply to an order on this hook, from the index: the rules of its codes and of the text
   * patterns its text matches, and the rules that cannot be indexed — only policies in force now. Each must still
   * pass its full conditions.
   */
  candidates(hook: string, order: Record<string, unknown>, now: Date, allowDraft: boolean): CatalogRule[] {
    const { index } = this.knowledge;
    const keys: string[] = [];
    for (const path of index.codePaths) {
      for (const value of navigate(order, path)) {
        for (const c of codingsOf(value)) if (typeof c.system === 'string' && typeof c.code === 'string') keys.push(codeKey(c.system, c.code));
      }
    }
    const texts: string[] = [];
    for (const path of index.textPaths) {
      for (const value of navigate(order, path)) if (typeof value === 'string') texts.push(value.length > MAX_MATCHED_TEXT ? value.slice(0, MAX_MATCHED_TEXT) : value);
    }
    const type = typeof order['resourceType'] === 'string' ? order['resourceType'] : '';
    const out: CatalogRule[] = [];
    for (const ref of index.candidates(hook, type, keys, texts)) {
      const policy = this.policies.get(ref.ref.policy);
      const rule = policy?.rules[ref.ref.rule];
      if (policy && rule && inForce(policy.policy, now, allowDraft)) out.push({ policy, rule });
    }
    return out;
  }

  /**
   * The PlanDefinition action id of the suggestion a clinician accepted, from the card uuid and suggestion uuid that
   * feedback carries (the inverse of the derived suggestion ids of engine/apply.ts); undefined when it is not one
   * of ours. One hash per distinct suggestion id in the catalog: feedback is rare next to hook calls.
   */
  acceptedAlternative(cardId: string, suggestionId: string): string | undefined {
    for (const name of this.suggestionIds) if (childId(cardId, name) === suggestionId) return name;
    return undefined;
  }
}

/**
 * The order's codings that are members of the ValueSets its rule tested: the codes a claim would bill, each once,
 * spelled as its system's preferred URI (CRD's billing-code value sets spell HCPCS and CPT that way), never as
 * the EHR happened to spell it.
 */
export function billingCodesOf(order: Record<string, unknown>, policy: Policy, ruleIndex: number, knowledge: KnowledgeBase): Coding[] {
  const rule = policy.rules[ruleIndex];
  const sets = (rule?.valueSetUrls ?? []).map((u) => knowledge.valueSets.get(u)).filter((v) => v !== undefined);
  const out: Coding[] = [];
  const seen = new Set<string>();
  for (const value of navigate(order, ['code']).concat(navigate(order, ['medicationCodeableConcept']), navigate(order, ['codeCodeableConcept']), navigate(order, ['serviceType']))) {
    for (const c of codingsOf(value)) {
      if (typeof c.system !== 'string' || typeof c.code !== 'string') continue;
      const key = codeKey(c.system, c.code);
      const member = sets.map((vs) => vs.members.get(key)).find((m) => m !== undefined);
      if (!member) continue;
      const billed = codeKey(member.system, member.code);
      if (seen.has(billed)) continue;
      seen.add(billed);
      const display = (c as { display?: unknown }).display;
      out.push({ system: member.system, code: member.code, ...(typeof display === 'string' && display ? { display } : {}) });
    }
  }
  return out;
}
