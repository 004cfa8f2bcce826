/**
 * Summaries of R4B Evidence resources for card text and the details app, computed from each Evidence's own
 * structured data (README "Evidence conventions"), not from any one policy's vocabulary:
 * - the measured variables (`variableDefinition`, role measuredVariable) name, with extension `evidence-measure`
 *   (a Coding), the statistic categories their figures are reported under, in the order to summarise them, and
 *   with the Coding's display as the words to use ("pain (VAS)", "Oswestry Disability Index");
 * - the exposure's `evidence-group` extension names the arm whose figures are summarised (other arms compare);
 * - each statistic's `evidence-timepoint` extension says when it was measured (0 = before), and its
 *   `evidence-group` which arm or subgroup it describes; `sampleSize` gives the study size.
 * A change of figure or wording in the knowledge changes the card; nothing here knows a measure by name.
 */
import { EXT_EVIDENCE_GROUP, EXT_EVIDENCE_MEASURE, EXT_EVIDENCE_TIMEPOINT } from '../fhir/constants';

interface Quantity { value?: number; unit?: string; code?: string; comparator?: string }
interface Coding { system?: string; code?: string; display?: string }
interface Concept { coding?: Coding[]; text?: string }
interface Statistic {
  description?: string;
  attributeEstimate?: Array<{ type?: Concept; quantity?: Quantity }>;
  category?: Concept;
  quantity?: Quantity;
  sampleSize?: { numberOfStudies?: number; numberOfParticipants?: number };
  extension?: Array<{ url: string; valueQuantity?: Quantity; valueString?: string }>;
}
interface VariableDefinition {
  description?: string;
  variableRole?: Concept;
  extension?: Array<{ url: string; valueCoding?: Coding; valueString?: string }>;
}
/** The parts of an R4B Evidence this module reads. */
export interface EvidenceLike {
  resourceType: string;
  title?: string;
  statistic?: Statistic[];
  variableDefinition?: VariableDefinition[];
  certainty?: Array<{ description?: string; rating?: Concept }>;
  relatedArtifact?: Array<{ type?: string; url?: string; display?: string }>;
  studyType?: Concept;
  synthesisType?: Concept;
}

/** A measure the Evidence reports: the statistic category and the words it is written with. */
export interface Measure {
  system?: string;
  code: string;
  label: string;
}

const HOURS: Record<string, number> = { h: 1, d: 24, wk: 168, mo: 730, a: 8766 };
/** NCI thesaurus code of the p-value attribute estimate (statistic attributeEstimate type). */
const P_VALUE = 'C44185';

const group = (s: Statistic): string | undefined => s.extension?.find((e) => e.url === EXT_EVIDENCE_GROUP)?.valueString;
const timepoint = (s: Statistic): Quantity | undefined => s.extension?.find((e) => e.url === EXT_EVIDENCE_TIMEPOINT)?.valueQuantity;
const hoursOf = (q: Quantity | undefined): number => (q?.value ?? 0) * (HOURS[q?.code ?? 'h'] ?? 1);
const num = (n: number | undefined): string => (n === undefined ? '?' : n.toLocaleString('en-US', { maximumFractionDigits: 3 }));
const role = (v: VariableDefinition): string | undefined => v.variableRole?.coding?.find((c) => c.code)?.code;
const isMeasure = (s: Statistic, m: Measure): boolean => (s.category?.coding ?? []).some((c) => c.code === m.code && (m.system === undefined || c.system === m.system));

/** "Chandra 2019" from "Chandra 2019: systematic review …". */
export function studyLabel(e: EvidenceLike): string {
  return (e.title ?? 'Study').split(':')[0]?.trim() ?? 'Study';
}

/** The measures the Evidence's measured variables declare, in order. */
export function measuresOf(e: EvidenceLike): Measure[] {
  const out: Measure[] = [];
  for (const v of e.variableDefinition ?? []) {
    if (role(v) !== 'measuredVariable') continue;
    for (const ext of v.extension ?? []) {
      const c = ext.url === EXT_EVIDENCE_MEASURE ? ext.valueCoding : undefined;
      if (c?.code) out.push({ ...(c.system ? { system: c.system } : {}), code: c.code, label: c.display ?? c.code });
    }
  }
  return out;
}

/** The arm the exposure names (its `evidence-group`), when the study compares arms. */
function exposureGroup(e: EvidenceLike): string | undefined {
  const exposure = (e.variableDefinition ?? []).find((v) => role(v) === 'exposure');
  return exposure?.extension?.find((x) => x.url === EXT_EVIDENCE_GROUP)?.valueString;
}

/** " at 12 mo", " at 1 year", "" when the time is not given. */
function timeText(q: Quantity | undefined): string {
  if (!q?.value) return '';
  const plural = { h: 'h', d: 'days', wk: 'weeks', mo: 'mo', a: 'years' }[q.code ?? ''];
  const unit = (q.value === 1 ? plural?.replace(/s$/, '') : plural) ?? q.unit ?? '';
  return ` at ${num(q.value)} ${unit}`;
}

/** A value with its unit: "0.3%", "4.1 days", "8.32". */
function withUnit(q: Quantity | undefined): string {
  const unit = q?.unit;
  if (!unit) return num(q?.value);
  return unit === '%' ? `${num(q?.value)}%` : `${num(q?.value)} ${unit}`;
}

/** "P < 0.0001" from a statistic's p-value attribute estimate. */
function pValue(s: Statistic): string | undefined {
  const q = s.attributeEstimate?.find((a) => a.type?.coding?.some((c) => c.code === P_VALUE))?.quantity;
  return q?.value === undefined ? undefined : `P ${q.comparator ?? '='} ${String(q.value)}`;
}

/**
 * The statistics of one measure for the arm summarised: the exposure's group, or figures with no group, or else
 * the first group that reports the measure (a subgroup analysis).
 */
function armStatistics(e: EvidenceLike, m: Measure): { stats: Statistic[]; group?: string } {
  const all = (e.statistic ?? []).filter((s) => isMeasure(s, m));
  const arm = exposureGroup(e);
  const ofArm = all.filter((s) => group(s) === undefined || (arm !== undefined && group(s) === arm));
  if (ofArm.length > 0) return { stats: ofArm, ...(arm && ofArm.some((s) => group(s) === arm) ? { group: arm } : {}) };
  const first = all.map(group).find((g) => g !== undefined);
  return first === undefined ? { stats: [] } : { stats: all.filter((s) => group(s) === first), group: first };
}

/** One point of a measure's series over time; `hours` undefined when the follow-up time is not reported. */
export interface SeriesPoint {
  hours: number | undefined;
  value: number;
  label: string;
  /** "12 mo", when the time is reported. */
  when?: string;
}

function seriesOf(stats: Statistic[]): SeriesPoint[] {
  return stats.filter((s) => s.quantity?.value !== undefined).map((s, i) => {
    const t = timepoint(s);
    // The first figure without a time is the baseline; later ones without a time have an unreported follow-up.
    const hours = t ? hoursOf(t) : i === 0 ? 0 : undefined;
    const point: SeriesPoint = { hours, value: s.quantity?.value ?? 0, label: s.description ?? '' };
    if (t?.value) point.when = timeText(t).replace(/^ at /, '');
    return point;
  }).sort((a, b) => (a.hours ?? Infinity) - (b.hours ?? Infinity));
}

/** What the study reports for one measure, in words: a before → after series, one figure, or a significance. */
export function measureText(e: EvidenceLike, m: Measure): string | undefined {
  const { stats, group: g } = armStatistics(e, m);
  const arm = g ? ` (${g})` : '';
  const valued = stats.filter((s) => s.quantity?.value !== undefined);
  const timed = valued.filter((s) => timepoint(s) !== undefined);
  if (valued.length >= 2 && timed.length >= 1) {
    const points = seriesOf(valued);
    const before = points[0];
    const after = points[points.length - 1];
    const afterStat = valued.find((s) => s.quantity?.value === after?.value && (timepoint(s) ? hoursOf(timepoint(s)) : undefined) === after?.hours) ?? valued[valued.length - 1];
    if (before && after) return `${m.label} ${num(before.value)} → ${withUnit({ ...afterStat?.quantity, value: after.value })}${timeText(afterStat ? timepoint(afterStat) : undefined)}${arm}`;
  }
  const one = valued[0];
  if (one) return one.quantity?.value === 0 ? `no ${m.label}${arm}` : `${m.label} ${withUnit(one.quantity)}${arm}`;
  const significant = stats.find((s) => pValue(s));
  return significant ? `${m.label} (${pValue(significant) ?? ''}${timeText(timepoint(significant))})${arm}` : undefined;
}

function sizeText(stats: Statistic[]): string | undefined {
  const total = stats.find((s) => s.sampleSize && !group(s)) ?? stats.find((s) => s.sampleSize);
  const studies = total?.sampleSize?.numberOfStudies;
  const people = total?.sampleSize?.numberOfParticipants;
  const studyText = studies && studies > 1 ? `${num(studies)} studies` : undefined;
  const peopleText = people !== undefined ? `${num(people)} patients` : undefined;
  return [studyText, peopleText].filter(Boolean).join(', ') || undefined;
}

/** Every measure the study reports, in its declared order, as words. */
function measureTexts(e: EvidenceLike): string[] {
  return measuresOf(e).map((m) => measureText(e, m)).filter((t): t is string => t !== undefined);
}

/** Measures in a study's one-line summary: the first two it declares (the headline outcome and, usually, safety). */
const HEADLINE_MEASURES = 2;

/** "Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.923 points at 12 mo; major complications 0.3%". */
export function summariseEvidence(e: EvidenceLike): string {
  const size = sizeText(e.statistic ?? []);
  const findings = measureTexts(e).slice(0, HEADLINE_MEASURES).join('; ');
  return `${studyLabel(e)}${size ? ` (${size})` : ''}${findings ? `: ${findings}` : ''}`;
}

/** The certainty the evidence is rated at, when all studies agree ("low"); else "mixed". */
export function overallCertainty(evidence: EvidenceLike[]): string | undefined {
  const ratings = new Set(evidence.map((e) => e.certainty?.[0]?.rating?.coding?.[0]?.code).filter((c): c is string => !!c));
  if (ratings.size === 0) return undefined;
  return ratings.size === 1 ? [...ratings][0] : 'mixed';
}

/** The first study's own words on the certainty of its evidence (e.g. "case series of highly selected patients"). */
export function certaintyDescription(evidence: EvidenceLike[]): string | undefined {
  return evidence.map((e) => e.certainty?.[0]?.description).find((d): d is string => !!d);
}

/** A Markdown bullet list, one line per study. */
export function evidenceBullets(evidence: EvidenceLike[]): string {
  return evidence.map((e) => `- ${summariseEvidence(e)}`).join('\n');
}

/** A measure's series over time for the arm summarised (the app's chart). */
export function measureSeries(e: EvidenceLike, m: Measure): { group?: string; points: SeriesPoint[] } {
  const { stats, group: g } = armStatistics(e, m);
  const points = seriesOf(stats);
  return g ? { group: g, points } : { points };
}

/**
 * The measure the studies most often report over time (at least two points): what the app charts. Its label and
 * unit come from the knowledge.
 */
export function chartedMeasure(evidence: EvidenceLike[]): { measure: Measure; unit?: string } | undefined {
  const counts = new Map<string, { measure: Measure; studies: number; unit?: string }>();
  for (const e of evidence) {
    for (const m of measuresOf(e)) {
      if (measureSeries(e, m).points.length < 2 || !armStatistics(e, m).stats.some((s) => timepoint(s))) continue;
      const key = `${m.system ?? ''}|${m.code}`;
      const entry = counts.get(key) ?? { measure: m, studies: 0 };
      entry.studies++;
      const unit = armStatistics(e, m).stats.find((s) => s.quantity?.unit)?.quantity?.unit;
      if (unit) entry.unit = unit;
      counts.set(key, entry);
    }
  }
  const best = [...counts.values()].sort((a, b) => b.studies - a.studies)[0];
  return best ? { measure: best.measure, ...(best.unit ? { unit: best.unit } : {}) } : undefined;
}

/** A row of the app's evidence table, from the same structured statistics the cards use. */
export interface EvidenceRow {
  study: string;
  title: string;
  design: string;
  participants: string;
  outcomes: string[];
  followUp: string;
  url?: string;
}

const conceptText = (c: Concept | undefined): string | undefined => c?.coding?.[0]?.display ?? c?.text ?? c?.coding?.[0]?.code;

/** The table row for one Evidence. */
export function evidenceRow(e: EvidenceLike): EvidenceRow {
  const stats = e.statistic ?? [];
  const longest = stats.map(timepoint).filter((t): t is Quantity => !!t?.value).sort((a, b) => hoursOf(b) - hoursOf(a))[0];
  // The study type's own text says it best ("Systematic review and meta-analysis of 18 case series and 1 cohort
  // study"); the code displays are generic.
  const design = e.studyType?.text ?? conceptText(e.studyType) ?? conceptText(e.synthesisType) ?? '';
  const url = e.relatedArtifact?.find((a) => a.url)?.url;
  return {
    study: studyLabel(e),
    title: e.title ?? studyLabel(e),
    design: design || 'not stated',
    participants: sizeText(stats) ?? 'not reported',
    outcomes: measureTexts(e),
    followUp: longest ? `up to ${timeText(longest).replace(/^ at /, '')}` : 'not reported',
    ...(url ? { url } : {}),
  };
}
