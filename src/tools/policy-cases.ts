import { randomUUID } from 'node:crypto';
import type { Catalog } from '../engine/catalog';
import { handleHook } from '../cds/handle-hook';
import { discoveryTemplate } from '../cds/discovery';
import type { Action, Card } from '../cds/types';
import type { LoadedService } from '../knowledge/knowledge-base';
import type { PolicyTestCase } from '../knowledge/test-cases';
import { COVERAGE_INFORMATION_URL, CRD_ASSOCIATED_RESOURCE_KEY } from '../fhir/constants';

/** One case's result: passed, or what came out differently (one line each). */
export interface CaseResult {
  testCase: PolicyTestCase;
  passed: boolean;
  differences: string[];
}

const PATIENT = 'test-case-patient';

/** The member's Coverage a case decides under when it names none: active, with this payer as payor. */
function defaultCoverage(catalog: Catalog): Record<string, unknown> {
  const [identifier] = [...catalog.knowledge.payer.identifiers];
  const bar = identifier?.lastIndexOf('|') ?? -1;
  const payor = identifier ? { identifier: { system: identifier.slice(0, bar), value: identifier.slice(bar + 1) }, display: catalog.knowledge.payer.name } : { display: catalog.knowledge.payer.name ?? 'this payer' };
  return { resourceType: 'Coverage', id: 'test-case-coverage', status: 'active', beneficiary: { reference: `Patient/${PATIENT}` }, payor: [payor] };
}

function serviceFor(catalog: Catalog, hook: string): LoadedService {
  const declared = [...catalog.knowledge.services.values()].find((s) => s.definition.hook === hook);
  return declared ?? { file: '(test case)', definition: { id: `${hook}-test-case`, hook: hook as LoadedService['definition']['hook'], title: hook, description: hook } };
}

const coveredOf = (action: Action): string | undefined => {
  const ext = (action.resource as { extension?: Array<{ url: string; extension?: Array<{ url: string; valueCode?: string }> }> } | undefined)?.extension?.find((e) => e.url === COVERAGE_INFORMATION_URL);
  return ext?.extension?.find((e) => e.url === 'covered')?.valueCode;
};
const cardsAbout = (cards: Card[], reference: string): string[] => cards
  .filter((c) => ((c.extension?.[CRD_ASSOCIATED_RESOURCE_KEY] ?? []) as Array<{ reference?: string }>).some((r) => r.reference === reference))
  .map((c) => c.source.topic?.code ?? 'untyped').sort();

const bundle = (type: string, resources: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> => ({ resourceType: 'Bundle', type, entry: resources.map((resource) => ({ resource })) });

/**
 * The hook context for a case's orders: draft orders (order-select selects them all), the Appointments being booked
 * (the orders they are based on come in prefetch), or every order dispatched (from prefetch).
 */
function callFor(hook: PolicyTestCase['hook'], orders: Array<Record<string, unknown> & { resourceType: string; id: string }>): { context: Record<string, unknown> } {
  const refs = orders.map((o) => `${o.resourceType}/${o.id}`);
  if (hook === 'appointment-book') {
    return { context: { userId: 'Practitioner/test-case-scheduler', patientId: PATIENT, appointments: bundle('collection', orders.filter((o) => o.resourceType === 'Appointment')) } };
  }
  if (hook === 'order-dispatch') return { context: { patientId: PATIENT, dispatchedOrders: refs, performer: 'Practitioner/test-case-performer' } };
  return {
    context: {
      userId: 'Practitioner/test-case-clinician', patientId: PATIENT, draftOrders: bundle('collection', orders),
      ...(hook === 'order-select' ? { selections: refs } : {}),
    },
  };
}

/**
 * Runs each policy test case through the same code as a hook call (cds/handle-hook.ts), in process, and compares
 * per order: the policy that governs it, the coverage decision and the card types about it.
 */
export async function runPolicyCases(catalog: Catalog, cases: readonly PolicyTestCase[], now: Date): Promise<CaseResult[]> {
  const template = discoveryTemplate(catalog);
  const results: CaseResult[] = [];
  for (const testCase of cases) {
    const orders = testCase.orders.map((o) => ({ subject: { reference: `Patient/${PATIENT}` }, ...o }));
    const body = {
      hook: testCase.hook,
      hookInstance: randomUUID(),
      ...callFor(testCase.hook, orders),
      prefetch: {
        patient: { resourceType: 'Patient', id: PATIENT },
        coverage: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: testCase.coverage ?? defaultCoverage(catalog) }] },
        orders: bundle('searchset', orders.filter((o) => o.resourceType !== 'Appointment')),
      },
    };
    const differences: string[] = [];
    try {
      const outcome = await handleHook(serviceFor(catalog, testCase.hook), body, {
        catalog, options: template.options, fetchOptions: { timeoutMs: 1000, maxBytes: 1024 },
        allowDraft: false, now: () => now, newId: randomUUID,
        onExpressionError: (policy, path) => differences.push(`expression failed: ${policy} ${path}`),
      }, (url) => url);
      for (const x of testCase.expect) {
        const decision = outcome.decisions.find((d) => d.orderReference === x.order);
        const governing = decision?.policy.split('|')[0]?.split('/').pop();
        const policy = decision && catalog.knowledge.defaultPolicy && decision.policy === catalog.knowledge.defaultPolicy.canonical ? null : governing ?? null;
        const action = (outcome.response.systemActions ?? []).find((a) => a.resource && `${a.resource.resourceType}/${String(a.resource.id)}` === x.order);
        const covered = action ? coveredOf(action) ?? null : null;
        const cards = cardsAbout(outcome.response.cards, x.order);
        const wantCards = [...x.cards].sort();
        if (policy !== x.policy) differences.push(`${x.order}: governed by ${policy ?? 'no policy'}, expected ${x.policy ?? 'no policy'}`);
        if (covered !== x.covered) differences.push(`${x.order}: covered ${covered ?? '(no decision)'}, expected ${x.covered ?? '(no decision)'}`);
        if (JSON.stringify(cards) !== JSON.stringify(wantCards)) differences.push(`${x.order}: cards [${cards.join(', ')}], expected [${wantCards.join(', ')}]`);
      }
    } catch (e) {
      differences.push(`the call failed: ${(e as Error).message}`);
    }
    results.push({ testCase, passed: differences.length === 0, differences });
  }
  return results;
}
