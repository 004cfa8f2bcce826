import './native-pglite';
import type { Database } from '../../src/storage/database';
import { SqlFeedbackStore } from '../../src/storage/feedback-store';
import type { FeedbackRecord } from '../../src/cds/feedback-store';
import { reportData } from '../../src/storage/reports';
import { BACKENDS, OPEN_TIMEOUT_MS, testBackend, truncateAll } from './backends';
import type { TestBackend } from './backends';
import { CPT, assertionRow, auditRow, insertAssertions, insertAudit } from './fixtures';

const fb = (card: string, outcome: FeedbackRecord['outcome'], at: string, extra: Partial<FeedbackRecord> = {}): FeedbackRecord => ({
  serviceId: 'svc', card, outcome, acceptedSuggestions: [], outcomeTimestamp: at, receivedAt: at, ...extra,
});

describe.each(BACKENDS)('reportData on %s', (backendName) => {
  let backend: TestBackend;
  let db: Database;

  beforeAll(async () => {
    backend = await testBackend(backendName, 'reports');
    db = await backend.open();
    await truncateAll(db);
    await insertAudit(db, [
      auditRow('2026-11-20T09:00:00Z', { 'coverage-information': 1, documentation: 2 }),
      auditRow('2026-11-20T23:59:59Z', { 'coverage-information': 1 }),
      auditRow('2026-11-21T08:00:00Z', {}), // answered with no cards
      auditRow('2026-11-22T08:00:00Z', { 'coverage-information': 1, 'alternatives': 1 }),
      auditRow('2026-11-19T08:00:00Z', { 'coverage-information': 5 }), // before the window
      auditRow('2026-11-23T00:00:00Z', { 'coverage-information': 5 }), // the window's end is exclusive
    ]);
    await insertAssertions(db, [
      assertionRow('a1', '2026-11-20T09:00:00Z', 'conditional', ['0200T']),
      assertionRow('a2', '2026-11-20T10:00:00Z', 'conditional', ['0200T']),
      assertionRow('a3', '2026-11-21T10:00:00Z', 'not-covered', ['0200T', '0201T']),
      assertionRow('a4', '2026-11-21T11:00:00Z', 'indeterminate', []),
      assertionRow('a5', '2026-11-25T11:00:00Z', 'covered', ['0200T']), // after the window
    ]);
    await new SqlFeedbackStore({ db }).add([
      fb('c1', 'accepted', '2026-11-20T09:01:00Z', { acceptedSuggestions: ['alt-kyphoplasty'] }),
      fb('c2', 'accepted', '2026-11-20T09:02:00Z', { acceptedSuggestions: ['alt-kyphoplasty', 'alt-conservative'] }),
      fb('c3', 'overridden', '2026-11-20T09:03:00Z', { overrideReason: { code: 'already-performed', display: 'Already performed' } }),
      fb('c4', 'overridden', '2026-11-21T09:03:00Z', { overrideReason: { code: 'already-performed', display: 'Already done' } }),
      fb('c5', 'overridden', '2026-11-21T09:04:00Z', { overrideReason: { code: 'patient-refused', display: 'Patient refused' } }),
      fb('c6', 'overridden', '2026-11-21T09:05:00Z'),
      fb('c7', 'accepted', '2026-12-01T00:00:00Z', { acceptedSuggestions: ['alt-kyphoplasty'] }), // after the window
    ]);
  }, OPEN_TIMEOUT_MS);
  afterAll(async () => {
    await db?.close();
    await backend?.cleanup();
  });

  it('summarizes cards, feedback and decisions for the window', async () => {
    const report = await reportData(db, { from: '2026-11-20T00:00:00Z', to: new Date('2026-11-23T00:00:00Z') });
    expect(report).toEqual({
      cardsShownPerDay: [{ day: '2026-11-20', cards: 4 }, { day: '2026-11-21', cards: 0 }, { day: '2026-11-22', cards: 2 }],
      feedbackOutcomes: { accepted: 2, overridden: 4 },
      overrideReasons: [
        { code: 'already-performed', display: 'Already done', count: 2 },
        { code: 'patient-refused', display: 'Patient refused', count: 1 },
        { code: null, display: null, count: 1 },
      ],
      alternativesChosen: [{ suggestion: 'alt-kyphoplasty', count: 2 }, { suggestion: 'alt-conservative', count: 1 }],
      decisionsByCode: [
        { system: CPT, code: '0200T', covered: 'conditional', count: 2 },
        { system: CPT, code: '0200T', covered: 'not-covered', count: 1 },
        { system: CPT, code: '0201T', covered: 'not-covered', count: 1 },
        { system: null, code: null, covered: 'indeterminate', count: 1 },
      ],
    });
  });

  it('is empty for a window with no activity', async () => {
    expect(await reportData(db, { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z' })).toEqual({
      cardsShownPerDay: [], feedbackOutcomes: { accepted: 0, overridden: 0 }, overrideReasons: [], alternativesChosen: [], decisionsByCode: [],
    });
  });
});
