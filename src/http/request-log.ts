import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/**
 * One log line per request: request id, method, route, status, duration, and for hook calls the service and
 * hookInstance. Never headers, bodies, tokens or patient identifiers.
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const inbound = req.get('x-request-id');
    const id = inbound && /^[A-Za-z0-9._-]{1,64}$/.test(inbound) ? inbound : randomUUID();
    res.setHeader('X-Request-Id', id);
    res.on('finish', () => {
      const locals = res.locals as { serviceId?: string; hookInstance?: string };
      logger.info({
        requestId: id,
        method: req.method,
        route: (req.route as { path?: string } | undefined)?.path ?? req.path.slice(0, 100),
        status: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - start) / 1e6,
        ...(locals.serviceId ? { service: locals.serviceId } : {}),
        ...(locals.hookInstance ? { hookInstance: locals.hookInstance } : {}),
      }, 'request served');
    });
    next();
  };
}
