/**
 * One-line summaries of R4B Evidence resources for card text, computed from their structured statistics (not from
 * prose), so a changed figure in the knowledge changes the card. Reads the measure codes and the
 * `evidence-timepoint` / `evidence-group` statistic extensions documented in README "Evidence".
 */
import { EXT_EVIDENCE_GROUP, EXT_EVIDENCE_TIMEPOINT } from '../fhir/constants';

interface Quantity { value?: number; unit?: string; code?: string; comparator?: string }
interface Statistic {
  description?: string;
  attributeEstimate?: Array<{ type?: { coding?: Array<{ code?: string }> }; quantity?: Quantity }>;
  category?: { coding?: Array<{ code?: string }> };
  quantity?: Quantity;
  sampleSize?: { numberOfStudies?: number; numberOfParticipants?: number };
  extension?: Array<{ url: string; valueQuantity?: Quantity; valueString?: string }>;
}
/** The parts of an R4B Evidence this module reads. */
export interface EvidenceLike {
  resourceType: string;
  title?: string;
  statistic?: Statistic[];
  certainty?: Array<{ rating?: { coding?: Array<{ code?: string; display?: string }> } }>;
  relatedArtifact?: Array<{ type?: string; url?: string; display?: string }>;
}

const HOURS: Record<string, number> = { h: 1, d: 24, wk: 168, mo: 730, a: 8766 };

const measure = (s: Statistic): string | undefined => s.category?.coding?.[0]?.code;
const group = (s: Statistic): string | undefined => s.extension?.find((e) => e.url === EXT_EVIDENCE_GROUP)?.valueString;
const timepoint = (s: Statistic): Quantity | undefined => s.extension?.find((e) => e.url === EXT_EVIDENCE_TIMEPOINT)?.valueQuantity;
const hoursOf = (q: Quantity | undefined): number => (q?.value ?? 0) * (HOURS[q?.code ?? 'h'] ?? 1);
const num = (n: number | undefined): string => (n === undefined ? '?' : n.toLocaleString('en-US', { maximumFractionDigits: 3 }));

/** "Chandra 2019" from "Chandra 2019: systematic review …". */
export function studyLabel(e: EvidenceLike): string {
  return (e.title ?? 'Study').split(':')[0]?.trim() ?? 'Study';
}

function timeText(q: Quantity | undefined): string {
  if (!q?.value) return '';
  const plural = { h: 'h', d: 'days', wk: 'weeks', mo: 'mo', a: 'years' }[q.code ?? ''];
  // "at 1 year", not "at 1 years".
  const unit = (q.value === 1 ? plural?.replace(/s$/, '') : plural) ?? q.unit ?? '';
  return ` at ${num(q.value)} ${unit}`;
}

function painText(stats: Statistic[]): string | undefined {
  const pain = stats.filter((s) => measure(s) === 'pain-vas' && s.quantity?.value !== undefined);
  if (pain.length > 0) {
    const first = pain[0];
    const g = first ? group(first) : undefined;
    const series = pain.filter((s) => group(s) === g).sort((a, b) => hoursOf(timepoint(a)) - hoursOf(timepoint(b)));
    const before = series[0];
    const after = series[series.length - 1];
    if (before && after && before !== after) {
      return `pain (VAS) ${num(before.quantity?.value)} → ${num(after.quantity?.value)}${timeText(timepoint(after))}${g ? ` (${g})` : ''}`;
    }
  }
  const reduction = stats.find((s) => measure(s) === 'pain-vas-reduction' && s.quantity?.value !== undefined);
  if (reduction) return `mean VAS reduction ${num(reduction.quantity?.value)}${group(reduction) ? ` (${group(reduction)})` : ''}`;
  // A reduction reported only as significant: say so with its p-value (the policy gives no size).
  const significant = stats.find((s) => measure(s) === 'pain-vas-reduction' && pValue(s));
  return significant ? `pain reduced (${pValue(significant) ?? ''}${timeText(timepoint(significant))})` : undefined;
}

/** "P < 0.0001" from a statistic's P-value attribute estimate (attribute-estimate-type C44185). */
function pValue(s: Statistic): string | undefined {
  const q = s.attributeEstimate?.find((a) => a.type?.coding?.some((c) => c.code === 'C44185'))?.quantity;
  return q?.value === undefined ? undefined : `P ${q.comparator ?? '='} ${String(q.value)}`;
}

function sizeText(stats: Statistic[]): string | undefined {
  const total = stats.find((s) => measure(s) === 'participant-count' && !group(s)) ?? stats.find((s) => s.sampleSize);
  const studies = total?.sampleSize?.numberOfStudies;
  const people = total?.sampleSize?.numberOfParticipants ?? total?.quantity?.value;
  const studyText = studies && studies > 1 ? `${num(studies)} studies` : undefined;
  const peopleText = people !== undefined ? `${num(people)} patients` : undefined;
  return [studyText, peopleText].filter(Boolean).join(', ') || undefined;
}

function safetyText(stats: Statistic[]): string | undefined {
  for (const [code, label] of [['major-complication', 'major complications'], ['cement-leakage', 'cement leakage']] as const) {
    const s = stats.find((x) => measure(x) === code && x.quantity?.value !== undefined && (!group(x) || group(x) === 'sacroplasty'));
    if (s?.quantity?.value === 0) return `no ${label}`;
    if (s) return `${label} ${num(s.quantity?.value)}${s.quantity?.unit === '%' ? '%' : ''}`;
  }
  return undefined;
}

/** "Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.923 at 12 mo; major complications 0.3%". */
export function summariseEvidence(e: EvidenceLike): string {
  const stats = e.statistic ?? [];
  const size = sizeText(stats);
  const findings = [painText(stats), safetyText(stats)].filter(Boolean).join('; ');
  return `${studyLabel(e)}${size ? ` (${size})` : ''}${findings ? `: ${findings}` : ''}`;
}

/** The certainty the evidence is rated at, when all studies agree ("low"); else "mixed". */
export function overallCertainty(evidence: EvidenceLike[]): string | undefined {
  const ratings = new Set(evidence.map((e) => e.certainty?.[0]?.rating?.coding?.[0]?.code).filter((c): c is string => !!c));
  if (ratings.size === 0) return undefined;
  return ratings.size === 1 ? [...ratings][0] : 'mixed';
}

/** A Markdown bullet list, one line per study. */
export function evidenceBullets(evidence: EvidenceLike[]): string {
  return evidence.map((e) => `- ${summariseEvidence(e)}`).join('\n');
}

/** One point of a study's pain curve; `hours` is undefined when the policy gives no time for it. */
export interface PainPoint {
  hours: number | undefined;
  value: number;
  label: string;
  /** "12 mo", when the time is reported. */
  when?: string;
}

/** The pain (VAS) series of a study's first reported group, in time order (used for the app's chart). */
export function painSeries(e: EvidenceLike): { group?: string; points: PainPoint[] } {
  const pain = (e.statistic ?? []).filter((s) => measure(s) === 'pain-vas' && s.quantity?.value !== undefined);
  const first = pain[0];
  const g = first ? group(first) : undefined;
  const points = pain.filter((s) => group(s) === g).map((s, i) => {
    const t = timepoint(s);
    // The first point without a time is the baseline; later ones without a time have an unreported follow-up.
    const hours = t ? hoursOf(t) : i === 0 ? 0 : undefined;
    const point: PainPoint = { hours, value: s.quantity?.value ?? 0, label: s.description ?? '' };
    if (t?.value) point.when = timeText(t).replace(/^ at /, '');
    return point;
  }).sort((a, b) => (a.hours ?? Infinity) - (b.hours ?? Infinity));
  return g ? { group: g, points } : { points };
}

/** A row of the app's evidence table, from the same structured statistics the cards use. */
export interface EvidenceRow {
  study: string;
  title: string;
  design: string;
  participants: string;
  pain: string;
  followUp: string;
  complications: string;
  url?: string;
}

const codingText = (c: { coding?: Array<{ display?: string; code?: string }>; text?: string } | undefined): string | undefined =>
  c?.coding?.[0]?.display ?? c?.text ?? c?.coding?.[0]?.code;

/** The table row for one Evidence. */
export function evidenceRow(e: EvidenceLike & { studyType?: { coding?: Array<{ display?: string; code?: string }>; text?: string }; synthesisType?: { coding?: Array<{ display?: string; code?: string }>; text?: string } }): EvidenceRow {
  const stats = e.statistic ?? [];
  const followUps = stats.filter((s) => measure(s) === 'follow-up' && s.quantity?.value !== undefined).sort((a, b) => hoursOf(b.quantity) - hoursOf(a.quantity));
  const longest = followUps[0];
  const series = painSeries(e).points;
  const lastTimed = [...series].reverse().find((p) => p.hours !== undefined && p.hours > 0);
  const followUp = longest ? `up to ${timeText(longest.quantity).replace(/^ at /, '')}` : lastTimed?.when ?? 'not reported';
  // The study type's own text says it best ("Systematic review and meta-analysis of 18 case series and 1 cohort
  // study"); the code displays are generic (and synthesis-type's has a typo in the published code system).
  const design = e.studyType?.text ?? codingText(e.studyType) ?? codingText(e.synthesisType) ?? '';
  const url = e.relatedArtifact?.find((a) => a.url)?.url;
  return {
    study: studyLabel(e),
    title: e.title ?? studyLabel(e),
    design: design || 'not stated',
    participants: sizeText(stats) ?? 'not reported',
    pain: painText(stats) ?? 'not reported',
    followUp,
    complications: safetyText(stats) ?? 'not reported',
    ...(url ? { url } : {}),
  };
}
