/**
 * The cards draw on the R4B Evidence: the warning card cites the lead study's figures and the evidence's certainty,
 * the policy reference card lists one line per study and links each Evidence's web address. The figures come from
 * the Evidence statistics, so changing a number in the knowledge changes the cards. Also: summariseEvidence on
 * hand-made Evidence, and the policy's review-date warning.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Card, HookResponse } from '../src/cds/types';
import { evidenceRow, summariseEvidence } from '../src/engine/evidence-summary';
import type { EvidenceLike } from '../src/engine/evidence-summary';
import { loadKnowledge } from '../src/knowledge/knowledge-base';
import type { KnowledgeBase } from '../src/knowledge/knowledge-base';
import { KNOWLEDGE_DIR, NOW, SERVICES_DIR, SIGN, hookRequest, sacroplasty, testApp } from './helpers';

type Json = Record<string, unknown>;

const EVIDENCE_DIR = join(KNOWLEDGE_DIR, 'ccp-1247', 'evidence');
const REFERENCE_SUMMARY = 'VIP Care policy CCP.1247: why sacroplasty is not covered, with the evidence';
const MEASURE_SYSTEM = 'https://knowledge.vipcare.example/fhir/CodeSystem/ccp-1247-evidence-measure';
const EXT_TIMEPOINT = 'http://payer-cds.example.org/fhir/StructureDefinition/evidence-timepoint';
const EXT_GROUP = 'http://payer-cds.example.org/fhir/StructureDefinition/evidence-group';
const EXT_MEASURE = 'http://payer-cds.example.org/fhir/StructureDefinition/evidence-measure';

/** The six studies in the order the PlanDefinition lists them, with the web address each Evidence links. */
const STUDIES: Array<[id: string, url: string]> = [
  ['chandra-2019', 'https://doi.org/10.1016/j.jvir.2019.06.013'],
  ['mahmood-2019', 'https://doi.org/10.21037/jss.2019.06.05'],
  ['kortman-2013', 'https://doi.org/10.1136/neurintsurg-2012-010347'],
  ['frey-2017', 'https://www.painphysicianjournal.com/current/pdf?article=NDcxMw%3D%3D&journal=108'],
  ['tarawneh-2020', 'https://doi.org/10.1007/s00586-020-06562-w'],
  ['briggs-2023', 'https://doi.org/10.7759/cureus.41745'],
];

const BULLETS = [
  '- Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.923 points at 12 mo; major complications 0.3%',
  '- Mahmood 2019 (31 studies, 1,155 patients): mean VAS reduction 5.8 points',
  '- Kortman 2013 (243 patients): pain (VAS) 9.2 → 1.9 points (painful sacral insufficiency fractures); no major complications',
  '- Frey 2017 (244 patients): reduction in pain (P < 0.0001 at 2 years)',
  '- Tarawneh 2020 (7 studies, 107 patients): pain (VAS) 8.38 → 3.01 points; cement leakage 25.4%',
  '- Briggs 2023 (35 studies): mean VAS reduction 5.83 points (sacroplasty); cement leakage 3.3% (sacroplasty)',
];

const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json;
const evidenceTitle = (id: string): string => String(readJson(join(EVIDENCE_DIR, `Evidence-ccp-1247-${id}.json`))['title']);

async function signCards(knowledge?: KnowledgeBase): Promise<{ warning: Card; reference: Card }> {
  const { app } = testApp(knowledge ? { knowledge } : {});
  const res = await request(app).post(SIGN).send(hookRequest('order-sign', [sacroplasty()]));
  expect(res.status).toBe(200);
  const { cards } = res.body as HookResponse;
  const warning = cards.find((c) => c.indicator === 'warning');
  const reference = cards.find((c) => c.summary === REFERENCE_SUMMARY);
  if (!warning || !reference) throw new Error(`expected a warning and a policy reference card, got: ${cards.map((c) => c.summary).join(' | ')}`);
  return { warning, reference };
}

const bulletsOf = (detail: string | undefined): string[] => (detail ?? '').split('\n').filter((l) => l.startsWith('- '));

describe('the cards draw on the Evidence', () => {
  it('the warning card gives the number of studies, their certainty and the lead study\'s figures', async () => {
    const { warning } = await signCards();
    expect(warning.detail).toContain('**Evidence in brief:** 6 studies, rated low certainty');
    expect(warning.detail).toContain('(e.g. Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.923 points at 12 mo; major complications 0.3%)');
  });

  it('the policy reference card lists one line per study, computed from its statistics', async () => {
    const { reference } = await signCards();
    expect(bulletsOf(reference.detail)).toEqual(BULLETS);
    expect(reference.detail).toBe('Policy **CCP.1247** (AmeriHealth Caritas VIP Care) applies to **Percutaneous sacral augmentation \\(sacroplasty\\), unilateral injection\\(s\\)** (ServiceRequest/sr1): '
      + 'percutaneous sacroplasty is investigational and not medically necessary. Last reviewed 7/2025; next review 11/2026.\n\n**The evidence the policy weighs** (certainty: low):\n'
      + BULLETS.join('\n'));
  });

  it('the policy reference card links the policy page and each Evidence\'s web address, labelled with its title', async () => {
    const { reference } = await signCards();
    expect(reference.links).toEqual([
      { label: 'Clinical policy CCP.1247: summary, evidence and references', url: 'https://payer.example/policies/ccp-1247', type: 'absolute' },
      ...STUDIES.map(([id, url]) => ({ label: evidenceTitle(id), url, type: 'absolute' })),
    ]);
    expect(evidenceTitle('chandra-2019')).toBe('Chandra 2019: systematic review and meta-analysis of sacroplasty for sacral fractures');
  });

  describe('when a figure in the Evidence changes', () => {
    let dir: string;
    let knowledge: KnowledgeBase;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'evidence-cards-'));
      cpSync(KNOWLEDGE_DIR, join(dir, 'fhir-resources'), { recursive: true });
      cpSync(SERVICES_DIR, join(dir, 'cds-services'), { recursive: true });
      const file = join(dir, 'fhir-resources', 'ccp-1247', 'evidence', 'Evidence-ccp-1247-chandra-2019.json');
      const evidence = readJson(file);
      type Stat = { category?: { coding?: Array<{ code?: string }> }; extension?: Array<{ url: string; valueQuantity?: { value?: number; code?: string } }>; quantity?: { value?: number } };
      const twelveMonths = (evidence['statistic'] as Stat[]).filter((s) => s.category?.coding?.[0]?.code === 'pain-vas'
        && s.extension?.some((e) => e.url === EXT_TIMEPOINT && e.valueQuantity?.value === 12 && e.valueQuantity.code === 'mo'));
      expect(twelveMonths).toHaveLength(1);
      expect(twelveMonths[0]!.quantity!.value).toBe(0.923);
      twelveMonths[0]!.quantity!.value = 0.5;
      writeFileSync(file, JSON.stringify(evidence, null, 2));
      knowledge = loadKnowledge({ knowledgeDir: join(dir, 'fhir-resources'), servicesDir: join(dir, 'cds-services'), now: NOW });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('the warning card gives the new figure', async () => {
      const { warning } = await signCards(knowledge);
      expect(warning.detail).toContain('Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.5 points at 12 mo');
      expect(warning.detail).not.toContain('0.923');
    });

    it('the policy reference card gives the new figure and leaves the other studies alone', async () => {
      const { reference } = await signCards(knowledge);
      expect(bulletsOf(reference.detail)).toEqual([
        '- Chandra 2019 (19 studies, 861 patients): pain (VAS) 8.32 → 0.5 points at 12 mo; major complications 0.3%',
        ...BULLETS.slice(1),
      ]);
    });
  });
});

/** A statistic of the given measure, as the knowledge writes them. */
function stat(measure: string, value: number | undefined, options: {
  at?: [number, string]; group?: string; unit?: string; studies?: number; participants?: number; p?: [string, number];
} = {}): Json {
  const extension: Json[] = [];
  if (options.at) extension.push({ url: EXT_TIMEPOINT, valueQuantity: { value: options.at[0], system: 'http://unitsofmeasure.org', code: options.at[1] } });
  if (options.group) extension.push({ url: EXT_GROUP, valueString: options.group });
  return {
    ...(extension.length > 0 ? { extension } : {}),
    category: { coding: [{ system: MEASURE_SYSTEM, code: measure }] },
    ...(value !== undefined ? { quantity: { value, ...(options.unit ? { unit: options.unit } : {}) } } : {}),
    ...(options.studies !== undefined || options.participants !== undefined
      ? { sampleSize: { ...(options.studies !== undefined ? { numberOfStudies: options.studies } : {}), ...(options.participants !== undefined ? { numberOfParticipants: options.participants } : {}) } }
      : {}),
    ...(options.p ? {
      attributeEstimate: [{
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/attribute-estimate-type', code: 'C44185', display: 'P-value' }] },
        quantity: { comparator: options.p[0], value: options.p[1] },
      }],
    } : {}),
  };
}

/** A measured variable declaring the measures (statistic categories) it is reported as, with the words for each. */
const measured = (...measures: Array<[code: string, label: string]>): Json => ({
  extension: measures.map(([code, display]) => ({ url: EXT_MEASURE, valueCoding: { system: MEASURE_SYSTEM, code, display } })),
  description: 'measured variable',
  variableRole: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/variable-role', code: 'measuredVariable' }] },
});
const exposure = (group: string): Json => ({
  extension: [{ url: EXT_GROUP, valueString: group }],
  description: 'the intervention',
  variableRole: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/variable-role', code: 'exposure' }] },
});
const PAIN = measured(['pain-vas', 'pain (VAS)']);
const evidence = (statistic: Json[], variables: Json[] = [PAIN], title = 'Doe 2024: a hand-made study'): EvidenceLike =>
  ({ resourceType: 'Evidence', title, statistic, variableDefinition: variables });

describe('summariseEvidence: from the Evidence\'s own measured variables and statistics', () => {
  it('gives a measure at baseline and at the latest follow-up, ordering time points given in different units', () => {
    const e = evidence([
      stat('participant-count', 50, { participants: 50 }),
      stat('pain-vas', 1.5, { at: [2, 'a'] }),
      stat('pain-vas', 8, { at: [0, 'h'] }),
      stat('pain-vas', 3, { at: [400, 'd'] }),
      stat('pain-vas', 2.5, { at: [18, 'mo'] }),
      stat('pain-vas', 4, { at: [3, 'wk'] }),
    ]);
    expect(summariseEvidence(e)).toBe('Doe 2024 (50 patients): pain (VAS) 8 → 1.5 at 2 years');
  });

  it.each([
    [36, 'h', 'at 36 h'],
    [10, 'd', 'at 10 days'],
    [6, 'wk', 'at 6 weeks'],
    [12, 'mo', 'at 12 mo'],
    [1, 'a', 'at 1 year'],
    [1, 'd', 'at 1 day'],
    [1, 'wk', 'at 1 week'],
    [1, 'mo', 'at 1 mo'],
  ])('names a follow-up of %d %s "%s"', (value, unit, text) => {
    const e = evidence([stat('pain-vas', 7, { at: [0, 'h'] }), stat('pain-vas', 2, { at: [value, unit] })]);
    expect(summariseEvidence(e)).toBe(`Doe 2024: pain (VAS) 7 → 2 ${text}`);
  });

  it('gives the unit of the figures, gluing a percentage', () => {
    const e = evidence([stat('pain-vas', 7, { at: [0, 'h'], unit: 'points' }), stat('pain-vas', 2, { at: [6, 'mo'], unit: 'points' }), stat('leak', 4.5, { unit: '%' })],
      [PAIN, measured(['leak', 'cement leakage'])]);
    expect(summariseEvidence(e)).toBe('Doe 2024: pain (VAS) 7 → 2 points at 6 mo; cement leakage 4.5%');
  });

  it('with no exposure arm and only subgroups, follows the first subgroup and names it', () => {
    const e = evidence([
      stat('pain-vas', 9, { at: [0, 'h'], group: 'osteoporosis' }),
      stat('pain-vas', 7, { at: [0, 'h'], group: 'malignancy' }),
      stat('pain-vas', 1, { at: [24, 'mo'], group: 'malignancy' }),
      stat('pain-vas', 2, { at: [12, 'mo'], group: 'osteoporosis' }),
    ]);
    expect(summariseEvidence(e)).toBe('Doe 2024: pain (VAS) 9 → 2 at 12 mo (osteoporosis)');
  });

  it('in a comparison, summarises the exposure\'s arm (its evidence-group), not the comparator', () => {
    const e = evidence([stat('odi', 20, { group: 'conservative care' }), stat('odi', 31, { group: 'injection' })],
      [exposure('injection'), measured(['odi', 'ODI improvement'])]);
    expect(summariseEvidence(e)).toBe('Doe 2024: ODI improvement 31 (injection)');
  });

  it('says "no <measure>" when the figure is zero', () => {
    expect(summariseEvidence(evidence([stat('major-complication', 0, { unit: '%' })], [measured(['major-complication', 'major complications'])]))).toBe('Doe 2024: no major complications');
  });

  it('gives the significance, with the P-value and time, when a measure is reported only as significant', () => {
    const e = evidence([stat('participant-count', 244, { participants: 244 }), stat('pain-vas-reduction', undefined, { at: [2, 'a'], p: ['<', 0.0001] })], [measured(['pain-vas-reduction', 'reduction in pain'])]);
    expect(summariseEvidence(e)).toBe('Doe 2024 (244 patients): reduction in pain (P < 0.0001 at 2 years)');
  });

  it('the one-line summary holds the first two measures declared; the app\'s outcomes hold them all, in order', () => {
    const e = evidence([stat('a', 1), stat('b', 2), stat('c', 3)], [measured(['a', 'first'], ['b', 'second']), measured(['c', 'third'])]);
    expect(summariseEvidence(e)).toBe('Doe 2024: first 1; second 2');
    expect(evidenceRow(e).outcomes).toEqual(['first 1', 'second 2', 'third 3']);
  });

  it('a statistic whose measure no measured variable declares is not summarised', () => {
    expect(summariseEvidence(evidence([stat('pain-vas', 5), stat('undeclared', 9)]))).toBe('Doe 2024: pain (VAS) 5');
  });

  it('words a measure the way the knowledge declares it: no vocabulary in the code', () => {
    const e = evidence([stat('odi', 48, { at: [0, 'h'], unit: 'points' }), stat('odi', 22, { at: [12, 'mo'], unit: 'points' })], [measured(['odi', 'Oswestry Disability Index'])]);
    expect(summariseEvidence(e)).toBe('Doe 2024: Oswestry Disability Index 48 → 22 points at 12 mo');
  });

  it('gives a single study\'s patients without "1 studies"', () => {
    const summary = summariseEvidence(evidence([stat('participant-count', 40, { studies: 1, participants: 40 })]));
    expect(summary).toBe('Doe 2024 (40 patients)');
    expect(summary).not.toContain('1 studies');
  });

  it('gives studies and patients of a review, with thousands separators', () => {
    expect(summariseEvidence(evidence([stat('participant-count', 1155, { studies: 31, participants: 1155 })]))).toBe('Doe 2024 (31 studies, 1,155 patients)');
  });

  it('counts the whole population, not a subgroup', () => {
    const e = evidence([stat('participant-count', 30, { group: 'malignancy', participants: 30 }), stat('participant-count', 120, { participants: 120 })]);
    expect(summariseEvidence(e)).toBe('Doe 2024 (120 patients)');
  });

  it('labels the study by the part of the title before the colon', () => {
    expect(summariseEvidence(evidence([], [], 'Smith 2021'))).toBe('Smith 2021');
    expect(summariseEvidence(evidence([], [], 'Smith 2021: a study in 12 patients'))).toBe('Smith 2021');
  });

  it('the app\'s follow-up is the longest time point any figure was measured at', () => {
    const e = evidence([stat('pain-vas', 7, { at: [0, 'h'] }), stat('pain-vas', 2, { at: [6, 'mo'] }), stat('follow-up', 2, { at: [2, 'a'] })]);
    expect(evidenceRow(e).followUp).toBe('up to 2 years');
  });
});

describe('the policy review date', () => {
  const load = (now: string): string[] => loadKnowledge({ knowledgeDir: KNOWLEDGE_DIR, servicesDir: SERVICES_DIR, now: new Date(now) }).warnings.map((w) => w.message);

  it('warns from 1 December 2026 that the review due 11/2026 is overdue', () => {
    const warnings = load('2026-12-01T00:00:00.000Z');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('PlanDefinition/ccp-1247');
    expect(warnings[0]).toContain('11/2026');
  });

  it('does not warn during November 2026, when the review is due', () => {
    expect(load('2026-11-30T23:59:59.999Z')).toEqual([]);
    expect(load('2026-11-01T00:00:00.000Z')).toEqual([]);
  });
});
