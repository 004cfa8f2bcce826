import type { ConditionForm, ConditionTree } from '../knowledge/condition-forms';
import { anyCodingIn, compileFhirPath, isTrue } from '../fhirpath/evaluate';
import type { ValueSetLookup } from '../fhirpath/evaluate';
import { navigate } from './navigate';

/** An order under test (`%order`) and the `%` variables of the call. */
export type Predicate = (order: Record<string, unknown>, vars: Record<string, unknown>) => boolean;

/** Longest text a `matches()` form tests: a bound on regular-expression work per order, whatever a caller sends. */
export const MAX_MATCHED_TEXT = 2_000;

/** How a compiled condition reports an expression that failed (a bug in the knowledge, not in the order). */
export type OnExpressionError = (expression: string, error: unknown) => void;

/**
 * Flags fhirpath.js gives `matches()` (FHIRPath §5.6.10; fhirpath.js strings.js): Unicode, and `.` matching line
 * breaks. The native check compiles the pattern the same way, once.
 */
const MATCHES_FLAGS = 'us';

function textCheck(form: Extract<ConditionForm, { form: 'text-matches' }>): Predicate {
  const regex = new RegExp(form.pattern, MATCHES_FLAGS);
  return (order) => {
    const values = form.paths.flatMap((path) => navigate(order, path));
    // lower() and matches() take one String (FHIRPath §5.6) and fhirpath.js applies them to every item: anything
    // but a string fails the whole operand, whatever the other items say.
    if (!values.every((v): v is string => typeof v === 'string')) return false;
    return values.some((value) => {
      const text = value.length > MAX_MATCHED_TEXT ? value.slice(0, MAX_MATCHED_TEXT) : value;
      return regex.test(form.lower ? text.toLowerCase() : text);
    });
  };
}

function formCheck(form: ConditionForm, lookup: ValueSetLookup, onError: OnExpressionError): Predicate {
  switch (form.form) {
    case 'resource-type': {
      const types = new Set(form.types);
      return (order) => typeof order['resourceType'] === 'string' && types.has(order['resourceType']);
    }
    case 'member-of': {
      const members = lookup(form.valueSet);
      // The knowledge check refuses a memberOf() of a ValueSet that is not loaded; this keeps the check total.
      if (!members) return () => false;
      return (order) => anyCodingIn(navigate(order, form.path), members);
    }
    case 'coding':
      return (order) => navigate(order, [...form.path, 'coding']).some((c) => {
        const coding = c as { system?: unknown; code?: unknown };
        return coding.system === form.system && coding.code === form.code;
      });
    case 'text-matches':
      return textCheck(form);
    case 'fhirpath': {
      const fn = compileFhirPath(form.expression, lookup);
      return (order, vars) => {
        try {
          return isTrue(fn(order, vars));
        } catch (e) {
          // A malformed order can make an expression fail ("does not apply" to it); so can a knowledge bug. The
          // caller decides what to report; the answer for this order is "not true" either way.
          onError(form.expression, e);
          return false;
        }
      };
    }
  }
}

/**
 * Compiles a condition tree into one check: `and` true when every operand is, `or` when some operand is (FHIRPath
 * §6.5's three-valued logic, read as "yields exactly true"), each operand tested on its own and cut short.
 * Recognised forms are plain JavaScript; the rest run through fhirpath.js. An operand that fails counts as not true.
 */
export function compileCondition(tree: ConditionTree, lookup: ValueSetLookup, onError: OnExpressionError): Predicate {
  if (tree.kind === 'form') return formCheck(tree.form, lookup, onError);
  const operands = tree.operands.map((o) => compileCondition(o, lookup, onError));
  // Native forms first: they cost nanoseconds, and an early answer spares the interpreter.
  const native = tree.operands.map((o) => o.kind !== 'form' || o.form.form !== 'fhirpath');
  const ordered = operands.map((check, i) => ({ check, native: native[i] ?? false })).sort((a, b) => Number(b.native) - Number(a.native)).map((x) => x.check);
  if (tree.kind === 'and') return (order, vars) => ordered.every((check) => check(order, vars));
  return (order, vars) => ordered.some((check) => check(order, vars));
}
