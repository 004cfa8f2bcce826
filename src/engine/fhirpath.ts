import * as fhirpath from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import type { IndexedValueSet } from '../knowledge/valueset-index';
import { codeKey } from '../knowledge/code-systems';

/** A compiled FHIRPath expression: focus resource and `%` variables in, a collection out. */
export type CompiledExpression = (focus: unknown, env: Record<string, unknown>) => unknown[];

/** Looks up a ValueSet by canonical URL (optionally `|version`). */
export type ValueSetLookup = (canonical: string) => IndexedValueSet | undefined;

interface CodingLike { system?: unknown; code?: unknown }

function codingsOf(value: unknown): CodingLike[] {
  if (!value || typeof value !== 'object') return [];
  const v = value as { coding?: unknown; system?: unknown; code?: unknown };
  if (Array.isArray(v.coding)) return v.coding as CodingLike[];
  if ('code' in v) return [v];
  return [];
}

/**
 * FHIR defines `memberOf(valueset)` (FHIRPath "Additional functions", FHIR R4 §2.1.9.1.4) against a terminology
 * server; fhirpath.js would call out over the network. We answer it locally from the loaded ValueSets, so it is
 * fast, offline and uses exactly the codes the payer edited. A bare `code` string has no system and never matches.
 */
function memberOfTable(lookup: ValueSetLookup): fhirpath.UserInvocationTable {
  return {
    memberOf: {
      fn: (inputs: unknown[], url: string): boolean[] => {
        const vs = lookup(url);
        if (!vs) throw new Error(`memberOf: ValueSet ${url} is not loaded`);
        if (inputs.length === 0) return [];
        return [inputs.some((input) => codingsOf(input).some((c) =>
          typeof c.system === 'string' && typeof c.code === 'string' && vs.keys.has(codeKey(c.system, c.code))))];
      },
      arity: { 1: ['String'] },
    },
  };
}

/**
 * Compiles an expression once, at knowledge load (the fhirpath docs measure ~0.04 ms per call compiled against
 * ~0.3 ms for `evaluate`). Always with the R4 model: without it choice types and `ofType()` misbehave.
 */
export function compileFhirPath(expression: string, lookup: ValueSetLookup): CompiledExpression {
  const fn = fhirpath.compile(expression, r4Model, { userInvocationTable: memberOfTable(lookup) });
  return (focus, env) => fn(focus, env) as unknown[];
}

/**
 * A compiled form built on its first call. The rewrites of applicability.ts and dynamic-value.ts re-parse parts of
 * expressions, and fhirpath.js parses slowly (tens of ms for a plan): built lazily, start-up (knowledge load) does
 * not pay for them, and the first request that uses an expression pays once.
 */
export function builtOnFirstUse<R>(build: () => (focus: unknown, env: Record<string, unknown>) => R): (focus: unknown, env: Record<string, unknown>) => R {
  let built: ((focus: unknown, env: Record<string, unknown>) => R) | undefined;
  return (focus, env) => (built ??= build())(focus, env);
}

/** FHIRPath truthiness for a condition: a single `true` (FHIR R4 PlanDefinition.action.condition). */
export function isTrue(result: unknown[]): boolean {
  return result.length === 1 && result[0] === true;
}

/** The single string a text expression yields, or undefined when it yields nothing. */
export function asText(result: unknown[]): string | undefined {
  if (result.length === 0) return undefined;
  return result.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('');
}
