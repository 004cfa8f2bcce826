import { certaintyDescription, evidenceRow } from '../engine/evidence-summary';
import type { EvidenceLike } from '../engine/evidence-summary';
import { evidenceChart } from './chart';
import { h, str } from './dom';

type Json = Record<string, unknown>;
interface Coding { system?: string; code?: string; display?: string }
interface Concept { coding?: Coding[]; text?: string }

const SYSTEMS: Record<string, string> = {
  'http://www.ama-assn.org/go/cpt': 'CPT',
  'urn:oid:2.16.840.1.113883.6.12': 'CPT',
  'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets': 'HCPCS',
  'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets': 'HCPCS',
  'https://bluebutton.cms.gov/resources/codesystem/hcpcs': 'HCPCS',
  'http://www.cms.gov/Medicare/Coding/ICD10': 'ICD-10-PCS',
  'http://hl7.org/fhir/sid/icd-10-cm': 'ICD-10-CM',
  'http://snomed.info/sct': 'SNOMED CT',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'RxNorm',
};

/** "CPT 0200T, ICD-10-PCS 0QU13JZ" */
export function codesText(concept: Concept | undefined): string {
  return (concept?.coding ?? []).filter((c) => c.code).map((c) => `${SYSTEMS[c.system ?? ''] ?? c.system ?? 'code'} ${c.code ?? ''}`).join(', ');
}
export const conceptText = (c: Concept | undefined): string => c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.[0]?.code ?? '';

export function patientBanner(patient: Json): HTMLElement {
  const name = (patient['name'] as Array<{ given?: string[]; family?: string; text?: string }> | undefined)?.[0];
  const display = name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(' ');
  const birth = typeof patient['birthDate'] === 'string' ? patient['birthDate'] : undefined;
  return h('header', { class: 'banner', 'data-testid': 'patient-banner', 'aria-label': 'Patient' },
    h('strong', { class: 'patient-name' }, display || 'Unnamed patient'),
    h('span', {}, [patient['gender'], birth ? `born ${birth}` : undefined].filter(Boolean).join(' · ')));
}

/** The order; `note` says where it comes from when the EHR could not give it (an unsaved draft). */
export function orderPanel(order: Json, note?: string): HTMLElement {
  const code = order['code'] as Concept | undefined;
  const sites = (order['bodySite'] as Concept[] | undefined) ?? [];
  const reasons = (order['reasonCode'] as Concept[] | undefined) ?? [];
  return h('section', { class: 'panel', 'data-testid': 'order', 'aria-labelledby': 'order-h' },
    h('h2', { id: 'order-h' }, 'The order'),
    note && h('p', { class: 'notice', 'data-testid': 'order-note' }, note),
    h('p', { class: 'order-name' }, conceptText(code) || 'Order'),
    h('dl', {},
      h('dt', {}, 'Codes'), h('dd', {}, codesText(code) || 'local code only'),
      sites.length > 0 && h('dt', {}, 'Body site / laterality'), sites.length > 0 && h('dd', {}, sites.map(conceptText).join('; ')),
      h('dt', {}, 'Reason'), h('dd', {}, reasons.length > 0 ? reasons.map((r) => `${conceptText(r)}${codesText(r) ? ` (${codesText(r)})` : ''}`).join('; ') : 'not given'),
      h('dt', {}, 'Status'), h('dd', {}, `${str(order['status'], 'unknown')} · ${str(order['resourceType'])}/${str(order['id'])}`)));
}

export interface DecisionView {
  covered: string;
  reason: string;
  assertionId?: string;
  decidedAt?: string;
  notOnRecord?: string;
  plan: Json;
  policyUrl: string;
}

const COVERED_TEXT: Record<string, string> = { 'not-covered': 'Not covered', covered: 'Covered', conditional: 'Covered with conditions', indeterminate: 'Coverage not determined' };

export function decisionPanel(d: DecisionView): HTMLElement {
  const p = d.plan;
  const policyId = (p['identifier'] as Array<{ value?: string }> | undefined)?.[0]?.value ?? '';
  const next = (p['extension'] as Array<{ url: string; valueDate?: string }> | undefined)?.find((e) => e.url.endsWith('artifact-nextReviewDate'))?.valueDate;
  return h('section', { class: `panel decision ${d.covered}`, 'data-testid': 'decision', 'aria-labelledby': 'decision-h' },
    h('h2', { id: 'decision-h' }, `${COVERED_TEXT[d.covered] ?? d.covered} under the plan's policy`),
    h('p', {}, d.reason),
    h('dl', {},
      h('dt', {}, 'Policy'), h('dd', {}, h('a', { href: d.policyUrl, target: '_blank', rel: 'noopener' }, `${policyId} — ${str(p['title'])}`)),
      h('dt', {}, 'Plan'), h('dd', {}, str(p['publisher'])),
      h('dt', {}, 'Reviewed'), h('dd', {}, `last ${str(p['lastReviewDate'], '?')}, next ${next ?? '?'} (policy version ${str(p['version'], '?')})`),
      h('dt', {}, 'Coverage assertion'),
      h('dd', {}, d.assertionId
        ? h('span', {}, h('code', { 'data-testid': 'assertion-id' }, d.assertionId), ' — quote this id in a coverage exception request or appeal', d.decidedAt ? ` (decided ${d.decidedAt.slice(0, 10)})` : '')
        : h('span', { 'data-testid': 'assertion-id-absent' }, d.notOnRecord ?? 'No coverage assertion was issued for this order in this launch; the decision shown is the policy\'s.'))));
}

export function evidencePanel(evidence: EvidenceLike[], certainty: string | undefined): HTMLElement {
  const rows = evidence.map((e) => evidenceRow(e));
  const described = certaintyDescription(evidence);
  return h('section', { class: 'panel', 'aria-labelledby': 'evidence-h' },
    h('h2', { id: 'evidence-h' }, 'Why: the evidence the policy weighs'),
    h('p', { 'data-testid': 'evidence-certainty' }, `The policy rates this evidence ${certainty ?? 'unrated'} certainty${described ? `: ${described.replace(/\.$/, '')}` : ''}.`),
    rows.length === 0 ? h('p', { class: 'muted' }, 'The policy records no evidence.') : h('div', { class: 'table-wrap' },
      h('table', { 'data-testid': 'evidence-table' },
        h('caption', {}, 'Studies cited by the policy, from the plan\'s FHIR Evidence resources'),
        h('thead', {}, h('tr', {}, ...['Study', 'Design', 'Participants', 'Outcomes', 'Follow-up'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...rows.map((r) => h('tr', { 'data-testid': 'evidence-row' },
          h('th', { scope: 'row' }, r.url ? h('a', { href: r.url, target: '_blank', rel: 'noopener', title: r.title }, r.study) : r.study),
          h('td', {}, r.design), h('td', {}, r.participants), h('td', {}, r.outcomes.join('; ') || 'not reported'), h('td', {}, r.followUp)))))),
    evidenceChart(evidence));
}

export interface Alternative {
  title: string;
  description: string;
  resource: Json;
}

export function alternativesPanel(alternatives: Alternative[], canCreate: (type: string) => boolean, onOrder: (alt: Alternative, button: HTMLButtonElement) => void): HTMLElement {
  return h('section', { class: 'panel', 'aria-labelledby': 'alt-h' },
    h('h2', { id: 'alt-h' }, 'Covered alternatives'),
    h('ul', { class: 'alternatives' }, ...alternatives.map((alt) => {
      const type = str(alt.resource['resourceType']);
      const code = (alt.resource['code'] ?? alt.resource['codeCodeableConcept'] ?? alt.resource['medicationCodeableConcept']) as Concept | undefined;
      const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'order-alternative' }, `Order as draft: ${alt.title.replace(/^Replace with /i, '')}`);
      button.addEventListener('click', () => onOrder(alt, button));
      return h('li', { 'data-testid': 'alternative' },
        h('h3', {}, alt.title.replace(/^Replace with /i, '').replace(/^./, (c) => c.toUpperCase())),
        h('p', { class: 'codes' }, `${type} · ${codesText(code)}${conceptText(code) ? ` · ${conceptText(code)}` : ''}`),
        h('p', {}, h('strong', {}, 'What it involves: '), alt.description),
        canCreate(type) ? button : h('p', { class: 'muted', 'data-testid': 'how-to-order' },
          `This launch does not let the app place orders. To order it, search your EHR's order catalogue for ${codesText(code) || alt.title} and sign it in place of the order the policy does not cover.`));
    })));
}
