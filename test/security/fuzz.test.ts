/**
 * Property-based fuzzing of the open app (no client auth): thousands of mutated requests built from valid ones —
 * wrong types, missing fields, 100 kB strings, nesting up to 10,000 levels, emoji / RTL marks / NUL / lone
 * surrogates, prototype keys at any depth, 30,000-item arrays, 1e309, duplicate keys, broken JSON text — sent as raw
 * JSON text to order-sign, PlanDefinition/$apply and feedback. Every answer is 200 or a 4xx (never 5xx), every 4xx
 * is an OperationOutcome, Object.prototype stays clean, and a valid request afterwards still gets the three cards.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import request from 'supertest';
import type { Response } from 'supertest';
import { CPT, coverageBundle, hookRequest, patient, sacroplasty, testApp } from '../helpers';

const SIGN = '/cds-services/order-sign-crd';
const APPLY = '/fhir/PlanDefinition/ccp-1247/$apply';
const FEEDBACK = '/cds-services/order-sign-crd/feedback';
const SUMMARIES = [
  'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
  'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
  'Open the VIP Care policy app: decision, evidence and covered alternatives',
];
/** Runs per property: 3,000 requests in all (FUZZ_SCALE=10 for a longer hunt). */
const SCALE = Math.max(1, Number(process.env['FUZZ_SCALE'] ?? 1) || 1);
const RUNS = Object.fromEntries(Object.entries({ hook: 1400, hookText: 300, apply: 500, feedback: 500, deep: 150, proto: 150 }).map(([k, n]) => [k, n * SCALE])) as
  Record<'hook' | 'hookText' | 'apply' | 'feedback' | 'deep' | 'proto', number>;

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------
// A JSON tree that can say what JSON.stringify cannot: raw text (1e309, 10,000-deep nesting, 30,000-item arrays)
// and objects with duplicate or prototype keys (an own "__proto__" key cannot be set on a plain object).

class Raw {
  constructor(readonly text: string) {}
}
class Entries {
  constructor(readonly entries: Array<[string, Tree]>) {}
}
type Tree = null | boolean | number | string | Raw | Entries | Tree[];

function toTree(v: unknown): Tree {
  if (Array.isArray(v)) return v.map(toTree);
  if (v !== null && typeof v === 'object') return new Entries(Object.entries(v as Json).map(([k, x]) => [k, toTree(x)]));
  if (v === undefined) return null;
  return v as Tree;
}

function clone(t: Tree): Tree {
  if (Array.isArray(t)) return t.map(clone);
  if (t instanceof Entries) return new Entries(t.entries.map(([k, x]) => [k, clone(x)]));
  return t;
}

function toJson(t: Tree): string {
  if (t instanceof Raw) return t.text;
  if (t instanceof Entries) return `{${t.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  if (Array.isArray(t)) return `[${t.map(toJson).join(',')}]`;
  return JSON.stringify(t);
}

/** Every node's path (indices into arrays and into Entries' entry lists), root first. */
function paths(t: Tree, prefix: number[] = [], out: number[][] = []): number[][] {
  out.push(prefix);
  if (Array.isArray(t)) t.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (t instanceof Entries) t.entries.forEach(([, x], i) => paths(x, [...prefix, i], out));
  return out;
}

function at(t: Tree, path: number[]): Tree {
  let node = t;
  for (const i of path) node = Array.isArray(node) ? node[i]! : (node as Entries).entries[i]![1];
  return node;
}

function setAt(parent: Tree, i: number, value: Tree): void {
  if (Array.isArray(parent)) parent[i] = value;
  else (parent as Entries).entries[i]![1] = value;
}

function removeAt(parent: Tree, i: number): void {
  if (Array.isArray(parent)) parent.splice(i, 1);
  else (parent as Entries).entries.splice(i, 1);
}

interface Mutation {
  op: 'replace' | 'delete' | 'addKey' | 'duplicateKey' | 'wrapInArray';
  seed: number;
  key: string;
  value: Tree;
}

/** Applies one mutation at the node `seed` picks (among the tree's current nodes); returns the new root. */
function mutate(root: Tree, mutation: Mutation): Tree {
  // Generated values may be shared instances (constants): insert copies, so no run can alter another or form a cycle.
  const m = { ...mutation, value: clone(mutation.value) };
  const all = paths(root);
  const path = all[m.seed % all.length]!;
  const node = at(root, path);
  const parent = path.length > 0 ? at(root, path.slice(0, -1)) : undefined;
  const last = path[path.length - 1]!;
  switch (m.op) {
    case 'replace':
      if (parent === undefined) return m.value;
      setAt(parent, last, m.value);
      return root;
    case 'delete':
      if (parent === undefined) return new Raw('');
      removeAt(parent, last);
      return root;
    case 'wrapInArray':
      if (parent === undefined) return [node];
      setAt(parent, last, [node]);
      return root;
    case 'addKey':
    case 'duplicateKey': {
      // The nearest object at or above the chosen node.
      for (let depth = path.length; depth >= 0; depth--) {
        const candidate = at(root, path.slice(0, depth));
        if (candidate instanceof Entries) {
          const existing = candidate.entries[m.seed % Math.max(1, candidate.entries.length)];
          const key = m.op === 'duplicateKey' && existing ? existing[0] : m.key;
          candidate.entries.push([key, m.value]);
          return root;
        }
      }
      return root;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile values.

/** `depth` levels of arrays, objects or both, as text: JSON.stringify of such a value would overflow the stack. */
function deepText(depth: number, kind: 'array' | 'object' | 'mixed', leaf: string, closed = true): string {
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < depth; i++) {
    const isArray = kind === 'array' || (kind === 'mixed' && i % 3 === 0);
    open.push(isArray ? '[' : '{"k":');
    close.push(isArray ? ']' : '}');
  }
  return `${open.join('')}${leaf}${closed ? close.reverse().join('') : ''}`;
}

const HUGE = 100 * 1024;
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];
const polluter = (key: string): Tree => new Entries([[key, new Entries([['polluted', 'yes'], ['prototype', new Entries([['polluted', 'yes']])]])]]);

const weirdStrings = fc.constantFrom(
  '', ' ', '😀🏥💉', '\u202Eredro-ngis\u202C', '\u200F\u200Eמזהה', '\u0000', 'a\u0000b', '\uD800', '\uDFFF\uD800', '\uFEFF',
  'Ω≈ç√∫', '%00', '../../etc/passwd', '<script>alert(1)</script>', '{{context.patientId}}', 'Patient/p1\r\nX-Injected: 1',
  'Patient/', '/', 'http://127.0.0.1:9/fhir', 'Bundle', 'ServiceRequest', 'null', 'true', '0200T', '-0', 'NaN',
);

const rawNumbers = fc.constantFrom('1e309', '-1e309', '1e-400', '123456789012345678901234567890', '-0', '0.1e1', '9007199254740993', '1E+2', '-9e999')
  .map((t) => new Raw(t));

const hugeStrings = fc.constantFrom('A', 'é', '😀', '\u202E', '\u0000', '\\').map((c): Tree => c.repeat(Math.ceil(HUGE / c.length)));

const deepShapes = fc.record({
  depth: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 60, max: 10_000 })),
  kind: fc.constantFrom<'array' | 'object' | 'mixed'>('array', 'object', 'mixed'),
  leaf: fc.constantFrom('1', '"x"', 'null', '{}', '[]', '{"__proto__":{"polluted":"yes"}}'),
  closed: fc.boolean(),
});
const deepValues = deepShapes.map(({ depth, kind, leaf, closed }) => new Raw(deepText(depth, kind, leaf, closed)));

const bigArrays = fc.constantFrom('0', '{}', '"x"', '[]', 'null').chain((item) => fc.constantFrom(20_000, 20_001, 30_000)
  .map((n) => new Raw(`[${Array.from({ length: n }, () => item).join(',')}]`)));

const protoValues = fc.constantFrom(...FORBIDDEN_KEYS, 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', 'isPrototypeOf').map(polluter);

const smallJson: fc.Arbitrary<Tree> = fc.jsonValue({ maxDepth: 3 }).map(toTree);

const hostileValue: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Tree>(null, true, false, 0, -1, 1.5, 2 ** 53, '', 'x', [], new Entries([]), [null], [[]]) },
  { weight: 3, arbitrary: fc.integer().map((n): Tree => n) },
  { weight: 2, arbitrary: fc.double().map((n): Tree => n) },
  { weight: 4, arbitrary: weirdStrings.map((s): Tree => s) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map((s): Tree => s) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s): Tree => s) },
  { weight: 2, arbitrary: rawNumbers },
  { weight: 1, arbitrary: hugeStrings },
  { weight: 1, arbitrary: deepValues },
  { weight: 1, arbitrary: bigArrays },
  { weight: 2, arbitrary: protoValues },
  { weight: 3, arbitrary: smallJson },
);

const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FORBIDDEN_KEYS, 'hasOwnProperty', 'toString', 'valueOf', 'length', '', '\u0000', '😀', '\u202E', 'resourceType', 'hook', 'context', 'prefetch', 'id', 'entry', 'coding', 'fhirServer', 'extension') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom<Mutation['op']>('replace', 'replace', 'replace', 'delete', 'delete', 'addKey', 'duplicateKey', 'wrapInArray'),
  seed: fc.nat(),
  key: hostileKey,
  value: hostileValue,
});

const contentTypes = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom('application/fhir+json', 'application/json; charset=utf-8', 'text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'application/cds-hooks+json') },
);

/** A mutated body, as text, from 1–4 mutations of `base`. */
const mutatedText = (base: Json): fc.Arbitrary<string> => fc.array(mutation, { minLength: 1, maxLength: 4 })
  .map((ms) => toJson(ms.reduce<Tree>((t, m) => mutate(t, m), clone(toTree(base)))));

/** Broken JSON text: truncated, with a character inserted or replaced. */
const corruptedText = (base: Json): fc.Arbitrary<string> => {
  const text = JSON.stringify(base);
  return fc.record({
    pos: fc.nat({ max: text.length }),
    how: fc.constantFrom('truncate', 'insert', 'replace', 'duplicate-tail'),
    ch: fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', '\u0000', '😀', 'x', '1', ' ', '\n'),
  }).map(({ pos, how, ch }) => {
    switch (how) {
      case 'truncate': return text.slice(0, pos);
      case 'insert': return `${text.slice(0, pos)}${ch}${text.slice(pos)}`;
      case 'replace': return `${text.slice(0, pos)}${ch}${text.slice(pos + 1)}`;
      default: return `${text}${text.slice(pos)}`;
    }
  });
};

// ---------------------------------------------------------------------------------------------------------------
// Valid starting points.

const fhirAuthorization = { access_token: 'fuzz-token', token_type: 'Bearer', expires_in: 300, scope: 'patient/Coverage.read', subject: 'payer-cds' };
const validHook = (): Json => hookRequest('order-sign', [sacroplasty()], { extra: { fhirAuthorization } });

const validApply = (): Json => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'subject', valueReference: { reference: 'Patient/p1' } },
    { name: 'practitioner', valueReference: { reference: 'Practitioner/d1' } },
    { name: 'encounter', valueReference: { reference: 'Encounter/e1' } },
    { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: sacroplasty() }, { resource: patient() }, ...((coverageBundle()['entry'] as Json[]))] } },
  ],
});

const validFeedback = (): Json => ({
  feedback: [
    { card: '00000000-0000-4000-8000-000000000002', outcome: 'accepted', acceptedSuggestions: [{ id: '00000000-0000-4000-8000-000000000003' }], outcomeTimestamp: '2026-11-23T11:58:00Z' },
    {
      card: '00000000-0000-4000-8000-000000000027', outcome: 'overridden', outcomeTimestamp: '2026-11-23T11:59:00Z',
      overrideReason: { reason: { code: 'malignant-sacral-lesion', system: 'https://knowledge.vipcare.example/fhir/CodeSystem/ccp-override-reason', display: 'Malignant lesion' }, userComment: 'Oncology requests it.' },
    },
  ],
});

// ---------------------------------------------------------------------------------------------------------------

describe('fuzzing the open app with mutated requests', () => {
  let server: Server;
  let url: string;
  const statuses = new Map<string, Map<number, number>>();
  const objectProtoKeys = Object.getOwnPropertyNames(Object.prototype).sort();
  const arrayProtoKeys = Object.getOwnPropertyNames(Array.prototype).sort();

  beforeAll(async () => {
    const { app } = testApp({ env: { FHIR_TIMEOUT_MS: '200' } });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (process.env['FUZZ_STATS']) console.log(JSON.stringify([...statuses].map(([k, v]) => [k, Object.fromEntries(v)])));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const post = (path: string, text: string, contentType = 'application/json'): Promise<Response> =>
    request(url).post(path).set('Content-Type', contentType).send(text).then((r) => r);

  /** 200 or 4xx, never 5xx; every 4xx a whole OperationOutcome; `ok` checks a 200's body. */
  function checkAnswer(name: string, res: Response, ok: (body: unknown) => void): void {
    const seen = statuses.get(name) ?? new Map<number, number>();
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    statuses.set(name, seen);
    if (res.status === 200) {
      ok(res.body);
      return;
    }
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
    const outcome = res.body as { resourceType?: unknown; issue?: Array<Json> };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(Array.isArray(outcome.issue) && outcome.issue.length > 0).toBe(true);
    for (const issue of outcome.issue!) {
      expect(issue['severity']).toBe('error');
      expect(typeof issue['code']).toBe('string');
      expect(typeof issue['diagnostics']).toBe('string');
    }
  }

  const hookOk = (body: unknown): void => {
    expect(Array.isArray((body as { cards?: unknown }).cards)).toBe(true);
  };
  const applyOk = (body: unknown): void => {
    expect((body as { resourceType?: unknown }).resourceType).toBe('RequestGroup');
  };
  const feedbackOk = (body: unknown): void => {
    expect(body).toEqual({});
  };

  function expectPrototypesClean(): void {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(objectProtoKeys);
    expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(arrayProtoKeys);
    expect(({} as Json)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  }

  async function expectThreeCards(): Promise<void> {
    const res = await request(url).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(SUMMARIES);
    expect(JSON.stringify(res.body.systemActions)).toContain(CPT);
  }

  /** Every node of `base` deleted, and replaced by a value of each JSON type (and 1e309): one request each. */
  async function sweepEveryField(name: string, path: string, base: Json, ok: (body: unknown) => void): Promise<number> {
    const wrongTypes: Tree[] = [null, 42, -1.5, true, 'x', '', [], [null], new Entries([]), new Raw('1e309'), '😀\u202E\u0000'];
    const count = paths(toTree(base)).length;
    let sent = 0;
    for (let seed = 0; seed < count; seed++) {
      const variants: Mutation[] = [{ op: 'delete', seed, key: '', value: null }, ...wrongTypes.map((value): Mutation => ({ op: 'replace', seed, key: '', value }))];
      for (const m of variants) {
        checkAnswer(name, await post(path, toJson(mutate(clone(toTree(base)), m))), ok);
        sent++;
      }
    }
    return sent;
  }

  it('order-sign: every field missing, and of every wrong type → 200 or 4xx OperationOutcome', async () => {
    expect(await sweepEveryField('hookSweep', SIGN, validHook(), hookOk)).toBeGreaterThan(500);
    expectPrototypesClean();
    await expectThreeCards();
  }, 60_000);

  it('$apply and feedback: every field missing, and of every wrong type → 200 or 4xx OperationOutcome', async () => {
    expect(await sweepEveryField('applySweep', APPLY, validApply(), applyOk)).toBeGreaterThan(400);
    expect(await sweepEveryField('feedbackSweep', FEEDBACK, validFeedback(), feedbackOk)).toBeGreaterThan(200);
    expectPrototypesClean();
    await expectThreeCards();
  }, 60_000);

  it(`order-sign: ${RUNS.hook} structurally mutated bodies → 200 or 4xx OperationOutcome, never 5xx`, async () => {
    await fc.assert(fc.asyncProperty(mutatedText(validHook()), contentTypes, async (text, contentType) => {
      checkAnswer('hook', await post(SIGN, text, contentType), hookOk);
    }), { numRuns: RUNS.hook });
    // The generator reached both sides: accepted bodies and refused ones.
    expect(statuses.get('hook')?.get(200)).toBeGreaterThan(0);
    expect(statuses.get('hook')?.get(400)).toBeGreaterThan(0);
    expectPrototypesClean();
    await expectThreeCards();
  }, 120_000 * SCALE);

  it(`order-sign: ${RUNS.hookText} corrupted JSON texts → 200 or 4xx OperationOutcome`, async () => {
    await fc.assert(fc.asyncProperty(corruptedText(validHook()), async (text) => {
      checkAnswer('hookText', await post(SIGN, text), hookOk);
    }), { numRuns: RUNS.hookText });
    expectPrototypesClean();
    await expectThreeCards();
  }, 60_000 * SCALE);

  it(`order-sign: ${RUNS.deep} bodies nested 1 to 10,000 levels deep, at the root or inside context → 200 or 4xx, never 5xx (over 64 → 400)`, async () => {
    const base = JSON.stringify(validHook());
    await fc.assert(fc.asyncProperty(deepShapes, fc.boolean(), async (shape, atRoot) => {
      const deep = deepText(shape.depth, shape.kind, shape.leaf, shape.closed);
      const text = atRoot ? deep : base.replace('"context":{', `"context":{"deep":${deep},`);
      const res = await post(SIGN, text);
      checkAnswer('deep', res, hookOk);
      if (!shape.closed) expect(res.body.issue[0].diagnostics).toBe('The request body is not valid JSON.');
      else if (shape.depth > 66) expect(res.body.issue[0].diagnostics).toBe('The request body is nested deeper than 64 levels.');
    }), { numRuns: RUNS.deep });
    expectPrototypesClean();
    await expectThreeCards();
  }, 60_000 * SCALE);

  it(`order-sign: ${RUNS.proto} prototype keys at various depths (raw JSON text) → 400, prototypes stay clean`, async () => {
    const base = validHook();
    const protoMutation = fc.record({
      seed: fc.nat(),
      key: fc.constantFrom(...FORBIDDEN_KEYS),
      value: fc.oneof(protoValues, smallJson, fc.constant<Tree>(new Entries([['polluted', 'yes']]))),
    });
    await fc.assert(fc.asyncProperty(fc.array(protoMutation, { minLength: 1, maxLength: 3 }), async (ms) => {
      const tree = ms.reduce<Tree>((t, m) => mutate(t, { op: 'addKey', ...m }), clone(toTree(base)));
      const res = await post(SIGN, toJson(tree));
      checkAnswer('proto', res, hookOk);
      expect(res.status).toBe(400);
      expect(res.body.issue[0].diagnostics).toMatch(/^The request body uses the reserved key "(__proto__|constructor|prototype)"\.$/);
      expectPrototypesClean();
    }), { numRuns: RUNS.proto });
    await expectThreeCards();
  }, 60_000 * SCALE);

  it(`PlanDefinition/$apply: ${RUNS.apply} mutated Parameters → 200 RequestGroup or 4xx OperationOutcome, never 5xx`, async () => {
    const fhirJson = fc.constantFrom('application/fhir+json', 'application/json');
    await fc.assert(fc.asyncProperty(mutatedText(validApply()), fhirJson, async (text, contentType) => {
      checkAnswer('apply', await post(APPLY, text, contentType), applyOk);
    }), { numRuns: RUNS.apply });
    expect(statuses.get('apply')?.get(200)).toBeGreaterThan(0);
    expect(statuses.get('apply')?.get(400)).toBeGreaterThan(0);
    expectPrototypesClean();
    await expectThreeCards();
  }, 60_000 * SCALE);

  it(`feedback: ${RUNS.feedback} mutated feedback bodies → 200 {} or 4xx OperationOutcome, never 5xx`, async () => {
    await fc.assert(fc.asyncProperty(mutatedText(validFeedback()), contentTypes, async (text, contentType) => {
      checkAnswer('feedback', await post(FEEDBACK, text, contentType), feedbackOk);
    }), { numRuns: RUNS.feedback });
    expect(statuses.get('feedback')?.get(200)).toBeGreaterThan(0);
    expect(statuses.get('feedback')?.get(400)).toBeGreaterThan(0);
    expectPrototypesClean();
    await expectThreeCards();
  }, 60_000 * SCALE);
});
