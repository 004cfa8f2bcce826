import type { ConditionTree } from './condition-forms';
import { codeKey } from '../fhirpath/code-key';
import type { ValueSetLookup } from '../fhirpath/evaluate';

/**
 * What an order must have for a rule's applicability to possibly hold, read from its condition forms: one of these
 * codes, or text matching one of these patterns. `undefined` (no requirement) means any order may match: the rule
 * is a candidate for every order of its resource types.
 */
export interface Requirement {
  codes: Set<string>;
  /** The element paths below the order the codes are read from (`code`, `medicationCodeableConcept`). */
  codePaths: string[][];
  patterns: Array<{ pattern: string; lower: boolean; paths: string[][] }>;
}

function union(parts: Requirement[]): Requirement {
  return { codes: new Set(parts.flatMap((p) => [...p.codes])), codePaths: parts.flatMap((p) => p.codePaths), patterns: parts.flatMap((p) => p.patterns) };
}

/**
 * The requirement a condition tree implies. `and`: any operand's requirement holds for the whole (the one with
 * codes and fewest patterns is kept, as the most selective); `or`: the union, but only when every operand has one.
 */
export function requirementOf(tree: ConditionTree, lookup: ValueSetLookup): Requirement | undefined {
  if (tree.kind === 'form') {
    const f = tree.form;
    if (f.form === 'member-of') return { codes: new Set(lookup(f.valueSet)?.keys ?? []), codePaths: [f.path], patterns: [] };
    if (f.form === 'coding') return { codes: new Set([codeKey(f.system, f.code)]), codePaths: [f.path], patterns: [] };
    if (f.form === 'text-matches') return { codes: new Set(), codePaths: [], patterns: [{ pattern: f.pattern, lower: f.lower, paths: f.paths }] };
    return undefined;
  }
  const parts = tree.operands.map((o) => requirementOf(o, lookup));
  if (tree.kind === 'or') return parts.every((p): p is Requirement => p !== undefined) ? union(parts) : undefined;
  const known = parts.filter((p): p is Requirement => p !== undefined);
  known.sort((a, b) => a.patterns.length - b.patterns.length);
  return known[0];
}

/** The resource types a condition tree admits (undefined: any type). */
export function resourceTypesOf(tree: ConditionTree): Set<string> | undefined {
  if (tree.kind === 'form') return tree.form.form === 'resource-type' ? new Set(tree.form.types) : undefined;
  const parts = tree.operands.map(resourceTypesOf);
  if (tree.kind === 'or') return parts.every((p): p is Set<string> => p !== undefined) ? new Set(parts.flatMap((p) => [...p])) : undefined;
  const known = parts.filter((p): p is Set<string> => p !== undefined);
  if (known.length === 0) return undefined;
  return new Set([...(known[0] ?? [])].filter((t) => known.every((k) => k.has(t))));
}

/** A rule the index points at: which policy (its `PlanDefinition/id` key) and which top-level action. */
export interface RuleRef {
  policy: string;
  rule: number;
}

/** One rule as the index sees it. */
export interface IndexedRule {
  ref: RuleRef;
  hooks: ReadonlySet<string>;
  requirement: Requirement | undefined;
  types: Set<string> | undefined;
}

/** A text pattern and the rules it makes candidates. */
interface TextEntry {
  regex: RegExp;
  lower: boolean;
  /** Part of the combined expression (else always tested on its own). */
  combinable: boolean;
  rules: IndexedRule[];
}

function addPath(paths: string[][], path: string[]): void {
  if (!paths.some((q) => q.join('.') === path.join('.'))) paths.push(path);
}

/** Regular expressions that cannot be joined into one alternation without changing their meaning. */
const NOT_COMBINABLE = /\\[1-9]|\\k<|\(\?<[A-Za-z]/;

/**
 * The catalog's index from order to candidate rules (README "How a call is decided"): each code of every
 * indexable rule maps to the rules that need it; text patterns are tested together, in one combined regular
 * expression per case mode, and one by one only when the combination matches; rules with no requirement are
 * candidates for every order of their resource types. An order's candidates are then checked with their full
 * conditions (engine). Built once per knowledge load.
 */
export class CodeIndex {
  private readonly byCode = new Map<string, IndexedRule[]>();
  private readonly texts: TextEntry[] = [];
  private readonly unindexed: IndexedRule[] = [];
  private readonly combined: { lower?: RegExp; exact?: RegExp } = {};
  /** Every element path the text patterns read (`code.text`, `code.coding.display`), deduplicated. */
  readonly textPaths: string[][] = [];
  /** Every element path indexed codes are read from (`code`, `medicationCodeableConcept`), deduplicated. */
  readonly codePaths: string[][] = [];

  constructor(rules: readonly IndexedRule[]) {
    const byPattern = new Map<string, TextEntry>();
    for (const rule of rules) {
      const req = rule.requirement;
      if (!req) {
        this.unindexed.push(rule);
        continue;
      }
      for (const path of req.codePaths) addPath(this.codePaths, path);
      for (const key of req.codes) {
        const list = this.byCode.get(key);
        if (list) list.push(rule);
        else this.byCode.set(key, [rule]);
      }
      for (const p of req.patterns) {
        const id = `${p.lower ? 'l' : 'e'}:${p.pattern}`;
        let entry = byPattern.get(id);
        if (!entry) {
          entry = { regex: new RegExp(p.pattern, 'us'), lower: p.lower, combinable: !NOT_COMBINABLE.test(p.pattern), rules: [] };
          byPattern.set(id, entry);
          this.texts.push(entry);
        }
        entry.rules.push(rule);
        for (const path of p.paths) addPath(this.textPaths, path);
      }
    }
    for (const lower of [true, false]) {
      const sources = this.texts.filter((t) => t.lower === lower && t.combinable).map((t) => `(?:${t.regex.source})`);
      if (sources.length > 0) this.combined[lower ? 'lower' : 'exact'] = new RegExp(sources.join('|'), 'us');
    }
  }

  /** How many rules are indexed by code or text, and how many are tested on every order. */
  stats(): { codes: number; patterns: number; unindexed: number } {
    return { codes: this.byCode.size, patterns: this.texts.length, unindexed: this.unindexed.length };
  }

  /** Rules that are candidates for this hook and an order with these code keys and these texts. */
  candidates(hook: string, resourceType: string, codeKeys: readonly string[], texts: readonly string[]): IndexedRule[] {
    const found = new Set<IndexedRule>();
    const admit = (rule: IndexedRule): void => {
      if (rule.hooks.has(hook) && (!rule.types || rule.types.has(resourceType))) found.add(rule);
    };
    for (const key of codeKeys) for (const rule of this.byCode.get(key) ?? []) admit(rule);
    if (texts.length > 0 && this.texts.length > 0) {
      const lowered = texts.map((t) => t.toLowerCase());
      const anyLower = this.combined.lower ? lowered.some((t) => this.combined.lower?.test(t)) : false;
      const anyExact = this.combined.exact ? texts.some((t) => this.combined.exact?.test(t)) : false;
      for (const entry of this.texts) {
        if (entry.combinable && !(entry.lower ? anyLower : anyExact)) continue;
        if ((entry.lower ? lowered : texts).some((t) => entry.regex.test(t))) for (const rule of entry.rules) admit(rule);
      }
    }
    for (const rule of this.unindexed) admit(rule);
    return [...found];
  }
}
