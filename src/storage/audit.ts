import type { Queryable } from './database';
import { ROWS_PER_RECORDSET, chunkRows, recordset } from './sql-values';
import type { TableWriter, WriteQueue } from './write-queue';

/**
 * One answered hook call, as the audit keeps it: who called, which service and hook instance, the HTTP status,
 * how long it took, how many cards of each type came back and which coverage assertions were issued. Never a
 * token, a request or response body, or a patient identifier.
 */
export interface AuditRecord {
  /** When the request arrived (ISO 8601). */
  at: string;
  /** The client's JWT issuer, when the call was authenticated. */
  clientIss?: string;
  serviceId: string;
  hook: string;
  hookInstance: string;
  status: number;
  latencyMs: number;
  /** Card counts by card type (e.g. { "coverage-information": 1, "documentation": 1 }). */
  cardsByType: Record<string, number>;
  decisionIds: string[];
}

export interface AuditSink {
  /**
   * Hands the record over for a call that returned nothing durable (no coverage assertion): never throws, never
   * waits. A record the queue cannot take is counted (the queue's `dropped`).
   */
  record(r: AuditRecord): void;
  /**
   * The audit row of a call that hands out coverage-assertion ids: resolves once it is committed, so the answer
   * goes out after its audit row is durable too (CRD: keep a log of every invocation and response; issue 13).
   */
  recordDurably?(r: AuditRecord): Promise<void>;
}

const COLUMNS = ['at', 'client_iss', 'service_id', 'hook', 'hook_instance', 'status', 'latency_ms', 'cards_by_type', 'decision_ids'];
const CASTS = ['timestamptz', 'text', 'text', 'text', 'text', 'int', 'real', 'jsonb', 'text[]'];

/** Only whole, non-negative counts: the reports sum these values as integers. */
function cleanCounts(counts: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, n] of Object.entries(counts)) if (Number.isInteger(n) && n >= 0) out[type] = n;
  return out;
}

export async function writeAudit(tx: Queryable, rows: AuditRecord[]): Promise<void> {
  for (const chunk of chunkRows(rows, 1, ROWS_PER_RECORDSET)) {
    const records = recordset(chunk.map((r) => [
      r.at, r.clientIss ?? null, r.serviceId, r.hook, r.hookInstance, Math.trunc(r.status),
      Number.isFinite(r.latencyMs) ? r.latencyMs : 0, cleanCounts(r.cardsByType), r.decisionIds,
    ]), COLUMNS, CASTS);
    await tx.query(`INSERT INTO invocation_audit (${COLUMNS.join(', ')}) ${records.sql}`, records.params);
  }
}

const AUDIT_WRITER: TableWriter<AuditRecord> = { table: 'invocation_audit', write: writeAudit };

const copy = (r: AuditRecord): AuditRecord => ({ ...r, cardsByType: { ...r.cardsByType }, decisionIds: [...r.decisionIds] });

/** Audit rows through the write queue: write-behind for plain calls, group-committed for calls with decisions. */
export class SqlAuditSink implements AuditSink {
  constructor(private readonly queue: Pick<WriteQueue, 'enqueue' | 'submit'>) {}

  record(r: AuditRecord): void {
    this.queue.enqueue(AUDIT_WRITER, copy(r));
  }

  recordDurably(r: AuditRecord): Promise<void> {
    return this.queue.submit(AUDIT_WRITER, [copy(r)]);
  }
}

/** The most recent records in memory, for tests and for running without a database. */
export class MemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];

  constructor(private readonly capacity = 10_000) {}

  record(r: AuditRecord): void {
    this.records.push(r);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
  }

  recordDurably(r: AuditRecord): Promise<void> {
    this.record(r);
    return Promise.resolve();
  }
}
