import { createHash, randomUUID } from 'node:crypto';
import express from 'express';
import type { Express } from 'express';
import cors from 'cors';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { AppConfig } from './config';
import { loadRequestBounds } from './config';
import type { KnowledgeBase } from './knowledge/knowledge-base';
import { cdsRouter } from './cds/routes';
import { pagesRouter } from './cds/pages';
import { applyHandler, fhirRouter } from './fhir-endpoint/routes';
import { smartRouter } from './smart/routes';
import type { AssertionStore } from './cds/assertion-store';
import { MemoryAssertionStore } from './cds/assertion-store';
import { Catalog } from './engine/catalog';
import { discoveryTemplate } from './cds/discovery';
import { governingPolicies } from './decision/decide';
import type { FeedbackStore } from './cds/feedback-store';
import { MemoryFeedbackStore } from './cds/feedback-store';
import { errorHandler, unknownRoute } from './http/errors';
import { requestLog } from './http/request-log';
import { inputLimits } from './http/input-limits';
import { requireCdsClient, requireClientOrAdmin } from './auth/middleware';
import { BodyBudget, jsonBody } from './http/json-body';
import type { TrustedClient } from './auth/clients';
import { clientTargets } from './auth/clients';
import { KeySets } from './auth/key-sets';
import type { ReplayStore } from './auth/replay-store';
import { MemoryReplayStore } from './auth/replay-store';
import { Metrics } from './observability/metrics';
import { adminRouter } from './admin/routes';
import type { Report } from './admin/report-page';
import { REPORT_STYLE } from './admin/report-page';
import { PAGE_STYLE } from './http/html';
import type { InvocationAudit } from './cds/routes';
import { isPastReview } from './knowledge/policies';
import { HttpError } from './http/errors';
import type { TargetRule } from './egress/target-policy';

/** PlanDefinition/$apply: a client JWT or the admin token when CDS_CLIENTS is set; MAX_BODY_BYTES. */
const APPLY_PATH = '/fhir/PlanDefinition/:id/\\$apply';
const APPLY_PATH_PATTERN = /^\/fhir\/PlanDefinition\/[^/]+\/\$apply$/;

/** Everything the app is built from; tests pass their own clock, ids and stores. */
export interface AppDeps {
  config: AppConfig;
  knowledge: KnowledgeBase;
  /** The knowledge compiled; built from `knowledge` when not given. */
  catalog?: Catalog;
  logger: Logger;
  feedback?: FeedbackStore;
  assertions?: AssertionStore;
  /** Trusted CDS clients (CDS_CLIENTS); when given, every CDS call needs a client JWT. */
  clients?: TrustedClient[];
  replay?: ReplayStore;
  keySets?: KeySets;
  audit?: InvocationAudit;
  metrics?: Metrics;
  /** Reports for payer staff (needs the database). */
  report?: (window: { from: Date; to: Date }) => Promise<Report>;
  /** Readiness beyond the knowledge being loaded (e.g. the database answers). */
  readiness?: () => Promise<Record<string, string>>; // 'ok' or what is wrong
  now?: () => Date;
  newId?: () => string;
}

/**
 * Reports a knowledge expression that failed while answering a call: counted per policy, logged once per
 * expression with the policy and where it is — never the order or the patient (the error text is cut of quoted
 * values, which may come from the request).
 */
export function expressionErrorReporter(logger: Logger, metrics: Metrics): (policy: string, path: string, error: unknown) => void {
  const logged = new Set<string>();
  return (policy, path, error) => {
    metrics.expressionErrors.inc({ policy });
    const key = `${policy} ${path}`;
    if (logged.has(key) || logged.size > 10_000) return;
    logged.add(key);
    const message = error instanceof Error ? error.message.replace(/(['"`]).*?\1/g, '…').slice(0, 200) : 'failed';
    logger.error({ policy, path, error: message }, 'a knowledge expression failed at run time; the card keeps its written text');
  };
}

/** Builds the Express app without listening (tests use it through supertest; server.ts listens). */
export function createApp(deps: AppDeps): Express {
  const { config, knowledge, logger } = deps;
  const app = express();
  const metrics = deps.metrics ?? new Metrics({ defaultMetrics: false });
  const now = deps.now ?? (() => new Date());
  metrics.knowledgePastReview.set([...knowledge.policies.values()].filter((p) => isPastReview(p, now())).length);
  const onExpressionError = expressionErrorReporter(logger, metrics);
  const catalog = deps.catalog ?? new Catalog(knowledge, { onExpressionError });
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  // Without CDS_PUBLIC_URL, links are built only on these Host headers (cds/routes.ts baseUrlOf).
  app.locals['trustedHosts'] = config.trustedHosts;
  // Where an EHR's token may go: its registered fhirServers with CDS_CLIENTS, FHIR_SERVER_ALLOWLIST when open.
  const targetsByIss = new Map((deps.clients ?? []).map((c) => [c.iss, clientTargets(c, config.production)]));
  const fhirTargets = (iss: string | undefined): readonly TargetRule[] => (deps.clients?.length ? (iss ? targetsByIss.get(iss) ?? [] : []) : config.fhirServerAllowlist);
  app.use(...requestLog(logger, metrics));
  // Security headers that keep CORS working for EHR browser clients (Cross-Origin-Resource-Policy: cross-origin)
  // and let the details app run inside an EHR iframe: CSP frame-ancestors governs framing, not X-Frame-Options.
  app.use(helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // The server-rendered pages' (policy, report) inline styles, by hash; no other inline style.
        styleSrc: ["'self'", ...[PAGE_STYLE, REPORT_STYLE].map((css) => `'sha256-${createHash('sha256').update(css).digest('base64')}'`)],
        imgSrc: ["'self'", 'data:'],
        // The app reads the EHR's FHIR server, whose origin is only known at launch.
        connectSrc: ["'self'", 'https:', 'http:'],
        frameAncestors: config.smartFrameAncestors.split(/\s+/).filter(Boolean),
        formAction: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
      },
    },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    crossOriginEmbedderPolicy: false,
    frameguard: false,
  }));
  // CDS Hooks §Security: browser clients (the CDS Hooks sandbox, SMART apps) preflight every call.
  app.use(cors({ origin: '*', methods: ['GET', 'POST', 'OPTIONS'], allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'], exposedHeaders: ['X-Request-Id'], maxAge: 86400 }));
  // Client authentication reads only headers, so it runs before any body is buffered (issue 13, item 4).
  const bounds = config.bounds ?? loadRequestBounds({});
  if (deps.clients && deps.clients.length > 0) {
    // CDS Hooks 2.0 §Trusting CDS Clients: discovery, invocation and feedback all carry the client's JWT.
    const clientAuth = requireCdsClient({
      publicUrl: config.publicUrl ?? '',
      clients: new Map(deps.clients.map((c) => [c.iss, c])),
      keySets: deps.keySets ?? new KeySets({ timeoutMs: 2000, maxBytes: 256 * 1024, maxAgeMs: 10 * 60_000, cooldownMs: 30_000 }),
      replay: deps.replay ?? new MemoryReplayStore(() => now().getTime()),
      algorithms: config.jwtAlgorithms,
      clockToleranceSec: 30,
      maxLifetimeSec: 300,
      onFailure: () => metrics.authFailures.inc(),
      ...(deps.now ? { now: deps.now } : {}),
    });
    app.use('/cds-services', clientAuth);
    app.post(APPLY_PATH, requireClientOrAdmin(config.adminToken, clientAuth));
  }
  // Bodies are read within bounds (size, time, bytes held across requests); routes no client authentication guards
  // take PUBLIC_MAX_BODY_BYTES at most. strict: false semantics: a JSON string or number body reaches the routes,
  // which say "must be a JSON object" (it is valid JSON).
  const publicMax = Math.min(bounds.publicMaxBodyBytes, config.maxBodyBytes);
  app.use(jsonBody({
    types: ['application/json', 'application/fhir+json', 'application/*+json'],
    maxBytes: (req) => (req.path.startsWith('/cds-services') || APPLY_PATH_PATTERN.test(req.path) ? config.maxBodyBytes : publicMax),
    budget: new BodyBudget(bounds.maxBufferedBytes),
    timeoutMs: bounds.bodyTimeoutMs,
  }));
  app.use(inputLimits());
  const template = discoveryTemplate(catalog);
  const shared = {
    knowledge,
    catalog,
    allowDraft: config.allowDraft,
    onExpressionError,
    now: deps.now ?? (() => new Date()),
    newId: deps.newId ?? randomUUID,
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    limits: { maxDecisions: bounds.maxDecisionsPerCall, maxCoverages: bounds.maxCoveragesPerCall, maxAnswerBytes: bounds.maxAnswerBytes },
  };
  const assertions = deps.assertions ?? new MemoryAssertionStore();
  app.use(cdsRouter({
    ...shared,
    discovery: template,
    options: template.options,
    feedback: deps.feedback ?? new MemoryFeedbackStore(),
    assertions,
    logger,
    metrics,
    ...(deps.audit ? { audit: deps.audit } : {}),
    fetchOptions: { timeoutMs: config.fhirTimeoutMs, maxBytes: config.fhirMaxResponseBytes, production: config.production },
    fhirTargets,
    onFhirRead: (outcome, seconds) => metrics.fhirFetch.observe({ outcome }, seconds),
  }));
  app.use(fhirRouter(shared));
  app.use(smartRouter({
    assertions, clientId: config.smartClientId, payerName: knowledge.payer.name ?? 'Health plan',
    launchTargets: deps.clients?.length ? [...targetsByIss.values()].flat() : config.fhirServerAllowlist, production: config.production,
    apply: { handler: applyHandler(shared), perMinute: bounds.smartApplyPerMinute },
    match: (orders) => governingPolicies(catalog, orders, now(), config.allowDraft)
      .map(({ order, policy }) => ({ order: order.reference, planDefinition: policy.policy.resource.id ?? '', title: policy.policy.resource.title ?? '' })),
  }));
  app.use(adminRouter({ assertions, now, ...(config.adminToken ? { token: config.adminToken } : {}), ...(deps.report ? { report: deps.report } : {}) }));
  app.get('/metrics', async (req, res) => {
    if (config.metricsToken && req.get('authorization') !== `Bearer ${config.metricsToken}`) throw new HttpError(401, 'login', 'Scraping needs Authorization: Bearer <METRICS_TOKEN>.');
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  // Ready: the knowledge is loaded (it is, or the app would not exist) and the database answers.
  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = { knowledge: 'ok', ...(deps.readiness ? await deps.readiness() : {}) };
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.use(pagesRouter(catalog, now, config.allowDraft));
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use(unknownRoute);
  app.use(errorHandler(logger));
  return app;
}
