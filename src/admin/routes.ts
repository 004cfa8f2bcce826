import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import type { RequestHandler } from 'express';
import type { AssertionStore } from '../cds/assertion-store';
import { HttpError, badRequest, notFound } from '../http/errors';
import type { Report } from './report-page';
import { reportPage } from './report-page';

export interface AdminDeps {
  /** ADMIN_TOKEN; without it the admin API is off (403). Separate from the EHRs' JWTs. */
  token?: string;
  assertions: AssertionStore;
  report?: (window: { from: Date; to: Date }) => Promise<Report>;
  now: () => Date;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Bearer ADMIN_TOKEN, compared in constant time. */
function requireAdmin(token: string | undefined): RequestHandler {
  const expected = token ? Buffer.from(token) : undefined;
  return (req, _res, next) => {
    if (!expected) {
      next(new HttpError(403, 'security', 'The admin API is off: set ADMIN_TOKEN to enable it.'));
      return;
    }
    const m = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      next(new HttpError(401, 'login', 'The admin API needs Authorization: Bearer <ADMIN_TOKEN>.', undefined, { 'WWW-Authenticate': 'Bearer realm="admin"' }));
      return;
    }
    next();
  };
}

function day(value: unknown, fallback: Date, name: string): Date {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) throw badRequest(`${name} must be a date (YYYY-MM-DD).`, [name]);
  return new Date(`${value}T00:00:00Z`);
}

/**
 * Payer staff API: what was decided under a coverage-assertion id (claims and appeals quote it), and the report
 * (cards shown per day, accepted vs overridden, override reasons, alternatives chosen, decisions by code) as an
 * HTML page with charts or as JSON.
 */
export function adminRouter(deps: AdminDeps): Router {
  const router = Router();
  router.use('/admin', requireAdmin(deps.token));
  router.get('/admin/assertions/:id', async (req, res) => {
    const id = req.params['id'] ?? '';
    const found = ID.test(id) ? await deps.assertions.get(id) : undefined;
    if (!found) throw notFound(`No coverage assertion ${id.slice(0, 64)}.`);
    // The database keeps the member as a keyed hash, not the Coverage reference: no empty `coverage` is shown.
    const { coverage, ...record } = found;
    res.json(Object.keys(coverage).length > 0 ? found : record);
  });
  router.get('/admin/report', async (req, res) => {
    if (!deps.report) throw new HttpError(503, 'not-supported', 'Reports need the database.');
    const to = day(req.query['to'], new Date(deps.now().toISOString().slice(0, 10) + 'T00:00:00Z'), 'to');
    const end = new Date(to.getTime() + 86_400_000);
    const from = day(req.query['from'], new Date(end.getTime() - 30 * 86_400_000), 'from');
    if (from >= end) throw badRequest('from must be before to.', ['from']);
    const report = await deps.report({ from, to: end });
    const window = { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
    if (req.query['format'] === 'json' || (req.accepts(['html', 'json']) === 'json')) {
      res.json({ ...window, ...report });
      return;
    }
    res.type('html').send(reportPage(report, window));
  });
  return router;
}
