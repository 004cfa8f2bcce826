import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../http/errors';
import { AuthError, verifyCdsToken } from './verify-token';
import { contextOf } from '../http/request-context';
import type { VerifyOptions } from './verify-token';

/** A 401 that tells the client what was wrong (RFC 6750 §3) without echoing its token. */
function unauthorized(description: string): HttpError {
  // RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E; anything else (e.g. "−") would make
  // Node refuse the header and turn the 401 into a 500.
  const safe = description.replace(/\u2212/g, '-').replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, ' ');
  return new HttpError(401, 'login', description, undefined, {
    'WWW-Authenticate': `Bearer realm="cds-services", error="invalid_token", error_description="${safe}"`,
  });
}

/**
 * Requires a CDS client JWT on every call it guards (discovery, invocation, feedback). The audience is the exact URL
 * called under CDS_PUBLIC_URL (CDS Hooks 2.0: `aud` is "the URL of the CDS Service endpoint being invoked").
 */
export function requireCdsClient(options: VerifyOptions & { publicUrl: string; onFailure?: () => void }): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    const match = header ? /^Bearer\s+([A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_.+/=]*)$/i.exec(header.trim()) : null;
    if (!header) {
      next(new HttpError(401, 'login', 'This service requires Authorization: Bearer <JWT> from a registered CDS client.', undefined, { 'WWW-Authenticate': 'Bearer realm="cds-services"' }));
      return;
    }
    if (!match?.[1] || header.length > 16_384) {
      next(unauthorized('The Authorization header does not carry a bearer JWT.'));
      return;
    }
    const audience = `${options.publicUrl}${req.originalUrl.split('?')[0] ?? ''}`;
    verifyCdsToken(match[1], audience, options).then((caller) => {
      const ctx = contextOf(res);
      if (ctx) ctx.caller = caller;
      next();
    }, (err: unknown) => {
      options.onFailure?.();
      next(err instanceof AuthError ? unauthorized(err.message) : err);
    });
  };
}

/**
 * PlanDefinition/$apply when CDS_CLIENTS is set: a registered client's JWT (audience: the $apply URL), or
 * `Authorization: Bearer <ADMIN_TOKEN>` for payer staff. Checked from the header alone, before the body is read.
 */
export function requireClientOrAdmin(adminToken: string | undefined, client: RequestHandler): RequestHandler {
  const expected = adminToken ? Buffer.from(`Bearer ${adminToken}`) : undefined;
  return (req, res, next) => {
    const given = Buffer.from(req.get('authorization') ?? '');
    if (expected && given.length === expected.length && timingSafeEqual(given, expected)) {
      next();
      return;
    }
    client(req, res, next);
  };
}
