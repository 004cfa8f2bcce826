import type { Reference } from 'fhir/r4';
import type { CoverageOutcome } from '../engine/coverage-information';
import type { ResolvedData } from './prefetch';

/** How this plan recognises its own Coverage.payor entries: `system|value` identifiers and `Organization/x` references. */
export interface PayerIdentity {
  identifiers: ReadonlySet<string>;
  references: ReadonlySet<string>;
}

interface PayorRef { reference?: unknown; identifier?: { system?: unknown; value?: unknown } }
interface CoverageLike { resourceType: string; id?: unknown; status?: unknown; payor?: PayorRef[] }

/** Parses PAYER_IDENTIFIERS ("system|value,Organization/abc"). */
export function parsePayerIdentity(list: string[]): PayerIdentity {
  const identifiers = new Set<string>();
  const references = new Set<string>();
  for (const item of list.map((s) => s.trim()).filter(Boolean)) (item.includes('|') ? identifiers : references).add(item);
  return { identifiers, references };
}

/** Whose Coverage this is: ours, another payer's, or unknown (payor named only by display text). */
function payerOf(coverage: CoverageLike, us: PayerIdentity): 'ours' | 'other' | 'unknown' {
  if (us.identifiers.size === 0 && us.references.size === 0) return 'ours';
  let identified = false;
  for (const p of Array.isArray(coverage.payor) ? coverage.payor : []) {
    const ref = typeof p?.reference === 'string' ? p.reference : undefined;
    const id = p?.identifier && typeof p.identifier.system === 'string' && typeof p.identifier.value === 'string' ? `${p.identifier.system}|${p.identifier.value}` : undefined;
    if ((ref && us.references.has(ref)) || (id && us.identifiers.has(id))) return 'ours';
    if (ref || id) identified = true;
  }
  return identified ? 'other' : 'unknown';
}

function coveragesIn(resource: Record<string, unknown> & { resourceType: string }): CoverageLike[] {
  if (resource.resourceType === 'Coverage') return [resource];
  if (resource.resourceType !== 'Bundle') return [];
  const entries = Array.isArray(resource['entry']) ? (resource['entry'] as Array<{ resource?: CoverageLike }>) : [];
  return entries.map((e) => e?.resource).filter((r): r is CoverageLike => !!r && r.resourceType === 'Coverage');
}

/**
 * Decides whose member the patient is (CRD 2.x "Errors and missing data"): the plan's active Coverages decide;
 * a patient the EHR says does not exist → no-member-found; no Coverage → coverage-not-found; only inactive ones →
 * no-active-coverage; data that could not be read → technical; only other payers' Coverages → no decision at all.
 * A Coverage whose payor is named only in display text is taken as ours: the EHR chose to ask this plan.
 */
export function coverageOutcome(patient: ResolvedData | undefined, coverage: ResolvedData, us: PayerIdentity): CoverageOutcome {
  if (patient?.status === 'absent') return { kind: 'no-member-found', text: 'The EHR reports no record of this patient; no member found for this plan.' };
  if (coverage.status === 'failed') return { kind: 'technical', text: `Coverage could not be determined: ${coverage.reason}.` };
  const all = coverage.status === 'ok' ? coveragesIn(coverage.resource) : [];
  if (all.length === 0) return { kind: 'coverage-not-found', text: 'No coverage for this patient was found for this plan.' };
  const active = all.filter((c) => c.status === undefined || c.status === 'active');
  if (active.length === 0) return { kind: 'no-active-coverage', text: 'The patient has no active coverage with this plan.' };
  const ours = active.filter((c) => payerOf(c, us) !== 'other');
  if (ours.length === 0) return { kind: 'other-payer' };
  const coverages: Reference[] = ours.map((c) => (typeof c.id === 'string' ? { reference: `Coverage/${c.id}` } : { display: 'Coverage without an id' }));
  return { kind: 'member', coverages };
}
