import { canonicalText, booleanStructure } from '../fhirpath/structure';
import type { BooleanNode } from '../fhirpath/structure';
import { stringLiteralValue } from '../fhirpath/evaluate';

/**
 * The forms of an applicability condition the catalog understands without an interpreter (README "Adding a
 * policy" lists them). A condition is cut at its top-level `or` / `and` (fhirpath/structure.ts); each operand
 * is matched, on its canonical text, against these forms. An operand of no known form stays FHIRPath and is
 * evaluated by fhirpath.js. Recognised operands give the knowledge its index (knowledge/code-index.ts) and the
 * engine its native checks (engine/condition.ts).
 */
export type ConditionForm =
  /** `%order.resourceType = 'T'` or `%order.resourceType in ('A' | 'B')` */
  | { form: 'resource-type'; types: string[] }
  /** `%order.<path>.memberOf('<ValueSet url>')`: a coding under the path is in the ValueSet. */
  | { form: 'member-of'; path: string[]; valueSet: string }
  /** `%order.<path>.coding.where(system = 'S' and code = 'C').exists()` (or `.exists(system = 'S' and code = 'C')`). */
  | { form: 'coding'; path: string[]; system: string; code: string }
  /** `(%order.<p1> | %order.<p2>).exists($this.lower().matches('<regex>'))`, `.lower()` optional, one path or several. */
  | { form: 'text-matches'; paths: string[][]; pattern: string; lower: boolean }
  /** Anything else: evaluated by fhirpath.js. */
  | { form: 'fhirpath'; expression: string };

/** A condition as the tree of its top-level `and` / `or` with recognised operands. */
export type ConditionTree =
  | { kind: 'and' | 'or'; operands: ConditionTree[] }
  | { kind: 'form'; form: ConditionForm };

const STRING = "'(?:[^'\\\\]|\\\\.)*'";
const PATH = '((?:\\.[A-Za-z][A-Za-z0-9]*)+)';
const segments = (path: string): string[] => path.slice(1).split('.');

const RESOURCE_TYPE = new RegExp(`^%order\\.resourceType=(${STRING})$`);
const RESOURCE_TYPES = new RegExp(`^%order\\.resourceType in\\((${STRING}(?:\\|${STRING})*)\\)$`);
const MEMBER_OF = new RegExp(`^%order${PATH}\\.memberOf\\((${STRING})\\)$`);
const CODING_WHERE = new RegExp(`^%order${PATH}\\.coding\\.where\\((system|code)=(${STRING})and (system|code)=(${STRING})\\)\\.exists\\(\\)$`);
const CODING_EXISTS = new RegExp(`^%order${PATH}\\.coding\\.exists\\((system|code)=(${STRING})and (system|code)=(${STRING})\\)$`);
const TEXT_ONE = new RegExp(`^%order${PATH}\\.exists\\(\\$this(\\.lower\\(\\))?\\.matches\\((${STRING})\\)\\)$`);
const TEXT_MANY = new RegExp(`^\\((%order(?:\\.[A-Za-z][A-Za-z0-9]*)+(?:\\|%order(?:\\.[A-Za-z][A-Za-z0-9]*)+)*)\\)\\.exists\\(\\$this(\\.lower\\(\\))?\\.matches\\((${STRING})\\)\\)$`);

function coding(path: string, k1: string, v1: string, k2: string, v2: string): ConditionForm | undefined {
  if (k1 === k2) return undefined;
  const value = { [k1]: stringLiteralValue(v1), [k2]: stringLiteralValue(v2) } as { system: string; code: string };
  return { form: 'coding', path: segments(path), system: value.system, code: value.code };
}

/** Which form one operand has (its canonical text decides; layout and comments never change the answer). */
export function recogniseForm(text: string, canonical: string): ConditionForm {
  let m: RegExpExecArray | null;
  if ((m = RESOURCE_TYPE.exec(canonical))) return { form: 'resource-type', types: [stringLiteralValue(m[1] ?? '')] };
  if ((m = RESOURCE_TYPES.exec(canonical))) {
    return { form: 'resource-type', types: (m[1] ?? '').match(new RegExp(STRING, 'g'))?.map(stringLiteralValue) ?? [] };
  }
  if ((m = MEMBER_OF.exec(canonical))) return { form: 'member-of', path: segments(m[1] ?? ''), valueSet: stringLiteralValue(m[2] ?? '') };
  if ((m = CODING_WHERE.exec(canonical) ?? CODING_EXISTS.exec(canonical))) {
    const form = coding(m[1] ?? '', m[2] ?? '', m[3] ?? '', m[4] ?? '', m[5] ?? '');
    if (form) return form;
  }
  if ((m = TEXT_ONE.exec(canonical))) return { form: 'text-matches', paths: [segments(m[1] ?? '')], lower: m[2] !== undefined, pattern: stringLiteralValue(m[3] ?? '') };
  if ((m = TEXT_MANY.exec(canonical))) {
    const paths = (m[1] ?? '').split('|').map((p) => segments(p.slice('%order'.length)));
    return { form: 'text-matches', paths, lower: m[2] !== undefined, pattern: stringLiteralValue(m[3] ?? '') };
  }
  return { form: 'fhirpath', expression: text };
}

function treeOf(node: BooleanNode): ConditionTree {
  if (node.kind === 'atom') return { kind: 'form', form: recogniseForm(node.text, canonicalText(node.tokens, node.text)) };
  return { kind: node.kind, operands: node.operands.map(treeOf) };
}

/** Analyses one condition expression; throws FhirPathSyntaxError when it is not FHIRPath at the lexical level. */
export function analyseCondition(expression: string): ConditionTree {
  return treeOf(booleanStructure(expression));
}

/** Every form in the tree, depth first. */
export function formsOf(tree: ConditionTree): ConditionForm[] {
  return tree.kind === 'form' ? [tree.form] : tree.operands.flatMap(formsOf);
}
