import type { FhirFetchOptions, FhirReadResult } from './fhir-fetch';
import { readFhir } from './fhir-fetch';
import { HttpError } from '../http/errors';

/** A prefetch value after resolution: the resource/Bundle, "no data" (null), or why it could not be had. */
export type ResolvedData =
  | { status: 'ok'; resource: Record<string, unknown> & { resourceType: string } }
  | { status: 'absent' }
  | { status: 'failed'; reason: string };

export interface DataRequest {
  prefetchTemplates: Record<string, string>;
  prefetch: Record<string, unknown> | undefined;
  context: Record<string, unknown>;
  fhirServer: string | undefined;
  accessToken: string | undefined;
  fetchOptions: FhirFetchOptions;
}

const TOKEN = /\{\{\s*context\.([A-Za-z]+)\s*\}\}/g;

/** Fills `{{context.x}}` tokens (CDS Hooks 2.0 §Prefetch tokens); undefined when a token has no value. */
export function fillTemplate(template: string, context: Record<string, unknown>): string | undefined {
  let missing = false;
  const filled = template.replace(TOKEN, (_m, key: string) => {
    const v = context[key];
    if (typeof v !== 'string' || v.length === 0) {
      missing = true;
      return '';
    }
    return encodeURIComponent(v);
  });
  return missing ? undefined : filled;
}

function fromPrefetch(value: unknown): ResolvedData {
  if (value === null) return { status: 'absent' };
  const r = value as Record<string, unknown> & { resourceType: string };
  if (r.resourceType === 'OperationOutcome') return { status: 'failed', reason: 'the EHR reported that it could not fetch this data' };
  return { status: 'ok', resource: r };
}

function fromRead(result: FhirReadResult): ResolvedData {
  if (result.status === 'ok') {
    return result.resource.resourceType === 'OperationOutcome' ? { status: 'failed', reason: 'the EHR\'s FHIR server returned an OperationOutcome' } : result;
  }
  return result.status === 'not-found' ? { status: 'absent' } : result;
}

/**
 * Resolves one prefetch key: the EHR's prefetch when present (CDS Hooks 2.0 §Prefetch: null = no data,
 * OperationOutcome = the EHR failed), else a query to `fhirServer` with `fhirAuthorization`. When neither is
 * possible the spec's answer is 412 Precondition Failed (CRD narrows 412 to exactly this case).
 */
export async function resolveKey(key: string, req: DataRequest): Promise<ResolvedData> {
  if (req.prefetch && key in req.prefetch) return fromPrefetch(req.prefetch[key]);
  const template = req.prefetchTemplates[key];
  const query = template ? fillTemplate(template, req.context) : undefined;
  if (!req.fhirServer || !query) {
    throw new HttpError(412, 'incomplete', `Prefetch "${key}" was not sent and the service cannot query the EHR for it (no fhirServer); send the prefetch or fhirServer with fhirAuthorization.`, [`prefetch.${key}`]);
  }
  return fromRead(await readFhir(req.fhirServer, query, req.accessToken, req.fetchOptions));
}
