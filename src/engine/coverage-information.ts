import type { Coding, Extension, Reference } from 'fhir/r4';
import { COVERAGE_INFORMATION_URL, CRD_TEMP_SYSTEM } from '../fhir/constants';

/**
 * What the service knows about the member's coverage with this plan when it decides (CRD 2.x "Errors and missing
 * data"): a decision under one or more of the plan's Coverages, or one of the CRD outcomes that are not errors.
 */
export type CoverageOutcome =
  | { kind: 'member'; coverages: Reference[] }
  | { kind: 'no-member-found' | 'coverage-not-found' | 'no-active-coverage'; text: string }
  | { kind: 'technical'; text: string }
  | { kind: 'other-payer' };

/** The CRD sub-extension order of ext-coverage-information, so output reads like the IG's examples. */
const ORDER = ['coverage', 'covered', 'pa-needed', 'doc-needed', 'doc-purpose', 'info-needed', 'billingCode', 'reason', 'detail', 'date', 'coverage-assertion-id'];
const rank = (url: string): number => {
  const i = ORDER.indexOf(url);
  return i < 0 ? ORDER.length : i;
};

/** One decision as the service records it: what a claim or appeal later quotes by `assertionId`. */
export interface CoverageDecision {
  assertionId: string;
  orderReference: string;
  coverage: Reference;
  covered: string;
  reasonText?: string;
  reasonCode?: string;
  billingCodes: Coding[];
}

export interface CoverageInformationInput {
  template: Extension | undefined;
  outcome: Exclude<CoverageOutcome, { kind: 'other-payer' }>;
  billingCodes: Coding[];
  date: string;
  orderReference: string;
  newId: () => string;
}

/**
 * Builds the ext-coverage-information extensions for one order: one per Coverage, each with exactly one
 * coverage-assertion-id. When the member's coverage is known the PlanDefinition's template decides (covered,
 * reason …); otherwise CRD's non-error outcomes apply: not-covered with no-member-found / coverage-not-found, or
 * indeterminate with reason `technical` when the EHR's data could not be read.
 */
export function buildCoverageInformation(input: CoverageInformationInput): { extensions: Extension[]; decisions: CoverageDecision[] } {
  const extensions: Extension[] = [];
  const decisions: CoverageDecision[] = [];
  const billing = input.billingCodes.map((c): Extension => ({ url: 'billingCode', valueCoding: c }));
  const make = (coverage: Reference, subs: Extension[]): void => {
    const assertionId = input.newId();
    const all = [{ url: 'coverage', valueReference: coverage }, ...subs, ...billing,
      { url: 'date', valueDate: input.date }, { url: 'coverage-assertion-id', valueString: assertionId }];
    all.sort((a, b) => rank(a.url) - rank(b.url));
    extensions.push({ url: COVERAGE_INFORMATION_URL, extension: all });
    const covered = subs.find((s) => s.url === 'covered')?.valueCode ?? 'indeterminate';
    const reason = subs.find((s) => s.url === 'reason')?.valueCodeableConcept;
    const decision: CoverageDecision = { assertionId, orderReference: input.orderReference, coverage, covered, billingCodes: input.billingCodes };
    if (reason?.text) decision.reasonText = reason.text;
    const code = reason?.coding?.[0]?.code;
    if (code) decision.reasonCode = code;
    decisions.push(decision);
  };

  const outcome = input.outcome;
  if (outcome.kind === 'member') {
    const subs = (input.template?.extension ?? []).filter((e) => !['coverage', 'date', 'coverage-assertion-id', 'billingCode'].includes(e.url));
    for (const coverage of outcome.coverages) make(coverage, subs.map((s) => ({ ...s })));
  } else {
    const covered = outcome.kind === 'technical' ? 'indeterminate' : 'not-covered';
    // No Coverage to point at: a display-only Reference keeps coverage 1..1 without inventing an id.
    make({ display: outcome.text }, [
      { url: 'covered', valueCode: covered },
      { url: 'reason', valueCodeableConcept: { coding: [{ system: CRD_TEMP_SYSTEM, code: outcome.kind }], text: outcome.text } },
    ]);
  }
  return { extensions, decisions };
}
