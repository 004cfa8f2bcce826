import { readLimited } from '../http/read-limited';

/** The result of reading one FHIR URL from the EHR: a resource, "not there" (404/410), or a failure with a reason. */
export type FhirReadResult =
  | { status: 'ok'; resource: Record<string, unknown> & { resourceType: string } }
  | { status: 'not-found' }
  | { status: 'failed'; reason: string };

export interface FhirFetchOptions {
  timeoutMs: number;
  maxBytes: number;
}

/**
 * GETs `base/relative` from the EHR's FHIR server with its bearer token, bounded in time and size, following no
 * redirects (a redirect could lead the token to another host). The token goes to `fhirServer` and nowhere else.
 */
export async function readFhir(fhirServer: string, relative: string, accessToken: string | undefined, options: FhirFetchOptions): Promise<FhirReadResult> {
  const url = `${fhirServer.replace(/\/+$/, '')}/${relative.replace(/^\/+/, '')}`;
  const headers: Record<string, string> = { accept: 'application/fhir+json, application/json' };
  if (accessToken) headers['authorization'] = `Bearer ${accessToken}`;
  try {
    const res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return { status: 'not-found' };
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      return { status: 'failed', reason: `the EHR's FHIR server refused the access token (HTTP ${res.status})` };
    }
    if (res.status >= 300) {
      await res.body?.cancel();
      return { status: 'failed', reason: `the EHR's FHIR server answered HTTP ${res.status}` };
    }
    const text = await readLimited(res.body, options.maxBytes);
    if (text === undefined) return { status: 'failed', reason: 'the EHR\'s FHIR response was larger than allowed' };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { status: 'failed', reason: 'the EHR\'s FHIR server did not return JSON' };
    }
    if (!json || typeof json !== 'object' || typeof (json as { resourceType?: unknown }).resourceType !== 'string') {
      return { status: 'failed', reason: 'the EHR\'s FHIR server did not return a FHIR resource' };
    }
    return { status: 'ok', resource: json as Record<string, unknown> & { resourceType: string } };
  } catch (e) {
    const name = (e as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { status: 'failed', reason: `the EHR's FHIR server did not answer within ${options.timeoutMs} ms` };
    return { status: 'failed', reason: 'the EHR\'s FHIR server could not be reached' };
  }
}
