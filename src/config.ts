import { resolve } from 'node:path';
import { egressSettings } from './egress/settings';
import type { TargetRule } from './egress/target-policy';
import { PGLITE_WASM_COMPILERS } from './storage/pglite-settings';
import type { PgliteWasmCompiler } from './storage/pglite-settings';

/** The service's configuration, read from the environment once at start (README "Configuration"). */
export interface AppConfig {
  /** PORT — listening port (default 3000). */
  port: number;
  /** HOST — listening address (default 0.0.0.0). */
  host: string;
  /** CDS_PUBLIC_URL — the public base URL; card links are built on it. Required in production; else from a trusted Host. */
  publicUrl?: string;
  /** CDS_TRUSTED_HOSTS — Host headers links may be built on without CDS_PUBLIC_URL (default localhost, 127.0.0.1, [::1], HOST). */
  trustedHosts: string[];
  /** FHIR_SERVER_ALLOWLIST — FHIR bases an open (no CDS_CLIENTS) service reads and launches from (default: sandbox, loopback). */
  fhirServerAllowlist: TargetRule[];
  /** KNOWLEDGE_DIR — FHIR knowledge resources (default ./fhir-resources). */
  knowledgeDir: string;
  /** CDS_SERVICES_DIR — CDS service declarations (default ./cds-services). */
  servicesDir: string;
  /** PAYER_IDENTIFIERS — payor identifiers (`system|value`) or `Organization/id` references added to the payer Organization's. */
  payerIdentifiers: string[];
  /** POLICY_ALLOW_DRAFT — draft policies fire too (for trying a policy before it is published; never in production). */
  allowDraft: boolean;
  /** FHIR_TIMEOUT_MS — budget for each query to the EHR's FHIR server (default 2000, well inside CRD's 5 s). */
  fhirTimeoutMs: number;
  /** FHIR_MAX_RESPONSE_BYTES — the largest FHIR response read from the EHR (default 2 MiB). */
  fhirMaxResponseBytes: number;
  /** MAX_BODY_BYTES — the largest request body accepted (default 5 MiB; larger → 413). */
  maxBodyBytes: number;
  /** LOG_LEVEL — pino level (default info). */
  logLevel: string;
  /** SMART_CLIENT_ID — the client id EHRs register the details app under (default sacroplasty-cds-app). */
  smartClientId: string;
  /** CDS_CLIENTS — JSON file of trusted EHRs; when set every CDS call needs a client JWT. Unset: open (local use). */
  cdsClientsFile?: string;
  /** CDS_JWT_ALGORITHMS — accepted JWT algorithms (default ES384,RS384; ES256/RS256/ES512/RS512/PS* may be added). */
  jwtAlgorithms: string[];
  /** CDS_ALLOW_UNAUTHENTICATED — with NODE_ENV=production, allow starting without CDS_CLIENTS (default false). */
  allowUnauthenticated: boolean;
  /** NODE_ENV=production. */
  production: boolean;
  /** SMART_FRAME_ANCESTORS — origins allowed to embed the details app in a frame (CSP frame-ancestors; default *). */
  smartFrameAncestors: string;
  /** DATABASE_URL — PostgreSQL connection string; unset: embedded PGlite in DATA_DIR. */
  databaseUrl?: string;
  /** DATA_DIR — where the embedded database (and generated keys) live (default ./data). */
  dataDir: string;
  /** AUDIT_RETENTION_DAYS — audit, feedback and assertions older than this are purged (default 2555 ≈ 7 years). */
  auditRetentionDays: number;
  /** ADMIN_TOKEN — bearer token for the payer staff API (/admin); unset: the admin API is off. */
  adminToken?: string;
  /** METRICS_TOKEN — when set, /metrics needs Authorization: Bearer <METRICS_TOKEN>. */
  metricsToken?: string;
  /** MEMBER_HASH_KEY — key of the HMAC stored instead of member references; unset: generated once in DATA_DIR. */
  memberHashKey?: string;
  /** Durability and database bounds (README "Running it as a payer"); defaults when absent. */
  storage?: StorageSettings;
  /** Bounds on request bodies and on the work one call may cause (README "Security"); defaults when absent. */
  bounds?: RequestBounds;
}

/** How much one request may make the service read, hold and do (issue 13, items 3 and 4). */
export interface RequestBounds {
  /** BODY_TIMEOUT_MS — longest wait for a request body once reading starts; slower → 408 and the connection closed (default 10000). */
  bodyTimeoutMs: number;
  /** MAX_BUFFERED_BYTES — request-body bytes held at once across all requests, until each is answered; beyond → 503 + Retry-After (default 64 MiB). */
  maxBufferedBytes: number;
  /** PUBLIC_MAX_BODY_BYTES — the largest body on routes no client authentication guards (POST $expand, /smart/api) (default 256 KiB). */
  publicMaxBodyBytes: number;
  /** MAX_DECISIONS_PER_CALL — orders × Coverages × governing rules one call may decide; more → 413 (default 5000). */
  maxDecisionsPerCall: number;
  /** MAX_COVERAGES_PER_CALL — active Coverages one call considers; more → 422 (default 50). */
  maxCoveragesPerCall: number;
  /** MAX_ANSWER_BYTES — the largest answer a hook call or $apply may produce; larger → 413 (default 16 MiB). */
  maxAnswerBytes: number;
  /** SMART_APPLY_PER_MINUTE — the details app's $apply (/smart/api/apply) per client address and minute; more → 429 (default 120). */
  smartApplyPerMinute: number;
}

/** The request bounds from the environment (defaults for each one unset). */
export function loadRequestBounds(env: NodeJS.ProcessEnv = process.env): RequestBounds {
  return {
    bodyTimeoutMs: int(env, 'BODY_TIMEOUT_MS', 10_000, 100, 300_000),
    maxBufferedBytes: int(env, 'MAX_BUFFERED_BYTES', 64 * 1024 * 1024, 1024, 4 * 1024 * 1024 * 1024),
    publicMaxBodyBytes: int(env, 'PUBLIC_MAX_BODY_BYTES', 256 * 1024, 1024, 64 * 1024 * 1024),
    maxDecisionsPerCall: int(env, 'MAX_DECISIONS_PER_CALL', 5_000, 1, 1_000_000),
    maxCoveragesPerCall: int(env, 'MAX_COVERAGES_PER_CALL', 50, 1, 100_000),
    maxAnswerBytes: int(env, 'MAX_ANSWER_BYTES', 16 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    smartApplyPerMinute: int(env, 'SMART_APPLY_PER_MINUTE', 120, 1, 100_000),
  };
}

/** How long writes may wait, how much may wait, and the bounds on every database connection (issue 13). */
export interface StorageSettings {
  /** STORAGE_COMMIT_WAIT_MS — longest a call waits for its coverage assertions to commit before it is answered 503 (default 1500). */
  commitWaitMs: number;
  /** STORAGE_COMMIT_WINDOW_MS — how long the first write of a group commit waits for company (default 2). */
  commitWindowMs: number;
  /** STORAGE_QUEUE_MAX_ROWS — rows waiting for a commit at most; beyond it calls get 503 (default 50000). */
  queueMaxRows: number;
  /** STORAGE_MAX_ROWS_PER_CALL — rows one call may store (assertions); more is 413 (default 5000). */
  maxRowsPerCall: number;
  /** SHUTDOWN_DRAIN_MS — how long SIGTERM waits for unwritten rows before reporting them and exiting (default 5000). */
  shutdownDrainMs: number;
  /** DATABASE_STATEMENT_TIMEOUT_MS — PostgreSQL statement_timeout on every connection (default 5000). */
  statementTimeoutMs: number;
  /** DATABASE_LOCK_TIMEOUT_MS — PostgreSQL lock_timeout on every connection (default 1000). */
  lockTimeoutMs: number;
  /** DATABASE_IDLE_TX_TIMEOUT_MS — PostgreSQL idle_in_transaction_session_timeout (default 10000). */
  idleInTransactionTimeoutMs: number;
  /** DATABASE_CONNECT_TIMEOUT_MS — longest wait for a pooled or new connection (default 2000). */
  connectTimeoutMs: number;
  /** DATABASE_POOL_MAX — connections for feedback, admin, reports and retention (default 6). */
  poolMax: number;
  /** DATABASE_HOOK_POOL_MAX — connections reserved for the hook path: commits and jti claims (default 4). */
  hookPoolMax: number;
  /** PGLITE_WASM_COMPILER — `baseline` (default) or `optimizing`: V8's compiler for the embedded database (storage/pglite-settings.ts). */
  pgliteWasmCompiler: PgliteWasmCompiler;
}

/** The storage settings from the environment (defaults for each one unset). */
export function loadStorageSettings(env: NodeJS.ProcessEnv = process.env): StorageSettings {
  return {
    commitWaitMs: int(env, 'STORAGE_COMMIT_WAIT_MS', 1_500, 50, 4_000),
    commitWindowMs: int(env, 'STORAGE_COMMIT_WINDOW_MS', 2, 0, 50),
    queueMaxRows: int(env, 'STORAGE_QUEUE_MAX_ROWS', 50_000, 10, 1_000_000),
    maxRowsPerCall: int(env, 'STORAGE_MAX_ROWS_PER_CALL', 5_000, 1, 100_000),
    shutdownDrainMs: int(env, 'SHUTDOWN_DRAIN_MS', 5_000, 0, 120_000),
    statementTimeoutMs: int(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5_000, 100, 600_000),
    lockTimeoutMs: int(env, 'DATABASE_LOCK_TIMEOUT_MS', 1_000, 10, 600_000),
    idleInTransactionTimeoutMs: int(env, 'DATABASE_IDLE_TX_TIMEOUT_MS', 10_000, 100, 3_600_000),
    connectTimeoutMs: int(env, 'DATABASE_CONNECT_TIMEOUT_MS', 2_000, 100, 60_000),
    poolMax: int(env, 'DATABASE_POOL_MAX', 6, 1, 100),
    hookPoolMax: int(env, 'DATABASE_HOOK_POOL_MAX', 4, 1, 100),
    pgliteWasmCompiler: oneOf(env, 'PGLITE_WASM_COMPILER', PGLITE_WASM_COMPILERS, 'baseline'),
  };
}

const ASYMMETRIC = /^(ES(256|384|512)|RS(256|384|512)|PS(256|384|512)|EdDSA)$/;

function oneOf<T extends string>(env: NodeJS.ProcessEnv, key: string, allowed: readonly T[], fallback: T): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${key} must be one of ${allowed.join(', ')}, not "${raw}"`);
  return raw as T;
}

function int(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${key} must be an integer from ${min} to ${max}, not "${raw}"`);
  return n;
}

/** Reads and checks the configuration; throws with the key's name when a value is unusable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const publicUrl = env['CDS_PUBLIC_URL']?.replace(/\/+$/, '');
  if (publicUrl !== undefined && publicUrl !== '' && !/^https?:\/\/[^\s/]+/.test(publicUrl)) throw new Error(`CDS_PUBLIC_URL must be an http(s) URL, not "${publicUrl}"`);
  // CDS Hooks: "none" and symmetric (HMAC) algorithms SHALL NOT be accepted; only asymmetric ones may be listed.
  const jwtAlgorithms = (env['CDS_JWT_ALGORITHMS'] ?? 'ES384,RS384').split(',').map((a) => a.trim()).filter(Boolean);
  const bad = jwtAlgorithms.find((a) => !ASYMMETRIC.test(a));
  if (bad || jwtAlgorithms.length === 0) throw new Error(`CDS_JWT_ALGORITHMS may list only asymmetric algorithms (ES384, RS384, ES256, RS256, …), not "${bad ?? ''}"`);
  if (env['CDS_CLIENTS'] && !publicUrl) throw new Error('CDS_PUBLIC_URL is required when CDS_CLIENTS is set: token audiences are checked against it');
  if (env['NODE_ENV'] === 'production' && env['POLICY_ALLOW_DRAFT'] === 'true') throw new Error('POLICY_ALLOW_DRAFT=true lets draft policies decide coverage: not allowed with NODE_ENV=production');
  if (env['NODE_ENV'] === 'production' && !env['CDS_CLIENTS'] && env['CDS_ALLOW_UNAUTHENTICATED'] !== 'true') {
    throw new Error('Refusing to start without client authentication in production: set CDS_CLIENTS (and CDS_PUBLIC_URL), or CDS_ALLOW_UNAUTHENTICATED=true to run open on purpose');
  }
  if (env['NODE_ENV'] === 'production' && !publicUrl) throw new Error('CDS_PUBLIC_URL is required with NODE_ENV=production: card and app links are built on it, never on a request\'s Host header');
  const egress = egressSettings(env);
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env['HOST'] ?? '0.0.0.0',
    ...(publicUrl ? { publicUrl } : {}),
    ...egress,
    knowledgeDir: resolve(env['KNOWLEDGE_DIR'] ?? 'fhir-resources'),
    servicesDir: resolve(env['CDS_SERVICES_DIR'] ?? 'cds-services'),
    payerIdentifiers: (env['PAYER_IDENTIFIERS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    allowDraft: env['POLICY_ALLOW_DRAFT'] === 'true',
    fhirTimeoutMs: int(env, 'FHIR_TIMEOUT_MS', 2000, 50, 10_000),
    fhirMaxResponseBytes: int(env, 'FHIR_MAX_RESPONSE_BYTES', 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 5 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    logLevel: env['LOG_LEVEL'] ?? 'info',
    smartClientId: env['SMART_CLIENT_ID'] ?? 'sacroplasty-cds-app',
    ...(env['CDS_CLIENTS'] ? { cdsClientsFile: resolve(env['CDS_CLIENTS']) } : {}),
    jwtAlgorithms,
    allowUnauthenticated: env['CDS_ALLOW_UNAUTHENTICATED'] === 'true',
    production: env['NODE_ENV'] === 'production',
    smartFrameAncestors: env['SMART_FRAME_ANCESTORS'] ?? '*',
    ...(env['DATABASE_URL'] ? { databaseUrl: env['DATABASE_URL'] } : {}),
    dataDir: resolve(env['DATA_DIR'] ?? 'data'),
    auditRetentionDays: int(env, 'AUDIT_RETENTION_DAYS', 2555, 1, 36500),
    ...(env['ADMIN_TOKEN'] ? { adminToken: env['ADMIN_TOKEN'] } : {}),
    ...(env['METRICS_TOKEN'] ? { metricsToken: env['METRICS_TOKEN'] } : {}),
    ...(env['MEMBER_HASH_KEY'] ? { memberHashKey: env['MEMBER_HASH_KEY'] } : {}),
    storage: loadStorageSettings(env),
    bounds: loadRequestBounds(env),
  };
}
