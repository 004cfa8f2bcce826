import { guardedGet } from '../egress/guarded-get';
import { NOT_REGISTERED, checkTarget, isBelow } from '../egress/target-policy';
import type { TargetRule } from '../egress/target-policy';
import { requestContext } from '../http/request-context';

/**
 * The result of reading one FHIR URL from the EHR: a resource, "not there" (404/410), a failure, or a target the
 * caller may not name (refused: no connection was made).
 */
export type FhirReadResult =
  | { status: 'ok'; resource: Record<string, unknown> & { resourceType: string } }
  | { status: 'not-found' }
  | { status: 'failed'; reason: string }
  | { status: 'refused'; reason: string };

export interface FhirFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** The bases this call's fhirServer must be at or below (the caller's registered fhirServers); none: no read. */
  targets?: readonly TargetRule[];
  /** NODE_ENV=production: https only. */
  production?: boolean;
}

/**
 * What the caller is told when a read of an allowed fhirServer fails, whatever the cause: never what the server
 * said (status, body, timing), which would turn the service into a probe. The cause goes to the log.
 */
export const COULD_NOT_READ = 'the EHR\'s FHIR server could not be read';

function failed(cause: string, origin: string): FhirReadResult {
  requestContext()?.logger.warn({ fhirRead: cause, origin }, 'a read of the EHR\'s FHIR server failed');
  return { status: 'failed', reason: COULD_NOT_READ };
}

/** A target the caller may not name: nothing was contacted; the cause goes to the log, the caller learns only that. */
function refused(cause: string): FhirReadResult {
  requestContext()?.logger.warn({ fhirServerRefused: cause }, 'fhirServer refused: not contacted');
  return { status: 'refused', reason: NOT_REGISTERED };
}

/**
 * GETs `base/relative` from the EHR's FHIR server with its bearer token, bounded in time and size, following no
 * redirects (a redirect could lead the token to another host). The token goes to `fhirServer` only when it is at or
 * below one of `options.targets` (src/egress/target-policy.ts), and the URL read stays below `fhirServer`;
 * otherwise nothing is contacted and the answer is `refused`.
 */
export async function readFhir(fhirServer: string, relative: string, accessToken: string | undefined, options: FhirFetchOptions): Promise<FhirReadResult> {
  const decision = checkTarget(fhirServer, options.targets ?? [], { production: options.production === true });
  let url: URL | undefined;
  if (decision.allowed) {
    try {
      url = new URL(`${decision.url.href.replace(/\/+$/, '')}/${relative.replace(/^\/+/, '')}`);
    } catch {
      url = undefined;
    }
  }
  if (!decision.allowed || !url || !isBelow(url, decision.url)) return refused(decision.allowed ? 'outside-base' : decision.refusal);
  const headers: Record<string, string> = { accept: 'application/fhir+json, application/json' };
  if (accessToken) headers['authorization'] = `Bearer ${accessToken}`;
  try {
    const res = await guardedGet(url, decision.rule.privateNetwork, headers, options);
    if (res.status === 404 || res.status === 410) return { status: 'not-found' };
    if (res.status < 200 || res.status >= 300) return failed(`HTTP ${res.status}`, url.origin);
    if (res.tooLarge || res.body === undefined) return failed('too large', url.origin);
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch {
      return failed('not JSON', url.origin);
    }
    if (!json || typeof json !== 'object' || typeof (json as { resourceType?: unknown }).resourceType !== 'string') return failed('not a FHIR resource', url.origin);
    return { status: 'ok', resource: json as Record<string, unknown> & { resourceType: string } };
  } catch (e) {
    const name = (e as Error).name;
    if (name === 'EgressRefusedError') return refused('special-address');
    return failed(name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : 'unreachable', url.origin);
  }
}
