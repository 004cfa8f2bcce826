/**
 * Every figure in policy CCP.1247's "Evidence reviews" section (with the 2025 Briggs paragraph) is held as structured
 * data in the R4B Evidence resources under fhir-resources/ccp-1247/evidence — a number in a statistic's quantity,
 * numberAffected, sampleSize or attributeEstimate, not only in prose — and each Evidence points at its Citation.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Citation, CodeableConcept, Evidence, EvidenceStatistic, EvidenceStatisticAttributeEstimate, Quantity } from 'fhir/r4b';

const DIR = resolve(__dirname, '..', 'fhir-resources', 'ccp-1247');
const MEASURE = 'https://knowledge.vipcare.example/fhir/CodeSystem/ccp-1247-evidence-measure';
const EXT_TIMEPOINT = 'http://payer-cds.example.org/fhir/StructureDefinition/evidence-timepoint';
const EXT_GROUP = 'http://payer-cds.example.org/fhir/StructureDefinition/evidence-group';
const ATTRIBUTE_ESTIMATE_TYPE = 'http://terminology.hl7.org/CodeSystem/attribute-estimate-type';
const P_VALUE = 'C44185';
const SD = 'C53322';
const RANGE = 'C38013';
const MEASURE_CODES = [
  'study-count', 'participant-count', 'pain-vas', 'pain-vas-reduction', 'technical-success', 'clinical-success',
  'major-complication', 'cement-leakage', 'symptomatic-cement-leakage', 'reoperation', 'hospital-stay', 'death', 'follow-up',
] as const;
type Measure = (typeof MEASURE_CODES)[number];

const STUDIES = ['chandra-2019', 'mahmood-2019', 'kortman-2013', 'frey-2017', 'tarawneh-2020', 'briggs-2023'] as const;
type Study = (typeof STUDIES)[number];

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

const evidence = new Map<Study, Evidence>(
  STUDIES.map((s) => [s, readJson<Evidence>(join(DIR, 'evidence', `Evidence-ccp-1247-${s}.json`))]),
);

function ev(study: Study): Evidence {
  const e = evidence.get(study);
  if (!e) throw new Error(`no Evidence for ${study}`);
  return e;
}

/** Where in a statistic a figure sits. */
type Where =
  | 'quantity' // statistic.quantity.value
  | 'numberAffected'
  | 'numberOfStudies' // statistic.sampleSize.numberOfStudies
  | 'numberOfParticipants' // statistic.sampleSize.numberOfParticipants
  | 'pValue' // attributeEstimate[type P-value].quantity.value
  | 'sd' // attributeEstimate[type standard deviation].quantity.value
  | 'rangeLow' // attributeEstimate[type range].range.low.value
  | 'timepoint'; // the evidence-timepoint extension's valueQuantity.value

interface Figure {
  study: Study;
  what: string;
  value: number;
  where: Where;
  measure: Measure;
  /** The evidence-group extension, when the figure is about one group. */
  group?: string;
  /** UCUM code of the quantity (statistic.quantity or the timepoint), when it has one. */
  unit?: string;
  /** The evidence-timepoint extension [value, UCUM code], for pain scores at a stated time. */
  at?: [number, string];
  /** For p-values: the comparator ('<'), or null when the policy gives an exact value. */
  comparator?: '<' | null;
}

const codeOf = (cc: CodeableConcept | undefined, system: string): string | undefined =>
  cc?.coding?.find((c) => c.system === system)?.code;

const measureOf = (s: EvidenceStatistic): string | undefined => codeOf(s.category, MEASURE);
const groupOf = (s: EvidenceStatistic): string | undefined => s.extension?.find((e) => e.url === EXT_GROUP)?.valueString;
const timepointOf = (s: EvidenceStatistic): Quantity | undefined => s.extension?.find((e) => e.url === EXT_TIMEPOINT)?.valueQuantity;
const estimate = (s: EvidenceStatistic, type: string): EvidenceStatisticAttributeEstimate | undefined =>
  s.attributeEstimate?.find((a) => codeOf(a.type, ATTRIBUTE_ESTIMATE_TYPE) === type);

/** The number (and its UCUM code, comparator) that sits at `where` in a statistic, if any. */
function valueAt(s: EvidenceStatistic, where: Where): { value?: number; code?: string; comparator?: string } {
  switch (where) {
    case 'quantity':
      return { value: s.quantity?.value, code: s.quantity?.code };
    case 'numberAffected':
      return { value: s.numberAffected };
    case 'numberOfStudies':
      return { value: s.sampleSize?.numberOfStudies };
    case 'numberOfParticipants':
      return { value: s.sampleSize?.numberOfParticipants };
    case 'pValue': {
      const q = estimate(s, P_VALUE)?.quantity;
      return { value: q?.value, comparator: q?.comparator };
    }
    case 'sd':
      return { value: estimate(s, SD)?.quantity?.value };
    case 'rangeLow': {
      const low = estimate(s, RANGE)?.range?.low;
      return { value: low?.value, code: low?.code };
    }
    case 'timepoint': {
      const t = timepointOf(s);
      return { value: t?.value, code: t?.code };
    }
  }
}

/** The statistics of a study's Evidence that hold the figure as structured data (same measure, group, time point). */
function findFigure(f: Figure): EvidenceStatistic[] {
  return (ev(f.study).statistic ?? []).filter((s) => {
    if (measureOf(s) !== f.measure) return false;
    if (f.group !== undefined && groupOf(s) !== f.group) return false;
    if (f.at) {
      const t = timepointOf(s);
      if (t?.value !== f.at[0] || t.code !== f.at[1]) return false;
    }
    const got = valueAt(s, f.where);
    if (got.value !== f.value) return false;
    if (f.unit !== undefined && got.code !== f.unit) return false;
    if (f.comparator !== undefined && (got.comparator ?? null) !== f.comparator) return false;
    return true;
  });
}

const FIGURES: Figure[] = [
  // Chandra 2019 — systematic review and meta-analysis
  { study: 'chandra-2019', what: 'studies in the review', value: 19, where: 'numberOfStudies', measure: 'participant-count' },
  { study: 'chandra-2019', what: 'studies in the review (count)', value: 19, where: 'quantity', measure: 'study-count' },
  { study: 'chandra-2019', what: 'patients in the review', value: 861, where: 'numberOfParticipants', measure: 'participant-count' },
  { study: 'chandra-2019', what: 'patients with osteoporotic sacral insufficiency fractures', value: 664, where: 'quantity', measure: 'participant-count', group: 'osteoporotic sacral insufficiency fractures' },
  { study: 'chandra-2019', what: 'patients with malignancy', value: 167, where: 'quantity', measure: 'participant-count', group: 'malignancy' },
  { study: 'chandra-2019', what: 'patients with other nonspecific fractures', value: 30, where: 'quantity', measure: 'participant-count', group: 'other nonspecific fractures' },
  { study: 'chandra-2019', what: 'case series among the studies', value: 18, where: 'quantity', measure: 'study-count' },
  { study: 'chandra-2019', what: 'cohort studies among the studies', value: 1, where: 'quantity', measure: 'study-count' },
  { study: 'chandra-2019', what: 'technical success rate (%)', value: 98.9, where: 'quantity', measure: 'technical-success', unit: '%' },
  { study: 'chandra-2019', what: 'clinical success rate (%)', value: 95.7, where: 'quantity', measure: 'clinical-success', unit: '%' },
  { study: 'chandra-2019', what: 'clinical success: patients with success', value: 623, where: 'numberAffected', measure: 'clinical-success' },
  { study: 'chandra-2019', what: 'clinical success: patients assessed', value: 651, where: 'numberOfParticipants', measure: 'clinical-success' },
  { study: 'chandra-2019', what: 'major complication rate (%)', value: 0.3, where: 'quantity', measure: 'major-complication', unit: '%' },
  { study: 'chandra-2019', what: 'mean VAS before the procedure', value: 8.32, where: 'quantity', measure: 'pain-vas', at: [0, 'h'] },
  { study: 'chandra-2019', what: 'mean VAS at 24–48 hours', value: 3.55, where: 'quantity', measure: 'pain-vas', at: [36, 'h'] },
  { study: 'chandra-2019', what: 'mean VAS at 6 months', value: 1.48, where: 'quantity', measure: 'pain-vas', at: [6, 'mo'] },
  { study: 'chandra-2019', what: 'mean VAS at 12 months', value: 0.923, where: 'quantity', measure: 'pain-vas', at: [12, 'mo'] },

  // Mahmood 2019 — systematic review
  { study: 'mahmood-2019', what: 'studies in the review', value: 31, where: 'numberOfStudies', measure: 'participant-count' },
  { study: 'mahmood-2019', what: 'studies in the review (count)', value: 31, where: 'quantity', measure: 'study-count' },
  { study: 'mahmood-2019', what: 'participants in the review', value: 1155, where: 'numberOfParticipants', measure: 'participant-count' },
  { study: 'mahmood-2019', what: 'shortest follow-up (months)', value: 1, where: 'rangeLow', measure: 'follow-up', unit: 'mo' },
  { study: 'mahmood-2019', what: 'longest follow-up (months)', value: 12, where: 'quantity', measure: 'follow-up', unit: 'mo' },
  { study: 'mahmood-2019', what: 'mean VAS reduction at latest follow-up', value: 5.8, where: 'quantity', measure: 'pain-vas-reduction' },
  { study: 'mahmood-2019', what: 'studies with reoperation for persistent pain', value: 2, where: 'quantity', measure: 'reoperation' },

  // Kortman 2013 — multicenter case series
  { study: 'kortman-2013', what: 'people who underwent sacroplasty', value: 243, where: 'numberOfParticipants', measure: 'participant-count' },
  { study: 'kortman-2013', what: 'patients with painful sacral insufficiency fractures', value: 204, where: 'quantity', measure: 'participant-count', group: 'painful sacral insufficiency fractures' },
  { study: 'kortman-2013', what: 'VAS before, sacral insufficiency fractures', value: 9.2, where: 'quantity', measure: 'pain-vas', group: 'painful sacral insufficiency fractures', at: [0, 'h'] },
  { study: 'kortman-2013', what: 'VAS after, sacral insufficiency fractures', value: 1.9, where: 'quantity', measure: 'pain-vas', group: 'painful sacral insufficiency fractures' },
  { study: 'kortman-2013', what: 'P for the change, sacral insufficiency fractures', value: 0.001, where: 'pValue', measure: 'pain-vas', group: 'painful sacral insufficiency fractures', comparator: '<' },
  { study: 'kortman-2013', what: 'patients with sacral lesions', value: 39, where: 'quantity', measure: 'participant-count', group: 'sacral lesions' },
  { study: 'kortman-2013', what: 'VAS before, sacral lesions', value: 9.0, where: 'quantity', measure: 'pain-vas', group: 'sacral lesions', at: [0, 'h'] },
  { study: 'kortman-2013', what: 'VAS after, sacral lesions', value: 2.6, where: 'quantity', measure: 'pain-vas', group: 'sacral lesions' },
  { study: 'kortman-2013', what: 'P for the change, sacral lesions', value: 0.001, where: 'pValue', measure: 'pain-vas', group: 'sacral lesions', comparator: '<' },
  { study: 'kortman-2013', what: 'patients with a major complication', value: 0, where: 'numberAffected', measure: 'major-complication' },
  { study: 'kortman-2013', what: 'procedure-related deaths', value: 0, where: 'numberAffected', measure: 'death' },

  // Frey 2017 — sacroplasty vs nonsurgical treatment
  { study: 'frey-2017', what: 'people in the study', value: 244, where: 'numberOfParticipants', measure: 'participant-count' },
  { study: 'frey-2017', what: 'people treated with sacroplasty', value: 210, where: 'quantity', measure: 'participant-count', group: 'sacroplasty' },
  { study: 'frey-2017', what: 'people given nonsurgical treatment', value: 34, where: 'quantity', measure: 'participant-count', group: 'nonsurgical treatment' },
  { study: 'frey-2017', what: 'significant pain reduction up to 2 years', value: 2, where: 'timepoint', measure: 'pain-vas-reduction', unit: 'a' },
  { study: 'frey-2017', what: 'P for the pain reduction', value: 0.0001, where: 'pValue', measure: 'pain-vas-reduction', comparator: '<' },
  { study: 'frey-2017', what: 'pain follow-up up to 2 years', value: 2, where: 'quantity', measure: 'follow-up', unit: 'a' },
  { study: 'frey-2017', what: 'sacroplasty group monitored up to 10 years', value: 10, where: 'quantity', measure: 'follow-up', group: 'sacroplasty', unit: 'a' },

  // Tarawneh 2020 — systematic review and meta-analysis, sacral metastases
  { study: 'tarawneh-2020', what: 'trials in the review', value: 7, where: 'numberOfStudies', measure: 'participant-count' },
  { study: 'tarawneh-2020', what: 'trials in the review (count)', value: 7, where: 'quantity', measure: 'study-count' },
  { study: 'tarawneh-2020', what: 'patients in the review', value: 107, where: 'numberOfParticipants', measure: 'participant-count' },
  { study: 'tarawneh-2020', what: 'follow-up up to 30.5 months', value: 30.5, where: 'quantity', measure: 'follow-up', unit: 'mo' },
  { study: 'tarawneh-2020', what: 'mean VAS before treatment', value: 8.38, where: 'quantity', measure: 'pain-vas', at: [0, 'h'] },
  { study: 'tarawneh-2020', what: 'mean VAS after treatment', value: 3.01, where: 'quantity', measure: 'pain-vas' },
  { study: 'tarawneh-2020', what: 'P for the change in VAS', value: 0.001, where: 'pValue', measure: 'pain-vas', comparator: '<' },
  { study: 'tarawneh-2020', what: 'cement leakage rate (%)', value: 25.4, where: 'quantity', measure: 'cement-leakage', unit: '%' },

  // Briggs 2023 — systematic review (the 2025 update)
  { study: 'briggs-2023', what: 'studies in the review', value: 35, where: 'numberOfStudies', measure: 'participant-count' },
  { study: 'briggs-2023', what: 'studies in the review (count)', value: 35, where: 'quantity', measure: 'study-count' },
  { study: 'briggs-2023', what: 'cohort studies among the studies', value: 11, where: 'quantity', measure: 'study-count' },
  { study: 'briggs-2023', what: 'case series among the studies', value: 24, where: 'quantity', measure: 'study-count' },
  { study: 'briggs-2023', what: 'patients treated with sacroplasty', value: 901, where: 'quantity', measure: 'participant-count', group: 'sacroplasty' },
  { study: 'briggs-2023', what: 'patients with conservative management', value: 65, where: 'quantity', measure: 'participant-count', group: 'conservative management' },
  { study: 'briggs-2023', what: 'patients with surgical fixation', value: 154, where: 'quantity', measure: 'participant-count', group: 'surgical fixation' },
  { study: 'briggs-2023', what: 'mean VAS decrease, sacroplasty', value: 5.83, where: 'quantity', measure: 'pain-vas-reduction', group: 'sacroplasty' },
  { study: 'briggs-2023', what: 'SD of VAS decrease, sacroplasty', value: 1.14, where: 'sd', measure: 'pain-vas-reduction', group: 'sacroplasty' },
  { study: 'briggs-2023', what: 'mean VAS decrease, conservative management', value: 3.7, where: 'quantity', measure: 'pain-vas-reduction', group: 'conservative management' },
  { study: 'briggs-2023', what: 'SD of VAS decrease, conservative management', value: 2.71, where: 'sd', measure: 'pain-vas-reduction', group: 'conservative management' },
  { study: 'briggs-2023', what: 'P, sacroplasty vs conservative management', value: 0.0001, where: 'pValue', measure: 'pain-vas-reduction', group: 'conservative management', comparator: '<' },
  { study: 'briggs-2023', what: 'mean VAS decrease, surgical fixation', value: 4.1, where: 'quantity', measure: 'pain-vas-reduction', group: 'surgical fixation' },
  { study: 'briggs-2023', what: 'SD of VAS decrease, surgical fixation', value: 1.106, where: 'sd', measure: 'pain-vas-reduction', group: 'surgical fixation' },
  { study: 'briggs-2023', what: 'P, sacroplasty vs surgical fixation', value: 0.001, where: 'pValue', measure: 'pain-vas-reduction', group: 'surgical fixation', comparator: '<' },
  { study: 'briggs-2023', what: 'mean hospital stay with sacroplasty (days)', value: 4.1, where: 'quantity', measure: 'hospital-stay', group: 'sacroplasty', unit: 'd' },
  { study: 'briggs-2023', what: 'mean hospital stay with the comparator (days)', value: 10.3, where: 'quantity', measure: 'hospital-stay', unit: 'd' },
  { study: 'briggs-2023', what: 'P for hospital stay (exact, p = 0.0001)', value: 0.0001, where: 'pValue', measure: 'hospital-stay', comparator: null },
  { study: 'briggs-2023', what: 'cement leakage in sacroplasty cases (%)', value: 3.3, where: 'quantity', measure: 'cement-leakage', group: 'sacroplasty', unit: '%' },
  { study: 'briggs-2023', what: 'symptomatic cement leakage (%)', value: 0.4, where: 'quantity', measure: 'symptomatic-cement-leakage', group: 'sacroplasty', unit: '%' },
];

describe('CCP.1247 evidence: every figure in the policy is structured data', () => {
  it.each(FIGURES.map((f) => [`${f.study}: ${f.what} = ${f.value}`, f] as const))('%s', (_label, f) => {
    const hits = findFigure(f);
    expect(hits.length).toBeGreaterThanOrEqual(1);
  });

  it('covers all six studies', () => {
    expect(new Set(FIGURES.map((f) => f.study))).toEqual(new Set(STUDIES));
  });

  it('the finder does not match a figure that is not there', () => {
    expect(findFigure({ study: 'chandra-2019', what: 'wrong value', value: 95.8, where: 'quantity', measure: 'clinical-success' })).toHaveLength(0);
    expect(findFigure({ study: 'chandra-2019', what: 'wrong time', value: 1.48, where: 'quantity', measure: 'pain-vas', at: [12, 'mo'] })).toHaveLength(0);
    expect(findFigure({ study: 'briggs-2023', what: 'wrong group', value: 3.7, where: 'quantity', measure: 'pain-vas-reduction', group: 'sacroplasty' })).toHaveLength(0);
    expect(findFigure({ study: 'briggs-2023', what: 'wrong comparator', value: 0.0001, where: 'pValue', measure: 'hospital-stay', comparator: '<' })).toHaveLength(0);
  });
});

describe.each(STUDIES.map((s) => [s] as const))('Evidence ccp-1247-%s', (study) => {
  const e = ev(study);

  it('is an active R4B Evidence with the expected identity', () => {
    expect(e.resourceType).toBe('Evidence');
    expect(e.id).toBe(`ccp-1247-${study}`);
    expect(e.url).toBe(`https://knowledge.vipcare.example/fhir/Evidence/ccp-1247-${study}`);
    expect(e.version).toBe('2025.07');
    expect(e.status).toBe('active');
    expect(e.publisher).toBe('AmeriHealth Caritas VIP Care');
    expect(e.date).toBe('2025-07-01');
    expect(e.title).toMatch(/^[A-Z][a-z]+ \d{4}: .+/);
    expect(e.variableDefinition.some((v) => codeOf(v.variableRole, 'http://terminology.hl7.org/CodeSystem/variable-role') === 'population')).toBe(true);
  });

  it('rates the evidence low quality', () => {
    expect(e.certainty).toHaveLength(1);
    expect(codeOf(e.certainty?.[0]?.rating, 'http://terminology.hl7.org/CodeSystem/certainty-rating')).toBe('low');
  });

  it('cites the matching Citation resource', () => {
    const file = join(DIR, 'citations', `Citation-${study}.json`);
    expect(existsSync(file)).toBe(true);
    const citation = readJson<Citation>(file);
    expect(citation.resourceType).toBe('Citation');
    expect(citation.id).toBe(study);
    expect(e.citeAsReference?.reference).toBe(`Citation/${citation.id}`);
    const link = e.relatedArtifact?.find((r) => r.type === 'citation')?.url;
    expect(link).toBeDefined();
    expect(citation.citedArtifact?.webLocation?.map((w) => w.url)).toContain(link);
  });

  it('gives every statistic a description and one measure from the ccp-1247 code system', () => {
    for (const s of e.statistic ?? []) {
      expect(s.description).toBeTruthy();
      const codes = (s.category?.coding ?? []).filter((c) => c.system === MEASURE).map((c) => c.code);
      expect(codes).toHaveLength(1);
      expect(MEASURE_CODES).toContain(codes[0]);
    }
  });
});
