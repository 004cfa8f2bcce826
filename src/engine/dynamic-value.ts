import { builtOnFirstUse, compileFhirPath } from './fhirpath';
import type { CompiledExpression, ValueSetLookup } from './fhirpath';
import { chainOperands, embeds, parseRoot, sameTree, sharesEvaluationState, someNode, splitChain } from './fhirpath-ast';
import type { FhirPathNode, Operand } from './fhirpath-ast';

/**
 * Functions that give the same output for the same input and read nothing else. Left out on purpose: now(),
 * today() and timeOfDay() (the clock), trace() (logs), resolve() and memberOf() (lookups), defineVariable()
 * (scope), and anything not listed here.
 */
const PURE_FUNCTIONS = new Set([
  'empty', 'exists', 'not', 'count', 'first', 'last', 'tail', 'skip', 'take', 'single', 'distinct', 'isDistinct',
  'allTrue', 'anyTrue', 'allFalse', 'anyFalse', 'combine', 'union', 'intersect', 'exclude', 'hasValue', 'getValue',
  'toString', 'toInteger', 'toDecimal', 'toBoolean', 'length', 'upper', 'lower', 'trim', 'substring', 'startsWith',
  'endsWith', 'contains', 'indexOf', 'replace', 'join', 'split', 'abs', 'round', 'floor', 'ceiling', 'truncate',
]);

/**
 * An expression that evaluates the same on every request: it reads only literals and `%` variables fixed for the
 * plan (`constants`), through pure functions. It never reads the focus: any InvocationTerm (a path from the focus,
 * `$this`, `$index`, `$total`, or a function called without an input) makes it variable.
 */
function isConstant(node: FhirPathNode, constants: Readonly<Record<string, unknown>>): boolean {
  return !someNode(node, (n) =>
    n.type === 'InvocationTerm'
    || (n.type === 'ExternalConstantTerm' && !(n.text !== undefined && Object.hasOwn(constants, n.text)))
    || (n.type === 'Functn' && !PURE_FUNCTIONS.has(n.text ?? '')));
}

/** `%name` alone: the variable's name. */
function bareVariable(operand: Operand): string | undefined {
  const name = operand.node.children?.[0]?.text; // TermExpression > ExternalConstantTerm
  return name && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && embeds(`%${name}`, (r) => r, operand.node) ? name : undefined;
}

type Evaluate = (focus: unknown, env: Record<string, unknown>) => string;

/**
 * Consecutive operands of `&` as one string. They are evaluated as `'' & (a & b & …)`, so fhirpath.js applies
 * exactly the conversion it applies to each `&` operand (FHIRPath §6.6.7: an empty operand is the empty string; a
 * non-string or several items fail) and always yields exactly one string: their concatenation. Undefined unless
 * the rewrite parses with the operands' subtrees unchanged.
 */
function compileRun(run: Operand[], lookup: ValueSetLookup): Evaluate | undefined {
  // The operands were cut around `&` tokens: joined with `&` they are the span of the source they came from.
  const wrapped = `'' & (\n${run.map((o) => o.text).join('&')}\n)`;
  const root = parseRoot(wrapped);
  const inner = root?.type === 'AdditiveExpression' && root.text === '&' ? root.children?.[1]?.children?.[0] : undefined;
  const content = inner?.type === 'ParenthesizedTerm' ? inner.children?.[0] : undefined;
  const parsed = content ? chainOperands(content, 'AdditiveExpression', '&') : [];
  if (parsed.length !== run.length || !parsed.every((n, i) => sameTree(n, (run[i] as Operand).node))) return undefined;
  const compiled = compileFhirPath(wrapped, lookup);
  return (focus, env) => compiled(focus, env)[0] as string;
}

/**
 * A compiled `&` chain. Runs of constant operands are evaluated now and become text; a bare string `%variable` is
 * read directly (fhirpath.js returns a string variable as it is, and `'' & s` is s); the rest run through
 * fhirpath.js, left to right as it evaluates them, so the first failure is the one the whole expression has.
 */
function foldConcatenation(expression: string, root: FhirPathNode, lookup: ValueSetLookup, constants: Readonly<Record<string, unknown>>): CompiledExpression | undefined {
  const operands = splitChain(expression, 'AdditiveExpression', '&', root);
  if (!operands) return undefined;
  const groups: Array<{ run: Operand[]; constant: boolean; variable?: string }> = [];
  for (const operand of operands) {
    const constant = isConstant(operand.node, constants);
    const last = groups[groups.length - 1];
    if (constant && last?.constant) last.run.push(operand);
    else groups.push({ run: [operand], constant, ...(constant ? {} : { variable: bareVariable(operand) }) });
  }
  if (!groups.some((g) => g.constant || g.variable)) return undefined;
  const parts: Array<string | Evaluate> = [];
  for (const { run, constant, variable } of groups) {
    const evaluate = compileRun(run, lookup);
    if (!evaluate) return undefined;
    // A constant run fails on the plan's own values: this throws, and the whole expression is kept (it fails per request).
    if (constant) parts.push(evaluate({}, { ...constants }));
    else if (variable) parts.push((focus, env) => (variable in env && typeof env[variable] === 'string' ? env[variable] : evaluate(focus, env)));
    else parts.push(evaluate);
  }
  return (focus, env) => {
    let text = '';
    for (const part of parts) text += typeof part === 'string' ? part : part(focus, env);
    return [text];
  };
}

/**
 * Compiles a dynamicValue expression (FHIR R4 PlanDefinition/ActivityDefinition.dynamicValue) with the work that
 * does not depend on the request done at load. `constants` are the `%` variables whose values are fixed for the
 * plan; every request evaluates with exactly these values for these names. A whole expression that is constant and
 * yields primitives is evaluated once. A top-level `a & b & c` (card texts) is split into its operands: constant
 * ones become text, a bare string `%variable` is read directly, the rest run through fhirpath.js. `&` always
 * yields exactly one string, the concatenation of its operands' strings, so folding keeps the result. Not split:
 * expressions using evaluation-wide state (sharesEvaluationState), e.g. two now() that must be the same instant.
 * Anything unexpected falls back to evaluating the whole expression, as compiled (`whole`). Built on first use.
 */
export function compileDynamicValue(expression: string, whole: CompiledExpression, lookup: ValueSetLookup, constants: Readonly<Record<string, unknown>>): CompiledExpression {
  return builtOnFirstUse(() => fold(expression, whole, lookup, constants));
}

function fold(expression: string, whole: CompiledExpression, lookup: ValueSetLookup, constants: Readonly<Record<string, unknown>>): CompiledExpression {
  try {
    const root = parseRoot(expression);
    if (!root) return whole;
    if (isConstant(root, constants)) {
      const value = whole({}, { ...constants });
      if (value.every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return () => [...value];
    }
    if (sharesEvaluationState(root)) return whole;
    return foldConcatenation(expression, root, lookup, constants) ?? whole;
  } catch {
    return whole;
  }
}
