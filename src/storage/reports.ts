import type { Database, Queryable } from './database';

export interface ReportWindow {
  /** Inclusive start. */
  from: Date | string;
  /** Exclusive end. */
  to: Date | string;
}

export interface ReportData {
  /** Cards returned to EHRs per UTC day (days without any hook call are absent). */
  cardsShownPerDay: Array<{ day: string; cards: number }>;
  feedbackOutcomes: { accepted: number; overridden: number };
  /** Why clinicians overrode cards; `code` null when they gave no coded reason. */
  overrideReasons: Array<{ code: string | null; display: string | null; count: number }>;
  /** Which suggestions (alternatives) were accepted, by suggestion id. */
  alternativesChosen: Array<{ suggestion: string; count: number }>;
  /** Coverage decisions by billing code and outcome; `code` null for decisions on uncoded orders. */
  decisionsByCode: Array<{ system: string | null; code: string | null; covered: string; count: number }>;
}

const iso = (d: Date | string): string => (d instanceof Date ? d : new Date(d)).toISOString();

async function cardsShownPerDay(tx: Queryable, from: string, to: string): Promise<ReportData['cardsShownPerDay']> {
  // cards_by_type holds per-type counts of each response; a call with no cards still marks its day with 0.
  const { rows } = await tx.query<{ day: string; cards: number }>(
    `SELECT to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, coalesce(sum((c.value)::int), 0)::int AS cards
       FROM invocation_audit a LEFT JOIN LATERAL jsonb_each_text(a.cards_by_type) c ON true
      WHERE a.at >= $1::timestamptz AND a.at < $2::timestamptz
      GROUP BY 1 ORDER BY 1`, [from, to]);
  return rows.map((r) => ({ day: r.day, cards: Number(r.cards) }));
}

async function feedbackOutcomes(tx: Queryable, from: string, to: string): Promise<ReportData['feedbackOutcomes']> {
  const { rows } = await tx.query<{ outcome: string; n: number }>(
    `SELECT outcome, count(*)::int AS n FROM feedback
      WHERE outcome_timestamp >= $1::timestamptz AND outcome_timestamp < $2::timestamptz GROUP BY outcome`, [from, to]);
  const count = (o: string): number => Number(rows.find((r) => r.outcome === o)?.n ?? 0);
  return { accepted: count('accepted'), overridden: count('overridden') };
}

async function overrideReasons(tx: Queryable, from: string, to: string): Promise<ReportData['overrideReasons']> {
  // Grouped by code alone: EHRs word the same reason differently; one display is shown for it.
  const { rows } = await tx.query<{ code: string | null; display: string | null; n: number }>(
    `SELECT override_code AS code, min(override_display) AS display, count(*)::int AS n FROM feedback
      WHERE outcome = 'overridden' AND outcome_timestamp >= $1::timestamptz AND outcome_timestamp < $2::timestamptz
      GROUP BY override_code ORDER BY n DESC, code NULLS LAST`, [from, to]);
  return rows.map((r) => ({ code: r.code, display: r.display, count: Number(r.n) }));
}

async function alternativesChosen(tx: Queryable, from: string, to: string): Promise<ReportData['alternativesChosen']> {
  const { rows } = await tx.query<{ suggestion: string; n: number }>(
    `SELECT s AS suggestion, count(*)::int AS n FROM feedback f CROSS JOIN LATERAL unnest(f.accepted_suggestions) AS s
      WHERE f.outcome = 'accepted' AND f.outcome_timestamp >= $1::timestamptz AND f.outcome_timestamp < $2::timestamptz
      GROUP BY s ORDER BY n DESC, s`, [from, to]);
  return rows.map((r) => ({ suggestion: r.suggestion, count: Number(r.n) }));
}

async function decisionsByCode(tx: Queryable, from: string, to: string): Promise<ReportData['decisionsByCode']> {
  const { rows } = await tx.query<{ system: string | null; code: string | null; covered: string; n: number }>(
    `SELECT c.value->>'system' AS system, c.value->>'code' AS code, a.covered, count(*)::int AS n
       FROM coverage_assertions a LEFT JOIN LATERAL jsonb_array_elements(a.order_codes) c ON true
      WHERE a.decided_at >= $1::timestamptz AND a.decided_at < $2::timestamptz
      GROUP BY 1, 2, 3 ORDER BY code NULLS LAST, system NULLS LAST, covered`, [from, to]);
  return rows.map((r) => ({ system: r.system, code: r.code, covered: r.covered, count: Number(r.n) }));
}

/**
 * What payer staff look at: cards shown, how clinicians responded, why they overrode, which alternatives they
 * took, and decisions by code — for [from, to). Feedback is windowed by when the clinician acted, decisions by when
 * they were made. All five read one snapshot, so the numbers agree with each other.
 */
export async function reportData(db: Pick<Database, 'transaction'>, window: ReportWindow): Promise<ReportData> {
  const from = iso(window.from);
  const to = iso(window.to);
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return {
      cardsShownPerDay: await cardsShownPerDay(tx, from, to),
      feedbackOutcomes: await feedbackOutcomes(tx, from, to),
      overrideReasons: await overrideReasons(tx, from, to),
      alternativesChosen: await alternativesChosen(tx, from, to),
      decisionsByCode: await decisionsByCode(tx, from, to),
    };
  });
}
