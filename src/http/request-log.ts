import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics';

/**
 * One log line per request: request id, method, route, status, duration, and for hook calls the CDS service (cdsService) and
 * hookInstance. Never headers, bodies, tokens or patient identifiers.
 */
export function requestLog(logger: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const inbound = req.get('x-request-id');
    const id = inbound && /^[A-Za-z0-9._-]{1,64}$/.test(inbound) ? inbound : randomUUID();
    res.setHeader('X-Request-Id', id);
    res.on('finish', () => {
      const locals = res.locals as { serviceId?: string; hookInstance?: string; hook?: string };
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      // The route pattern, never the raw path: paths can carry ids, and labels must stay a bounded set.
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics?.requestDuration.observe({ route, service: locals.serviceId ?? '', hook: locals.hook ?? '', status: String(res.statusCode) }, seconds);
      logger.info({
        requestId: id,
        method: req.method,
        route,
        status: res.statusCode,
        durationMs: seconds * 1000,
        ...(locals.serviceId ? { cdsService: locals.serviceId } : {}),
        ...(locals.hookInstance ? { hookInstance: locals.hookInstance } : {}),
      }, 'request served');
    });
    next();
  };
}
