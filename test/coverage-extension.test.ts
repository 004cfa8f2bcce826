import type { Extension } from 'fhir/r4';
import { urlResolver } from '../src/cds/routes';
import { buildCoverageExtension } from '../src/engine/coverage-information';
import { navigate } from '../src/engine/navigate';
import { checkJsonShape, DEFAULT_INPUT_LIMITS } from '../src/http/input-limits';
import { HttpError } from '../src/http/errors';

// The hot path's shortcuts (issue 15) must not change what is answered: a policy's coverage template is resolved
// once per base and shared, model steps are looked up once, and the shape check walks without allocating.

const URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
const template = (): Extension => ({
  url: URL,
  extension: [
    { url: 'covered', valueCode: 'not-covered' },
    { url: 'date', valueDate: '1999-01-01' }, // per decision: the template's own value is ignored
    { url: 'detail', extension: [{ url: 'code', valueCodeableConcept: { text: 'policy' } }, { url: 'value', valueUrl: '/policies/ccp-1247' }] },
    { url: 'reason', valueCodeableConcept: { text: 'Investigational' } },
  ],
});
const build = (t: Extension, base: string, assertionId: string) => buildCoverageExtension({
  template: t, target: { coverage: { reference: 'Coverage/c1' } }, billingCodes: [{ system: 'http://www.ama-assn.org/go/cpt', code: '0200T' }],
  date: '2026-12-02', assertionId, resolveUrl: urlResolver(base),
});
const detailUrl = (e: Extension): string | undefined => e.extension?.find((s) => s.url === 'detail')?.extension?.find((s) => s.url === 'value')?.valueUrl;

describe('a coverage template resolved once per base and shared', () => {
  it('states the decision with this call\'s coverage, date, id and billing code, in CRD\'s order, links absolute', () => {
    const { extension, decision } = build(template(), 'https://payer.example/cds', 'a-1');
    expect(extension).toEqual({
      url: URL,
      extension: [
        { url: 'coverage', valueReference: { reference: 'Coverage/c1' } },
        { url: 'covered', valueCode: 'not-covered' },
        { url: 'billingCode', valueCoding: { system: 'http://www.ama-assn.org/go/cpt', code: '0200T' } },
        { url: 'reason', valueCodeableConcept: { text: 'Investigational' } },
        { url: 'detail', extension: [{ url: 'code', valueCodeableConcept: { text: 'policy' } }, { url: 'value', valueUrl: 'https://payer.example/cds/policies/ccp-1247' }] },
        { url: 'date', valueDate: '2026-12-02' },
        { url: 'coverage-assertion-id', valueString: 'a-1' },
      ],
    });
    expect(decision).toEqual({ assertionId: 'a-1', coverage: { reference: 'Coverage/c1' }, covered: 'not-covered', reasonText: 'Investigational', billingCodes: [{ system: 'http://www.ama-assn.org/go/cpt', code: '0200T' }] });
  });

  it('each base gets its own links, however the calls interleave', () => {
    const t = template();
    const a1 = build(t, 'https://a.example', 'x1').extension;
    const b1 = build(t, 'https://b.example', 'x2').extension;
    const a2 = build(t, 'https://a.example', 'x3').extension;
    expect([detailUrl(a1), detailUrl(b1), detailUrl(a2)]).toEqual(['https://a.example/policies/ccp-1247', 'https://b.example/policies/ccp-1247', 'https://a.example/policies/ccp-1247']);
  });

  it('past 16 bases a template is still resolved right (per call, not cached)', () => {
    const t = template();
    for (let i = 0; i < 40; i++) expect(detailUrl(build(t, `https://h${i}.example`, `id${i}`).extension)).toBe(`https://h${i}.example/policies/ccp-1247`);
  });

  it('the shared parts cannot be changed by one answer for the next, and the knowledge keeps its relative link', () => {
    const t = template();
    const first = build(t, 'https://a.example', 'x1').extension;
    const reason = first.extension?.find((s) => s.url === 'reason');
    expect(() => { (reason as { valueCodeableConcept: { text: string } }).valueCodeableConcept.text = 'changed'; }).toThrow(TypeError);
    expect(build(t, 'https://a.example', 'x2').extension.extension?.find((s) => s.url === 'reason')).toEqual({ url: 'reason', valueCodeableConcept: { text: 'Investigational' } });
    expect(detailUrl(t)).toBe('/policies/ccp-1247');
  });
});

describe('navigate with model steps looked up once', () => {
  it('reads choice elements and nested arrays as FHIRPath does, the same on every call', () => {
    const med = { resourceType: 'MedicationRequest', medicationCodeableConcept: { coding: [{ code: 'a' }, { code: 'b' }] } };
    for (let i = 0; i < 3; i++) expect(navigate(med, ['medication', 'coding', 'code'])).toEqual(['a', 'b']);
  });

  it('a resourceType outside the model is read by element name, whatever the caller names it', () => {
    for (let i = 0; i < 50; i++) {
      expect(navigate({ resourceType: `Made${i}Up`, code: { coding: [{ code: `c${i}` }] } }, ['code', 'coding', 'code'])).toEqual([`c${i}`]);
    }
  });
});

describe('the body shape check', () => {
  const code = (f: () => void): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return e instanceof HttpError ? `${e.status} ${e.message}` : String(e);
    }
  };
  it('passes a CDS Hooks body and refuses depth, size and reserved keys with the limit named', () => {
    expect(code(() => checkJsonShape({ context: { draftOrders: { entry: [{ resource: { code: { coding: [1, 'x', null] } } }] } } }, DEFAULT_INPUT_LIMITS))).toBeUndefined();
    let deep: unknown = 'leaf';
    for (let i = 0; i < 70; i++) deep = { a: deep };
    expect(code(() => checkJsonShape(deep, DEFAULT_INPUT_LIMITS))).toBe('400 The request body is nested deeper than 64 levels.');
    let ok: unknown = 'leaf';
    for (let i = 0; i < 64; i++) ok = [ok];
    expect(code(() => checkJsonShape(ok, DEFAULT_INPUT_LIMITS))).toBeUndefined();
    expect(code(() => checkJsonShape({ a: new Array(20_001).fill(0) }, DEFAULT_INPUT_LIMITS))).toBe('413 A JSON array in the request body has more than 20000 items.');
    expect(code(() => checkJsonShape(Array.from({ length: 11 }, () => ({})), { ...DEFAULT_INPUT_LIMITS, maxNodes: 10 }))).toBe('413 The request body has more than 10 JSON objects and arrays.');
    expect(code(() => checkJsonShape(JSON.parse('{"x":[{"__proto__":{"polluted":true}}]}'), DEFAULT_INPUT_LIMITS))).toBe('400 The request body uses the reserved key "__proto__".');
    expect(code(() => checkJsonShape({ x: { constructor: 1 } }, DEFAULT_INPUT_LIMITS))).toBe('400 The request body uses the reserved key "constructor".');
  });
});
