import { Router } from 'express';
import type { Request, RequestHandler, Response } from 'express';
import type { LoadedService } from '../knowledge/knowledge-base';
import { HttpError, badRequest, notFound } from '../http/errors';
import { sendPostJson } from '../http/send-json';
import { discovery } from './discovery';
import type { FeedbackRecord, FeedbackStore } from './feedback-store';
import type { AssertionStore, StoredAssertion } from './assertion-store';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics';
import type { CdsCaller } from '../auth/verify-token';
import { handleHook } from './handle-hook';
import { acceptedAlternative } from '../engine/apply';
import type { HookDeps, HookOutcome } from './handle-hook';
import { validateFeedback } from './request-schema';

/** One audit row (see src/storage/audit.ts). */
type AuditEntry = { at: string; clientIss?: string; serviceId: string; hook: string; hookInstance: string; status: number; latencyMs: number; cardsByType: Record<string, number>; decisionIds: string[] };

/** Where each invocation is recorded for disputes (CRD: keep a log of every invocation and response). */
export interface InvocationAudit {
  /** Write-behind, for answers that promise nothing durable. */
  record(r: AuditEntry): void;
  /** Resolves once committed: the audit row of an answer carrying coverage-assertion ids (issue 13). */
  recordDurably?(r: AuditEntry): Promise<void>;
}

export interface CdsRouterDeps extends HookDeps {
  audit?: InvocationAudit;
  metrics?: Metrics;
  feedback: FeedbackStore;
  /** Coverage assertions are kept: claims, appeals and the details app quote their ids. */
  assertions: AssertionStore;
  logger: Logger;
  publicUrl?: string;
  /** Called after each answered hook (audit and coverage-assertion storage hang off this). */
  onHookAnswered?: (service: LoadedService, body: { hookInstance?: unknown }, outcome: HookOutcome) => void;
}

/** The public base URL: configured, or this request's scheme and host. */
export function baseUrlOf(req: Request, publicUrl: string | undefined): string {
  return publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
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

/** CDS Hooks 2.0 endpoints: discovery, service invocation and feedback. */
export function cdsRouter(deps: CdsRouterDeps): Router {
  const router = Router();
  const service = (param: string | string[] | undefined): LoadedService => {
    const id = typeof param === 'string' ? param : undefined;
    const s = id ? deps.knowledge.services.get(id) : undefined;
    if (!s) throw notFound(`No CDS service with id "${String(id).slice(0, 64)}". GET /cds-services lists them.`);
    return s;
  };

  router.get('/cds-services', (_req, res) => {
    res.json(discovery(deps.knowledge, deps.now()));
  });

  /** The audit row of this call as answered with `status` (cards, decisions and caller from res.locals). */
  const auditEntry = (req: Request, locals: Record<string, unknown>, status: number): AuditEntry => {
    const l = locals as { serviceId?: string; hookInstance?: string; outcome?: HookOutcome; caller?: CdsCaller; hook?: string; auditStarted: bigint; auditAt: string };
    const cardsByType: Record<string, number> = {};
    for (const c of l.outcome?.response.cards ?? []) {
      const type = c.source.topic?.code ?? 'untyped';
      cardsByType[type] = (cardsByType[type] ?? 0) + 1;
    }
    return {
      at: l.auditAt,
      ...(l.caller ? { clientIss: l.caller.iss } : {}),
      serviceId: l.serviceId ?? String(req.params['id'] ?? '').slice(0, 64),
      hook: l.hook ?? 'unknown',
      hookInstance: l.hookInstance ?? 'unknown',
      status,
      latencyMs: Number(process.hrtime.bigint() - l.auditStarted) / 1e6,
      cardsByType,
      decisionIds: (l.outcome?.decisions ?? []).map((d) => d.assertionId),
    };
  };

  /** Audits every invocation once its answer has gone out (success or failure), off the request path. */
  const auditInvocation: RequestHandler = (req, res, next) => {
    res.locals['auditStarted'] = process.hrtime.bigint();
    res.locals['auditAt'] = deps.now().toISOString();
    res.on('finish', () => {
      const entry = auditEntry(req, res.locals, res.statusCode);
      for (const [type, n] of Object.entries(entry.cardsByType)) deps.metrics?.cards.inc({ service: entry.serviceId, type }, n);
      for (const d of (res.locals['outcome'] as HookOutcome | undefined)?.decisions ?? []) deps.metrics?.decisions.inc({ service: entry.serviceId, covered: d.covered });
      // Already committed before the answer (persistDecisions): not written twice.
      if (res.locals['auditCommitted'] === true) return;
      deps.audit?.record(entry);
    });
    next();
  };

  /**
   * Durable before acknowledged (issue 13): the coverage assertions and the audit row of an answer that carries
   * coverage-assertion ids are committed before the answer is sent — claims and appeals quote those ids months
   * later. When storage cannot commit within STORAGE_COMMIT_WAIT_MS this throws StorageUnavailableError (→ 503
   * with Retry-After, src/http/errors.ts) and no id is handed out; too many decisions in one call → 413.
   */
  const persistDecisions = async (req: Request, res: Response, s: LoadedService, body: { hookInstance?: unknown }, outcome: HookOutcome): Promise<void> => {
    const decidedAt = deps.now().toISOString();
    const stored: StoredAssertion[] = outcome.decisions.map((d) => ({ ...d, policy: s.plan.canonical, serviceId: s.definition.id, hookInstance: String(body.hookInstance), decidedAt }));
    const entry = auditEntry(req, res.locals, 200);
    try {
      await Promise.all([deps.assertions.save(stored), deps.audit?.recordDurably ? deps.audit.recordDurably(entry) : deps.audit?.record(entry)]);
    } catch (err) {
      deps.metrics?.storageWriteFailures.inc({ what: 'assertion' });
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err), count: stored.length }, 'coverage assertions not committed: the call is refused, no assertion id handed out');
      // The refusal's audit row (written on 'finish') then lists no cards and no decisions: none went out.
      res.locals['outcome'] = undefined;
      throw err;
    }
    res.locals['auditCommitted'] = true;
  };

  router.post('/cds-services/:id', auditInvocation, requireJson, async (req, res) => {
    const s = service(req.params['id']);
    res.locals['serviceId'] = s.definition.id;
    res.locals['hook'] = s.definition.hook;
    const body = req.body as { hookInstance?: unknown };
    if (typeof body.hookInstance === 'string' && body.hookInstance.length <= 64) res.locals['hookInstance'] = body.hookInstance;
    const base = baseUrlOf(req, deps.publicUrl);
    const outcome = await handleHook(s, body, deps, (url) => (/^https?:\/\//.test(url) ? url : `${base}${url.startsWith('/') ? '' : '/'}${url}`));
    deps.onHookAnswered?.(s, body, outcome);
    res.locals['outcome'] = outcome;
    if (outcome.decisions.length > 0) await persistDecisions(req, res, s, body, outcome);
    sendPostJson(res, outcome.response);
  });

  router.post('/cds-services/:id/feedback', requireJson, async (req, res) => {
    const s = service(req.params['id']);
    res.locals['serviceId'] = s.definition.id;
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
        acceptedSuggestions: ((f['acceptedSuggestions'] as Array<{ id: string }> | undefined) ?? []).map((a) => acceptedAlternative(s.plan, f['card'] as string, a.id) ?? a.id),
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
