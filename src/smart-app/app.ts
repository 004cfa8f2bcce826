import FHIR from 'fhirclient';
import type Client from 'fhirclient/lib/Client';
import type { EvidenceLike } from '../engine/evidence-summary';
import { overallCertainty } from '../engine/evidence-summary';
import { appRoot } from './config';
import { h, mount, str } from './dom';
import { classify, httpStatus, showProblem } from './errors';
import * as api from './service-api';
import type { Alternative, DecisionView } from './views';
import { alternativesPanel, conceptText, codesText, decisionPanel, evidencePanel, orderPanel, patientBanner } from './views';

type Json = Record<string, unknown>;
interface Action { title?: string; description?: string; code?: Array<{ coding?: Array<{ code?: string }> }>; type?: { coding?: Array<{ code?: string }> }; resource?: { reference?: string }; action?: Action[] }
/** The card's appContext: one order (`decision`, `order`), or a policy card's several (`decisions`, `orders`). */
interface AppContext { decision?: string; order?: string; decisions?: string[]; orders?: string[]; planDefinition?: string }

const COVERAGE_INFO = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
/** The order types a card's appContext or the EHR's fhirContext may name (CRD's request types and Appointment). */
const ORDER_REFERENCE = /^(ServiceRequest|MedicationRequest|DeviceRequest|NutritionOrder|VisionPrescription|CommunicationRequest|Appointment)\/[A-Za-z0-9\-.]{1,64}$/;

/** The order a launch is about: as the EHR has it, or only its reference when the EHR has not saved it (a draft). */
type FoundOrder = { order: Json } | { unsaved: string } | undefined;

/** The policy a launch is about, read from this service's /fhir endpoint, with its evidence and alternatives. */
interface Knowledge {
  plan: Json;
  evidence: EvidenceLike[];
  activities: Map<string, Json>;
}

/** Which policy: the PlanDefinition id the card's appContext names, else the canonical the decision was made under. */
interface PlanRef { id?: string; canonical?: string }

async function loadKnowledge(ref: PlanRef): Promise<Knowledge> {
  const found = ref.id ? await api.read('PlanDefinition', ref.id).catch((e: unknown) => {
    if (e instanceof api.NotFoundError) return undefined;
    throw e;
  }) : ref.canonical ? (await api.search('PlanDefinition', `url=${encodeURIComponent(ref.canonical)}`))[0] : undefined;
  if (!found) throw new Error(`The plan does not publish the policy this card is about (${ref.id ?? ref.canonical ?? 'none named'}).`);
  const [evidence, activities] = await Promise.all([api.search('Evidence'), api.search('ActivityDefinition')]);
  const justified = ((found['relatedArtifact'] as Array<{ type?: string; resource?: string }> | undefined) ?? [])
    .filter((a) => a.type === 'justification' && a.resource).map((a) => (a.resource ?? '').split('|')[0]);
  const byUrl = new Map(evidence.map((e) => [str(e['url']), e]));
  return {
    plan: found,
    evidence: justified.map((u) => byUrl.get(u ?? '')).filter((e): e is Json => !!e) as unknown as EvidenceLike[],
    activities: new Map(activities.flatMap((a) => [[`${str(a['url'])}|${str(a['version'])}`, a], [str(a['url']), a]])),
  };
}

/** The payer's published policies (not its default rule), for the view opened outside a launch. */
async function catalogView(root: HTMLElement, note?: string): Promise<void> {
  const plans = (await api.search('PlanDefinition', 'status=active'))
    .filter((p) => !((p['extension'] as Array<{ url?: string }> | undefined) ?? []).some((e) => e.url?.endsWith('/catalog-default')));
  mount(root, h('main', { 'data-testid': 'about' },
    h('h1', {}, 'Plan coverage policies'),
    note && h('p', { class: 'notice' }, note),
    h('p', {}, 'Open this app from the plan\'s card in your EHR to see the decision for a specific order. The plan\'s clinical policies:'),
    h('ul', { 'data-testid': 'policy-list' }, ...plans.map((p) => h('li', {}, h('a', { href: policyUrl(p) }, str(p['title'])), ` — ${str(p['publisher'])}, version ${str(p['version'])}`)))));
}

const policyUrl = (plan: Json): string => `/policies/${str(plan['id'])}`;

/** The alternatives the engine offers for this order: the created resources of the card's suggestions. */
function alternativesFrom(rg: Json, k: Knowledge): Alternative[] {
  const contained = new Map(((rg['contained'] as Json[] | undefined) ?? []).map((r) => [`#${str(r['id'])}`, r]));
  const out: Alternative[] = [];
  const walk = (actions: Action[] | undefined): void => {
    for (const a of actions ?? []) {
      const create = a.action?.find((x) => x.type?.coding?.some((c) => c.code === 'create'));
      const resource = create ? contained.get(create.resource?.reference ?? '') : undefined;
      if (resource) {
        const canonical = ((resource['instantiatesCanonical'] as string[] | undefined) ?? [])[0] ?? '';
        const ad = k.activities.get(canonical) ?? k.activities.get(canonical.split('|')[0] ?? '');
        out.push({ title: a.title ?? str(ad?.['title']), description: str(ad?.['description'] ?? create?.description), resource });
      } else walk(a.action);
    }
  };
  walk(rg['action'] as Action[] | undefined);
  return out;
}

/** The coverage decision the engine records on the order ($apply's coverage-information update). */
function appliedDecision(rg: Json): { covered: string; reason: string } | undefined {
  for (const r of (rg['contained'] as Json[] | undefined) ?? []) {
    const ext = ((r['extension'] as Array<{ url: string; extension?: Array<{ url: string; valueCode?: string; valueCodeableConcept?: { text?: string } }> }> | undefined) ?? []).find((e) => e.url === COVERAGE_INFO);
    if (ext) return { covered: ext.extension?.find((e) => e.url === 'covered')?.valueCode ?? 'indeterminate', reason: ext.extension?.find((e) => e.url === 'reason')?.valueCodeableConcept?.text ?? '' };
  }
  return undefined;
}

/** Whether the granted scopes let the app create this resource type (SMART v1 write or v2 `c`). */
function canCreate(scopes: string, type: string): boolean {
  const t = type.replace(/[^A-Za-z]/g, '');
  return new RegExp(`(^|\\s)(patient|user)/(${t}|\\*)\\.(\\*|write|[cruds]*c[cruds]*)(\\s|$)`).test(scopes);
}

/** One policy, when a launch names it but no order of it can be shown. */
function aboutView(root: HTMLElement, k: Knowledge, note?: string): void {
  const p = k.plan;
  const alternatives = [...new Set(k.activities.values())];
  mount(root, h('main', { 'data-testid': 'about' },
    h('h1', {}, `About: ${str(p['title'])}`),
    note && h('p', { class: 'notice' }, note),
    h('p', {}, `${str(p['publisher'])} clinical policy ${String((p['identifier'] as Array<{ value?: string }> | undefined)?.[0]?.value ?? '')}: ${str(p['description'])}`),
    h('p', {}, 'Open this app from the plan\'s card in your EHR to see the decision for a specific order. ', h('a', { href: policyUrl(p) }, 'Read the policy summary and references.')),
    h('h2', {}, 'Covered alternatives'),
    h('ul', {}, ...alternatives.map((a) => h('li', {}, h('strong', {}, str(a['title'])), ` — ${codesText(a['code'] as never) || codesText(a['productCodeableConcept'] as never)}`))),
    evidencePanel(k.evidence, overallCertainty(k.evidence))));
}

/** Lets the user choose among several orders (smart.md "Fallbacks"). */
async function pickOrder(client: Client, root: HTMLElement, orders: Array<{ order: Json; title: string }>): Promise<Json | undefined> {
  if (orders.length <= 1) return orders[0]?.order;
  const patient = await client.request<Json>(`Patient/${encodeURIComponent(client.getPatientId() ?? '')}`).catch(() => undefined);
  const needBanner = client.getState('tokenResponse.need_patient_banner') !== false;
  return new Promise((resolve) => {
    mount(root, needBanner && patient && patientBanner(patient), h('main', { 'data-testid': 'order-picker' },
      h('h1', {}, 'Which order?'),
      h('p', {}, 'This patient has several orders the plan\'s policies apply to. Choose one to see the plan\'s decision.'),
      h('ul', { class: 'picker' }, ...orders.map(({ order: o, title }) => {
        const b = h('button', { type: 'button' }, `${conceptText(o['code'] as never)} (${codesText(o['code'] as never)}) — ${str(o['status'])}, ${str(o['authoredOn']).slice(0, 10)} — ${title}`);
        b.addEventListener('click', () => resolve(o));
        return h('li', {}, b);
      }))));
  });
}

/**
 * The order the launch is about: the one appContext or fhirContext names, read from the EHR (in CDS Hooks it is
 * often a draft the EHR has not saved: then only its reference is known); else the patient's orders that one of
 * the plan's policies governs (the service matches them; nothing is decided or stored), the user choosing when
 * there are several. Never a search without a patient in context.
 */
async function findOrder(client: Client, root: HTMLElement, ctx: AppContext): Promise<FoundOrder> {
  const named = [ctx.order, ...((client.getState('tokenResponse.fhirContext') as Array<{ reference?: string }> | undefined) ?? []).map((c) => c.reference)];
  const explicit = named.find((r): r is string => typeof r === 'string' && ORDER_REFERENCE.test(r));
  if (explicit) {
    try {
      return { order: await client.request<Json>(explicit) };
    } catch (e) {
      const status = httpStatus(e);
      if (status === 404 || status === 410) return { unsaved: explicit };
      throw e;
    }
  }
  const patientId = client.getPatientId();
  if (!patientId) return undefined;
  const bundle = await client.request<{ entry?: Array<{ resource: Json }> }>(`ServiceRequest?patient=${encodeURIComponent(patientId)}&_count=100`);
  const orders = (bundle.entry ?? []).map((e) => e.resource).filter((r) => r['resourceType'] === 'ServiceRequest');
  if (orders.length === 0) return undefined;
  const matches = await api.match(orders);
  const governed = matches.map((m) => ({ order: orders.find((o) => `ServiceRequest/${str(o['id'])}` === m.order), title: m.title }))
    .filter((m): m is { order: Json; title: string } => m.order !== undefined);
  const picked = await pickOrder(client, root, governed);
  return picked ? { order: picked } : undefined;
}

/**
 * An order the EHR has not saved, as the decision on record describes it: its reference and the codes decided on
 * (with their displays). Enough to show what was decided and to ask the policy for its alternatives.
 */
function orderFromDecision(reference: string, recorded: api.Decision, patientId: string | undefined): Json {
  const [type, id] = reference.split('/');
  const coding = recorded.billingCodes.map((c) => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) }));
  return {
    resourceType: type, id, status: 'draft', intent: 'order',
    code: { coding, ...(coding[0]?.display ? { text: coding[0].display } : {}) },
    ...(patientId ? { subject: { reference: `Patient/${patientId}` } } : {}),
  };
}

function confirmAndOrder(client: Client, alt: Alternative, result: HTMLElement): void {
  const dialog = h('dialog', { 'data-testid': 'confirm-order', 'aria-labelledby': 'confirm-h' },
    h('h2', { id: 'confirm-h' }, 'Place a draft order?'),
    h('p', {}, `${alt.title.replace(/^Replace with /i, '')} will be added to this patient's draft orders in the EHR for you to review and sign.`));
  const confirm = h('button', { type: 'button', class: 'primary', 'data-testid': 'confirm' }, 'Place draft order');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  dialog.append(h('div', { class: 'buttons' }, confirm, cancel));
  document.body.append(dialog);
  cancel.addEventListener('click', () => { dialog.close(); dialog.remove(); });
  confirm.addEventListener('click', () => {
    confirm.disabled = true;
    const resource = { ...alt.resource };
    delete resource['id'];
    client.create(resource as never).then((created: Json) => {
      mount(result, h('p', { class: 'ok' }, `Draft order created in the EHR: ${String(created['resourceType'] ?? resource['resourceType'])}/${str(created['id'])}. Review and sign it there, and remove the order the policy does not cover if you no longer want it.`));
    }).catch((err: unknown) => {
      const problem = classify(err, 'order');
      mount(result, h('p', { class: 'error', role: 'alert' }, `${problem.title}. ${problem.message}`));
    }).finally(() => { dialog.close(); dialog.remove(); result.focus(); });
  });
  dialog.showModal();
  confirm.focus();
}

async function decisionView(client: Client, root: HTMLElement, ctx: AppContext): Promise<void> {
  const recorded = ctx.decision ? await api.decision(ctx.decision).catch((e: unknown) => {
    if (e instanceof api.NotFoundError) return undefined;
    throw e;
  }) : undefined;
  const found = await findOrder(client, root, ctx);
  const contextPatient = client.getPatientId() ?? undefined;
  if (!found && !recorded && !contextPatient) {
    await catalogView(root, 'The app was opened without a patient and without a coverage decision, so there is no order to show. Open it from the plan\'s card in the patient\'s chart, or from the patient\'s record in your EHR.');
    return;
  }
  // An order the EHR has not saved (a draft being signed) is shown as the decision on record describes it.
  const unsaved = found && 'unsaved' in found ? found.unsaved : undefined;
  const order = found && 'order' in found ? found.order : unsaved && recorded ? orderFromDecision(unsaved, recorded, contextPatient) : undefined;
  // The policy: as the card named it, else as the decision on record says, else the one that governs the order.
  const planId = ctx.planDefinition ?? (recorded || !order ? undefined : (await api.match([order]))[0]?.planDefinition);
  if (!planId && !recorded) {
    await catalogView(root, unsaved
      ? `The EHR has not saved ${unsaved} yet and no coverage decision for it is on record, so there is no decision to show.`
      : order
        ? 'None of the plan\'s policies applies to this order, so there is no decision to show.'
        : 'No order one of the plan\'s policies applies to was found for this patient, so there is no decision to show.');
    return;
  }
  const k = await loadKnowledge({ ...(planId ? { id: planId } : {}), ...(recorded ? { canonical: recorded.policy } : {}) });
  if (!order) {
    aboutView(root, k, unsaved
      ? `The EHR has not saved ${unsaved} yet and no coverage decision for it is on record, so there is no decision to show. The policy is below.`
      : `No order under ${str(k.plan['title'])} was found for this patient, so there is no decision to show. The policy is below.`);
    return;
  }
  const patientId = contextPatient ?? (String((order['subject'] as { reference?: string } | undefined)?.reference ?? '').replace('Patient/', '') || undefined);
  const [patient, coverage] = await Promise.all([
    patientId ? client.request<Json>(`Patient/${encodeURIComponent(patientId)}`).catch(() => undefined) : Promise.resolve(undefined),
    patientId ? client.request<{ entry?: Array<{ resource: Json }> }>(`Coverage?patient=${encodeURIComponent(patientId)}`).catch(() => ({ entry: [] as Array<{ resource: Json }> })) : Promise.resolve({ entry: [] as Array<{ resource: Json }> }),
  ]);
  const coverages = (coverage.entry ?? []).map((e) => e.resource).filter((c) => c['resourceType'] === 'Coverage');
  // The alternatives (and, without a decision on record, the decision) from the same engine as the cards.
  const rg = patientId ? await api.apply(str(k.plan['id']), `Patient/${patientId}`, [order, ...coverages], client.getFhirUser() ?? undefined) : undefined;
  const applied = rg ? appliedDecision(rg) : undefined;
  const view: DecisionView = {
    covered: recorded?.covered ?? applied?.covered ?? 'indeterminate',
    reason: recorded?.reason ?? applied?.reason ?? 'The plan\'s policy applies to this order.',
    plan: k.plan,
    policyUrl: policyUrl(k.plan),
    ...(recorded ? { assertionId: recorded.assertionId, decidedAt: recorded.decidedAt } : {}),
    ...(ctx.decision && !recorded ? { notOnRecord: `Coverage decision ${ctx.decision} is not on record (it may be older than the retention period). The decision shown is what the policy says today.` } : {}),
  };
  const note = unsaved ? 'The EHR has not saved this order yet (it is a draft being signed), so it is shown as the plan decided it: its codes, not every detail you entered.' : undefined;
  const scopes = String(client.getState('tokenResponse.scope') ?? '');
  const result = h('div', { 'data-testid': 'order-result', tabindex: '-1', 'aria-live': 'polite' });
  const needBanner = client.getState('tokenResponse.need_patient_banner') !== false;
  mount(root,
    needBanner && patient && patientBanner(patient),
    h('main', {},
      h('h1', {}, 'Plan coverage decision'),
      h('div', { class: 'grid' }, orderPanel(order, note), decisionPanel(view)),
      alternativesPanel(rg ? alternativesFrom(rg, k) : [], (type) => canCreate(scopes, type), (alt) => confirmAndOrder(client, alt, result)),
      result,
      evidencePanel(k.evidence, overallCertainty(k.evidence))));
}

/** The card's appContext as the EHR passes it: a JSON string (CDS Hooks 2.0), an already parsed object, or nothing. */
function readAppContext(raw: unknown): AppContext {
  let ctx: AppContext = {};
  if (typeof raw === 'string' && raw) {
    try { ctx = JSON.parse(raw) as AppContext; } catch { ctx = {}; }
  } else if (raw && typeof raw === 'object' && !Array.isArray(raw)) ctx = raw;
  // A policy card covering several orders: show the first; the picker below offers the others.
  ctx.decision ??= Array.isArray(ctx.decisions) ? ctx.decisions[0] : undefined;
  ctx.order ??= Array.isArray(ctx.orders) ? ctx.orders[0] : undefined;
  return ctx;
}

async function main(): Promise<void> {
  const root = appRoot();
  const params = new URLSearchParams(location.search);
  const error = params.get('error');
  // An error redirect is believed only for a launch this window started (its state is in session storage);
  // anything else is a forged or stale response (RFC 6749 §10.12).
  const state = params.get('state');
  if (error && (!state || sessionStorage.getItem(state) === null)) {
    showProblem(root, classify(new Error('The sign-in response carries an unknown state'), 'app'));
    return;
  }
  if (error) {
    showProblem(root, {
      title: error === 'access_denied' ? 'Access was denied' : 'The EHR refused the sign-in',
      message: `${params.get('error_description') ?? error}. The EHR denied this app access, so nothing was read. Open it again from the card, or ask your EHR administrator to grant it.`,
    });
    return;
  }
  const launched = params.has('code') || params.has('state') || sessionStorage.getItem('SMART_KEY');
  if (!launched) {
    try {
      await catalogView(root);
    } catch (err) {
      showProblem(root, classify(err, 'app'));
    }
    return;
  }
  try {
    const client = await FHIR.oauth2.ready();
    await decisionView(client, root, readAppContext(client.getState('tokenResponse.appContext') as unknown));
  } catch (err) {
    showProblem(root, classify(err, 'app'));
  }
}

void main();
