import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Router } from 'express';
import type { RequestHandler } from 'express';
import { rateLimit } from '../http/rate-limit';
import type { AssertionStore } from '../cds/assertion-store';
import type { OrderInScope } from '../engine/apply';
import { badRequest, HttpError, notFound } from '../http/errors';
import { isDecidable } from '../decision/scope';
import { escapeHtml, page } from '../http/html';
import { checkTarget } from '../egress/target-policy';
import type { TargetRule } from '../egress/target-policy';

export interface SmartRouterDeps {
  assertions: AssertionStore;
  clientId: string;
  /** The payer's name, in the app's page titles. */
  payerName: string;
  /** Which policy would govern each order (decision/decide.ts governingPolicies): PlanDefinition ids. */
  match: (orders: OrderInScope[]) => Array<{ order: string; planDefinition: string; title: string }>;
  /** Where the bundled app lives (dist/public/smart after `npm run build`). */
  assetsDir?: string;
  /**
   * The FHIR servers a launch may name as `iss`: every registered client's fhirServers (CDS_CLIENTS), else
   * FHIR_SERVER_ALLOWLIST. Absent: none (every launch naming an iss is refused).
   */
  launchTargets?: readonly TargetRule[];
  /** NODE_ENV=production: https only. */
  production?: boolean;
  /**
   * PlanDefinition/$apply for the app (POST /smart/api/apply/{id}): the app holds the EHR's token, not one of this
   * service, so this route is open, and bounded instead: PUBLIC_MAX_BODY_BYTES and a per-address rate.
   */
  apply?: { handler: RequestHandler; perMinute: number };
}

/** Scopes the app asks for (smart.md): launch context, identity, the reads it needs, and create for the alternatives. */
export const SMART_SCOPES = [
  'openid', 'fhirUser',
  'patient/Patient.rs', 'patient/ServiceRequest.rs', 'patient/Coverage.rs',
  'patient/ServiceRequest.c', 'patient/MedicationRequest.c', 'patient/DeviceRequest.c',
];

const ASSETS = new Set(['launch.js', 'app.js', 'app.css', 'launch.js.map', 'app.js.map']);
const ASSERTION_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function shell(title: string, script: string, config: Record<string, unknown>): string {
  // The config travels in a data attribute, HTML-escaped: no inline script, so a strict CSP can apply.
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="/smart/assets/app.css"></head>
<body><div id="app" data-config="${escapeHtml(JSON.stringify(config))}" aria-live="polite"><p class="loading">Loading…</p></div>
<script src="/smart/assets/${script}"></script></body></html>`;
}

/**
 * The details app: `/smart/launch` (the launch URL EHRs register), `/smart/app` (the redirect URI, and the "about"
 * view when opened without a launch), the bundled assets, and `/smart/api/decisions/{coverage-assertion-id}`,
 * which returns what was decided without any patient data.
 */
export function smartRouter(deps: SmartRouterDeps): Router {
  const router = Router();
  // Built next to the compiled server (dist/public/smart); from the TypeScript sources, the same dist folder.
  const candidates = deps.assetsDir ? [deps.assetsDir] : [resolve(__dirname, '..', 'public', 'smart'), resolve(__dirname, '..', '..', 'dist', 'public', 'smart')];
  const assetsDirNow = (): string => candidates.find((c) => existsSync(c)) ?? candidates[0] ?? '';
  const config = { clientId: deps.clientId, scope: SMART_SCOPES.join(' ') };

  router.get('/smart/launch', (req, res) => {
    // Checked here, before the page loads: the browser is sent to the authorize endpoint of a registered FHIR server
    // only. Every server fhirclient may take from the URL (`iss`, `fhirServiceUrl`) is checked, each named once.
    const params = new URL(req.originalUrl, 'http://launch.invalid').searchParams;
    const named = ['iss', 'fhirServiceUrl'].flatMap((k) => params.getAll(k).map((v) => ({ k, v })));
    const refused = named.find(({ k, v }) => params.getAll(k).length > 1 || !checkTarget(v, deps.launchTargets ?? [], { production: deps.production === true }).allowed);
    if (refused) {
      res.status(400).type('html').send(page(`${deps.payerName} policy details — cannot launch`, `<h1>This launch cannot continue</h1>
<p>The EHR this launch names is not registered with ${escapeHtml(deps.payerName)}'s coverage service, so the app was not opened and you were not sent anywhere.</p>
<p>Open the app again from the card in your EHR. If this keeps happening, tell your EHR support team.</p>`));
      return;
    }
    res.type('html').send(shell(`${deps.payerName} policy details — launching`, 'launch.js', config));
  });
  router.get('/smart/app', (_req, res) => {
    res.type('html').send(shell(`${deps.payerName} policy details`, 'app.js', config));
  });
  router.get('/smart/assets/:file', (req, res) => {
    const file = req.params['file'] ?? '';
    const path = join(assetsDirNow(), file);
    if (!ASSETS.has(file)) throw notFound(`No asset ${file.slice(0, 64)}.`);
    if (!existsSync(path)) throw new HttpError(503, 'not-supported', 'The details app is not built: run `npm run build`.');
    res.type(file.endsWith('.css') ? 'css' : file.endsWith('.map') ? 'json' : 'js').setHeader('Cache-Control', 'public, max-age=300');
    res.send(readFileSync(path));
  });
  router.get('/smart/api/decisions/:id', async (req, res) => {
    const id = req.params['id'] ?? '';
    const found = ASSERTION_ID.test(id) ? await deps.assertions.get(id) : undefined;
    if (!found) throw notFound(`No coverage decision ${id.slice(0, 64)} is on record.`);
    res.json({
      assertionId: found.assertionId,
      order: found.orderReference,
      covered: found.covered,
      ...(found.reasonText ? { reason: found.reasonText } : {}),
      ...(found.reasonCode ? { reasonCode: found.reasonCode } : {}),
      billingCodes: found.billingCodes,
      policy: found.policy,
      decidedAt: found.decidedAt,
    });
  });
  /**
   * For a launch that names no decision (an EHR without appContext support): which of the plan's policies governs
   * each of these orders, from the order alone. Nothing is decided, stored or logged; at most 100 orders.
   */
  router.post('/smart/api/policies/match', (req, res) => {
    const orders = (req.body as { orders?: unknown } | undefined)?.orders;
    if (!Array.isArray(orders) || orders.length > 100) throw badRequest('Send {"orders": [...]}, at most 100 FHIR order resources.', ['orders']);
    const scoped: OrderInScope[] = [];
    orders.forEach((o: unknown, i) => {
      const r = o as { resourceType?: unknown; id?: unknown } | null;
      if (!r || typeof r.resourceType !== 'string' || typeof r.id !== 'string' || !ASSERTION_ID.test(r.id)) throw badRequest(`orders[${i}] must be a FHIR resource with resourceType and id.`, [`orders[${i}]`]);
      const order: OrderInScope = { resource: o as OrderInScope['resource'], reference: `${r.resourceType}/${r.id}` };
      if (isDecidable(order)) scoped.push(order);
    });
    res.json({ matches: deps.match(scoped) });
  });
  if (deps.apply) router.post('/smart/api/apply/:id', rateLimit({ perMinute: deps.apply.perMinute }), deps.apply.handler);
  return router;
}

/** Reads a built asset's size (for the benchmark and tests). */
export function assetSize(assetsDir: string, file: string): number {
  return readFileSync(join(assetsDir, file)).byteLength;
}
