import type { FeedbackRecord, FeedbackStore } from '../cds/feedback-store';
import type { Database } from './database';
import { sqlState, toIso } from './database';
import { chunkRows, valuesList } from './sql-values';

const COLUMNS = ['received_at', 'service_id', 'card', 'outcome', 'accepted_suggestions', 'override_system', 'override_code', 'override_display', 'user_comment', 'outcome_timestamp'];
const CASTS = ['timestamptz', 'text', 'text', 'text', 'text[]', 'text', 'text', 'text', 'text', 'timestamptz'];

export interface SqlFeedbackStoreOptions {
  db: Pick<Database, 'query'>;
  /** list() returns at most this many of the most recent items (default 10,000, like the memory store). */
  listLimit?: number;
}

/** The uniqueness key of the feedback table, as a sortable string. */
function keyOf(r: FeedbackRecord): string {
  const t = Date.parse(r.outcomeTimestamp);
  return [r.serviceId, r.card, r.outcome, Number.isNaN(t) ? r.outcomeTimestamp : new Date(t).toISOString(), r.overrideReason?.code ?? ''].join('\u0000');
}

/**
 * Feedback written straight to the database (the endpoint answers after it is stored, so a client whose POST
 * failed retries it). A retried item is the same item: the unique key and ON CONFLICT DO NOTHING keep one copy.
 */
export class SqlFeedbackStore implements FeedbackStore {
  constructor(private readonly options: SqlFeedbackStoreOptions) {}

  async add(records: FeedbackRecord[]): Promise<void> {
    // Rows in key order: concurrent inserts then take their unique-index locks in the same order and cannot
    // deadlock one another (two POSTs of the same items in different orders would otherwise).
    const sorted = records.map((r) => ({ key: keyOf(r), r })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((x) => x.r);
    for (const chunk of chunkRows(sorted, COLUMNS.length)) {
      const values = valuesList(chunk.map((r) => [
        r.receivedAt, r.serviceId, r.card, r.outcome, r.acceptedSuggestions,
        r.overrideReason?.system ?? null, r.overrideReason?.code ?? null, r.overrideReason?.display ?? null,
        r.userComment ?? null, r.outcomeTimestamp,
      ]), CASTS);
      await this.insertWithRetry(`INSERT INTO feedback (${COLUMNS.join(', ')}) VALUES ${values.sql} ON CONFLICT DO NOTHING`, values.params);
    }
  }

  async list(): Promise<FeedbackRecord[]> {
    const { rows } = await this.options.db.query<Record<string, unknown>>(
      `SELECT ${COLUMNS.join(', ')} FROM feedback ORDER BY received_at DESC, id DESC LIMIT $1::int`,
      [this.options.listLimit ?? 10_000],
    );
    return rows.reverse().map(fromRow);
  }

  /** Serialization failures and deadlocks are the database asking for a retry; do so a few times. */
  private async insertWithRetry(sql: string, params: unknown[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.db.query(sql, params);
        return;
      } catch (err) {
        const code = sqlState(err);
        if (attempt >= 3 || (code !== '40001' && code !== '40P01')) throw err;
      }
    }
  }
}

function fromRow(row: Record<string, unknown>): FeedbackRecord {
  const record: FeedbackRecord = {
    serviceId: String(row['service_id']),
    card: String(row['card']),
    outcome: row['outcome'] as FeedbackRecord['outcome'],
    acceptedSuggestions: (row['accepted_suggestions'] as string[] | null) ?? [],
    outcomeTimestamp: toIso(row['outcome_timestamp']),
    receivedAt: toIso(row['received_at']),
  };
  const system = row['override_system'] as string | null;
  const code = row['override_code'] as string | null;
  const display = row['override_display'] as string | null;
  if (system !== null || code !== null || display !== null) {
    record.overrideReason = { ...(system !== null ? { system } : {}), ...(code !== null ? { code } : {}), ...(display !== null ? { display } : {}) };
  }
  const comment = row['user_comment'] as string | null;
  if (comment !== null) record.userComment = comment;
  return record;
}
