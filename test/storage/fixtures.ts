/** Direct inserts for retention and report tests: rows as the stores would write them, at chosen times. */
import type { Database } from '../../src/storage/database';
import { writeAudit } from '../../src/storage/audit';
import type { AuditRecord } from '../../src/storage/audit';
import { writeAssertions } from '../../src/storage/assertion-store';
import type { AssertionRow } from '../../src/storage/assertion-store';

export const CPT = 'http://www.ama-assn.org/go/cpt';

export function auditRow(at: string, cardsByType: Record<string, number>, extra: Partial<AuditRecord> = {}): AuditRecord {
  return { at, serviceId: 'svc', hook: 'order-sign', hookInstance: `hi-${at}`, status: 200, latencyMs: 10, cardsByType, decisionIds: [], ...extra };
}

export function assertionRow(id: string, decidedAt: string, covered: string, codes: string[]): AssertionRow {
  return {
    assertionId: id, decidedAt, plan: 'VIP Care', policy: 'http://payer.example/PlanDefinition/p|1', serviceId: 'svc', hookInstance: 'hi',
    orderReference: 'ServiceRequest/sr1', orderCodes: codes.map((code) => ({ system: CPT, code })), covered, paNeeded: null, reasonCode: null, reasonText: null, memberHash: null,
  };
}

export async function insertAudit(db: Database, rows: AuditRecord[]): Promise<void> {
  await db.transaction((tx) => writeAudit(tx, rows));
}

export async function insertAssertions(db: Database, rows: AssertionRow[]): Promise<void> {
  await db.transaction((tx) => writeAssertions(tx, rows));
}
