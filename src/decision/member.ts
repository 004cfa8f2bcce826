import type { CoverageOutcome } from '../engine/coverage-information';
import type { PayerIdentity } from '../knowledge/payer';
import { WorkLimitError } from './limits';

/** A piece of the member's data as the call could get it: the resource, "no data", or why it could not be had. */
export type MemberData =
  | { status: 'ok'; resource: Record<string, unknown> & { resourceType: string } }
  | { status: 'absent' }
  | { status: 'failed'; reason: string };

/** Where the member's data comes from: the hook's prefetch, else the EHR's FHIR server (cds/ provides it). */
export interface MemberDataSource {
  patient(): Promise<MemberData | undefined>;
  coverage(): Promise<MemberData>;
  /** Reads a resource the data names (a Coverage's payor Organization), from prefetch Bundles or the EHR. */
  read(reference: string): Promise<MemberData>;
}

/**
 * The member's Coverage names only payers this endpoint does not handle (CRD 2.2 hooks.md hook-13: "the server
 * SHALL return a 400 error and SHOULD provide an OperationOutcome").
 */
export class OtherPayerError extends Error {
  constructor(readonly payers: string[]) {
    super(`The patient's active coverage is with another payer (${payers.join(', ')}); this endpoint decides for its own members only (CRD hook-13).`);
    this.name = 'OtherPayerError';
  }
}

interface PayorRef { reference?: unknown; identifier?: { system?: unknown; value?: unknown }; display?: unknown }
type Resource = Record<string, unknown> & { resourceType: string };

/** How one Coverage's payor is identified: ours, another payer's (by an identifier in a payer-id system), or not. */
type Whose = { whose: 'ours' } | { whose: 'other'; name: string } | { whose: 'unidentified' };

function identifierOf(id: { system?: unknown; value?: unknown } | undefined): string | undefined {
  return id && typeof id.system === 'string' && typeof id.value === 'string' ? `${id.system}|${id.value}` : undefined;
}

/**
 * A payor identifier says "another payer" only in a system this payer is itself identified in (its NAIC code, its
 * payer id): an NPI or a local id names an organization, not which payer it is, so it proves nothing either way.
 */
function judge(identifiers: string[], us: PayerIdentity, name: string): Whose | undefined {
  if (identifiers.some((i) => us.identifiers.has(i))) return { whose: 'ours' };
  const ourSystems = new Set([...us.identifiers].map((i) => i.slice(0, i.lastIndexOf('|'))));
  const foreign = identifiers.find((i) => ourSystems.has(i.slice(0, i.lastIndexOf('|'))));
  return foreign ? { whose: 'other', name: name || foreign } : undefined;
}

/** The payor Organization a reference names, from the coverage Bundle (`_include`), `contained`, or the EHR. */
async function payorOrganization(ref: string, coverage: Resource, bundle: Resource | undefined, source: MemberDataSource): Promise<MemberData> {
  if (ref.startsWith('#')) {
    const found = (Array.isArray(coverage['contained']) ? coverage['contained'] as Resource[] : []).find((r) => `#${String(r['id'])}` === ref);
    return found ? { status: 'ok', resource: found } : { status: 'absent' };
  }
  const included = (Array.isArray(bundle?.['entry']) ? (bundle?.['entry'] as Array<{ resource?: Resource }>) : [])
    .map((e) => e?.resource).find((r) => r && `${r.resourceType}/${String(r['id'])}` === ref);
  if (included) return { status: 'ok', resource: included };
  return source.read(ref);
}

async function whoseCoverage(coverage: Resource, bundle: Resource | undefined, us: PayerIdentity, source: MemberDataSource): Promise<Whose | { failed: string }> {
  const payors = Array.isArray(coverage['payor']) ? (coverage['payor'] as PayorRef[]) : [];
  let other: Whose | undefined;
  for (const p of payors) {
    const reference = typeof p?.reference === 'string' ? p.reference : undefined;
    if (reference && us.references.has(reference)) return { whose: 'ours' };
    const name = typeof p?.display === 'string' ? p.display : reference ?? '';
    const direct = identifierOf(p?.identifier);
    let verdict = direct ? judge([direct], us, name) : undefined;
    if (!verdict && reference && /^(Organization\/[A-Za-z0-9\-.]{1,64}|#[A-Za-z0-9\-.]{1,64})$/.test(reference)) {
      // A payor given only as a reference: read the Organization to learn which payer it is (the CRD test kit's
      // Coverage does this; its Organization is on the EHR, not in prefetch). A read that fails is a technical
      // failure of the call (CRD resp-43): the coverage cannot be attributed.
      const org = await payorOrganization(reference, coverage, bundle, source);
      if (org.status === 'failed') return { failed: org.reason };
      if (org.status === 'ok') {
        const ids = (Array.isArray(org.resource['identifier']) ? org.resource['identifier'] as Array<{ system?: unknown; value?: unknown }> : []).map(identifierOf).filter((i): i is string => !!i);
        verdict = judge(ids, us, typeof org.resource['name'] === 'string' ? org.resource['name'] : name);
      }
    }
    if (verdict?.whose === 'ours') return verdict;
    other ??= verdict;
  }
  return other ?? { whose: 'unidentified' };
}

function coveragesIn(resource: Resource): Resource[] {
  if (resource.resourceType === 'Coverage') return [resource];
  if (resource.resourceType !== 'Bundle') return [];
  const entries = Array.isArray(resource['entry']) ? (resource['entry'] as Array<{ resource?: Resource }>) : [];
  return entries.map((e) => e?.resource).filter((r): r is Resource => !!r && r.resourceType === 'Coverage');
}

/**
 * Whose member the patient is, and under which of this payer's Coverages it decides (CRD 2.2 "errors and missing
 * data", resp-43..45; hook-13):
 * - the EHR says the patient does not exist → no-member-found; no Coverage → coverage-not-found; only inactive
 *   ones → no-active-coverage; data that could not be read → technical (not-covered / indeterminate, HTTP 200);
 * - active Coverages identified as this payer's decide; when none is, Coverages whose payor is not identified
 *   (named only in text, or by an identifier that does not say which payer) are taken as this payer's — the EHR
 *   chose to ask it; only other payers' Coverages → OtherPayerError (HTTP 400, hook-13);
 * - more than `maxCoverages` active Coverages → WorkLimitError (HTTP 422): none is attributed or decided.
 */
export async function memberCoverage(us: PayerIdentity, source: MemberDataSource, maxCoverages = Number.POSITIVE_INFINITY): Promise<CoverageOutcome> {
  const patient = await source.patient();
  if (patient?.status === 'absent') return { kind: 'no-member-found', text: 'The EHR reports no record of this patient; no member found for this plan.' };
  const coverage = await source.coverage();
  if (coverage.status === 'failed') return { kind: 'technical', text: `Coverage could not be determined: ${coverage.reason}.` };
  const all = coverage.status === 'ok' ? coveragesIn(coverage.resource) : [];
  if (all.length === 0) return { kind: 'coverage-not-found', text: 'No coverage for this patient was found for this plan.' };
  const active = all.filter((c) => c['status'] === undefined || c['status'] === 'active');
  if (active.length === 0) return { kind: 'no-active-coverage', text: 'The patient has no active coverage with this plan.' };
  // Each active Coverage is attributed (perhaps by reading its payor) and decided under: bounded before any of it.
  if (active.length > maxCoverages) {
    throw new WorkLimitError(422, `The call carries ${active.length} active Coverages for the patient; this service considers at most ${maxCoverages} per call (MAX_COVERAGES_PER_CALL). Send the patient's own active coverage.`, ['prefetch.coverage']);
  }
  const bundle = coverage.status === 'ok' && coverage.resource.resourceType === 'Bundle' ? coverage.resource : undefined;
  const ours: Resource[] = [];
  const unidentified: Resource[] = [];
  const others: string[] = [];
  for (const c of active) {
    const verdict = await whoseCoverage(c, bundle, us, source);
    if ('failed' in verdict) return { kind: 'technical', text: `The coverage's payer could not be determined: ${verdict.failed}.` };
    if (verdict.whose === 'ours') ours.push(c);
    else if (verdict.whose === 'other') others.push(verdict.name);
    else unidentified.push(c);
  }
  const decideUnder = ours.length > 0 ? ours : unidentified;
  if (decideUnder.length === 0) throw new OtherPayerError(others);
  return {
    kind: 'member',
    coverages: decideUnder.map((c) => ({ reference: typeof c['id'] === 'string' ? { reference: `Coverage/${c['id']}` } : { display: 'Coverage without an id' }, resource: c })),
  };
}
