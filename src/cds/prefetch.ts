import type { MemberData, MemberDataSource } from '../decision/member';
import type { FhirFetchOptions, FhirReadResult } from './fhir-fetch';
import { COULD_NOT_READ, readFhir } from './fhir-fetch';
import { HttpError } from '../http/errors';

export interface DataRequest {
  prefetchTemplates: Record<string, string>;
  prefetch: Record<string, unknown> | undefined;
  context: Record<string, unknown>;
  fhirServer: string | undefined;
  accessToken: string | undefined;
  fetchOptions: FhirFetchOptions;
  /** Reports each read of the EHR's FHIR server (metrics), by outcome and duration. */
  onRead?: (outcome: FhirReadResult['status'], seconds: number) => void;
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

function fromPrefetch(value: unknown): MemberData {
  if (value === null) return { status: 'absent' };
  const r = value as Record<string, unknown> & { resourceType: string };
  if (r.resourceType === 'OperationOutcome') return { status: 'failed', reason: 'the EHR reported that it could not fetch this data' };
  return { status: 'ok', resource: r };
}

function fromRead(result: FhirReadResult): MemberData {
  if (result.status === 'ok') {
    return result.resource.resourceType === 'OperationOutcome' ? { status: 'failed', reason: COULD_NOT_READ } : result;
  }
  if (result.status === 'refused') return { status: 'failed', reason: result.reason };
  return result.status === 'not-found' ? { status: 'absent' } : result;
}

async function read(req: DataRequest, relative: string): Promise<MemberData> {
  if (!req.fhirServer) return { status: 'failed', reason: 'the request names no fhirServer to read it from' };
  const started = process.hrtime.bigint();
  const result = await readFhir(req.fhirServer, relative, req.accessToken, req.fetchOptions);
  req.onRead?.(result.status, Number(process.hrtime.bigint() - started) / 1e9);
  return fromRead(result);
}

/**
 * Resolves one prefetch key: the EHR's prefetch when present (CDS Hooks 2.0 §Prefetch: null = no data,
 * OperationOutcome = the EHR failed), else a query to `fhirServer` with `fhirAuthorization`. When neither is
 * possible the spec's answer is 412 Precondition Failed (CRD found-32 narrows 412 to exactly this case).
 */
export async function resolveKey(key: string, req: DataRequest): Promise<MemberData> {
  if (req.prefetch && key in req.prefetch) return fromPrefetch(req.prefetch[key]);
  const template = req.prefetchTemplates[key];
  const query = template ? fillTemplate(template, req.context) : undefined;
  if (!req.fhirServer || !query) {
    throw new HttpError(412, 'incomplete', `Prefetch "${key}" was not sent and the service cannot query the EHR for it (no fhirServer); send the prefetch or fhirServer with fhirAuthorization.`, [`prefetch.${key}`]);
  }
  return read(req, query);
}

/** Most resources one call may read from the EHR beyond its prefetch: a bound on the work a caller can cause. */
export const MAX_EHR_READS = 64;

type Resource = Record<string, unknown> & { resourceType: string };

/** The resource `Type/id` if the EHR prefetched it, as a prefetch value itself or as an entry of a prefetch Bundle. */
function prefetched(prefetch: Record<string, unknown> | undefined, reference: string): Resource | undefined {
  const matches = (r: unknown): r is Resource => !!r && typeof r === 'object' && `${String((r as Resource).resourceType)}/${String((r as Resource)['id'])}` === reference;
  for (const value of Object.values(prefetch ?? {})) {
    if (matches(value)) return value;
    const entries = (value as { resourceType?: unknown; entry?: unknown } | null)?.resourceType === 'Bundle' ? (value as { entry?: unknown }).entry : undefined;
    if (!Array.isArray(entries)) continue;
    for (const e of entries) if (matches((e as { resource?: unknown } | null)?.resource)) return (e as { resource: Resource }).resource;
  }
  return undefined;
}

/**
 * The call's data for the decision layer: the patient only when the EHR sent it (the decision rests on Coverage;
 * data minimisation, CRD sec-5), the coverage from prefetch or the EHR, and resources the call names by reference
 * (a Coverage's payor, an Appointment's order, a dispatched order): from prefetch when the EHR sent them under any
 * key (CRD found-30: clients may name keys as they like), else read from the EHR. Each is read at most once per
 * call, and at most MAX_EHR_READS are read.
 */
export function memberDataSource(req: DataRequest): MemberDataSource & { patientResource: () => Record<string, unknown> | undefined } {
  let patient: Promise<MemberData | undefined> | undefined;
  let coverage: Promise<MemberData> | undefined;
  let patientValue: MemberData | undefined;
  const reads = new Map<string, Promise<MemberData>>();
  const readOnce = (reference: string): Promise<MemberData> => {
    const found = prefetched(req.prefetch, reference);
    if (found) return Promise.resolve({ status: 'ok', resource: found });
    let pending = reads.get(reference);
    if (!pending) {
      if (reads.size >= MAX_EHR_READS) {
        throw new HttpError(422, 'too-costly', `The call needs more than ${MAX_EHR_READS} resources the EHR did not prefetch; send them in prefetch.`, ['prefetch']);
      }
      pending = read(req, reference).then((data) => (data.status === 'ok' && `${data.resource.resourceType}/${String(data.resource['id'])}` !== reference
        ? { status: 'failed', reason: COULD_NOT_READ }
        : data));
      reads.set(reference, pending);
    }
    return pending;
  };
  return {
    patient: () => (patient ??= (req.prefetch && 'patient' in req.prefetch ? resolveKey('patient', req) : Promise.resolve(undefined)).then((p) => (patientValue = p))),
    coverage: () => (coverage ??= resolveKey('coverage', req)),
    read: readOnce,
    patientResource: () => (patientValue?.status === 'ok' ? patientValue.resource : undefined),
  };
}
