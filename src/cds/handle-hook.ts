import { CRD_PRIMARY_HOOKS } from '../fhir/constants';
import type { Catalog } from '../engine/catalog';
import { decide } from '../decision/decide';
import type { Decision } from '../decision/decide';
import { memberCoverage, OtherPayerError } from '../decision/member';
import { DEFAULT_WORK_LIMITS } from '../decision/limits';
import type { WorkLimits } from '../decision/limits';
import type { LoadedService } from '../knowledge/knowledge-base';
import { HttpError, badRequest } from '../http/errors';
import { toCdsResponse } from './card-mapping';
import { readConfiguration } from './configuration';
import type { ConfigurationOption } from './configuration';
import type { FhirFetchOptions, FhirReadResult } from './fhir-fetch';
import type { TargetRule } from '../egress/target-policy';
import { ordersForHook } from './hook-orders';
import { memberDataSource } from './prefetch';
import { validateHookRequest } from './request-schema';
import type { HookResponse } from './types';

/** What handling a hook call needs from the running service. */
export interface HookDeps {
  catalog: Catalog;
  /** Each service's configuration options (discovery), by service id. */
  options: ReadonlyMap<string, ConfigurationOption[]>;
  fetchOptions: FhirFetchOptions;
  /** POLICY_ALLOW_DRAFT: draft policies fire (for testing a policy before it is published). */
  allowDraft: boolean;
  now: () => Date;
  newId: () => string;
  onExpressionError: (policy: string, path: string, error: unknown) => void;
  onFhirRead?: (outcome: FhirReadResult['status'], seconds: number) => void;
  /**
   * The FHIR bases a caller's fhirServer must be at or below: the verified client's registered `fhirServers`
   * (CDS_CLIENTS), or FHIR_SERVER_ALLOWLIST when the service runs open. Absent: no fhirServer is ever read.
   */
  fhirTargets?: (callerIss: string | undefined) => readonly TargetRule[];
  /** Work one call may cause (MAX_DECISIONS_PER_CALL, MAX_COVERAGES_PER_CALL, MAX_ANSWER_BYTES); defaults when absent. */
  limits?: WorkLimits;
}

/** The response plus what an audit or an appeal needs to know about it. */
export interface HookOutcome {
  response: HookResponse;
  decisions: Decision[];
  matchedOrders: string[];
}

interface HookRequestBody {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: { access_token: string };
  context: Record<string, unknown> & { patientId: string; userId?: string; encounterId?: string };
  prefetch?: Record<string, unknown>;
  extension?: Record<string, unknown>;
}

/**
 * Handles one CDS Hooks call for one service (one per hook, for the whole catalog): validate, scope the orders,
 * decide (decision/decide.ts: the policies that govern each order, a decision for every order on primary hooks),
 * and map the result to cards and coverage-information system actions. Per-request state lives in this call only.
 */
export async function handleHook(service: LoadedService, body: unknown, deps: HookDeps, resolveUrl: (url: string) => string, callerIss?: string): Promise<HookOutcome> {
  const hook = service.definition.hook;
  const problem = validateHookRequest(hook, body);
  if (problem) throw badRequest(`${problem.location} ${problem.message}`, [problem.location]);
  const request = body as HookRequestBody;
  if (request.hook !== hook) {
    throw badRequest(`Service ${service.definition.id} answers the ${hook} hook; the request is for ${request.hook}.`, ['hook']);
  }
  const config = readConfiguration(request.extension, deps.options.get(service.definition.id) ?? []);
  const primary = CRD_PRIMARY_HOOKS.has(hook);
  const source = memberDataSource({
    prefetchTemplates: service.definition.prefetch ?? {},
    prefetch: request.prefetch,
    context: request.context,
    fhirServer: request.fhirServer,
    accessToken: request.fhirAuthorization?.access_token,
    fetchOptions: { ...deps.fetchOptions, targets: deps.fhirTargets?.(callerIss) ?? [] },
    ...(deps.onFhirRead ? { onRead: deps.onFhirRead } : {}),
  });
  const { orders, callOrders } = await ordersForHook(hook, request.context, source);
  const now = deps.now();
  const limits = deps.limits ?? DEFAULT_WORK_LIMITS;
  let result;
  try {
    result = await decide({
      catalog: deps.catalog,
      hook,
      primary,
      orders,
      context: {
        patientId: request.context.patientId,
        ...(request.context.userId ? { userId: request.context.userId } : {}),
        ...(request.context.encounterId ? { encounterId: request.context.encounterId } : {}),
      },
      variables: { context: request.context, draftOrders: callOrders, hook },
      member: () => memberCoverage(deps.catalog.knowledge.payer, source, limits.maxCoverages),
      maxDecisions: limits.maxDecisions,
      patient: source.patientResource,
      decideCoverage: !config.disabledTypes.has('coverage-info'),
      allowDraft: deps.allowDraft,
      now,
      newId: deps.newId,
      resolveUrl,
      onExpressionError: deps.onExpressionError,
    });
  } catch (e) {
    // CRD 2.2 hook-13: a Coverage this endpoint does not handle is a 400 with an OperationOutcome.
    if (e instanceof OtherPayerError) throw new HttpError(400, 'business-rule', e.message, ['prefetch.coverage']);
    throw e;
  }
  const response = toCdsResponse(result.applications.map((a) => a.requestGroup), result.updates, {
    disabledTypes: config.disabledTypes,
    maxCards: config.maxCards,
    sourceLabel: deps.catalog.knowledge.payer.name ?? result.applications[0]?.policy.policy.resource.publisher ?? '',
    alwaysSystemActions: primary,
  });
  return { response, decisions: result.decisions, matchedOrders: result.matchedOrders };
}
