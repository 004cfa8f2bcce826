import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics';
import { contextOf, withRequestContext } from './request-context';

/**
 * Starts each request's context (request id, child logger) and writes one log line per request: request id,
 * method, route, status, duration, and for hook calls the CDS service (cdsService) and hookInstance. Never
 * headers, bodies, tokens or patient identifiers.
 */
export function requestLog(logger: Logger, metrics?: Metrics): RequestHandler[] {
  const start: RequestHandler = withRequestContext((req) => {
    const inbound = req.get('x-request-id');
    const requestId = inbound && /^[A-Za-z0-9._-]{1,64}$/.test(inbound) ? inbound : randomUUID();
    // The child logger is made when something logs through it: most requests never do, and pino's child()
    // serializes its bindings (a measurable share of a small request's CPU, issue 15).
    let child: Logger | undefined;
    return {
      requestId,
      get logger(): Logger {
        return (child ??= logger.child({ requestId }));
      },
    };
  });
  const log: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    const ctx = contextOf(res);
    if (ctx) res.setHeader('X-Request-Id', ctx.requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The route pattern, never the raw path: paths can carry ids, and labels must stay a bounded set.
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics?.requestDuration.observe({ route, service: ctx?.serviceId ?? '', hook: ctx?.hook ?? '', status: String(res.statusCode) }, seconds);
      logger.info({
        requestId: ctx?.requestId,
        method: req.method,
        route,
        status: res.statusCode,
        durationMs: seconds * 1000,
        ...(ctx?.serviceId ? { cdsService: ctx.serviceId } : {}),
        ...(ctx?.hookInstance ? { hookInstance: ctx.hookInstance } : {}),
      }, 'request served');
    });
    next();
  };
  return [start, log];
}
