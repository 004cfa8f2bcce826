import { Router } from 'express';
import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { LoadedService } from '../knowledge/knowledge-base';
import type { Catalog } from '../engine/catalog';
import { HttpError, badRequest, notFound } from '../http/errors';
import { contextOf } from '../http/request-context';
import { sendPostJson } from '../http/send-json';
import type { Metrics } from '../observability/metrics';
import { discovery } from './discovery';
import type { DiscoveryTemplate } from './discovery';
import type { FeedbackRecord, FeedbackStore } from './feedback-store';
import type { AssertionStore, StoredAssertion } from './assertion-store';
import { handleHook } from './handle-hook';
import type { HookDeps } from './handle-hook';
import { validateFeedback } from './request-schema';

/** Where each invocation is recorded for disputes (CRD found-37: keep a log of every invocation and response). */
export interface InvocationAudit {
  record(r: { at: string; clientIss?: string; serviceId: string; hook: string; hookInstance: string; status: number; latencyMs: number; cardsByType: Record<string, number>; decisionIds: string[] }): void;
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

  /** Audits every invocation once its answer has gone out (success or failure), off the request path. */
  const auditInvocation: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    const at = deps.now().toISOString();
    res.on('finish', () => {
      const ctx = contextOf(res);
      const serviceId = ctx?.serviceId ?? String(req.params['id'] ?? '').slice(0, 64);
      for (const [type, n] of Object.entries(ctx?.cardsByType ?? {})) deps.metrics?.cards.inc({ service: serviceId, type }, n);
      for (const d of ctx?.decisions ?? []) deps.metrics?.decisions.inc({ service: serviceId, covered: d.covered });
      deps.audit?.record({
        at,
        ...(ctx?.caller ? { clientIss: ctx.caller.iss } : {}),
        serviceId,
        hook: ctx?.hook ?? 'unknown',
        hookInstance: ctx?.hookInstance ?? 'unknown',
        status: res.statusCode,
        latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
        cardsByType: ctx?.cardsByType ?? {},
        decisionIds: (ctx?.decisions ?? []).map((d) => d.assertionId),
      });
    });
    next();
  };

  router.post('/cds-services/:id', auditInvocation, resolveService, requireJson, async (req, res) => {
    const s = findService(catalog, req.params['id']).service;
    const ctx = contextOf(res);
    const body = req.body as { hookInstance?: unknown };
    if (ctx && typeof body.hookInstance === 'string' && body.hookInstance.length <= 64) ctx.hookInstance = body.hookInstance;
    const base = baseUrlOf(req, deps.publicUrl);
    const outcome = await handleHook(s, body, deps, (url) => (/^https?:\/\//.test(url) ? url : `${base}${url.startsWith('/') ? '' : '/'}${url}`));
    if (ctx) {
      const cardsByType: Record<string, number> = {};
      for (const c of outcome.response.cards) {
        const type = c.source.topic?.code ?? 'untyped';
        cardsByType[type] = (cardsByType[type] ?? 0) + 1;
      }
      ctx.cardsByType = cardsByType;
      ctx.decisions = outcome.decisions.map((d) => ({ assertionId: d.assertionId, covered: d.covered }));
    }
    if (outcome.decisions.length > 0) {
      const decidedAt = deps.now().toISOString();
      const stored: StoredAssertion[] = outcome.decisions.map((d) => ({ ...d, serviceId: s.definition.id, hookInstance: String(body.hookInstance), decidedAt }));
      // A coverage-assertion-id is a promise to the EHR: it is handed to the store before the answer goes out.
      await deps.assertions.save(stored);
    }
    sendPostJson(res, outcome.response);
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
