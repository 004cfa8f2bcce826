import { CRD_PRIMARY_HOOKS } from '../fhir/constants';
import { applyPlan, findMatches } from '../engine/apply';
import type { HookContext } from '../engine/apply';
import type { CoverageDecision } from '../engine/coverage-information';
import { toCdsResponse } from '../engine/to-cds-response';
import type { KnowledgeBase, LoadedService } from '../knowledge/knowledge-base';
import { badRequest } from '../http/errors';
import { configurationOptions, readConfiguration } from './configuration';
import { coverageOutcome } from './coverage';
import type { PayerIdentity } from './coverage';
import type { FhirFetchOptions } from './fhir-fetch';
import { draftOrdersOf, ordersInScope } from './orders';
import { resolveKey } from './prefetch';
import type { DataRequest, ResolvedData } from './prefetch';
import { validateHookRequest } from './request-schema';
import type { HookResponse } from './types';

/** What handling a hook call needs from the running service. */
export interface HookDeps {
  knowledge: KnowledgeBase;
  payer: PayerIdentity;
  fetchOptions: FhirFetchOptions;
  now: () => Date;
  newId: () => string;
}

/** The response plus what an audit or an appeal needs to know about it. */
export interface HookOutcome {
  response: HookResponse;
  decisions: CoverageDecision[];
  matchedOrders: string[];
}

interface HookRequestBody {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: { access_token: string };
  context: Record<string, unknown> & { patientId: string; userId: string; encounterId?: string; draftOrders: unknown; selections?: unknown };
  prefetch?: Record<string, unknown>;
  extension?: Record<string, unknown>;
}

/**
 * Handles one CDS Hooks call for one service: validate, scope the orders, find the orders the policy applies to,
 * read only the data a decision needs (none when nothing matches), apply the PlanDefinition and map it to cards
 * and coverage information. Per-request state lives in this call only.
 */
export async function handleHook(service: LoadedService, body: unknown, deps: HookDeps, resolveUrl: (url: string) => string): Promise<HookOutcome> {
  const hook = service.definition.hook;
  const problem = validateHookRequest(hook, body);
  if (problem) throw badRequest(`${problem.location} ${problem.message}`, [problem.location]);
  const request = body as HookRequestBody;
  if (request.hook !== hook) {
    throw badRequest(`Service ${service.definition.id} answers the ${hook} hook; the request is for ${request.hook}.`, ['hook']);
  }
  const plan = service.plan;
  const config = readConfiguration(request.extension, configurationOptions(plan));
  const primary = CRD_PRIMARY_HOOKS.has(hook);
  const responseOptions = { disabledTypes: config.disabledTypes, maxCards: config.maxCards, sourceLabel: plan.resource.publisher ?? '', alwaysSystemActions: primary };
  const empty: HookOutcome = { response: primary ? { cards: [], systemActions: [] } : { cards: [] }, decisions: [], matchedOrders: [] };

  const drafts = draftOrdersOf(request.context.draftOrders);
  const orders = ordersInScope(hook, drafts, request.context.selections);
  const context: HookContext = {
    patientId: request.context.patientId,
    userId: request.context.userId,
    ...(request.context.encounterId ? { encounterId: request.context.encounterId } : {}),
  };
  const baseEnv = { context: request.context, draftOrders: drafts.map((d) => d.resource), hook };
  const matches = findMatches(plan, hook, orders, baseEnv);
  if (matches.length === 0) return empty;

  const dataRequest: DataRequest = {
    prefetchTemplates: service.definition.prefetch ?? {},
    prefetch: request.prefetch,
    context: request.context,
    fhirServer: request.fhirServer,
    accessToken: request.fhirAuthorization?.access_token,
    fetchOptions: deps.fetchOptions,
  };
  // The patient is read only when the EHR sent it; the decision rests on Coverage (data minimisation, CRD §Privacy).
  const patient: ResolvedData | undefined = request.prefetch && 'patient' in request.prefetch ? await resolveKey('patient', dataRequest) : undefined;
  // The EHR says the patient does not exist: the outcome (no-member-found) is known, so the EHR is not queried.
  const coverage: ResolvedData = patient?.status === 'absent' ? { status: 'absent' } : await resolveKey('coverage', dataRequest);
  const outcome = coverageOutcome(patient, coverage, deps.payer);
  if (outcome.kind === 'other-payer') return empty;

  const { requestGroup, decisions } = applyPlan({
    plan,
    matches,
    context,
    coverage: outcome,
    valueSets: deps.knowledge.valueSets,
    now: deps.now(),
    newId: deps.newId,
    resolveUrl,
    env: { ...baseEnv, patient: patient?.status === 'ok' ? patient.resource : {}, coverage: coverage.status === 'ok' ? coverage.resource : {} },
  });
  const response = toCdsResponse(requestGroup, responseOptions);
  const decided = config.disabledTypes.has('coverage-info') ? [] : decisions;
  return { response, decisions: decided, matchedOrders: matches.map((m) => m.order.reference) };
}
