/**
 * Issue 13, case 14: feedback whose outcomeTimestamp matches the ISO 8601 pattern but names no real instant
 * (30 February, year 0000) reached the database, which refused the whole batch: a 500 on both backends, and the
 * valid items of the batch were not stored either. Such items are now a 400 naming the item, before any write;
 * real edge dates (29 February of a leap year, year 0001, year 9999) are stored. The app runs on the real stores.
 */
import './native-pglite';
import request from 'supertest';
import type { Database } from '../../src/storage/database';
import { SqlFeedbackStore } from '../../src/storage/feedback-store';
import { testApp } from '../helpers';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll } from './backends';
import type { TestBackend } from './backends';

const FEEDBACK = '/cds-services/sacroplasty-order-sign/feedback';
const item = (card: string, outcomeTimestamp: string): Record<string, unknown> => ({ card, outcome: 'accepted', outcomeTimestamp });

describe.each(BACKENDS)('feedback timestamps on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;
  let app: ReturnType<typeof testApp>['app'];
  const stored = async (): Promise<string[]> => (await db.query<{ card: string }>('SELECT card FROM feedback ORDER BY card')).rows.map((r) => r.card);

  beforeAll(async () => {
    backend = await testBackend(backendName, 'feedback-ts');
    db = await backend.open();
    app = testApp({ deps: { feedback: new SqlFeedbackStore({ db }) } }).app;
  }, OPEN_TIMEOUT_MS);
  beforeEach(() => truncateAll(db));
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it.each([
    ['30 February', '2026-02-30T10:00:00Z'],
    ['29 February of a common year', '2025-02-29T10:00:00Z'],
    ['year 0000', '0000-06-01T10:00:00Z'],
    ['month 13', '2026-13-01T10:00:00Z'],
    ['hour 24', '2026-11-23T24:00:00Z'],
    ['minute 60', '2026-11-23T10:60:00Z'],
    ['offset +25:00', '2026-11-23T10:00:00+25:00'],
  ])('%s is a 400 naming the item, and nothing of the batch is stored', async (_label, bad) => {
    const res = await request(app).post(FEEDBACK).send({ feedback: [item('card-ok', '2026-11-23T10:00:00Z'), item('card-bad', bad)] });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'invalid', expression: ['feedback[1].outcomeTimestamp'] }] });
    expect(await stored()).toEqual([]);
  });

  it('real edge dates are stored: 29 February 2028, year 0001, year 9999, a fractional second with an offset', async () => {
    const res = await request(app).post(FEEDBACK).send({
      feedback: [item('a-leap', '2028-02-29T23:59:59Z'), item('b-first', '0001-01-01T00:00:00Z'), item('c-last', '9999-12-31T23:59:59.999Z'), item('d-offset', '2026-11-23T06:59:30.25-05:00')],
    });
    expect(res.status).toBe(200);
    expect(await stored()).toEqual(['a-leap', 'b-first', 'c-last', 'd-offset']);
  });
});
