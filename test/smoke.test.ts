import request from 'supertest';
import { hookRequest, sacroplasty, testApp } from './helpers';

describe('smoke: order-sign with a sacroplasty order', () => {
  it('returns three cards and one coverage-information system action', async () => {
    const { app } = testApp();
    const res = await request(app).post('/cds-services/order-sign-crd').send(hookRequest('order-sign', [sacroplasty()]));
    expect(res.status).toBe(200);
    expect(res.body.cards).toHaveLength(3);
    expect(res.body.systemActions).toHaveLength(1);
  });
});
