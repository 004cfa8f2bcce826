import * as fhirpath from 'fhirpath';
import { builtOnFirstUse, compileFhirPath, isTrue } from './fhirpath';
import type { CompiledExpression, ValueSetLookup } from './fhirpath';
import { embeds, parseRoot, sharesEvaluationState, splitChain } from './fhirpath-ast';
import type { FhirPathNode, Operand } from './fhirpath-ast';

/**
 * An applicability condition ready to test (FHIR R4 PlanDefinition.action.condition, kind applicability): true
 * when the expression yields exactly `true` for this focus and these `%` variables, false otherwise, and false when
 * it fails (an expression that fails on a malformed order means "does not apply" to that order only).
 */
export type Applicability = (focus: unknown, vars: Record<string, unknown>) => boolean;

function guarded(fn: CompiledExpression): Applicability {
  return (focus, vars) => {
    try {
      return isTrue(fn(focus, vars));
    } catch {
      return false;
    }
  };
}

/** Locates X in `(\nX\n) and true`: AndExpression > TermExpression > ParenthesizedTerm > X. */
const wrappedOperand = (root: FhirPathNode): FhirPathNode | undefined =>
  root.type === 'AndExpression' ? root.children?.[0]?.children?.[0]?.children?.[0] : undefined;

/** `%name.resourceType = 'Type'`, the conjunct that scopes a rule to one kind of order: the name and the type. */
function resourceTypeTest(operand: Operand): { variable: string; resourceType: string } | undefined {
  const [left, right] = operand.node.children ?? [];
  const variable = left?.children?.[0]?.children?.[0]?.text; // InvocationExpression > TermExpression > ExternalConstantTerm
  const literal = right?.children?.[0]?.text; // TermExpression > LiteralTerm
  if (!variable || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable) || !literal) return undefined;
  if (!embeds(`%${variable}.resourceType = ${literal}`, (r) => r, operand.node)) return undefined;
  const [value, ...more] = fhirpath.evaluate({}, literal) as unknown[];
  return typeof value === 'string' && more.length === 0 ? { variable, resourceType: value } : undefined;
}

/**
 * The answer fhirpath.js gives to `%name.resourceType = 'Type'`, read from the object directly; undefined when the
 * object is one the interpreter treats specially, and the interpreter must answer: not a plain object, no
 * resourceType string, a `__path__` left by an earlier evaluation, a `_resourceType` primitive extension, or the
 * value "resourceType" (fhirpath.js returns the node itself for a member named like its resourceType).
 */
function nativeResourceType(variable: string, resourceType: string): (vars: Record<string, unknown>) => boolean | undefined {
  return (vars) => {
    if (!(variable in vars)) return undefined;
    const v = vars[variable];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const r = v as Record<string, unknown>;
    const actual = r['resourceType'];
    if (typeof actual !== 'string' || actual === '' || actual === 'resourceType' || r['__path__'] !== undefined || r['_resourceType'] !== undefined) return undefined;
    return actual === resourceType;
  };
}

/**
 * One conjunct as its own check. It is evaluated as `(conjunct) and true`, so fhirpath.js applies exactly the
 * conversion it applies to an `and` operand (FHIRPath §6.5.1 with §4.5 singleton evaluation: empty stays empty, a
 * single non-Boolean item counts as true, several items fail).
 */
function compileConjunct(operand: Operand, lookup: ValueSetLookup): { check: Applicability; native: boolean } | undefined {
  const wrapped = `(\n${operand.text}\n) and true`;
  if (!embeds(wrapped, wrappedOperand, operand.node)) return undefined;
  const interpreted = guarded(compileFhirPath(wrapped, lookup));
  const test = resourceTypeTest(operand);
  if (!test) return { check: interpreted, native: false };
  const native = nativeResourceType(test.variable, test.resourceType);
  return { check: (focus, vars) => native(vars) ?? interpreted(focus, vars), native: true };
}

/**
 * Compiles an applicability condition. fhirpath.js evaluates both operands of `and` (it does not short-circuit),
 * so a top-level `a and b and c` is split into its conjuncts, tested one at a time until one is not true.
 * That is sound for "yields exactly true": under FHIRPath's three-valued `and` (§6.5.1) the whole is true iff every
 * conjunct is, and a conjunct that fails makes the whole fail, which counts as false either way, so neither the
 * order of the conjuncts nor stopping early changes the answer. Conjuncts read natively (resourceType tests) go
 * first. Not split: expressions using evaluation-wide state (sharesEvaluationState).
 * Anything unexpected falls back to evaluating the whole expression, as compiled (`whole`). Built on first use.
 */
export function compileApplicability(expression: string, whole: CompiledExpression, lookup: ValueSetLookup): Applicability {
  return builtOnFirstUse(() => split(expression, whole, lookup));
}

function split(expression: string, whole: CompiledExpression, lookup: ValueSetLookup): Applicability {
  const fallback = guarded(whole);
  try {
    const root = parseRoot(expression);
    if (!root || sharesEvaluationState(root)) return fallback;
    const operands = splitChain(expression, 'AndExpression', 'and', root);
    if (!operands) return fallback;
    const conjuncts = operands.map((o) => compileConjunct(o, lookup));
    if (conjuncts.some((c) => c === undefined)) return fallback;
    const ordered = (conjuncts as Array<{ check: Applicability; native: boolean }>)
      .sort((a, b) => Number(b.native) - Number(a.native))
      .map((c) => c.check);
    return (focus, vars) => ordered.every((check) => check(focus, vars));
  } catch {
    return fallback;
  }
}
