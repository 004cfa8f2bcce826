import type { Coding, Reference } from 'fhir/r4';
import type { AssertionStore, StoredAssertion } from '../cds/assertion-store';
import type { Database, Queryable } from './database';
import { toIso } from './database';
import { memberHasher, memberSubject } from './member-hash';
import { ROWS_PER_RECORDSET, chunkRows, recordset } from './sql-values';
import type { TableWriter, WriteQueue } from './write-queue';

/** A coverage_assertions row as written. */
export interface AssertionRow {
  assertionId: string;
  decidedAt: string;
  plan: string | null;
  policy: string;
  serviceId: string;
  hookInstance: string;
  orderReference: string;
  orderCodes: Coding[];
  covered: string;
  paNeeded: string | null;
  reasonCode: string | null;
  reasonText: string | null;
  memberHash: string | null;
}

/**
 * A StoredAssertion read back. The Coverage reference itself is not kept, so `coverage` is empty; the member is
 * `memberHash` (keyed hash of the reference), and `plan` is the payer name recorded with the decision.
 */
export type PersistedAssertion = StoredAssertion & { plan?: string; memberHash?: string };

export interface SqlAssertionStoreOptions {
  db: Pick<Database, 'query'>;
  queue: Pick<WriteQueue, 'submit'>;
  /** Secret for the member hash (≥ 16 bytes); keep it stable, or hashes stop matching across restarts. */
  memberHashKey: string | Buffer;
  /** The plan a decision was made for (the payer's display name or the policy publisher). */
  planOf?: (assertion: StoredAssertion) => string | undefined;
}

const COLUMNS = ['assertion_id', 'decided_at', 'plan', 'policy', 'service_id', 'hook_instance', 'order_reference', 'order_codes', 'covered', 'pa_needed', 'reason_code', 'reason_text', 'member_hash'];
const CASTS = ['text', 'timestamptz', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text', 'text', 'text', 'text', 'text'];

/** Only the coding's identity goes in: system, code, display (no extensions an EHR might have attached). */
function codingOf(c: Coding): Coding {
  return { ...(c.system ? { system: c.system } : {}), ...(c.code ? { code: c.code } : {}), ...(c.display ? { display: c.display } : {}) };
}

function fromRow(row: AssertionRow): PersistedAssertion {
  const a: PersistedAssertion = {
    assertionId: row.assertionId,
    orderReference: row.orderReference,
    coverage: {},
    covered: row.covered,
    billingCodes: row.orderCodes,
    policy: row.policy,
    serviceId: row.serviceId,
    hookInstance: row.hookInstance,
    decidedAt: row.decidedAt,
  };
  if (row.paNeeded !== null) a.paNeeded = row.paNeeded;
  if (row.reasonText !== null) a.reasonText = row.reasonText;
  if (row.reasonCode !== null) a.reasonCode = row.reasonCode;
  if (row.plan !== null) a.plan = row.plan;
  if (row.memberHash !== null) a.memberHash = row.memberHash;
  return a;
}

/**
 * Coverage assertions in the database. `save` resolves only once the rows are committed (group commit through the
 * write queue), so the caller hands the ids to the EHR after they are durable: claims and appeals quote them
 * months later (CRD coverage-assertion-id; issue 13). It rejects — with nothing kept — when storage cannot commit
 * in time (StorageUnavailableError) or the call carries too many decisions (StorageTooLargeError).
 */
export class SqlAssertionStore implements AssertionStore {
  private readonly hash: ReturnType<typeof memberHasher>;
  private readonly writer: TableWriter<AssertionRow> = { table: 'coverage_assertions', write: (tx, rows) => writeAssertions(tx, rows) };

  constructor(private readonly options: SqlAssertionStoreOptions) {
    this.hash = memberHasher(options.memberHashKey);
  }

  save(assertions: StoredAssertion[]): Promise<void> {
    // One call decides every order under the same Coverage(s): each member is hashed once per call, not once per
    // order (the HMAC was 2–3 % of an order-sign's CPU with six orders). Per call only: no member reference is
    // kept in memory beyond it.
    const hashes = new Map<string, string | undefined>();
    const hashOf = (coverage: Reference): string | undefined => {
      const subject = memberSubject(coverage);
      if (subject === undefined) return undefined;
      if (!hashes.has(subject)) hashes.set(subject, this.hash(coverage));
      return hashes.get(subject);
    };
    return this.options.queue.submit(this.writer, assertions.map((a) => this.toRow(a, hashOf)));
  }

  async get(assertionId: string): Promise<PersistedAssertion | undefined> {
    const { rows } = await this.options.db.query<Record<string, unknown>>(`SELECT ${COLUMNS.join(', ')} FROM coverage_assertions WHERE assertion_id = $1::text`, [assertionId]);
    const r = rows[0];
    if (!r) return undefined;
    return fromRow({
      assertionId: String(r['assertion_id']),
      decidedAt: toIso(r['decided_at']),
      plan: (r['plan'] as string | null) ?? null,
      policy: String(r['policy']),
      serviceId: String(r['service_id']),
      hookInstance: String(r['hook_instance']),
      orderReference: String(r['order_reference']),
      orderCodes: (r['order_codes'] as Coding[] | null) ?? [],
      covered: String(r['covered']),
      paNeeded: (r['pa_needed'] as string | null) ?? null,
      reasonCode: (r['reason_code'] as string | null) ?? null,
      reasonText: (r['reason_text'] as string | null) ?? null,
      memberHash: (r['member_hash'] as string | null) ?? null,
    });
  }

  private toRow(a: StoredAssertion, hashOf: (coverage: Reference) => string | undefined): AssertionRow {
    return {
      assertionId: a.assertionId,
      decidedAt: toIso(a.decidedAt),
      plan: this.options.planOf?.(a) ?? null,
      policy: a.policy,
      serviceId: a.serviceId,
      hookInstance: a.hookInstance,
      orderReference: a.orderReference,
      orderCodes: a.billingCodes.map(codingOf),
      covered: a.covered,
      paNeeded: a.paNeeded ?? null,
      reasonCode: a.reasonCode ?? null,
      reasonText: a.reasonText ?? null,
      memberHash: hashOf(a.coverage) ?? null,
    };
  }
}

/**
 * One INSERT per chunk. An assertion id already present is skipped: ids are unique per decision, so a repeat is
 * the same decision written again after a commit whose acknowledgement was lost.
 */
export async function writeAssertions(tx: Queryable, rows: AssertionRow[]): Promise<void> {
  for (const chunk of chunkRows(rows, 1, ROWS_PER_RECORDSET)) {
    const records = recordset(chunk.map((r) => [r.assertionId, r.decidedAt, r.plan, r.policy, r.serviceId, r.hookInstance, r.orderReference, r.orderCodes, r.covered, r.paNeeded, r.reasonCode, r.reasonText, r.memberHash]), COLUMNS, CASTS);
    await tx.query(`INSERT INTO coverage_assertions (${COLUMNS.join(', ')}) ${records.sql} ON CONFLICT (assertion_id) DO NOTHING`, records.params);
  }
}
