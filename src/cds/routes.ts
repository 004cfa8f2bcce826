import { Router } from 'express';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { LoadedService } from '../knowledge/knowledge-base';
import type { Catalog } from '../engine/catalog';
import { HttpError, badRequest, notFound } from '../http/errors';
import { contextOf } from '../http/request-context';
import type { RequestContext } from '../http/request-context';
import { sendPostJson } from '../http/send-json';
import { DEFAULT_WORK_LIMITS, encodeAnswer } from '../decision/limits';
import type { Metrics } from '../observability/metrics';
import { discovery } from './discovery';
import type { DiscoveryTemplate } from './discovery';
import type { FeedbackRecord, FeedbackStore } from './feedback-store';
import type { AssertionStore, StoredAssertion } from './assertion-store';
import { handleHook } from './handle-hook';
import type { HookDeps } from './handle-hook';
import { validateFeedback } from './request-schema';
import { DEFAULT_TRUSTED_HOSTS, trustedHostOf } from '../egress/trusted-hosts';

/** One audit row (see src/storage/audit.ts). */
export type AuditEntry = { at: string; clientIss?: string; serviceId: string; hook: string; hookInstance: string; status: number; latencyMs: number; cardsByType: Record<string, number>; decisionIds: string[] };

/** Where each invocation is recorded for disputes (CRD found-37: keep a log of every invocation and response). */
export interface InvocationAudit {
  /** Write-behind, for answers that promise nothing durable. */
  record(r: AuditEntry): void;
  /** Resolves once committed: the audit row of an answer carrying coverage-assertion ids. */
  recordDurably?(r: AuditEntry): Promise<void>;
}

export interface CdsRouterDeps extends HookDeps {
  discovery: DiscoveryTemplate;
  audit?: InvocationAudit;
  metrics?: Metrics;
  feedback: FeedbackStore;
  /** Coverage assertions are kept: claims, appeals and the details app quote their ids. */
  assertions: AssertionStore;
  logger: Logger;
  publicUrl?: string;
}

/**
 * The public base URL: CDS_PUBLIC_URL, or (outside production) this request's scheme and Host when the Host is one of
 * CDS_TRUSTED_HOSTS (`app.locals.trustedHosts`), else the first trusted host on this connection's port: links are
 * never built on a Host header an attacker chose (issue 13, item 10).
 */
export function baseUrlOf(req: Request, publicUrl: string | undefined): string {
  return publicUrl ?? `${req.protocol}://${trustedHostOf(req.get('host'), (req.app.locals['trustedHosts'] as readonly string[] | undefined) ?? DEFAULT_TRUSTED_HOSTS, req.socket.localPort)}`;
}

/**
 * Turns a knowledge link (`/policies/x`) into an absolute URL under `base` (CDS Hooks links are absolute); absolute
 * URLs pass unchanged. A function of `base` alone: coverage-information templates are cached per `resolve('/')`.
 */
export function urlResolver(base: string): (url: string) => string {
  return (url) => (/^https?:\/\//.test(url) ? url : `${base}${url.startsWith('/') ? '' : '/'}${url}`);
}

/** CDS Hooks posts JSON; anything else is 415 (and the body is never parsed). */
const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is(['application/json', 'application/fhir+json', 'application/*+json'])) {
    next(new HttpError(415, 'not-supported', 'Send the request as application/json.'));
    return;
  }
  if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
    next(badRequest('The request body must be a JSON object.'));
    return;
  }
  next();
};

/** A service by id, or by an old id it still answers to (cds-services/*.json `aliases`). */
function findService(catalog: Catalog, param: unknown): { service: LoadedService; alias: boolean } {
  const id = typeof param === 'string' ? param : '';
  const { services, aliases } = catalog.knowledge;
  const direct = services.get(id);
  if (direct) return { service: direct, alias: false };
  const target = aliases.get(id);
  const aliased = target ? services.get(target) : undefined;
  if (aliased) return { service: aliased, alias: true };
  throw notFound(`No CDS service with id "${id.slice(0, 64)}". GET /cds-services lists them.`);
}

/** CDS Hooks 2.0 endpoints: discovery, service invocation and feedback, one service per hook for the whole catalog. */
export function cdsRouter(deps: CdsRouterDeps): Router {
  const router = Router();
  const { catalog } = deps;

  router.get('/cds-services', (_req, res) => {
    res.json(discovery(deps.discovery, catalog, deps.now()));
  });

  /** Resolves the service, names it in the request context, and marks calls to an old id as deprecated. */
  const resolveService: RequestHandler = (req, res, next) => {
    const { service, alias } = findService(catalog, req.params['id']);
    const ctx = contextOf(res);
    if (ctx) {
      ctx.serviceId = service.definition.id;
      ctx.hook = service.definition.hook;
    }
    if (alias) {
      // RFC 9745 Deprecation, with the service that replaces it (README "Service ids").
      res.setHeader('Deprecation', 'true');
      res.setHeader('Link', `</cds-services/${service.definition.id}>; rel="successor-version"`);
    }
    next();
  };

  /** When the call started: the audit row's time and latency. */
  interface Timing { started: bigint; at: string }

  /** The audit row of this call as answered with `status` (service, caller and what was decided from its context). */
  const auditEntry = (req: Request, ctx: RequestContext | undefined, timing: Timing, status: number): AuditEntry => ({
    at: timing.at,
    ...(ctx?.caller ? { clientIss: ctx.caller.iss } : {}),
    serviceId: ctx?.serviceId ?? String(req.params['id'] ?? '').slice(0, 64),
    hook: ctx?.hook ?? 'unknown',
    hookInstance: ctx?.hookInstance ?? 'unknown',
    status,
    latencyMs: Number(process.hrtime.bigint() - timing.started) / 1e6,
    cardsByType: ctx?.cardsByType ?? {},
    decisionIds: (ctx?.decisions ?? []).map((d) => d.assertionId),
  });
  const timingOf = (res: Response): Timing => res.locals['auditTiming'] as Timing;
  /** A call refused after deciding: its audit row (written on 'finish') lists no cards and no decisions, none went out. */
  const forgetAnswer = (ctx: RequestContext | undefined): void => {
    if (!ctx) return;
    ctx.cardsByType = {};
    ctx.decisions = [];
  };

  /** Audits every invocation once its answer has gone out (success or failure), off the request path. */
  const auditInvocation: RequestHandler = (req, res, next) => {
    res.locals['auditTiming'] = { started: process.hrtime.bigint(), at: deps.now().toISOString() } satisfies Timing;
    res.on('finish', () => {
      const ctx = contextOf(res);
      const entry = auditEntry(req, ctx, timingOf(res), res.statusCode);
      for (const [type, n] of Object.entries(entry.cardsByType)) deps.metrics?.cards.inc({ service: entry.serviceId, type }, n);
      for (const d of ctx?.decisions ?? []) deps.metrics?.decisions.inc({ service: entry.serviceId, covered: d.covered });
      // Already committed before the answer (persistDecisions): not written twice.
      if (ctx?.auditCommitted) return;
      deps.audit?.record(entry);
    });
    next();
  };

  /**
   * Durable before acknowledged: the coverage assertions and the audit row of an answer that carries
   * coverage-assertion ids are committed before the answer is sent (claims and appeals quote those ids months
   * later). When storage cannot commit within STORAGE_COMMIT_WAIT_MS this throws StorageUnavailableError (→ 503
   * with Retry-After, src/http/errors.ts) and no id is handed out; too many decisions in one call → 413.
   */
  const persistDecisions = async (req: Request, res: Response, stored: StoredAssertion[]): Promise<void> => {
    const ctx = contextOf(res);
    const entry = auditEntry(req, ctx, timingOf(res), 200);
    try {
      await Promise.all([deps.assertions.save(stored), deps.audit?.recordDurably ? deps.audit.recordDurably(entry) : deps.audit?.record(entry)]);
    } catch (err) {
      deps.metrics?.storageWriteFailures.inc({ what: 'assertion' });
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err), count: stored.length }, 'coverage assertions not committed: the call is refused, no assertion id handed out');
      forgetAnswer(ctx);
      throw err;
    }
    if (ctx) ctx.auditCommitted = true;
  };

  router.post('/cds-services/:id', auditInvocation, resolveService, requireJson, async (req, res) => {
    const s = findService(catalog, req.params['id']).service;
    const ctx = contextOf(res);
    const body = req.body as { hookInstance?: unknown };
    if (ctx && typeof body.hookInstance === 'string' && body.hookInstance.length <= 64) ctx.hookInstance = body.hookInstance;
    const outcome = await handleHook(s, body, deps, urlResolver(baseUrlOf(req, deps.publicUrl)), ctx?.caller?.iss);
    if (ctx) {
      const cardsByType: Record<string, number> = {};
      for (const c of outcome.response.cards) {
        const type = c.source.topic?.code ?? 'untyped';
        cardsByType[type] = (cardsByType[type] ?? 0) + 1;
      }
      ctx.cardsByType = cardsByType;
      ctx.decisions = outcome.decisions.map((d) => ({ assertionId: d.assertionId, covered: d.covered }));
    }
    // The answer is encoded and bounded (MAX_ANSWER_BYTES) before anything is stored: a refused call keeps nothing.
    let answer: Buffer;
    try {
      answer = encodeAnswer(outcome.response, (deps.limits ?? DEFAULT_WORK_LIMITS).maxAnswerBytes, 'Send fewer orders per call.');
    } catch (err) {
      forgetAnswer(ctx);
      throw err;
    }
    if (outcome.decisions.length > 0) {
      const decidedAt = deps.now().toISOString();
      const stored: StoredAssertion[] = outcome.decisions.map((d) => ({ ...d, serviceId: s.definition.id, hookInstance: String(body.hookInstance), decidedAt }));
      // A coverage-assertion-id is a promise to the EHR: committed, with its audit row, before the answer goes out.
      await persistDecisions(req, res, stored);
    }
    sendPostJson(res, answer);
  });

  router.post('/cds-services/:id/feedback', resolveService, requireJson, async (req, res) => {
    const s = findService(catalog, req.params['id']).service;
    const problem = validateFeedback(req.body);
    if (problem) throw badRequest(`${problem.location} ${problem.message}`, [problem.location]);
    const receivedAt = deps.now().toISOString();
    const items = (req.body as { feedback: Array<Record<string, unknown>> }).feedback;
    const records: FeedbackRecord[] = items.map((f) => {
      const reason = f['overrideReason'] as { reason?: { system?: string; code?: string; display?: string }; userComment?: string } | undefined;
      const record: FeedbackRecord = {
        serviceId: s.definition.id,
        card: f['card'] as string,
        outcome: f['outcome'] as FeedbackRecord['outcome'],
        // Stored as the alternative chosen (e.g. replace-with-physical-therapy) when the id is one of our derived
        // suggestion ids, so reports can count alternatives; otherwise as sent.
        acceptedSuggestions: ((f['acceptedSuggestions'] as Array<{ id: string }> | undefined) ?? []).map((a) => catalog.acceptedAlternative(f['card'] as string, a.id) ?? a.id),
        outcomeTimestamp: f['outcomeTimestamp'] as string,
        receivedAt,
      };
      if (reason?.reason) record.overrideReason = { ...reason.reason };
      if (reason?.userComment) record.userComment = reason.userComment;
      return record;
    });
    await deps.feedback.add(records);
    for (const r of records) deps.metrics?.feedback.inc({ service: s.definition.id, outcome: r.outcome });
    // CDS Hooks 2.0 defines no response body for feedback; an empty object is the usual answer.
    res.status(200).json({});
  });

  return router;
}
