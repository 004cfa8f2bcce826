import type { Coding, Extension, Reference } from 'fhir/r4';
import { COVERAGE_INFORMATION_URL, CRD_TEMP_SYSTEM } from '../fhir/constants';

/**
 * What the service knows about the member's coverage when it decides (CRD 2.2 cards.md resp-43..45): a decision
 * under each of the payer's Coverages, or one of the CRD outcomes that are not errors.
 */
export type CoverageOutcome =
  | { kind: 'member'; coverages: Array<{ reference: Reference; resource: Record<string, unknown> }> }
  | { kind: 'no-member-found' | 'coverage-not-found' | 'no-active-coverage'; text: string }
  | { kind: 'technical'; text: string };

/** The CRD sub-extension order of ext-coverage-information, so output reads like the IG's examples. */
const ORDER = ['coverage', 'covered', 'pa-needed', 'doc-needed', 'doc-purpose', 'info-needed', 'billingCode', 'reason', 'detail', 'dependency', 'questionnaire', 'date', 'coverage-assertion-id', 'satisfied-pa-id', 'contact', 'expiry-date'];
const rank = (url: string): number => {
  const i = ORDER.indexOf(url);
  return i < 0 ? ORDER.length : i;
};
/** Sub-extensions the service fills per decision; a template's own values for them are ignored. */
const PER_DECISION = new Set(['coverage', 'date', 'coverage-assertion-id', 'billingCode']);

/** One decision as the service records it: what a claim or appeal later quotes by `assertionId`. */
export interface CoverageDecision {
  assertionId: string;
  orderReference: string;
  coverage: Reference;
  covered: string;
  /** CRD pa-needed, when the decision states it (no-auth, auth-needed …). */
  paNeeded?: string;
  reasonText?: string;
  reasonCode?: string;
  billingCodes: Coding[];
}

export interface CoverageExtensionInput {
  /** The policy's template (`covered`, `pa-needed`, `reason` …); used when the member's coverage is known. */
  template: Extension | undefined;
  /** The Coverage decided under, or the CRD outcome when there is none to decide under. */
  target: { coverage: Reference } | Exclude<CoverageOutcome, { kind: 'member' }>;
  billingCodes: Coding[];
  date: string;
  assertionId: string;
  /** Turns a knowledge link in a `detail` value (`/policies/x`) into an absolute URL. */
  resolveUrl: (url: string) => string;
}

/** A template sub-extension as this decision states it: a copy, with relative URLs made absolute. */
function fromTemplate(sub: Extension, resolveUrl: (url: string) => string): Extension {
  const copy = structuredClone(sub);
  for (const inner of copy.extension ?? []) if (inner.valueUrl) inner.valueUrl = resolveUrl(inner.valueUrl);
  if (copy.valueUrl) copy.valueUrl = resolveUrl(copy.valueUrl);
  return copy;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The template's sub-extensions as decisions state them, resolved once per template and base URL and shared by every
 * decision made under them (they used to be cloned per order and Coverage). Frozen: an answer or a stored decision
 * that tried to change a shared copy would throw, not leak into the next call. Bases are few (CDS_PUBLIC_URL or a
 * trusted Host); past MAX_BASES_PER_TEMPLATE a template is resolved per call instead of cached.
 */
const MAX_BASES_PER_TEMPLATE = 16;
const resolvedTemplates = new WeakMap<Extension, Map<string, readonly Extension[]>>();

function templateSubs(template: Extension | undefined, resolveUrl: (url: string) => string): readonly Extension[] {
  const extensions = template?.extension;
  if (!template || !extensions) return [];
  // What relative links resolve against, read through the resolver itself (it is a function of the base only).
  const base = resolveUrl('/');
  let byBase = resolvedTemplates.get(template);
  if (!byBase) resolvedTemplates.set(template, (byBase = new Map<string, readonly Extension[]>()));
  const cached = byBase.get(base);
  if (cached) return cached;
  const subs = deepFreeze(extensions.filter((e) => !PER_DECISION.has(e.url)).map((s) => fromTemplate(s, resolveUrl)));
  if (byBase.size < MAX_BASES_PER_TEMPLATE) byBase.set(base, subs);
  return subs;
}

/**
 * Builds one ext-coverage-information extension (CRD 2.2 StructureDefinition-ext-coverage-information) for one order
 * and one coverage, with exactly one coverage-assertion-id. When the member's coverage is known the policy's
 * template decides (covered, pa-needed, reason …); otherwise CRD's non-error outcomes apply: not-covered with
 * no-member-found / coverage-not-found / no-active-coverage, or indeterminate with reason `technical` when the EHR's
 * data could not be read.
 */
export function buildCoverageExtension(input: CoverageExtensionInput): { extension: Extension; decision: Omit<CoverageDecision, 'orderReference'> } {
  const { target } = input;
  let coverage: Reference;
  let subs: readonly Extension[];
  if ('coverage' in target) {
    coverage = target.coverage;
    subs = templateSubs(input.template, input.resolveUrl);
  } else {
    // No Coverage to point at: a display-only Reference keeps coverage 1..1 without inventing an id.
    coverage = { display: target.text };
    subs = [
      { url: 'covered', valueCode: target.kind === 'technical' ? 'indeterminate' : 'not-covered' },
      { url: 'reason', valueCodeableConcept: { coding: [{ system: CRD_TEMP_SYSTEM, code: target.kind }], text: target.text } },
    ];
  }
  const all: Extension[] = [
    { url: 'coverage', valueReference: coverage }, ...subs,
    ...input.billingCodes.map((c): Extension => ({ url: 'billingCode', valueCoding: c })),
    { url: 'date', valueDate: input.date }, { url: 'coverage-assertion-id', valueString: input.assertionId },
  ];
  all.sort((a, b) => rank(a.url) - rank(b.url));
  const covered = subs.find((s) => s.url === 'covered')?.valueCode ?? 'indeterminate';
  const reason = subs.find((s) => s.url === 'reason')?.valueCodeableConcept;
  const decision: Omit<CoverageDecision, 'orderReference'> = { assertionId: input.assertionId, coverage, covered, billingCodes: input.billingCodes };
  const paNeeded = subs.find((s) => s.url === 'pa-needed')?.valueCode;
  if (paNeeded) decision.paNeeded = paNeeded;
  if (reason?.text) decision.reasonText = reason.text;
  const code = reason?.coding?.[0]?.code;
  if (code) decision.reasonCode = code;
  return { extension: { url: COVERAGE_INFORMATION_URL, extension: all }, decision };
}

/**
 * Whether an extension already on the order states the same decision for the same coverage as `fresh` (CRD 2.2
 * resp-35: no system action unless something is new or changed). The date and the assertion id are the record of
 * when it was said, not what was said, so they are not compared.
 */
export function sameDecision(existing: Extension, fresh: Extension): boolean {
  const meaning = (e: Extension): string => (Array.isArray(e.extension) ? e.extension : [])
    .filter((s) => s?.url !== 'date' && s?.url !== 'coverage-assertion-id').map(canonicalJson).sort().join('\n');
  return existing?.url === COVERAGE_INFORMATION_URL && meaning(existing) === meaning(fresh);
}

/** JSON with object keys sorted at every level: equal for equal content, whatever order the keys came in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
