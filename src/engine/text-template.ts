import { compileFhirPath } from '../fhirpath/evaluate';
import type { CompiledExpression, ValueSetLookup } from '../fhirpath/evaluate';
import { tokenize } from '../fhirpath/lexer';
import { concatenationOperands, constantsRead } from '../fhirpath/structure';

/** A card or activity text computed per call; throws when the expression fails (the caller reports it). */
export type TextTemplate = (focus: unknown, vars: Record<string, unknown>) => string | undefined;

/** Functions whose answer depends on more than their input (the clock): never folded into constant text. */
const CLOCK = new Set(['now', 'today', 'timeOfDay']);

/**
 * An operand reads only the policy's fixed `%` variables (`constants`), from a constant or literal root, through
 * anything but the clock: its value is the same on every call, so it is computed once. A path from the focus
 * starts with a plain identifier and is never constant.
 */
function isConstant(operand: string, constants: Readonly<Record<string, unknown>>): boolean {
  const tokens = tokenize(operand);
  const first = tokens[0];
  if (!first || !['constant', 'string', 'number'].includes(first.kind)) return false;
  if (tokens.some((t, i) => t.kind === 'identifier' && CLOCK.has(t.text) && tokens[i + 1]?.text === '(')) return false;
  if (tokens.some((t) => t.kind === 'identifier' && t.text.startsWith('$'))) return false;
  return constantsRead(operand).every((v) => Object.hasOwn(constants, v));
}

/** FHIRPath `&` (§6.6.7): an empty operand is the empty string; one string is itself; anything else fails. */
function concatOperand(result: unknown[], expression: string): string {
  if (result.length === 0) return '';
  const [value] = result;
  if (result.length === 1 && typeof value === 'string') return value;
  throw new TypeError(`"${expression.slice(0, 80)}" yields ${result.length === 1 ? 'a non-string' : `${result.length} items`}, not one string`);
}

type Part = string | ((focus: unknown, vars: Record<string, unknown>) => string);

function operandPart(operand: string, constants: Readonly<Record<string, unknown>>, lookup: ValueSetLookup): Part {
  const tokens = tokenize(operand);
  const only = tokens.length === 1 ? tokens[0] : undefined;
  // A bare `%name` holding a string is the string itself; anything else goes through fhirpath.js.
  let compiled: CompiledExpression | undefined;
  const evaluate = (focus: unknown, vars: Record<string, unknown>): string => concatOperand((compiled ??= compileFhirPath(operand, lookup))(focus, vars), operand);
  if (isConstant(operand, constants)) {
    try {
      return evaluate({}, { ...constants });
    } catch {
      return evaluate; // fails on the policy's own values: fail per call, where it is reported
    }
  }
  if (only?.kind === 'constant') {
    const name = only.text;
    return (focus, vars) => {
      const v = vars[name];
      return typeof v === 'string' ? v : evaluate(focus, vars);
    };
  }
  return evaluate;
}

function build(expression: string, constants: Readonly<Record<string, unknown>>, lookup: ValueSetLookup): TextTemplate {
  const operands = concatenationOperands(expression);
  if (!operands) {
    let whole: CompiledExpression | undefined;
    const evaluate: TextTemplate = (focus, vars) => {
      const result = (whole ??= compileFhirPath(expression, lookup))(focus, vars);
      return result.length === 0 ? undefined : result.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('');
    };
    if (!isConstant(expression, constants)) return evaluate;
    try {
      const folded = evaluate({}, { ...constants });
      return () => folded;
    } catch {
      return evaluate;
    }
  }
  const parts: Part[] = [];
  for (const operand of operands) {
    const part = operandPart(operand, constants, lookup);
    const last = parts[parts.length - 1];
    // Neighbouring constant text is joined once, here.
    if (typeof part === 'string' && typeof last === 'string') parts[parts.length - 1] = last + part;
    else parts.push(part);
  }
  return (focus, vars) => {
    let text = '';
    for (const part of parts) text += typeof part === 'string' ? part : part(focus, vars);
    return text;
  };
}

/**
 * Compiles a dynamicValue text (FHIR R4 PlanDefinition.action.dynamicValue: card title or detail) into a template:
 * a top-level `a & b & c` (FHIRPath §6.6.7) is cut into its operands (fhirpath/structure.ts); string literals and
 * operands that read only the policy's fixed variables become text once, a bare `%variable` is read directly, and
 * the rest is evaluated by fhirpath.js per call. `&` always yields one string, the concatenation of its operands'
 * strings, so the template yields exactly what the whole expression does. Built on first use: a catalog of a
 * thousand policies starts without parsing a thousand card texts.
 */
export function compileTextTemplate(expression: string, constants: Readonly<Record<string, unknown>>, lookup: ValueSetLookup): TextTemplate {
  let built: TextTemplate | undefined;
  return (focus, vars) => (built ??= build(expression, constants, lookup))(focus, vars);
}
