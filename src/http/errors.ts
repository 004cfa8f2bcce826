import type { OperationOutcome } from 'fhir/r4';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { StorageTooLargeError, asStorageUnavailable } from '../storage/unavailable';
import { WorkLimitError } from '../decision/limits';

/** FHIR issue-type codes this service uses (http://hl7.org/fhir/issue-type). */
export type IssueCode = 'invalid' | 'structure' | 'required' | 'value' | 'not-found' | 'not-supported' | 'too-costly'
  | 'security' | 'login' | 'exception' | 'timeout' | 'processing' | 'incomplete' | 'too-long' | 'throttled' | 'business-rule' | 'transient';

/** An HTTP error rendered to the client as a FHIR OperationOutcome (Medplum-style typed errors). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly issueCode: IssueCode,
    message: string,
    readonly expression?: string[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Builds a single-issue OperationOutcome. */
export function operationOutcome(severity: 'error' | 'warning' | 'information', code: IssueCode, diagnostics: string, expression?: string[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, diagnostics, ...(expression && expression.length > 0 ? { expression } : {}) }],
  };
}

export const badRequest = (message: string, expression?: string[]): HttpError => new HttpError(400, 'invalid', message, expression);
export const notFound = (message: string): HttpError => new HttpError(404, 'not-found', message);

/** 404 for any route nobody answered. */
export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(notFound(`No route for ${req.method} ${req.path}`));
};

/** Body-parser errors carry `type` and `status`; map them to precise codes. */
function fromBodyParser(err: { type?: string; status?: number; message?: string }): HttpError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'structure', 'The request body is not valid JSON.');
    case 'entity.too.large':
      return new HttpError(413, 'too-long', 'The request body is larger than this service accepts.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'not-supported', 'Unsupported content encoding or charset; send UTF-8 JSON.');
    case 'request.aborted':
      return new HttpError(400, 'incomplete', 'The request was aborted before its body was received.');
    default:
      return undefined;
  }
}

/**
 * Storage that cannot take the call now (down, cut, locked, timed out, queue full, still loading) is a 503 with
 * Retry-After (RFC 9110 §15.6.4, §10.2.3) and issue type `transient`; a call too large to store is a 413. Never a
 * 500, and never after an answer that promised something storage did not keep (issue 13).
 */
function fromStorage(err: unknown): { http: HttpError; reason?: string } | undefined {
  if (err instanceof StorageTooLargeError) return { http: new HttpError(413, 'too-costly', err.message) };
  const unavailable = asStorageUnavailable(err);
  if (!unavailable) return undefined;
  return { http: new HttpError(503, 'transient', unavailable.message, undefined, { 'Retry-After': String(unavailable.retryAfterSec) }), reason: unavailable.reason };
}

/**
 * The one error handler: every failure leaves as an OperationOutcome; a 500 never shows a stack or internal
 * detail to the client (the log has it).
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  // Refusals while earlier runs' jti claims load are expected at every start, and EHRs retry them often: the first
  // is logged, the rest would be one synchronous log write per retry on a core that is busy starting up.
  let loadingLogged = false;
  return (err: unknown, req, res, _next) => {
    const refusal = err instanceof HttpError ? undefined : fromStorage(err);
    const storage = refusal?.http;
    const loading = refusal?.reason === 'loading';
    // Logged without the request: the reason and the driver's code are enough to act on.
    if (storage && !(loading && loadingLogged)) {
      loadingLogged ||= loading;
      logger.warn({ method: req.method, path: req.path, status: storage.status, err: (err as Error).message, code: (err as { code?: unknown }).code }, loading ? 'storage could not serve the request (further refusals while loading are not logged)' : 'storage could not serve the request');
    }
    const limit = err instanceof WorkLimitError ? new HttpError(err.status, err.status === 413 ? 'too-costly' : 'business-rule', err.message, err.expression) : undefined;
    const known = err instanceof HttpError ? err : storage ?? limit ?? fromBodyParser(err as { type?: string });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Refused before its body arrived (401 before reading, 413 by Content-Length…): close rather than read the rest.
    if (!req.complete) res.setHeader('Connection', 'close');
    if (known) {
      if (known.headers) res.set(known.headers);
      res.status(known.status).type('application/fhir+json').json(operationOutcome('error', known.issueCode, known.message, known.expression));
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
    res.status(500).type('application/fhir+json').json(operationOutcome('error', 'exception', 'Internal error; the event was logged.'));
  };
}
