import * as fhirpath from 'fhirpath';

/**
 * A node of fhirpath.js's parse tree (`fhirpath.parse`), as far as this service reads it: the node type, the token
 * text of operators, identifiers and literals, the children, and for operator tokens their position (1-based line
 * and column, in UTF-16 code units) and length. Other keys (`atRoot`, `delimitedText`) are compared, never read.
 */
export interface FhirPathNode {
  type: string;
  text?: string;
  children?: FhirPathNode[];
  start?: { line: number; column: number };
  length?: number;
}

/** An operand of a split expression: its source text, and the subtree it parses to. */
export interface Operand {
  text: string;
  node: FhirPathNode;
}

/** The expression's own root, below the two EntireExpression nodes fhirpath.parse wraps it in; throws when it does not parse. */
export function parseRoot(expression: string): FhirPathNode | undefined {
  const tree = fhirpath.parse(expression) as FhirPathNode;
  const inner = tree.type === 'EntireExpression' ? tree.children?.[0] : undefined;
  return inner?.type === 'EntireExpression' && inner.children?.length === 1 ? inner.children[0] : undefined;
}

const POSITION_KEYS = new Set(['start', 'length']);
const keysOf = (n: FhirPathNode): string[] => Object.keys(n).filter((k) => !POSITION_KEYS.has(k) && k !== 'children');

/** The same tree but for token positions: the two evaluate identically (fhirpath.js never reads positions). */
export function sameTree(a: FhirPathNode, b: FhirPathNode): boolean {
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  const keys = new Set([...keysOf(a), ...keysOf(b)]);
  // Anything but a primitive (an unexpected object-valued key) compares unequal: the caller then does not rewrite.
  for (const k of keys) if (!(k in ra && k in rb && ra[k] === rb[k] && (ra[k] === null || typeof ra[k] !== 'object'))) return false;
  const ca = a.children ?? [];
  const cb = b.children ?? [];
  return ca.length === cb.length && ca.every((c, i) => sameTree(c, cb[i] as FhirPathNode));
}

/** True when `expression` parses and the node `locate` picks in it is `expected` (a rewrite embeds the operand unchanged). */
export function embeds(expression: string, locate: (root: FhirPathNode) => FhirPathNode | undefined, expected: FhirPathNode): boolean {
  try {
    const root = parseRoot(expression);
    const found = root ? locate(root) : undefined;
    return found !== undefined && sameTree(found, expected);
  } catch {
    return false;
  }
}

/** Any node of the tree for which `test` holds. */
export function someNode(node: FhirPathNode, test: (n: FhirPathNode) => boolean): boolean {
  return test(node) || (node.children ?? []).some((c) => someNode(c, test));
}

/**
 * Functions whose result depends on state one evaluation shares across its operands: defineVariable's scope, and
 * the instant now(), today() and timeOfDay() fix once per evaluation. A backquoted name could be any of them.
 */
const SHARED_STATE = new Set(['defineVariable', 'now', 'today', 'timeOfDay']);

/** Whether the expression calls one of them: its operands may then not be evaluated separately. */
export function sharesEvaluationState(root: FhirPathNode): boolean {
  return someNode(root, (n) => n.type === 'Functn' && (SHARED_STATE.has(n.text ?? '') || (n.text ?? '').startsWith('`')));
}

/** Offset in `text` of a 1-based line/column (lines end at \n, as the parser counts them). */
function offsetOf(text: string, start: { line: number; column: number }): number {
  let offset = 0;
  for (let line = 1; line < start.line; line++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return -1;
    offset = nl + 1;
  }
  return offset + start.column - 1;
}

/** The operator nodes of a left-associative chain, leftmost first: `(a and b) and c` gives the inner `and`, then the root. */
function spine(node: FhirPathNode, type: string, operator: string): Array<FhirPathNode & { children: [FhirPathNode, FhirPathNode] }> {
  const out: Array<FhirPathNode & { children: [FhirPathNode, FhirPathNode] }> = [];
  let n: FhirPathNode | undefined = node;
  while (n?.type === type && n.text === operator && n.children?.length === 2) {
    out.unshift(n as FhirPathNode & { children: [FhirPathNode, FhirPathNode] });
    n = n.children[0];
  }
  return out;
}

/** The operand subtrees, left to right, of a chain of `type`/`operator` at `node`; any other node is a chain of one. */
export function chainOperands(node: FhirPathNode, type: string, operator: string): FhirPathNode[] {
  const ops = spine(node, type, operator);
  const first = ops[0];
  return first ? [first.children[0], ...ops.map((op) => op.children[1])] : [node];
}

/**
 * The operands of a chain of one left-associative binary operator at the root of an expression: `a and b and c`,
 * parsed `(a and b) and c`, gives `a`, `b` and `c`; undefined when the root is not that operator. Each operand's
 * text is cut from the source between the operator tokens, with its subtree of the whole. A rewrite that embeds
 * these texts must check with `embeds` that it parses with the subtrees unchanged (parsing is slow, so that is done
 * once per rewrite rather than once per operand here). `root` is the expression's, when the caller has parsed it.
 */
export function splitChain(expression: string, type: string, operator: string, root = parseRoot(expression)): Operand[] | undefined {
  const ops = root ? spine(root, type, operator) : [];
  if (!root || ops.length === 0) return undefined;
  const bounds = [0];
  for (const op of ops) {
    const at = op.start ? offsetOf(expression, op.start) : -1;
    if (at < 0 || op.length === undefined || expression.slice(at, at + op.length) !== operator) return undefined;
    bounds.push(at, at + op.length);
  }
  bounds.push(expression.length);
  return chainOperands(root, type, operator).map((node, i) => ({ text: expression.slice(bounds[2 * i], bounds[2 * i + 1]), node }));
}
