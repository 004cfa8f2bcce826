/**
 * The rewrites that make expressions cheaper per request answer exactly as fhirpath.js does on the whole
 * expression: split applicability conditions (src/engine/applicability.ts), with their native resourceType test,
 * and folded dynamic values (src/engine/dynamic-value.ts); and childId is still RFC 9562 UUIDv5.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import * as fhirpath from 'fhirpath';
import type { PlanDefinitionAction } from 'fhir/r4';
import { compileApplicability } from '../src/engine/applicability';
import { compileDynamicValue } from '../src/engine/dynamic-value';
import { compileFhirPath, isTrue } from '../src/engine/fhirpath';
import type { ValueSetLookup } from '../src/engine/fhirpath';
import { splitChain } from '../src/engine/fhirpath-ast';
import { childId } from '../src/engine/ids';
import { CPT, ROOT, realKnowledge } from './helpers';

const kb = realKnowledge();
const lookup: ValueSetLookup = (url) => kb.valueSets.get(url);
const plan = [...kb.plans.values()][0]!;
const SACRO_VS = 'https://knowledge.vipcare.example/fhir/ValueSet/ccp-1247-sacroplasty';

function actions(list: PlanDefinitionAction[] | undefined): PlanDefinitionAction[] {
  return (list ?? []).flatMap((a) => [a, ...actions(a.action)]);
}
const secondPolicy = JSON.parse(readFileSync(resolve(ROOT, 'test/fixtures/second-policy/PlanDefinition-test-0001.json'), 'utf8')) as { action: PlanDefinitionAction[] };
const knowledgeConditions = [...actions(plan.resource.action), ...actions(secondPolicy.action)]
  .flatMap((a) => a.condition ?? []).map((c) => c.expression?.expression ?? '');
const knowledgeTexts = [...actions(plan.resource.action), ...actions(secondPolicy.action)]
  .flatMap((a) => a.dynamicValue ?? []).map((d) => d.expression?.expression ?? '');

/** What findMatches did before the split: the whole condition, "yields exactly true", a failure counting as false. */
function whole(expression: string): (focus: unknown, vars: Record<string, unknown>) => boolean {
  const fn = compileFhirPath(expression, lookup);
  return (focus, vars) => {
    try {
      return isTrue(fn(focus, vars));
    } catch {
      return false;
    }
  };
}

describe('splitChain cuts a chain of one operator into its operands\' source text', () => {
  it('across lines, comments, and string literals holding the operator and non-BMP characters', () => {
    const texts = splitChain("%a and\n  %b /* and */ and '😀 and' and\r\n%c.where(x and y)", 'AndExpression', 'and')?.map((o) => o.text.trim());
    expect(texts).toEqual(['%a', '%b /* and */', "'😀 and'", '%c.where(x and y)']);
  });

  it('not when the root is another operator or in parentheses', () => {
    expect(splitChain('%a or %b and %c', 'AndExpression', 'and')).toBeUndefined();
    expect(splitChain('(%a and %b)', 'AndExpression', 'and')).toBeUndefined();
  });
});

describe('a split applicability condition answers as the whole expression', () => {
  const crafted = [
    // conjuncts that are not Booleans: a single item counts as true, several fail, empty is empty (FHIRPath §4.5)
    "%order.resourceType = 'ServiceRequest' and %order.code",
    "%order.status = 'draft' and %order.code.coding.code",
    "%order.resourceType = 'ServiceRequest' and %order.status",
    "%order.status = 'draft' and %order.nothing",
    "%order.status = 'draft' and {}",
    "%order.status = 'draft' and false",
    // a conjunct that fails on some orders (several displays to lower()), an unknown variable
    "%order.resourceType = 'ServiceRequest' and %order.code.coding.display.lower().matches('sacro')",
    "%order.resourceType = 'MedicationRequest' and %missing.exists()",
    // the resourceType test not first, nested, with an escape, a comment, or a non-BMP type
    "%order.status = 'draft' and %order.resourceType = 'ServiceRequest' and %order.intent = 'order'",
    "(%order.status = 'draft' and %order.intent = 'order') and %order.resourceType = 'ServiceRequest'",
    "%order.resourceType = 'Service\\u0052equest' and %order.code.memberOf('" + SACRO_VS + "')",
    "%order.resourceType = 'ServiceRequest' // first\n and /* and */ %order.intent != 'plan'",
    "%order.resourceType = '😀' and true",
    "%order.resourceType = 'resourceType' and true",
    "%order.resourceType = '' and true",
    '%order.resourceType = 5 and true',
    // not split (the instant now() fixes is shared by the whole evaluation)
    "now() > @2000-01-01 and %order.resourceType = 'ServiceRequest'",
  ];
  const conditions = [...knowledgeConditions, ...crafted];

  const codings = fc.constantFrom(
    [{ system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation (sacroplasty), unilateral injection(s)' }],
    [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }, { system: 'urn:local', code: 'x', display: 'IR SACROPLASTY' }],
    [{ system: 'urn:local', code: 'y', display: 5 }],
    [{ code: '0200T' }],
    [],
  );
  const order = fc.record({
    resourceType: fc.oneof(
      fc.constantFrom<unknown>('ServiceRequest', 'MedicationRequest', 'DeviceRequest', 'Observation', 'Bundle', 'resourceType', '', '😀', 5, null, ['ServiceRequest']),
      fc.string(),
    ),
    _resourceType: fc.constantFrom<unknown>({ extension: [{ url: 'urn:x', valueString: 'y' }] }),
    id: fc.constantFrom('sr1', 'mr1'),
    status: fc.constantFrom<unknown>('draft', 'revoked', 'completed', 'active', 5, ['draft', 'active']),
    _status: fc.constantFrom<unknown>({ extension: [{ url: 'urn:x', valueString: 'y' }] }),
    intent: fc.constantFrom('order', 'plan'),
    code: fc.oneof(
      codings.map((coding) => ({ coding })),
      fc.constantFrom({ text: 'Sacroplasty, bilateral' }, { text: 'MRI pelvis' }, { text: 7 }, 'not an object', [{ text: 'sacroplasty' }]),
    ),
  }, { requiredKeys: ['resourceType', 'id'] });

  it.each(conditions)('%s', (expression) => {
    const split = compileApplicability(expression, compileFhirPath(expression, lookup), lookup);
    const reference = whole(expression);
    const shared = { context: {}, draftOrders: [], hook: 'order-sign', planDefinition: plan.resource };
    fc.assert(fc.property(order, (o) => {
      // As findMatches passes them (inheriting the shared variables), and as a plain object.
      const inherited = Object.assign(Object.create(shared) as Record<string, unknown>, { order: o });
      const plain = { ...shared, order: o };
      expect(split(o, inherited)).toBe(reference(o, plain));
      expect(split(o, plain)).toBe(reference(o, plain));
    }), { numRuns: 150 });
  });

  it('stops at the first conjunct that is not true, the native resourceType test first (memberOf is never reached for other types)', () => {
    let lookups = 0;
    const counting: ValueSetLookup = (url) => {
      lookups += 1;
      return lookup(url);
    };
    const expression = `%order.code.memberOf('${SACRO_VS}') and %order.resourceType = 'ServiceRequest'`;
    const split = compileApplicability(expression, compileFhirPath(expression, counting), counting);
    const medication = { resourceType: 'MedicationRequest', id: 'mr1', code: { coding: [{ system: CPT, code: '0200T' }] } };
    expect(split(medication, { order: medication })).toBe(false);
    expect(lookups).toBe(0);
    const sacroplasty = { ...medication, resourceType: 'ServiceRequest' };
    expect(split(sacroplasty, { order: sacroplasty })).toBe(true);
    expect(lookups).toBe(1);
  });

  it('and on an order an earlier evaluation returned (it carries fhirpath.js\'s hidden __path__)', () => {
    const o = { resourceType: 'ServiceRequest', id: 'sr1', status: 'draft', intent: 'order', code: { text: 'sacroplasty' } };
    const [returned] = fhirpath.evaluate({}, '%order', { order: o }) as unknown[];
    expect(returned).toBe(o);
    expect(Object.getOwnPropertyDescriptor(o, '__path__')).toBeDefined();
    for (const expression of conditions) {
      const vars = { order: o, planDefinition: plan.resource };
      expect(compileApplicability(expression, compileFhirPath(expression, lookup), lookup)(o, vars)).toBe(whole(expression)(o, vars));
    }
  });
});

describe('a folded dynamic value yields what the whole expression yields', () => {
  const crafted = [
    "'**' & %orderName & '** (' & %orderReference & ') under ' & %planDefinition.publisher & ' ' & %policyReviewed",
    '%orderName & %orderReference',
    "'code: ' & %order.code.text & '; ' & %evidenceCertainty",
    "'n = ' & %evidence.count().toString() & ', lead: ' & %evidenceLead",
    "'ids: ' & %planDefinition.identifier.value & '.'",
    "%planDefinition.publisher + ' ' & %orderName & ' ' & %policyNextReview",
    "'a' & (%orderName & 'b') & %planDefinition.title",
    "'upper: ' & %orderName.upper() & '!'",
    "'multi\\nline ' & %orderName // a comment\n & ' end'",
    "%undefinedVariable & 'x' & %planDefinition.publisher",
    "'fixed text'",
    '%evidence.count()',
    "%planDefinition.publisher & ' ' & %planDefinition.identifier.first().value",
  ];
  const expressions = [...knowledgeTexts, ...crafted];
  const value = fc.oneof(
    fc.string(),
    fc.constantFrom<unknown>('Sacroplasty \\(x\\)', '', 5, null, ['a', 'b'], { text: 'object' }, true),
  );
  const env = fc.record({
    orderName: value,
    orderReference: value,
    order: fc.constantFrom<unknown>({ resourceType: 'ServiceRequest', code: { text: 'MRI' } }, { resourceType: 'ServiceRequest', code: {} }, 5),
  }, { requiredKeys: [] });

  const outcome = (f: () => unknown[]): { value?: unknown[]; error?: string } => {
    try {
      return { value: f() };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };

  it.each(expressions)('%s', (expression) => {
    const compiled = compileFhirPath(expression, lookup);
    const folded = compileDynamicValue(expression, compiled, lookup, plan.constants);
    fc.assert(fc.property(env, (e) => {
      const vars = { context: {}, hook: 'order-sign', ...e, ...plan.constants };
      expect(outcome(() => folded(e.order, vars))).toEqual(outcome(() => compiled(e.order, vars)));
    }), { numRuns: 150 });
  });
});

describe('folding happens', () => {
  it('the plan\'s values are read once: a different value at request time is not seen (only the plan\'s own can occur)', () => {
    const expression = "'reviewed ' & %policyReviewed & ' for ' & %orderName";
    const folded = compileDynamicValue(expression, compileFhirPath(expression, lookup), lookup, plan.constants);
    expect(folded({}, { ...plan.constants, orderName: 'x' })).toEqual([`reviewed ${String(plan.constants['policyReviewed'])} for x`]);
    expect(folded({}, { ...plan.constants, policyReviewed: 'elsewhere', orderName: 'y' })).toEqual([`reviewed ${String(plan.constants['policyReviewed'])} for y`]);
  });
});

describe('childId: RFC 9562 name-based UUIDs (version 5)', () => {
  /** The derivation as it was first written (a Hash object per id), kept as the reference. */
  function reference(parent: string, name: string): string {
    const ns = Buffer.from(parent.replace(/-/g, ''), 'hex');
    const hash = createHash('sha1').update(ns.length === 16 ? ns : Buffer.from(parent)).update(name).digest();
    hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
    hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
    const h = hash.subarray(0, 16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  it('gives the RFC 9562 Appendix A.4 example (DNS namespace, www.example.com)', () => {
    expect(childId('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('is byte for byte the reference derivation, for UUID parents and for any other parent text', () => {
    fc.assert(fc.property(fc.oneof(fc.uuid(), fc.string(), fc.constant('3f1c2a9e-8b7d-4c6e-9a1b-2c3d4e5f6a7bzz')), fc.string({ unit: 'grapheme' }), (parent, name) => {
      expect(childId(parent, name)).toBe(reference(parent, name));
    }), { numRuns: 2000 });
  });
});
