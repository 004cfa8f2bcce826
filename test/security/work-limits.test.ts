/**
 * Issue 13, items 3 and 13: the work one call may cause is bounded (MAX_COVERAGES_PER_CALL → 422,
 * MAX_DECISIONS_PER_CALL and MAX_ANSWER_BYTES → 413, nothing stored), and $apply and hook calls are linear in the
 * number of codings on an order (8,000 distinct displays used to block the event loop 4 s: 4k 1.2 s, 16k 13 s).
 */
import request from 'supertest';
import { CPT, SIGN, hookRequest, patient, sacroplasty, serviceRequest, testApp } from '../helpers';

type Json = Record<string, unknown>;

const coverages = (n: number): Json => ({
  resourceType: 'Bundle', type: 'searchset',
  entry: Array.from({ length: n }, (_, i) => ({ resource: { resourceType: 'Coverage', id: `c${i}`, status: 'active', beneficiary: { reference: 'Patient/p1' }, payor: [{ display: 'AmeriHealth Caritas VIP Care' }] } })),
});
const threeOrders = (): Json[] => [sacroplasty('sr1'), sacroplasty('sr2'), serviceRequest('sr3', { coding: [{ system: CPT, code: '97110', display: 'Therapeutic exercise' }] })];

function expectOutcome(res: request.Response, status: number, code: string, text: RegExp): void {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: expect.stringMatching(text) }] });
}

describe('work limits per call', () => {
  it('3 orders × 20,000 active Coverages → 422 (MAX_COVERAGES_PER_CALL), nothing stored, and the service keeps serving', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', threeOrders(), { prefetch: { patient: patient(), coverage: coverages(20_000) } }));
    expectOutcome(res, 422, 'business-rule', /20000 active Coverages.*at most 50 per call \(MAX_COVERAGES_PER_CALL\)/);
    const ok = await request(app).post(SIGN).send(hookRequest('order-sign', threeOrders()));
    expect(ok.status).toBe(200);
    expect(ok.body.cards.length).toBeGreaterThan(0);
  });

  it('orders × Coverages past MAX_DECISIONS_PER_CALL → 413 before anything is decided', async () => {
    const { app } = testApp({ env: { MAX_COVERAGES_PER_CALL: '100000' } });
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', threeOrders(), { prefetch: { patient: patient(), coverage: coverages(20_000) } }));
    expectOutcome(res, 413, 'too-costly', /60000 order × Coverage × rule combinations \(3 orders, 20000 Coverages\).*at most 5000 \(MAX_DECISIONS_PER_CALL\)/);
    expect((await request(app).post(SIGN).send(hookRequest('order-sign', threeOrders()))).status).toBe(200);
  });

  it('an answer larger than MAX_ANSWER_BYTES → 413', async () => {
    const { app } = testApp({ env: { MAX_ANSWER_BYTES: '4096' } });
    const res = await request(app).post(SIGN).send(hookRequest('order-sign', threeOrders()));
    expectOutcome(res, 413, 'too-costly', /at most 4096 \(MAX_ANSWER_BYTES\)/);
  });

  it('$apply with 10,000 Coverages in its data → 422 (at 20,000 the array bound answers first: 413)', async () => {
    const { app } = testApp();
    const entry = [{ resource: sacroplasty('sr1') }, ...(coverages(10_000)['entry'] as Json[])];
    const res = await request(app).post('/fhir/PlanDefinition/ccp-1247/$apply').set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: 'Patient/p1' }, { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry } }] });
    expectOutcome(res, 422, 'business-rule', /MAX_COVERAGES_PER_CALL/);
  });
});

describe('linear in the codings of an order', () => {
  /** An order with `n` codings of distinct codes and displays, and the sacroplasty code last. */
  const manyCodings = (n: number): Json => serviceRequest('sr1', {
    coding: [...Array.from({ length: n }, (_, i) => ({ system: CPT, code: String(10_000 + i), display: `Procedure display number ${i}` })), { system: CPT, code: '0200T', display: 'Percutaneous sacral augmentation' }],
  });
  const displaysOnly = (n: number): Json => serviceRequest('sr1', { coding: Array.from({ length: n }, (_, i) => ({ display: `sacroplasty variant ${i}` })) });
  const applyBody = (order: Json): Json => ({
    resourceType: 'Parameters',
    parameter: [{ name: 'subject', valueString: 'Patient/p1' }, { name: 'data', resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: order }, ...(coverages(1)['entry'] as Json[])] } }],
  });

  /** Best of three, in ms (the least disturbed by other work on the machine). */
  async function timed(call: () => Promise<request.Response>): Promise<number> {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const started = process.hrtime.bigint();
      const res = await call();
      expect(res.status).toBe(200);
      best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6);
    }
    return best;
  }

  it.each([
    ['$apply, distinct codes and displays', 'apply', manyCodings],
    ['$apply, displays only (the text patterns)', 'apply', displaysOnly],
    ['order-sign, distinct codes and displays', 'hook', manyCodings],
  ] as const)('%s: 16k codings cost less than 8 × 4k (linear is 4 ×, quadratic 16 ×); 8k well inside 2 s', async (_name, kind, make) => {
    const { app } = testApp();
    const call = (n: number) => (): Promise<request.Response> => (kind === 'apply'
      ? request(app).post('/fhir/PlanDefinition/ccp-1247/$apply').set('Content-Type', 'application/fhir+json').send(applyBody(make(n)))
      : request(app).post(SIGN).send(hookRequest('order-sign', [make(n)])));
    await call(1000)(); // warm-up
    const t4 = await timed(call(4000));
    const t8 = await timed(call(8000));
    const t16 = await timed(call(16_000));
    process.stdout.write(`[work-limits] ${kind} ${make.name}: 4k ${t4.toFixed(0)} ms, 8k ${t8.toFixed(0)} ms, 16k ${t16.toFixed(0)} ms\n`);
    expect(t8).toBeLessThan(2000);
    // 50 ms of slack: at a few milliseconds, scheduling noise is larger than the work.
    expect(t16).toBeLessThan(8 * t4 + 50);
  }, 60_000);
});
