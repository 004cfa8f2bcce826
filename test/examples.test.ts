import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import request from 'supertest';
import { ROOT, testApp } from './helpers';

/** The README's curl examples post these files; they must keep giving the answers the README shows. */
const example = (name: string): object => JSON.parse(readFileSync(resolve(ROOT, 'examples', name), 'utf8')) as object;

describe('README examples', () => {
  const { app } = testApp();

  it('order-sign with a sacroplasty and a PT order: three cards and one coverage decision, for the sacroplasty only', async () => {
    const res = await request(app).post('/cds-services/sacroplasty-order-sign').send(example('order-sign-sacroplasty.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual([
      'Sacroplasty not covered by AmeriHealth Caritas VIP Care (investigational, CCP.1247); covered alternatives below',
      'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence',
      'Open the VIP Care policy app: decision, evidence and covered alternatives',
    ]);
    expect(res.body.systemActions.map((a: { resource: { id: string } }) => a.resource.id)).toEqual(['sr-sacro-1']);
  });

  it('order-select on the selected sacroplasty order', async () => {
    const res = await request(app).post('/cds-services/sacroplasty-order-select').send(example('order-select-sacroplasty.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
  });

  it('a local EHR code carrying only the text "IR SACROPLASTY" is recognised', async () => {
    const res = await request(app).post('/cds-services/sacroplasty-order-sign').send(example('order-sign-local-code.json'));
    expect(res.status).toBe(200);
    expect(res.body.cards[0].detail).toContain('**IR SACROPLASTY**');
  });

  it('no sacroplasty: no guidance', async () => {
    const res = await request(app).post('/cds-services/sacroplasty-order-sign').send(example('order-sign-no-sacroplasty.json'));
    expect(res.body).toEqual({ cards: [], systemActions: [] });
  });

  it('the feedback example is accepted', async () => {
    const res = await request(app).post('/cds-services/sacroplasty-order-sign/feedback').send(example('feedback.json'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
  });
});
