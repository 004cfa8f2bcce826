import request from 'supertest';
import { hookRequest, sacroplasty, testApp } from './helpers';

const FEEDBACK = '/cds-services/order-sign-crd/feedback';
const CARD = '00000000-0000-4000-8000-000000000002';
const OTHER_CARD = '00000000-0000-4000-8000-000000000027';
const OVERRIDE_SYSTEM = 'https://knowledge.vipcare.example/fhir/CodeSystem/ccp-override-reason';

type Json = Record<string, unknown>;

const accepted = (card = CARD): Json => ({
  card,
  outcome: 'accepted',
  acceptedSuggestions: [{ id: '00000000-0000-4000-8000-000000000003' }],
  outcomeTimestamp: '2026-11-23T11:58:00Z',
});

describe('feedback is stored as received, per service', () => {
  it('accepts several items (accepted, overridden with a reason without display, overridden with a comment) → 200 {}', async () => {
    const { app, feedback } = testApp();
    const res = await request(app).post(FEEDBACK).send({
      feedback: [
        accepted(),
        // The CDS Hooks sandbox sends override reasons as {code, system} without display.
        { card: OTHER_CARD, outcome: 'overridden', overrideReason: { reason: { code: 'malignant-sacral-lesion', system: OVERRIDE_SYSTEM } }, outcomeTimestamp: '2026-11-23T11:59:00.250Z' },
        { card: CARD, outcome: 'overridden', overrideReason: { userComment: 'Metastatic lesion; oncology requests sacroplasty.' }, outcomeTimestamp: '2026-11-23T06:59:30-05:00' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});

    // Stored with the time it was received: the app's pinned clock (helpers NOW), not the client's timestamps.
    const receivedAt = '2026-11-23T12:00:00.000Z';
    expect(await feedback.list()).toEqual([
      { serviceId: 'order-sign-crd', card: CARD, outcome: 'accepted', acceptedSuggestions: ['00000000-0000-4000-8000-000000000003'], outcomeTimestamp: '2026-11-23T11:58:00Z', receivedAt },
      {
        serviceId: 'order-sign-crd', card: OTHER_CARD, outcome: 'overridden', acceptedSuggestions: [],
        overrideReason: { code: 'malignant-sacral-lesion', system: OVERRIDE_SYSTEM }, outcomeTimestamp: '2026-11-23T11:59:00.250Z', receivedAt,
      },
      {
        serviceId: 'order-sign-crd', card: CARD, outcome: 'overridden', acceptedSuggestions: [],
        userComment: 'Metastatic lesion; oncology requests sacroplasty.', outcomeTimestamp: '2026-11-23T06:59:30-05:00', receivedAt,
      },
    ]);
  });

  it('records the service the feedback was posted to', async () => {
    const { app, feedback } = testApp();
    const res = await request(app).post('/cds-services/order-select-crd/feedback').send({ feedback: [accepted()] });
    expect(res.status).toBe(200);
    expect((await feedback.list()).map((r) => r.serviceId)).toEqual(['order-select-crd']);
  });

  it('the same card may get feedback twice: both are kept, in order', async () => {
    const { app, feedback } = testApp();
    const first = await request(app).post(FEEDBACK).send({ feedback: [accepted()] });
    const second = await request(app).post(FEEDBACK).send({ feedback: [{ card: CARD, outcome: 'overridden', outcomeTimestamp: '2026-11-23T11:59:00Z' }] });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect((await feedback.list()).map((r) => [r.card, r.outcome])).toEqual([[CARD, 'accepted'], [CARD, 'overridden']]);
  });

  it('keeps only the CDS Hooks fields (unknown properties and extensions are not stored)', async () => {
    const { app, feedback } = testApp();
    const res = await request(app).post(FEEDBACK).send({
      feedback: [{ ...accepted(), extension: { 'example.org/x': 1 }, patientName: 'Jane Doe' }],
      extension: { 'example.org/y': true },
    });
    expect(res.status).toBe(200);
    expect(JSON.stringify(await feedback.list())).not.toContain('Jane Doe');
    expect(Object.keys((await feedback.list())[0]!).sort()).toEqual(['acceptedSuggestions', 'card', 'outcome', 'outcomeTimestamp', 'receivedAt', 'serviceId']);
  });
});

describe('invalid feedback is refused with a 400 OperationOutcome and nothing is stored', () => {
  const cases: Array<[string, unknown, string, string]> = [
    ['an item without outcome', { feedback: [{ card: CARD, outcomeTimestamp: '2026-11-23T11:58:00Z' }] }, 'feedback[0].outcome is required', 'feedback[0].outcome'],
    ['outcome "maybe"', { feedback: [{ ...accepted(), outcome: 'maybe' }] }, 'feedback[0].outcome must be equal to one of the allowed values', 'feedback[0].outcome'],
    ['a timestamp that is not a dateTime', { feedback: [accepted(), { ...accepted(), outcomeTimestamp: 'yesterday at noon' }] },
      'feedback[1].outcomeTimestamp must be an ISO 8601 date-time with a time zone (e.g. 2026-11-23T10:05:00Z)', 'feedback[1].outcomeTimestamp'],
    ['an empty feedback array', { feedback: [] }, 'feedback must NOT have fewer than 1 items', 'feedback'],
    ['no feedback array', { card: CARD, outcome: 'accepted' }, 'feedback is required', 'feedback'],
  ];

  it.each(cases)('%s → 400', async (_name, body, diagnostics, expression) => {
    const { app, feedback } = testApp();
    const res = await request(app).post(FEEDBACK).send(body as object);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
    expect(res.body).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics, expression: [expression] }] });
    expect(await feedback.list()).toEqual([]);
  });
});

describe('feedback names the alternative chosen', () => {
  it('an accepted suggestion from a real card is stored as the PlanDefinition action it came from', async () => {
    const { app, feedback } = testApp();
    const res = await request(app).post('/cds-services/order-sign-crd').send(hookRequest('order-sign', [sacroplasty()]));
    const card = res.body.cards[0];
    const chosen = card.suggestions[2];
    const post = await request(app).post('/cds-services/order-sign-crd/feedback').send({
      feedback: [{ card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: chosen.uuid }, { id: 'not-ours' }], outcomeTimestamp: '2026-11-23T12:01:00Z' }],
    });
    expect(post.status).toBe(200);
    expect((await feedback.list()).map((r) => r.acceptedSuggestions)).toEqual([['replace-with-low-impact-exercise', 'not-ours']]);
  });
});
