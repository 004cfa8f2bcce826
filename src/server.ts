import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { loadConfig } from './config';
import type { AppConfig } from './config';
import { loadKnowledge } from './knowledge/knowledge-base';
import { createLogger } from './logger';
import { loadTrustedClients } from './auth/clients';
import { Metrics } from './observability/metrics';
import { openPersistence } from './persistence';
import { Catalog } from './engine/catalog';
import { createApp, expressionErrorReporter } from './app';

/** Longest wait for a request's headers (slowloris); the keep-alive idle time is separate (keepAliveTimeout). */
const HEADERS_TIMEOUT_MS = 20_000;

/** A running service and the way to stop it cleanly. */
export interface RunningService {
  server: Server;
  url: string;
  /** Resolves when storage is open (the service answers before that; /readyz tells when it is ready). */
  storageReady: Promise<unknown>;
  /** Stops listening, lets in-flight calls finish, drains storage (bounded); resolves with the rows left unwritten, per table. */
  stop: () => Promise<Record<string, number>>;
}

/** Loads the knowledge, builds the app and listens. A knowledge problem throws before any port is opened. */
export async function startService(config: AppConfig, logger: Logger): Promise<RunningService> {
  const knowledge = loadKnowledge({ knowledgeDir: config.knowledgeDir, servicesDir: config.servicesDir, payerIdentifiers: config.payerIdentifiers, allowDraft: config.allowDraft });
  // Fail before opening any port or database if the knowledge is broken (above) or the clients file is (below).
  for (const warning of knowledge.warnings) logger.warn({ file: warning.file, path: warning.path }, warning.message);
  logger.info({ policies: knowledge.policies.size, defaultRule: knowledge.defaultPolicy?.key ?? null, index: knowledge.index.stats() }, 'policy catalog loaded');
  const clients = config.cdsClientsFile ? loadTrustedClients(config.cdsClientsFile, { production: config.production }) : undefined;
  if (clients) logger.info({ issuers: clients.map((c) => c.iss), fhirServers: clients.map((c) => c.fhirServers?.length ?? 0) }, 'CDS client authentication on');
  const withoutFhirServers = (clients ?? []).filter((c) => !c.fhirServers?.length).map((c) => c.iss);
  if (withoutFhirServers.length > 0) logger.warn({ issuers: withoutFhirServers }, 'clients without registered fhirServers: their calls\' fhirServer is never read (send prefetch, or register fhirServers)');
  if (!clients) logger.warn('NO CLIENT AUTHENTICATION: CDS_CLIENTS is not set, so any caller may use the CDS services. Fine for local use; never in production.');
  const metrics = new Metrics();
  // Compiling the catalog can still find a knowledge problem (an expression fhirpath.js cannot compile): before
  // any database is opened or port taken.
  const catalog = new Catalog(knowledge, { onExpressionError: expressionErrorReporter(logger, metrics) });
  const persistence = openPersistence(config, logger, metrics, () => knowledge.payer.name);
  const app = createApp({
    config, knowledge, catalog, logger, metrics,
    ...(clients ? { clients } : {}),
    assertions: persistence.assertions,
    feedback: persistence.feedback,
    replay: persistence.replay,
    audit: persistence.audit,
    report: persistence.report,
    readiness: persistence.readiness,
  });
  let server: Server;
  try {
    // Bounded request reads (issue 13): headers within 20 s, the whole request within that plus BODY_TIMEOUT_MS (the
    // body reader answers 408 first for JSON bodies; this closes any other stalled upload), checked every second.
    const bodyTimeoutMs = config.bounds?.bodyTimeoutMs ?? 10_000;
    server = await new Promise<Server>((resolve, reject) => {
      const s = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS + bodyTimeoutMs + 1_000, connectionsCheckingInterval: 1_000 }, app);
      s.once('error', reject);
      s.listen(config.port, config.host, () => resolve(s));
    });
  } catch (e) {
    await persistence.close();
    throw e;
  }
  // Keep-alive longer than typical load balancers' idle timeout, so they close first (no reset mid-request).
  // Oversized headers or a malformed request line never reach Express: answer them as OperationOutcomes too.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: tooLarge ? 'too-long' : 'structure', diagnostics: tooLarge ? 'The request headers are too large.' : 'The HTTP request is malformed.' }] });
    socket.end(`HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  server.keepAliveTimeout = 65_000;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ url, services: [...knowledge.services.keys()] }, 'CDS Hooks service listening');
  // Graceful stop: accept nothing new, let in-flight requests finish (each waits at most STORAGE_COMMIT_WAIT_MS for
  // its commit), then drain the write queue for at most SHUTDOWN_DRAIN_MS and close the database (its pools, or
  // PGlite — which otherwise keeps the process alive).
  const stop = async (): Promise<Record<string, number>> => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    return persistence.close();
  };
  return { server, url, storageReady: persistence.opened, stop };
}

async function main(): Promise<void> {
  let logger = createLogger(process.env['LOG_LEVEL'] ?? 'info');
  try {
    const config = loadConfig();
    logger = createLogger(config.logLevel);
    const running = await startService(config, logger);
    // Storage that cannot be opened (a wrong DATABASE_URL, a corrupt data directory) is fatal, just after listening.
    running.storageReady.catch((err: unknown) => {
      process.stderr.write(`Storage could not be opened: ${err instanceof Error ? err.message : JSON.stringify(err)}\n`);
      void running.stop().finally(() => process.exit(1));
    });
    const drainMs = config.storage?.shutdownDrainMs ?? 5_000;
    const shutdown = (signal: string): void => {
      logger.info({ signal, drainMs }, 'shutting down: finishing in-flight requests');
      // Exit 1 when rows were left unwritten (persistence logged which), so an orchestrator's record shows it.
      void running.stop().then((unwritten) => process.exit(Object.keys(unwritten).length > 0 ? 1 : 0), (err: unknown) => {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'shutdown failed');
        process.exit(1);
      });
      // A last resort past the drain: in-flight calls are bounded by the commit wait and FHIR_TIMEOUT_MS.
      setTimeout(() => {
        logger.error({ drainMs }, 'shutdown did not complete in time; exiting');
        process.exit(1);
      }, drainMs + 15_000).unref();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  } catch (e) {
    // A broken knowledge file or configuration value: say exactly what, then refuse to start.
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main();
