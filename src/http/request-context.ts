import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/**
 * What one request carries through the layers, typed (instead of untyped `res.locals` bags), as Medplum's
 * AsyncLocalStorage request context does: the request id and a child logger, and for CDS calls the service, hook,
 * hookInstance, verified caller and what was decided. Never a token, a body or a patient identifier.
 */
export interface RequestContext {
  requestId: string;
  logger: Logger;
  /** The CDS service id called (for an alias, the service it stands for). */
  serviceId?: string;
  hook?: string;
  hookInstance?: string;
  /** The verified CDS client (CDS_CLIENTS), when the call was authenticated. */
  caller?: { iss: string; tenant?: string };
  /** Card counts by card type and the coverage decisions of a hook call (audit, metrics). */
  cardsByType?: Record<string, number>;
  decisions?: Array<{ assertionId: string; covered: string }>;
  /** The call's audit row was committed with its decisions, before the answer: not written again on finish. */
  auditCommitted?: boolean;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the request being handled (undefined outside a request, e.g. in a timer). */
export function requestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Starts a request's context; everything the request does, sync or async, sees it. */
export function withRequestContext(make: (req: Parameters<RequestHandler>[0]) => RequestContext): RequestHandler {
  return (req, res, next) => {
    const ctx = make(req);
    res.locals['context'] = ctx;
    storage.run(ctx, next);
  };
}

/** The context a handler runs in (also reachable after the response, from `finish` listeners). */
export function contextOf(res: { locals: Record<string, unknown> }): RequestContext | undefined {
  return res.locals['context'] as RequestContext | undefined;
}
