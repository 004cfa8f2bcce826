import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import request from 'supertest';
import { ROOT, defaultDecisionAction, testApp } from './helpers';

/** The README's curl examples post these files; they must keep giving the answers the README shows. */
const example = (name: string): object => JSON.parse(readFileSync(resolve(ROOT, 'examples', name), 'utf8')) as object;

type Updates = { body: { systemActions: Array<{ resource: { resourceType: string; id: string; extension: Array<{ extension: Array<{ url: string; valueCode?: string }> }> } }> } };
/** Each update's resource and the `covered` code it records. */
const coveredBy = (res: Updates): string[][] => res.body.systemActions.map((a) => [
  `${a.resource.resourceType}/${a.resource.id}`, a.resource.extension.at(-1)?.extension.find((e) => e.url === 'covered')?.valueCode ?? '',
]);

describe('README examples', () => {
  const { app } = testApp();

  it('order-sign with a sacroplasty and a PT order: three cards for the sacroplasty, and a coverage decision for each order', async () => {
    const res = await request(app).post('/cds-services/order-sign-crd').send(example('order-sign-sacroplasty.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual([
      'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
      'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
      'Open the VIP Care policy app: decision, evidence and covered alternatives',
    ]);
    const decisions = (res.body.systemActions as Array<{ resource: { id: string; extension: Array<{ extension: Array<{ url: string; valueCode?: string }> }> } }>)
      .map((a) => [a.resource.id, a.resource.extension.at(-1)?.extension.find((e) => e.url === 'covered')?.valueCode]);
    expect(decisions).toEqual([['sr-sacro-1', 'not-covered'], ['sr-pt-1', 'covered']]);
  });

  it('order-select on the selected sacroplasty order', async () => {
    const res = await request(app).post('/cds-services/order-select-crd').send(example('order-select-sacroplasty.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
  });

  it('a local EHR code carrying only the text "IR SACROPLASTY" is recognised', async () => {
    const res = await request(app).post('/cds-services/order-sign-crd').send(example('order-sign-local-code.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards[0].detail).toContain('**IR SACROPLASTY**');
  });

  it('no sacroplasty: no cards, and the payer\'s default decision for the order', async () => {
    const body = example('order-sign-no-sacroplasty.json') as { context: { draftOrders: { entry: Array<{ resource: Record<string, unknown> }> } } };
    const res = await request(app).post('/cds-services/order-sign-crd').send(body);
    const order = body.context.draftOrders.entry[0]?.resource ?? {};
    expect(res.body).toEqual({ cards: [], systemActions: [defaultDecisionAction(order, 'Coverage/cov-vip-1')] });
  });

  it('appointment-book: an appointment based on the sacroplasty order → the notice, policy and app cards; not-covered on the ServiceRequest', async () => {
    const res = await request(app).post('/cds-services/appointment-book-crd').send(example('appointment-book-sacroplasty.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual([
      'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247)',
      'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
      'Open the VIP Care policy app: decision, evidence and covered alternatives',
    ]);
    expect(coveredBy(res)).toEqual([['ServiceRequest/sr-sacro-1', 'not-covered']]);
  });

  it('order-dispatch: the sacroplasty and the PT order dispatched → not-covered and the default decision, one each', async () => {
    const res = await request(app).post('/cds-services/order-dispatch-crd').send(example('order-dispatch-sacroplasty.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
    expect(coveredBy(res)).toEqual([['ServiceRequest/sr-sacro-1', 'not-covered'], ['ServiceRequest/sr-pt-1', 'covered']]);
  });

  it('the feedback example is accepted', async () => {
    const res = await request(app).post('/cds-services/order-sign-crd/feedback').send(example('feedback.json'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
  });
});
